//! One function per subcommand, each a thin layer over the library: parse what the user typed,
//! call the library, print a summary a person can act on. `Failure` turns any error into one
//! line (and the details for `-v`).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use dyno::aws::error::AwsError;
use dyno::aws::json::{self, Item};
use dyno::aws::key::{Key, KeySchema, ScalarType};
use dyno::aws::retry::Backoff;
use dyno::aws::table::Table;
use dyno::local::runner::{Runner, RunnerOptions, StartingPosition};
use dyno::local::shards::DynamoDbStreamSource;
use dyno::local::workload;
use dyno::ops::admin::{self, Setup};
use dyno::ops::atomic_file::{self, Replacement};
use dyno::ops::backfill::{self, BackfillOptions};
use dyno::ops::checkpoint::Checkpoints;
use dyno::ops::definition::{self, Definition, ReplicaChoices};
use dyno::ops::diff::{Counts, DiffOptions, Difference, PageError};
use dyno::ops::failed_batches::{self, FailedBatch, Records};
use dyno::ops::jsonl::{self, Target};
use dyno::ops::scan::Segments;
use dyno::ops::sink::KeySink;
use dyno::ops::ttl::Ttl;
use dyno::publish::publisher::Publisher;
use dyno::publish::writer::{WriteError, Writer};
use dyno::replicate::dead_letter::{self, DeadLetterQueue};
use dyno::replicate::replicator::Replicator;

use crate::demo;

use crate::connect::Connected;
use crate::failover;
use crate::failure::{Failure, usage};
use crate::progress;
use crate::{
    BackfillArgs, Cli, Command, DeadLetterAction, DiffArgs, DirectArg, Expressions, FailuresAction,
    Outcome, PlanArgs, ReplayArgs, ReplicateArgs, ScanArgs, SourceKind, Start,
};

/// Runs the subcommand.
pub async fn run(cli: Cli) -> Outcome {
    let local = cli.connection.local || matches!(cli.command, Command::Demo { .. });
    let at = Connected::new(&cli.connection, local).await;
    match cli.command {
        Command::Put { item, expressions } => put(&at, &item, &expressions).await,
        Command::Update {
            key,
            update_expression,
            expressions,
        } => update(&at, &key, &update_expression, &expressions).await,
        Command::Delete { key, expressions } => delete(&at, &key, &expressions).await,
        Command::Get { key } => get(&at, &key).await,
        Command::Announce { key, keys_file } => announce(&at, &key, keys_file.as_deref()).await,
        Command::Import { file, skip_lines } => import(&at, file.as_deref(), skip_lines).await,
        Command::Export { file } => export(&at, file).await,
        Command::Create {
            key_schema,
            shards,
            no_stream,
            recreate,
            replica,
        } => {
            let stream = (!no_stream).then_some(shards);
            let choices = failover::choices(&replica)?;
            create(&at, key_schema.as_deref(), stream, recreate, &choices).await
        }
        Command::Check(args) => failover::check(&at, &args)
            .await
            .map_err(|f| f.with_code(2)),
        Command::Replicate(args) => replicate(&at, &args).await,
        Command::DeadLetters {
            action,
            queue,
            limit,
        } => {
            let url = queue.queue_url.ok_or_else(|| {
                usage("--queue-url (or DEAD_LETTER_QUEUE_URL) is required: the stack's DeadLetterQueueUrl output")
            })?;
            let queue = DeadLetterQueue::new(at.sqs(queue.sqs_endpoint_url.as_deref()), url);
            dead_letters(&at, &queue, action, limit).await
        }
        Command::Diff(args) => diff(&at, &args).await.map_err(|f| f.with_code(2)),
        Command::Backfill(args) => backfill(&at, &args).await,
        Command::Plan(args) => plan(&args),
        Command::Failures {
            action: FailuresAction::Replay(args),
        } => replay_failures(&at, &args).await,
        Command::Demo {
            keys,
            ops,
            seed,
            recreate,
        } => run_demo(&at, keys, ops, seed, recreate).await,
    }
}

/// A DynamoDB JSON object given with `flag`.
fn parse_item(text: &str, flag: &str) -> Result<Item, Failure> {
    json::parse_item(text).map_err(|e| {
        usage(format!(
            "{flag} is not a DynamoDB JSON object: {e}; e.g. '{{\"Id\":{{\"S\":\"a\"}}}}'"
        ))
    })
}

fn parse_names(text: &Option<String>) -> Result<Option<HashMap<String, String>>, Failure> {
    let Some(text) = text else {
        return Ok(None);
    };
    let value = json::parse_strict(text)
        .map_err(|e| usage(format!("--names is not a JSON object of strings: {e}")))?;
    serde_json::from_value(value)
        .map(Some)
        .map_err(|_| usage("--names must be a JSON object of strings, e.g. '{\"#n\":\"Name\"}'"))
}

