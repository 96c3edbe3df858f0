//! The dyno command-line tool: writes to the primary table and announces the keys, reads and
//! exports tables, runs the local event source mapping, and runs the demo.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use clap::{Parser, Subcommand, ValueEnum};
use dyno::config::{self, Tuning, local};
use dyno::handler::Replicator;
use dyno::replicate::Tables;
use dyno::runner::{Runner, RunnerOptions, StartingPosition};
use dyno::writer::Writer;
use dyno::{dead_letter, demo, diff, workload};

type Item = HashMap<String, AttributeValue>;
type Error = Box<dyn std::error::Error>;

/// Keep a DynamoDB replica table in step with a primary table.
///
/// Writes go to the primary; once DynamoDB confirms one, the item's key is put on the Kinesis
/// stream, and the replicator copies the item (or its absence) to the replica. Items and keys
/// are DynamoDB JSON, e.g. '{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"}}'.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// AWS region (default: from the environment, else us-east-1).
    #[arg(long, env = "AWS_REGION", global = true)]
    region: Option<String>,
    /// The primary table.
    #[arg(long, env = "DYNO_TABLE", default_value = local::PRIMARY_TABLE, global = true)]
    table: String,
    /// The Kinesis stream key records go to.
    #[arg(long, env = "DYNO_STREAM", default_value = local::STREAM, global = true)]
    stream: String,
    /// DynamoDB endpoint of the primary (local servers); default: AWS.
    #[arg(long, env = "DYNO_ENDPOINT_URL", global = true)]
    endpoint_url: Option<String>,
    /// Kinesis endpoint (local servers); default: AWS.
    #[arg(long, env = "DYNO_KINESIS_ENDPOINT_URL", global = true)]
    kinesis_endpoint_url: Option<String>,
    /// Use the local servers of `make servers-up` for every endpoint not given.
    #[arg(long, global = true)]
    local: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Put an item, then announce its key.
    Put {
        /// The item, in DynamoDB JSON.
        #[arg(long)]
        item: String,
        /// Only if this condition holds (a DynamoDB condition expression).
        #[arg(long)]
        condition: Option<String>,
        #[command(flatten)]
        expr: Expressions,
    },
    /// Update an item with an update expression, then announce its key.
    Update {
        /// The key, in DynamoDB JSON.
        #[arg(long)]
        key: String,
        /// E.g. 'SET #v = :v'.
        #[arg(long)]
        update_expression: String,
        #[arg(long)]
        condition: Option<String>,
        #[command(flatten)]
        expr: Expressions,
    },
    /// Delete an item, then announce its key.
    Delete {
        #[arg(long)]
        key: String,
        #[arg(long)]
        condition: Option<String>,
        #[command(flatten)]
        expr: Expressions,
    },
    /// Print an item (consistent read), or nothing if absent.
    Get {
        #[arg(long)]
        key: String,
    },
    /// Announce a key again (after a write whose key record was not published).
    Announce {
        #[arg(long)]
        key: String,
    },
    /// Import line-delimited DynamoDB JSON items ('{"Item":{…}}' or bare items) from a file or stdin.
    Import {
        /// The file; default: standard input.
        file: Option<PathBuf>,
    },
    /// Write every item as line-delimited DynamoDB JSON ('{"Item":{…}}') to a file or stdout.
    #[command(alias = "scan")]
    Export {
        /// The file; default: standard output.
        file: Option<PathBuf>,
    },
    /// Create the primary (and replica) tables and the stream.
    Create {
        /// Key schema: NAME:TYPE[,NAME:TYPE] (types S, N, B; hash first).
        #[arg(long, default_value = "ForumName:S,Subject:S")]
        key_schema: String,
        #[command(flatten)]
        replica: ReplicaArgs,
        #[arg(long, default_value_t = 2)]
        shards: i32,
    },
    /// Run the local event source mapping: replicate from the stream to the replica.
    Replicate {
        #[command(flatten)]
        replica: ReplicaArgs,
        /// Records per batch (1 to 10,000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
        batch_size: u16,
        /// Milliseconds to gather records before a partial batch.
        #[arg(long, default_value_t = 0)]
        batching_window_ms: u64,
        #[arg(long, value_enum, default_value_t = Start::TrimHorizon)]
        starting_position: Start,
        /// Keep per-shard positions in this file (a restart resumes from it).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Keep following the stream instead of stopping once it is drained.
        #[arg(long)]
        follow: bool,
        /// Send unusable records to this SQS queue instead of retrying them.
        #[arg(long, env = "DEAD_LETTER_QUEUE_URL")]
        dead_letter_queue_url: Option<String>,
        /// SQS endpoint (local servers); default: AWS.
        #[arg(long, env = "DEAD_LETTER_ENDPOINT_URL")]
        sqs_endpoint_url: Option<String>,
    },
    /// Look at or re-submit the unusable records kept on the dead-letter queue.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
        /// The queue (the stack's DeadLetterQueueUrl output).
        #[arg(long, env = "DEAD_LETTER_QUEUE_URL")]
        queue_url: String,
        /// SQS endpoint (local servers); default: AWS.
        #[arg(long, env = "DEAD_LETTER_ENDPOINT_URL")]
        sqs_endpoint_url: Option<String>,
        /// At most this many messages.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Compare the primary and the replica with full scans.
    Diff {
        #[command(flatten)]
        replica: ReplicaArgs,
    },
    /// The main job, locally: fresh tables and stream, a mixed workload through the writer,
    /// replication by the local event source mapping, and a full comparison.
    Demo {
        #[command(flatten)]
        replica: ReplicaArgs,
        #[arg(long, default_value_t = 300)]
        keys: usize,
        #[arg(long, default_value_t = 3000)]
        ops: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum DeadLetterAction {
    /// Print each dead letter (reason, shard, sequence number, data) as JSON; deletes nothing.
    Inspect,
    /// Put each dead letter's original bytes back on the stream (same partition key), then
    /// delete it from the queue. Fix the cause first, or they come back.
    Replay,
}

#[derive(clap::Args)]
struct Expressions {
    /// Expression attribute names, as JSON: '{"#n":"Name"}'.
    #[arg(long)]
    names: Option<String>,
    /// Expression attribute values, in DynamoDB JSON: '{":v":{"N":"1"}}'.
    #[arg(long)]
    values: Option<String>,
}

#[derive(clap::Args)]
struct ReplicaArgs {
    /// The replica table.
    #[arg(long, env = "DYNO_REPLICA_TABLE", default_value = local::REPLICA_TABLE)]
    replica_table: String,
    /// DynamoDB endpoint of the replica (local servers); default: AWS.
    #[arg(long, env = "DYNO_REPLICA_ENDPOINT_URL")]
    replica_endpoint_url: Option<String>,
    /// Region of the replica; default: --region.
    #[arg(long, env = "DYNO_REPLICA_REGION")]
    replica_region: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Start {
    TrimHorizon,
    Latest,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

struct Clients {
    sdk: aws_config::SdkConfig,
    tuning: Tuning,
    local: bool,
    region: Option<String>,
}

impl Clients {
    fn dynamodb(
        &self,
        table: &str,
        endpoint: &Option<String>,
        region: &Option<String>,
        local_url: &str,
    ) -> aws_sdk_dynamodb::Client {
        let target = config::TableTarget {
            table: table.to_owned(),
            region: region.clone().or_else(|| self.region.clone()),
            endpoint_url: endpoint
                .clone()
                .or_else(|| self.local.then(|| local_url.to_owned())),
        };
        config::dynamodb_client(&self.sdk, &target, &self.tuning, &[])
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let local_mode = cli.local || matches!(cli.command, Command::Demo { .. });
    if local_mode {
        // Local servers take any credentials; give the SDK some so it does not go looking.
        for (name, value) in [
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
        ] {
            if std::env::var_os(name).is_none() {
                // SAFETY: set before any other thread reads the environment.
                unsafe { std::env::set_var(name, value) };
            }
        }
    }
    let region = cli
        .region
        .clone()
        .unwrap_or_else(|| local::REGION.to_owned());
    let clients = Clients {
        sdk: config::load_sdk_config_in(&region).await,
        tuning: Tuning::default(),
        local: local_mode,
        region: Some(region),
    };
    let primary = clients.dynamodb(
        &cli.table,
        &cli.endpoint_url,
        &None,
        local::PRIMARY_ENDPOINT_URL,
    );
    let kinesis_url = cli
        .kinesis_endpoint_url
        .clone()
        .or_else(|| local_mode.then(|| local::KINESIS_ENDPOINT_URL.to_owned()));
    let kinesis = config::kinesis_client(&clients.sdk, kinesis_url.as_deref(), &clients.tuning);
    let replica_of = |args: &ReplicaArgs| {
        clients.dynamodb(
            &args.replica_table,
            &args.replica_endpoint_url,
            &args.replica_region,
            local::REPLICA_ENDPOINT_URL,
        )
    };
    let writer = || Writer::connect(primary.clone(), kinesis.clone(), &cli.table, &cli.stream);

    match &cli.command {
        Command::Put {
            item,
            condition,
            expr,
        } => {
            let w = writer().await?;
            let request = w.put().set_item(Some(parse_item(item, "--item")?));
            let request = request
                .set_condition_expression(condition.clone())
                .set_expression_attribute_names(parse_names(&expr.names)?)
                .set_expression_attribute_values(parse_values(&expr.values)?);
            w.put_item(request).await?;
        }
        Command::Update {
            key,
            update_expression,
            condition,
            expr,
        } => {
            let w = writer().await?;
            let request = w
                .update()
                .set_key(Some(parse_item(key, "--key")?))
                .update_expression(update_expression)
                .set_condition_expression(condition.clone())
                .set_expression_attribute_names(parse_names(&expr.names)?)
                .set_expression_attribute_values(parse_values(&expr.values)?);
            w.update_item(request).await?;
        }
        Command::Delete {
            key,
            condition,
            expr,
        } => {
            let w = writer().await?;
            let request = w
                .delete()
                .set_key(Some(parse_item(key, "--key")?))
                .set_condition_expression(condition.clone())
                .set_expression_attribute_names(parse_names(&expr.names)?)
                .set_expression_attribute_values(parse_values(&expr.values)?);
            w.delete_item(request).await?;
        }
        Command::Get { key } => {
            let out = primary
                .get_item()
                .table_name(&cli.table)
                .set_key(Some(parse_item(key, "--key")?))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "GetItem on `{}`: {}",
                        cli.table,
                        aws_sdk_dynamodb::error::DisplayErrorContext(e)
                    )
                })?;
            if let Some(item) = out.item {
                println!("{}", to_json(item)?);
            }
        }
        Command::Announce { key } => {
            let w = writer().await?;
            let key = w.key(parse_item(key, "--key")?)?;
            w.announce(&key).await?;
        }
        Command::Import { file } => {
            let w = writer().await?;
            let input: Box<dyn BufRead> = match file {
                Some(path) => Box::new(std::io::BufReader::new(
                    std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::stdin().lock()),
            };
            let mut batch = Vec::new();
            let mut total = 0;
            for (n, line) in input.lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let item = parse_line(&line).map_err(|e| format!("line {}: {e}", n + 1))?;
                let put = PutRequest::builder().set_item(Some(item)).build()?;
                batch.push(WriteRequest::builder().put_request(put).build());
                if batch.len() == 500 {
                    total += w.write_batch(std::mem::take(&mut batch)).await?;
                }
            }
            total += w.write_batch(batch).await?;
            eprintln!("imported {total} items into `{}`", cli.table);
        }
        Command::Export { file } => {
            let mut out: Box<dyn Write> = match file {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut pages = primary
                .scan()
                .table_name(&cli.table)
                .into_paginator()
                .items()
                .send();
            let mut count = 0;
            while let Some(item) = pages.next().await {
                let item = item.map_err(|e| {
                    format!(
                        "Scan of `{}`: {}",
                        cli.table,
                        aws_sdk_dynamodb::error::DisplayErrorContext(e)
                    )
                })?;
                writeln!(out, "{{\"Item\":{}}}", to_json(item)?)?;
                count += 1;
            }
            out.flush()?;
            eprintln!("exported {count} items from `{}`", cli.table);
        }
        Command::Create {
            key_schema,
            replica,
            shards,
        } => {
            let schema = parse_schema(key_schema)?;
            demo::recreate_table(&primary, &cli.table, &schema).await?;
            demo::recreate_table(&replica_of(replica), &replica.replica_table, &schema).await?;
            demo::recreate_stream(&kinesis, &cli.stream, *shards).await?;
            eprintln!(
                "created `{}`, `{}` and stream `{}`",
                cli.table, replica.replica_table, cli.stream
            );
        }
        Command::Replicate {
            replica,
            batch_size,
            batching_window_ms,
            starting_position,
            checkpoint,
            follow,
            dead_letter_queue_url,
            sqs_endpoint_url,
        } => {
            let tables = Tables {
                primary: primary.clone(),
                primary_table: cli.table.clone(),
                replica: replica_of(replica),
                replica_table: replica.replica_table.clone(),
            };
            let mut replicator = Replicator::connect(tables, clients.tuning.clone()).await?;
            if let Some(url) = dead_letter_queue_url {
                let sqs =
                    config::sqs_client(&clients.sdk, sqs_endpoint_url.as_deref(), &clients.tuning);
                replicator = replicator
                    .with_dead_letter(dead_letter::DeadLetterQueue::new(sqs, url.clone()));
            }
            let options = RunnerOptions {
                batch_size: *batch_size as usize,
                batching_window: Duration::from_millis(*batching_window_ms),
                starting_position: match starting_position {
                    Start::TrimHorizon => StartingPosition::TrimHorizon,
                    Start::Latest => StartingPosition::Latest,
                },
                checkpoint: checkpoint.clone(),
                ..RunnerOptions::default()
            };
            let runner = Runner::connect(kinesis.clone(), &cli.stream, options).await?;
            let (_stop, stopped) = tokio::sync::watch::channel(!follow);
            let stats = runner.run(&replicator, stopped).await?;
            eprintln!(
                "replicated {} records in {} batches ({} re-delivered, {} skipped)",
                stats.records,
                stats.batches,
                stats.redelivered,
                stats.skipped.len()
            );
        }
        Command::DeadLetters {
            action,
            queue_url,
            sqs_endpoint_url,
            limit,
        } => {
            let sqs =
                config::sqs_client(&clients.sdk, sqs_endpoint_url.as_deref(), &clients.tuning);
            let queue = dead_letter::DeadLetterQueue::new(sqs, queue_url.clone());
            match action {
                DeadLetterAction::Inspect => {
                    for received in dead_letter::inspect(&queue, *limit).await? {
                        match received.letter {
                            Ok(letter) => println!("{}", letter.to_body()),
                            Err(e) => {
                                eprintln!("message {}: not a dead letter: {e}", received.message_id)
                            }
                        }
                    }
                }
                DeadLetterAction::Replay => {
                    let stream = cli.stream.clone();
                    let report = dead_letter::replay(&queue, *limit, |letter| {
                        let put = kinesis
                            .put_record()
                            .stream_name(&stream)
                            .partition_key(letter.partition_key.clone())
                            .data(aws_sdk_kinesis::primitives::Blob::new(letter.data));
                        async move {
                            put.send().await.map(|_| ()).map_err(|e| {
                                aws_sdk_kinesis::error::DisplayErrorContext(e).to_string()
                            })
                        }
                    })
                    .await?;
                    eprintln!(
                        "replayed {} records onto `{}`; {} failed and {} unreadable messages left on the queue",
                        report.replayed, cli.stream, report.failed, report.unreadable
                    );
                    if report.failed > 0 {
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
        }
        Command::Diff { replica } => {
            let schema = Writer::connect(primary.clone(), kinesis.clone(), &cli.table, &cli.stream)
                .await?
                .schema()
                .clone();
            let d = diff::compare(
                (&primary, &cli.table),
                (&replica_of(replica), &replica.replica_table),
                &schema,
            )
            .await?;
            for (what, keys) in [
                ("missing", &d.missing),
                ("extra", &d.extra),
                ("different", &d.different),
            ] {
                for key in keys {
                    println!("{what}\t{key}");
                }
            }
            println!(
                "replica matches primary: {} items, {} differences",
                d.items,
                d.differences()
            );
            if d.differences() > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Demo {
            replica,
            keys,
            ops,
            seed,
        } => {
            let setup = demo::Setup {
                primary: primary.clone(),
                primary_table: cli.table.clone(),
                replica: replica_of(replica),
                replica_table: replica.replica_table.clone(),
                kinesis: kinesis.clone(),
                stream: cli.stream.clone(),
                shards: 2,
            };
            let spec = workload::Spec {
                seed: *seed,
                keys: *keys,
                ops: *ops,
                ..workload::Spec::default()
            };
            let report = demo::run(&setup, &spec, |line| println!("{line}")).await?;
            for line in demo::describe(&report) {
                println!("{line}");
            }
            if report.diff.differences() > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_item(text: &str, flag: &str) -> Result<Item, String> {
    serde_json::from_str::<serde_dynamo::Item>(text)
        .map(|item| {
            item.into_inner()
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect()
        })
        .map_err(|e| {
            format!("{flag} is not a DynamoDB JSON object ({e}); e.g. '{{\"Id\":{{\"S\":\"a\"}}}}'")
        })
}

fn parse_line(line: &str) -> Result<Item, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let item = match value.get("Item") {
        Some(inner) if value.as_object().is_some_and(|o| o.len() == 1) => inner.clone(),
        _ => value,
    };
    parse_item(&item.to_string(), "the item")
}

fn parse_names(text: &Option<String>) -> Result<Option<HashMap<String, String>>, String> {
    text.as_deref()
        .map(|t| {
            serde_json::from_str(t)
                .map_err(|e| format!("--names must be a JSON object of strings: {e}"))
        })
        .transpose()
}

fn parse_values(text: &Option<String>) -> Result<Option<Item>, String> {
    text.as_deref()
        .map(|t| parse_item(t, "--values"))
        .transpose()
}

fn parse_schema(text: &str) -> Result<dyno::key::KeySchema, String> {
    use dyno::key::{KeySchema, ScalarType};
    let parse = |part: &str| -> Result<(String, ScalarType), String> {
        let (name, kind) = part
            .split_once(':')
            .ok_or_else(|| format!("--key-schema part `{part}` is not NAME:TYPE"))?;
        let kind = match kind {
            "S" => ScalarType::S,
            "N" => ScalarType::N,
            "B" => ScalarType::B,
            other => return Err(format!("--key-schema type `{other}` is not S, N or B")),
        };
        Ok((name.to_owned(), kind))
    };
    let parts: Vec<&str> = text.split(',').collect();
    match parts.as_slice() {
        [hash] => {
            let (name, kind) = parse(hash)?;
            Ok(KeySchema::hash_only(&name, kind))
        }
        [hash, range] => {
            let (h, hk) = parse(hash)?;
            let (r, rk) = parse(range)?;
            Ok(KeySchema::composite((&h, hk), (&r, rk)))
        }
        _ => Err("--key-schema takes one or two NAME:TYPE parts".into()),
    }
}

/// DynamoDB JSON with attribute names in sorted order, so equal items print equally.
fn to_json(item: Item) -> Result<String, serde_json::Error> {
    serde_json::to_value(serde_dynamo::Item::from(item)).and_then(|v| serde_json::to_string(&v))
}