fn parse_values(text: &Option<String>) -> Result<Option<Item>, Failure> {
    text.as_deref()
        .map(|t| parse_item(t, "--values"))
        .transpose()
}

async fn writer(at: &Connected) -> Result<Writer, Failure> {
    Ok(Writer::connect(at.primary(), at.stream()).await?)
}

/// A write's error; keys that could not be announced go to a file when there are many.
fn write_failure(error: WriteError) -> Failure {
    let keys = error.unannounced();
    if keys.len() > 10
        && let Some(path) = save_keys(keys)
    {
        let message = format!(
            "{error}\nall {} keys not announced are in {}: announce them with `dyno announce --keys-file {}`",
            keys.len(),
            path.display(),
            path.display()
        );
        return usage(message);
    }
    error.into()
}

/// Writes keys as JSON lines to `dyno-unannounced-<time>.jsonl` in the current directory.
fn save_keys(keys: &[Key]) -> Option<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let path = PathBuf::from(format!("dyno-unannounced-{stamp}.jsonl"));
    let text: String = keys.iter().map(|k| k.to_json() + "\n").collect();
    std::fs::write(&path, text).ok().map(|()| path)
}

async fn put(at: &Connected, item: &str, e: &Expressions) -> Outcome {
    let item = parse_item(item, "--item")?;
    let w = writer(at).await?;
    let request = w
        .put()
        .set_item(Some(item))
        .set_condition_expression(e.condition.clone())
        .set_expression_attribute_names(parse_names(&e.names)?)
        .set_expression_attribute_values(parse_values(&e.values)?);
    w.put_item(request).await.map_err(write_failure)?;
    Ok(ExitCode::SUCCESS)
}

async fn update(at: &Connected, key: &str, expression: &str, e: &Expressions) -> Outcome {
    let key = parse_item(key, "--key")?;
    let w = writer(at).await?;
    let request = w
        .update()
        .set_key(Some(key))
        .update_expression(expression)
        .set_condition_expression(e.condition.clone())
        .set_expression_attribute_names(parse_names(&e.names)?)
        .set_expression_attribute_values(parse_values(&e.values)?);
    w.update_item(request).await.map_err(write_failure)?;
    Ok(ExitCode::SUCCESS)
}

async fn delete(at: &Connected, key: &str, e: &Expressions) -> Outcome {
    let key = parse_item(key, "--key")?;
    let w = writer(at).await?;
    let request = w
        .delete()
        .set_key(Some(key))
        .set_condition_expression(e.condition.clone())
        .set_expression_attribute_names(parse_names(&e.names)?)
        .set_expression_attribute_values(parse_values(&e.values)?);
    w.delete_item(request).await.map_err(write_failure)?;
    Ok(ExitCode::SUCCESS)
}

async fn get(at: &Connected, key: &str) -> Outcome {
    let key = parse_item(key, "--key")?;
    let table = at.primary();
    let answer = table
        .client
        .get_item()
        .table_name(&table.name)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| {
            usage(format!(
                "{}: {}",
                table.label(),
                AwsError::new("GetItem", e)
            ))
        })?;
    if let Some(item) = answer.item {
        println!("{}", json::to_json(&item));
    }
    Ok(ExitCode::SUCCESS)
}

async fn announce(at: &Connected, keys: &[String], file: Option<&Path>) -> Outcome {
    let w = writer(at).await?;
    let mut parsed = Vec::new();
    for text in keys {
        parsed.push(w.key(parse_item(text, "--key")?).map_err(write_failure)?);
    }
    if let Some(path) = file {
        parsed.extend(read_keys_file(&w, path)?);
    }
    w.announce(&parsed).await.map_err(|e| {
        write_failure(WriteError::NotPublished {
            table: w.table().name.clone(),
            source: e,
        })
    })?;
    eprintln!(
        "announced {} keys on `{}`",
        parsed.len(),
        w.publisher().stream().name
    );
    Ok(ExitCode::SUCCESS)
}

/// Keys from a file: one per line, a key in DynamoDB JSON or a `diff --keys-out` line.
fn read_keys_file(w: &Writer, path: &Path) -> Result<Vec<Key>, Failure> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| usage(format!("--keys-file {shown}: {e}")))?;
    let mut keys = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| usage(format!("--keys-file {shown}: line {}: {e}", n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let at_line = |e: String| usage(format!("--keys-file {shown}: line {}: {e}", n + 1));
        let value = json::parse_strict(&line).map_err(|e| at_line(e.to_string()))?;
        let value = match value.get("key") {
            Some(key) if value.get("kind").is_some() => key.clone(),
            _ => value,
        };
        let attrs = json::item_from_value(value).map_err(|e| at_line(e.to_string()))?;
        keys.push(w.key(attrs).map_err(|e| at_line(e.to_string()))?);
    }
    Ok(keys)
}

async fn import(at: &Connected, file: Option<&Path>, skip_lines: usize) -> Outcome {
    let w = writer(at).await?;
    let input: Box<dyn BufRead> = match file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| usage(format!("{}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let bar = progress::counter("importing", "items");
    let result = jsonl::import(&w, input, skip_lines, |r| {
        bar.set_position(r.written as u64)
    })
    .await;
    bar.finish_and_clear();
    let report = result?;
    if skip_lines > report.lines {
        return Err(usage(format!(
            "--skip-lines {skip_lines} is past the end of the input ({} lines): nothing was \
             imported; check the file, or the line to resume after",
            report.lines
        )));
    }
    eprintln!(
        "imported {} items into `{}`; every line up to {} is in",
        report.written,
        w.table().name,
        report.complete_through
    );
    Ok(ExitCode::SUCCESS)
}

async fn export(at: &Connected, file: Option<PathBuf>) -> Outcome {
    let table = at.primary();
    let target = match file {
        Some(path) if path.as_os_str() != "-" => Target::File(path),
        _ => Target::Stdout,
    };
    // DescribeTable's item count (updated about every six hours) gives the bar its length.
    let known = table.describe().await.ok().and_then(|d| d.item_count());
    let bar = match known {
        Some(total) if total > 0 => progress::bar("exporting", "items", total as u64),
        _ => progress::counter("exporting", "items"),
    };
    let result = jsonl::export(&table, &target, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let count = result?;
    eprintln!("exported {count} items from `{}`", table.name);
    Ok(ExitCode::SUCCESS)
}

/// `NAME:TYPE[,NAME:TYPE]`.
fn parse_schema(text: &str) -> Result<KeySchema, Failure> {
    let parse = |part: &str| -> Result<(String, ScalarType), Failure> {
        let (name, kind) = part
            .split_once(':')
            .ok_or_else(|| usage(format!("--key-schema part `{part}` is not NAME:TYPE")))?;
        if name.is_empty() || name.len() > 255 {
            return Err(usage(format!(
                "--key-schema part `{part}`: an attribute NAME of 1 to 255 bytes is needed"
            )));
        }
        let kind = match kind {
            "S" => ScalarType::S,
            "N" => ScalarType::N,
            "B" => ScalarType::B,
            other => {
                return Err(usage(format!(
                    "--key-schema type `{other}` is not S, N or B"
                )));
            }
        };
        Ok((name.to_owned(), kind))
    };
    match text.split(',').collect::<Vec<_>>().as_slice() {
        [hash] => {
            let (name, kind) = parse(hash)?;
            Ok(KeySchema::hash_only(&name, kind))
        }
        [hash, range] => {
            let (h, hk) = parse(hash)?;
            let (r, rk) = parse(range)?;
            if h == r {
                return Err(usage(format!(
                    "--key-schema names `{h}` twice: the sort key needs another attribute"
                )));
            }
            Ok(KeySchema::composite((&h, hk), (&r, rk)))
        }
        _ => Err(usage("--key-schema takes one or two NAME:TYPE parts")),
    }
}

/// `stream`: the shards of a new key stream, or `None` for no stream.
async fn create(
    at: &Connected,
    key_schema: Option<&str>,
    stream: Option<i32>,
    recreate: bool,
    choices: &ReplicaChoices,
) -> Outcome {
    let (primary, replica, wait) = (at.primary(), at.replica().await?, admin::WAIT);
    if replica.is_same_as(&primary) {
        return Err(usage(format!(
            "{} is the primary table itself ({}, same endpoint and region): name another \
             replica table; nothing was created or changed",
            replica.label(),
            primary.label()
        )));
    }
    if recreate {
        let schema = parse_schema(key_schema.unwrap_or(DEFAULT_KEY_SCHEMA))?;
        let stream_place = stream.map(|_| at.stream());
        let mut places = vec![admin::place_of(&primary), admin::place_of(&replica)];
        places.extend(stream_place.as_ref().map(admin::place_of_stream));
        admin::all_local("--recreate", &places)?;
        admin::recreate_table(&primary, &schema, None, wait).await?;
        admin::recreate_table(&replica, &schema, None, wait).await?;
        if let Some(shards) = stream {
            admin::recreate_stream(&at.stream(), shards, wait).await?;
        }
        eprintln!(
            "recreated `{}` and `{}` ({schema}){}: all earlier data is gone",
            primary.name,
            replica.name,
            stream.map_or(String::new(), |n| format!(
                " and stream `{}` ({n} shards)",
                at.stream().name
            ))
        );
        return Ok(ExitCode::SUCCESS);
    }
    let schema = match key_schema {
        Some(text) => parse_schema(text)?,
        None => primary_schema_or_default(&primary).await?,
    };
    let said = |what: String, setup: Setup| match setup {
        Setup::Created => eprintln!("{what}: created"),
        Setup::Existed => eprintln!("{what}: exists, left as it is"),
    };
    let setup = admin::ensure_table(&primary, &schema, None, wait).await?;
    said(format!("table `{}` ({schema})", primary.name), setup);
    match setup {
        // A new primary: its replica needs only its keys.
        Setup::Created => {
            let setup = admin::ensure_table(&replica, &schema, None, wait).await?;
            said(format!("table `{}` ({schema})", replica.name), setup);
        }
        // An existing primary: its replica gets (or is checked against) its whole definition.
        Setup::Existed => {
            let definition = Definition::read(&primary).await?;
            failover::replica_of(&definition, &replica, choices).await?;
        }
    }
    if let Some(shards) = stream {
        let stream = at.stream();
        let setup = admin::ensure_stream(&stream, shards, wait).await?;
        said(format!("stream `{}`", stream.name), setup);
    }
    Ok(ExitCode::SUCCESS)
}

/// The key schema of the demo's tables, when neither `--key-schema` nor a primary gives one.
const DEFAULT_KEY_SCHEMA: &str = "ForumName:S,Subject:S";

/// The existing primary's key schema (its replica gets the same), or the default for new tables.
async fn primary_schema_or_default(primary: &Table) -> Result<KeySchema, Failure> {
    match primary.key_schema().await {
        Ok(schema) => Ok(schema),
        Err(e) if e.is_missing() => parse_schema(DEFAULT_KEY_SCHEMA),
        Err(e) => Err(e.into()),
    }
}

async fn replicate(at: &Connected, args: &ReplicateArgs) -> Outcome {
    let tuning = dyno::replicate::tuning::Tuning {
        max_attempts: 8,
        ..at.tuning.clone()
    };
    let mut replicator = Replicator::connect(at.primary(), at.replica().await?, tuning)
        .await?
        .keeping_ttl_deletes(args.keep_ttl_deletes);
    if let Some(url) = &args.queue.dead_letter_queue_url {
        let sqs = at.sqs(args.queue.sqs_endpoint_url.as_deref());
        replicator = replicator.with_dead_letter(DeadLetterQueue::new(sqs, url.clone()));
    }
    let options = RunnerOptions {
        batch_size: args.batch_size as usize,
        batching_window: Duration::from_millis(args.batching_window_ms),
        starting_position: match args.starting_position {
            Start::TrimHorizon => StartingPosition::TrimHorizon,
            Start::Latest => StartingPosition::Latest,
        },
        checkpoint: args.checkpoint.clone(),
        max_retries: u32::try_from(args.max_retries).ok(),
        // Following the stream, an outage is waited out; a drain gives up after a minute.
        patience: (!args.follow).then_some(Duration::from_secs(60)),
        ..RunnerOptions::default()
    };
    let (_stop, stopped) = tokio::sync::watch::channel(!args.follow);
    let bar = progress::counter("replicating", "records");
    let stats = match args.source {
        SourceKind::Kinesis => {
            let runner = Runner::connect(at.stream(), options).await?;
            let runner = runner.observe(progress::batches(&bar));
            runner.run(&replicator, stopped).await?
        }
        SourceKind::DynamodbStream => {
            let arn = table_stream_arn(replicator.engine().primary()).await?;
            let streams = at.streams(args.streams_endpoint_url.as_deref());
            let runner = Runner::new(DynamoDbStreamSource::new(streams, arn), options)?;
            let runner = runner.observe(progress::batches(&bar));
            runner.run(&replicator, stopped).await?
        }
    };
    bar.finish_and_clear();
    eprintln!(
        "replicated {} records in {} batches ({} re-delivered, {} skipped)",
        stats.records - stats.skipped.len(),
        stats.batches,
        stats.redelivered,
        stats.skipped.len()
    );
    if !stats.skipped.is_empty() {
        eprintln!(
            "error: {} records were skipped after every retry failed, so their keys may differ \
             on the replica: {}; find and repair them with `dyno diff`",
            stats.skipped.len(),
            stats.skipped.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn plan(args: &PlanArgs) -> Outcome {
    // (flag, value, lowest, whether the lowest itself is allowed, highest, why the highest)
    let checks = [
        (
            "--writes-per-second",
            args.writes_per_second,
            0.0,
            false,
            1e7,
            "a plan's limit",
        ),
        (
            "--item-kb",
            args.item_kb,
            0.0,
            false,
            400.0,
            "DynamoDB's item limit",
        ),
        (
            "--distinct-fraction",
            args.distinct_fraction,
            0.0,
            false,
            1.0,
            "every write a new key",
        ),
        (
            "--batch-size",
            args.batch_size,
            1.0,
            true,
            10_000.0,
            "an event source mapping's limit",
        ),
        (
            "--batching-window-seconds",
            args.batching_window_seconds,
            0.0,
            true,
            300.0,
            "an event source mapping's limit",
        ),
    ];
    for (flag, value, low, low_ok, high, why) in checks {
        if value.is_finite() && value > high {
            return Err(usage(format!("{flag} {value} is more than {high} ({why})")));
        }
        let above = if low_ok { value >= low } else { value > low };
        if !(value.is_finite() && above) {
            let least = if low_ok { "at least" } else { "above" };
            return Err(usage(format!(
                "{flag} {value} must be a number {least} {low}, at most {high}"
            )));
        }
    }
    let load = dyno::ops::plan::Load {
        writes_per_second: args.writes_per_second,
        item_kb: args.item_kb,
        distinct_fraction: args.distinct_fraction,
        batch_size: args.batch_size,
        batching_window_s: args.batching_window_seconds,
        gsis: f64::from(args.gsis),
        ..dyno::ops::plan::Load::default()
    };
    for line in dyno::ops::plan::describe(&load, &dyno::ops::plan::Prices::default()) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay_failures(at: &Connected, args: &ReplayArgs) -> Outcome {
    let s3 = at.s3(args.s3_endpoint_url.as_deref());
    let bucket = args.bucket.as_deref().ok_or_else(|| {
        usage("--bucket (or DYNO_FAILED_BATCH_BUCKET) is required: the stack's FailedBatchBucketName output")
    })?;
    let objects = failed_batches::list(&s3, bucket, &args.prefix, args.since).await?;
    let mut batches = Vec::new();
    let mut unreadable = 0;
    for object in &objects {
        let body = failed_batches::fetch(&s3, bucket, &object.key).await?;
        match failed_batches::parse(&object.key, &body) {
            Ok(batch) => batches.push(batch),
            Err(e) => {
                unreadable += 1;
                eprintln!("skipped: {e}");
            }
        }
    }
    let place = format!("s3://{bucket}/{}", args.prefix);
    if args.dry_run {
        list_failed_batches(&batches, &place, unreadable);
        // The dry run exits as the real run would: an unreadable object fails both.
        return Ok(exit_failure_if(unreadable > 0));
    }
    let (put_back, replicated, failed) = replay_batches(at, &batches).await?;
    eprintln!(
        "replayed {} failed batches from {place}: {put_back} records put back on `{}`, {replicated} records' keys replicated, {failed} failed, {unreadable} objects skipped; the objects stay in the bucket (its lifecycle rule expires them)",
        batches.len(),
        at.stream().name
    );
    Ok(exit_failure_if(failed > 0 || unreadable > 0))
}

/// Exit 1 when `failed`, else 0.
fn exit_failure_if(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn list_failed_batches(batches: &[FailedBatch], place: &str, unreadable: usize) {
    for b in batches {
        println!(
            "{}: {} batch of {} records, {} {}..{} ({}): would replay",
            b.object,
            b.records.source(),
            b.records.len(),
            b.shard,
            b.start_sequence,
            b.end_sequence,
            b.condition
        );
    }
    let records: usize = batches.iter().map(|b| b.records.len()).sum();
    eprintln!(
        "dry run: {} failed batches ({records} records) would be replayed from {place}; {unreadable} objects skipped; nothing was changed",
        batches.len()
    );
}

/// Replays each batch: a Kinesis batch's records go back on the stream as they were; a DynamoDB
/// stream batch's keys are replicated. Returns (records put back, replicated, failed).
async fn replay_batches(
    at: &Connected,
    batches: &[FailedBatch],
) -> Result<(usize, usize, usize), Failure> {
    let (mut put_back, mut replicated, mut failed) = (0, 0, 0);
    let mut publisher_once = None;
    let mut replicator_once = None;
    for batch in batches {
        match &batch.records {
            Records::Kinesis(event) => {
                if publisher_once.is_none() {
                    publisher_once = Some(publisher(at).await?);
                }
                let Some(publisher) = &publisher_once else {
                    continue;
                };
                match failed_batches::put_back(publisher, event).await {
                    Ok(n) => put_back += n,
                    Err(e) => {
                        failed += e.sequence_numbers.len();
                        eprintln!("{}: {e}", batch.object);
                    }
                }
            }
            Records::DynamoDb(event) => {
                if replicator_once.is_none() {
                    let (primary, replica) = (at.primary(), at.replica().await?);
                    replicator_once =
                        Some(Replicator::connect(primary, replica, at.tuning.clone()).await?);
                }
                let Some(replicator) = &replicator_once else {
                    continue;
                };
                let (_, summary) = replicator.handle_dynamodb(event, None).await;
                replicated += summary.records - summary.failed_records;
                failed += summary.failed_records;
                if let Some(line) = not_replicated(&batch.object, &summary) {
                    eprintln!("{line}");
                }
            }
        }
    }
    Ok((put_back, replicated, failed))
}

/// What to say of a replayed batch's records that failed: a rerun helps those that failed for
/// now (a throttle, an outage), never the unusable ones.
fn not_replicated(object: &str, summary: &dyno::replicate::summary::Summary) -> Option<String> {
    let unusable = summary.unusable_records.min(summary.failed_records);
    let transient = summary.failed_records - unusable;
    let mut said = Vec::new();
    if transient > 0 {
        said.push(format!(
            "{transient} records not replicated for now (see -v): run the replay again"
        ));
    }
    if unusable > 0 {
        said.push(format!(
            "{unusable} records unusable (no key this table takes): a rerun cannot help; the \
             object keeps them"
        ));
    }
    (!said.is_empty()).then(|| format!("{object}: {}", said.join("; ")))
}

/// The primary table's latest DynamoDB stream.
async fn table_stream_arn(table: &Table) -> Result<String, Failure> {
    let description = table.describe().await?;
    description
        .latest_stream_arn()
        .map(str::to_owned)
        .ok_or_else(|| {
            usage(format!(
                "{} has no DynamoDB stream: enable one (any view type; KEYS_ONLY is enough), or \
             replicate from the key stream with --source kinesis",
                table.label()
            ))
        })
}

async fn dead_letters(
    at: &Connected,
    queue: &DeadLetterQueue,
    action: DeadLetterAction,
    limit: usize,
) -> Outcome {
    match action {
        DeadLetterAction::Inspect => {
            for received in dead_letter::inspect(queue, limit).await? {
                match received.letter {
                    Ok(letter) => println!("{}", letter.to_body()),
                    Err(e) => eprintln!("message {}: not a dead letter: {e}", received.message_id),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DeadLetterAction::Replay => {
            let stream = at.stream();
            let report = dead_letter::replay(queue, limit, |letter| {
                let put = stream
                    .client
                    .put_record()
                    .stream_name(&stream.name)
                    .partition_key(letter.partition_key.clone())
                    .data(aws_sdk_kinesis::primitives::Blob::new(letter.data));
                async move {
                    put.send()
                        .await
                        .map(|_| ())
                        .map_err(|e| AwsError::new("PutRecord", e))
                }
            })
            .await?;
            let seen = report.replayed + report.failed + report.unreadable;
            eprintln!(
                "replayed {} of {seen} dead letters onto `{}`; {} failed (left on the queue: run \
                 the replay again once the stream takes records), {} unreadable (not dead letters \
                 this version reads, left on the queue: a rerun cannot help; look at them with \
                 `dyno dead-letters inspect`)",
                report.replayed, stream.name, report.failed, report.unreadable
            );
            Ok(exit_failure_if(report.replayed < seen))
        }
    }
}

fn segments(args: &ScanArgs) -> Segments {
    args.segments
        .map_or_else(Segments::for_this_machine, Segments::all)
}

fn rate(args: &ScanArgs) -> Result<Option<f64>, Failure> {
    match args.rate {
        Some(r) if !(r.is_finite() && r > 0.0) => Err(usage(format!(
            "--rate {r} must be a number of items per second above 0"
        ))),
        other => Ok(other),
    }
}

/// Where keys to make agree go: the key stream, or (`--direct`) the replica at once.
enum Sink {
    Stream(Publisher),
    Replica(Box<Replicator>),
}

impl Sink {
    async fn new(at: &Connected, direct: &DirectArg) -> Result<Self, Failure> {
        if direct.direct {
            let (primary, replica) = (at.primary(), at.replica().await?);
            let replicator = Replicator::connect(primary, replica, at.tuning.clone()).await?;
            return Ok(Sink::Replica(Box::new(replicator)));
        }
        Ok(Sink::Stream(publisher(at).await?))
    }

    fn as_key_sink(&self) -> KeySink<'_> {
        match self {
            Sink::Stream(publisher) => KeySink::Stream(publisher),
            Sink::Replica(replicator) => KeySink::Replica(replicator.engine()),
        }
    }
}

/// A publisher on the stream of the flags, checked to take records.
async fn publisher(at: &Connected) -> Result<Publisher, Failure> {
    let stream = at.stream();
    stream.check_writable().await?;
    let region = at.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    Ok(Publisher::new(stream, region, Backoff::default()))
}

async fn diff(at: &Connected, args: &DiffArgs) -> Outcome {
    let (primary, replica) = (at.primary(), at.replica().await?);
    if let Some(f) = args.sample.filter(|f| !(*f > 0.0 && *f <= 1.0)) {
        return Err(usage(format!("--sample {f} must be above 0 and at most 1")));
    }
    let options = DiffOptions {
        segments: segments(&args.scan),
        rate: rate(&args.scan)?,
        sample: args.sample,
        settle: Duration::from_millis(args.settle_ms),
        ttl: ttl_of(&primary).await?,
        strict_ttl: args.strict_ttl,
    };
    let found = Found::new(at, args).await?;
    let counts = Counts::default();
    let total = item_count(&primary).await + item_count(&replica).await;
    let bar = progress::bar("comparing", "items", total);
    let ticker = progress::follow(&bar, || {
        counts.primary_items.load(Ordering::Relaxed) + counts.replica_items.load(Ordering::Relaxed)
    });
    let result = dyno::ops::diff::diff(&primary, &replica, &options, &counts, |d| found.handle(d));
    let result =
        tokio::select! { r = result => r, () = ticker => unreachable!("the ticker never ends") };
    bar.finish_and_clear();
    let report = result?;
    let repaired = found
        .repair
        .as_ref()
        .map(|sink| sink.as_key_sink().describe());
    let announced = found.finish()?;
    println!("{}", report.summary());
    match repaired {
        Some(how) if args.direct.direct => println!(
            "repair: {announced} keys {how}; run `dyno diff` again to check nothing raced the live replicator"
        ),
        Some(how) => println!(
            "repair: {announced} keys {how}; the replicator makes them agree (run `dyno diff` again once it has drained the stream)"
        ),
        None => {}
    }
    Ok(if report.differences() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What `diff` does with the differing keys of each page: write them to `--keys-out` (which
/// replaces the file only when the comparison completes), and with `--repair` announce them.
struct Found {
    keys_out: Option<(Replacement, Mutex<std::io::BufWriter<std::fs::File>>)>,
    repair: Option<Sink>,
    announced: AtomicU64,
}

impl Found {
    async fn new(at: &Connected, args: &DiffArgs) -> Result<Self, Failure> {
        let keys_out = match &args.keys_out {
            Some(path) => {
                let flag = |e: &dyn std::fmt::Display| usage(format!("--keys-out: {e}"));
                let mut file = atomic_file::begin(path).map_err(|e| flag(&e))?;
                let out = file.file().try_clone().map_err(|e| flag(&e))?;
                Some((file, Mutex::new(std::io::BufWriter::new(out))))
            }
            None => None,
        };
        let repair = match args.repair {
            true => Some(Sink::new(at, &args.direct).await?),
            false => None,
        };
        Ok(Found {
            keys_out,
            repair,
            announced: AtomicU64::new(0),
        })
    }

    async fn handle(&self, differences: Vec<Difference>) -> Result<(), PageError> {
        if let Some((_, out)) = &self.keys_out {
            let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
            for d in &differences {
                writeln!(out, "{}", d.to_line()).map_err(PageError::Output)?;
            }
        }
        if let Some(sink) = &self.repair {
            let keys: Vec<_> = differences.into_iter().map(|d| d.key).collect();
            let count = keys.len() as u64;
            sink.as_key_sink()
                .send(keys)
                .await
                .map_err(PageError::Repair)?;
            self.announced.fetch_add(count, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Flushes `--keys-out` and puts it in place; returns how many keys were announced.
    fn finish(self) -> Result<u64, Failure> {
        if let Some((file, out)) = self.keys_out {
            let mut out = out.into_inner().unwrap_or_else(|e| e.into_inner());
            out.flush().map_err(|e| usage(format!("--keys-out: {e}")))?;
            file.commit()
                .map_err(|e| usage(format!("--keys-out: {e}")))?;
        }
        Ok(self.announced.into_inner())
    }
}

/// The table's TTL, judged now, once the table is known to exist (so that a missing table is
/// named by `DescribeTable`).
async fn ttl_of(table: &Table) -> Result<Option<Ttl>, Failure> {
    table.describe().await?;
    Ok(definition::ttl_attribute(table).await?.map(Ttl::now))
}

/// DescribeTable's item count (updated about every six hours), for a progress bar's length.
async fn item_count(table: &Table) -> u64 {
    let known = table.describe().await.ok().and_then(|d| d.item_count());
    known.map_or(0, |n| n.max(0) as u64)
}

async fn backfill(at: &Connected, args: &BackfillArgs) -> Outcome {
    let table = at.primary();
    let schema = table.key_schema().await?;
    let segments = match (&args.segment_range, args.total_segments) {
        (Some(range), Some(total)) => Segments::share(range.clone(), total).map_err(usage)?,
        _ => segments(&args.scan),
    };
    let sink = Sink::new(at, &args.direct).await?;
    let owner = backfill::owner(&table, &segments, &sink.as_key_sink().describe());
    let checkpoints = Checkpoints::load(args.checkpoint.clone(), owner)?;
    let already = checkpoints.len();
    if already > 0 {
        let file = args.checkpoint.as_deref().unwrap_or(Path::new(""));
        let count = segments.count();
        eprintln!(
            "resuming from {}: {already} of {count} segments were started or done",
            file.display()
        );
    }
    let ttl = match args.include_expired {
        true => None,
        false => ttl_of(&table).await?,
    };
    let options = BackfillOptions {
        segments: segments.clone(),
        rate: rate(&args.scan)?,
        ttl,
    };
    let progress_counts = backfill::Progress::default();
    let share = segments.count() as f64 / segments.total as f64;
    let bar = progress::bar(
        "announcing",
        "keys",
        (item_count(&table).await as f64 * share) as u64,
    );
    let ticker = progress::follow(&bar, || progress_counts.published.load(Ordering::Relaxed));
    let started = std::time::Instant::now();
    let run = backfill::backfill(
        &table,
        &schema,
        sink.as_key_sink(),
        &options,
        &checkpoints,
        &progress_counts,
    );
    let result =
        tokio::select! { r = run => r, () = ticker => unreachable!("the ticker never ends") };
    bar.finish_and_clear();
    let report = result?;
    let went = format!("`{}` {}", table.name, sink.as_key_sink().describe());
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    eprintln!(
        "{}",
        backfilled(&report, &went, &segments, seconds, args.direct.direct)
    );
    Ok(ExitCode::SUCCESS)
}

/// Backfill's closing line: what went where, how fast, and what to do next.
fn backfilled(
    report: &backfill::BackfillReport,
    went: &str,
    segments: &Segments,
    seconds: f64,
    direct: bool,
) -> String {
    let next = match direct {
        true => "run `dyno diff` to check nothing raced the live replicator",
        false => "the replicator copies them: watch the lag, then run `dyno diff`",
    };
    let scan = &report.scan;
    let expired = match report.expired {
        0 => String::new(),
        n => format!("; {n} expired items skipped (TTL passed; --include-expired announces them)"),
    };
    format!(
        "backfill: {} keys of {went} from segments {}..{} of {} in {seconds:.1} s ({:.0} items/s; {} segments done now, {} resumed, {} done before){expired}; {next}",
        report.published,
        segments.range.start,
        segments.range.end,
        segments.total,
        scan.items as f64 / seconds,
        scan.segments_done,
        scan.segments_resumed,
        scan.segments_already_done,
    )
}

async fn run_demo(at: &Connected, keys: usize, ops: usize, seed: u64, recreate: bool) -> Outcome {
    let setup = demo::Setup {
        primary: at.primary(),
        replica: at.replica().await?,
        stream: at.stream(),
        shards: 2,
        recreate,
    };
    let spec = workload::Spec {
        seed,
        keys,
        ops,
        ..workload::Spec::default()
    };
    let report = demo::run(&setup, &spec, |line| println!("{line}")).await?;
    for line in demo::describe(&report) {
        println!("{line}");
    }
    Ok(if report.diff.differences() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dyno::replicate::summary::Summary;

    #[test]
    fn a_replay_says_run_again_only_where_a_rerun_can_help() {
        let summary = |failed_records, unusable_records| Summary {
            records: 5,
            failed_records,
            unusable_records,
            ..Summary::default()
        };
        assert_eq!(not_replicated("o", &summary(0, 0)), None);
        let transient = not_replicated("o", &summary(2, 0)).unwrap();
        assert!(
            transient.contains("2 records not replicated for now"),
            "{transient}"
        );
        assert!(transient.contains("run the replay again"), "{transient}");
        let unusable = not_replicated("o", &summary(1, 1)).unwrap();
        assert!(unusable.contains("a rerun cannot help"), "{unusable}");
        assert!(!unusable.contains("run the replay again"), "{unusable}");
        let both = not_replicated("o", &summary(3, 1)).unwrap();
        assert!(both.starts_with("o: 2 records not replicated"), "{both}");
        assert!(both.contains("1 records unusable"), "{both}");
    }
}
