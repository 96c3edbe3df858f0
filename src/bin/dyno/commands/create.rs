//! `dyno create`: creates what is missing of the primary and replica tables and the key stream,
//! and checks what exists. A new replica of an existing primary gets the primary's definition
//! (`dyno::ops::provision`); `--recreate` starts over, on local servers only.

use std::process::ExitCode;

use dyno::aws::key::{KeySchema, ScalarType};
use dyno::aws::table::{Table, not_the_primary};
use dyno::ops::admin::{self, AdminError, Setup};
use dyno::ops::definition::{Definition, ReplicaChoices};
use dyno::ops::drift;
use dyno::ops::provision;

use super::from_export;
use super::replica_args::{ReplicaArgs, choices};
use super::targets::{self, TargetsArg};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, usage};

/// Create what is missing of the primary and replica tables and the stream; check what
/// exists. Deletes nothing, unless --recreate (local servers only).
#[derive(clap::Args)]
pub struct Args {
    /// Key schema: NAME:TYPE[,NAME:TYPE] (types S, N, B; partition key first) [default: the
    /// primary's, when it exists (to create its replica); else ForumName:S,Subject:S].
    #[arg(long)]
    key_schema: Option<String>,
    /// Shards of a new stream.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=500))]
    shards: i32,
    /// Create no key stream: for a deployment whose source is the primary table's own
    /// DynamoDB stream.
    #[arg(long)]
    no_stream: bool,
    /// Delete the tables and the stream first and create them anew: all their data is
    /// lost. Only on local servers (127.0.0.1, localhost).
    #[arg(long)]
    recreate: bool,
    /// Make a new replica by ImportTable from this full export (s3://BUCKET/PREFIX/AWSDynamoDB/
    /// ID/ or its ARN), with the primary's definition: DynamoDB fills it with no write capacity
    /// used. An existing replica is refused (fill it with `dyno load`).
    #[arg(long, value_name = "EXPORT", conflicts_with_all = ["recreate", "targets"])]
    from_export: Option<String>,
    /// S3 endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_S3_ENDPOINT_URL")]
    s3_endpoint_url: Option<String>,
    /// With --from-export: where the catch-up will come from (a DynamoDB stream keeps 24 hours:
    /// the seed is complete only if the export is younger than that).
    #[arg(long, value_enum, default_value_t = from_export::CatchUpSource::Kinesis)]
    source: from_export::CatchUpSource,
    #[command(flatten)]
    replica: ReplicaArgs,
    /// With --targets: create each target table instead of --replica-table (a projected target
    /// gets only the indexes whose attributes it keeps).
    #[command(flatten)]
    targets: TargetsArg,
}

/// The key schema of the demo's tables, when neither `--key-schema` nor a primary gives one.
const DEFAULT_KEY_SCHEMA: &str = "ForumName:S,Subject:S";

pub async fn run(at: &Connected, args: Args) -> Outcome {
    // The shards of a new key stream, or `None` for no stream.
    let stream = (!args.no_stream).then_some(args.shards);
    let choices = choices(&args.replica)?;
    let key_schema = args.key_schema.as_deref();
    if let Some(export) = &args.from_export {
        let s3 = args.s3_endpoint_url.as_deref();
        return from_export::create_replica(at, export, s3, (&choices, args.source)).await;
    }
    if let Some(specs) = targets::specs(&args.targets)? {
        if args.recreate {
            return Err(usage(
                "--recreate takes no --targets: it starts the demo's tables over",
            ));
        }
        return create_targets(at, &args, &specs, stream).await;
    }
    let (primary, replica, wait) = (at.primary(), at.replica().await?, admin::WAIT);
    if args.recreate {
        return recreate(at, &primary, &replica, key_schema, stream).await;
    }
    let given = key_schema.map(parse_schema).transpose()?;
    refuse_the_primary(&primary, &replica).await?;
    let schema = match given {
        Some(schema) => schema,
        None => primary_schema_or_default(&primary).await?,
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
            targets::note_archive(&definition, &choices);
            let wanted = definition.for_replica(&choices);
            replica_of(&definition, wanted, &replica, &choices).await?;
        }
    }
    ensure_stream(at, stream).await
}

/// Creates the key stream, unless `shards` is `None`, or says it exists.
async fn ensure_stream(at: &Connected, shards: Option<i32>) -> Outcome {
    if let Some(shards) = shards {
        let stream = at.stream();
        let setup = admin::ensure_stream(&stream, shards, admin::WAIT).await?;
        said(format!("stream `{}`", stream.name), setup);
    }
    Ok(ExitCode::SUCCESS)
}

fn said(what: String, setup: Setup) {
    match setup {
        Setup::Created => eprintln!("{what}: created"),
        Setup::Existed => eprintln!("{what}: exists, left as it is"),
    }
}

/// `--targets`: each target table from the existing primary's definition, without the indexes
/// on attributes the target does not keep; an existing one is reported on, never changed.
async fn create_targets(
    at: &Connected,
    args: &Args,
    specs: &targets::Chosen,
    stream: Option<i32>,
) -> Outcome {
    let choices = choices(&args.replica)?;
    let mut definitions = targets::Definitions::default();
    for target in targets::tables(at, specs).await? {
        let definition = definitions.of(&target.source).await?;
        let shape = targets::shape(&target.spec, definition)?;
        eprintln!("target `{}`:", target.spec.name);
        let choices = targets::choices_for(&target.spec, &choices);
        targets::note_archive(definition, &choices);
        let wanted = definition.for_target(&choices, |a| shape.keeps(a));
        replica_of(definition, wanted, &target.table, &choices).await?;
    }
    ensure_stream(at, stream).await
}

/// `--recreate`: deletes the tables (and the stream, unless `stream` is `None`) and creates them
/// anew, only when every one is on a local server.
async fn recreate(
    at: &Connected,
    primary: &Table,
    replica: &Table,
    key_schema: Option<&str>,
    stream: Option<i32>,
) -> Outcome {
    let wait = admin::WAIT;
    let schema = parse_schema(key_schema.unwrap_or(DEFAULT_KEY_SCHEMA))?;
    let stream_place = stream.map(|_| at.stream());
    let mut places = vec![admin::place_of(primary), admin::place_of(replica)];
    places.extend(stream_place.as_ref().map(admin::place_of_stream));
    admin::all_local("--recreate", &places)?;
    refuse_the_primary(primary, replica).await?;
    admin::recreate_table(primary, &schema, None, wait).await?;
    admin::recreate_table(replica, &schema, None, wait).await?;
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
    Ok(ExitCode::SUCCESS)
}

/// Refuses a replica that DynamoDB says is the primary, before anything is created or deleted.
async fn refuse_the_primary(primary: &Table, replica: &Table) -> Result<(), Failure> {
    not_the_primary(primary, replica)
        .await
        .map_err(|e| usage(format!("{e}; nothing was created or changed")))
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

/// The existing primary's key schema (its replica gets the same), or the default for new tables.
async fn primary_schema_or_default(primary: &Table) -> Result<KeySchema, Failure> {
    match primary.key_schema().await {
        Ok(schema) => Ok(schema),
        Err(e) if e.is_missing() => parse_schema(DEFAULT_KEY_SCHEMA),
        Err(e) => Err(e.into()),
    }
}

/// Creates a missing replica from the primary's definition, or says how an existing one
/// differs (changing nothing).
async fn replica_of(
    primary: &Definition,
    wanted: Definition,
    replica: &Table,
    choices: &ReplicaChoices,
) -> Result<(), Failure> {
    let name = &replica.name;
    match Definition::read(replica).await {
        Err(e) if e.is_missing() => {
            let said = provision::create(replica, &wanted).await?;
            for (n, line) in said.iter().enumerate() {
                match n {
                    0 => eprintln!("table `{name}` ({}): {line}", wanted.schema),
                    _ => eprintln!("  {line}"),
                }
            }
            if primary.kms_key.is_some() && choices.kms_key.is_none() {
                eprintln!(
                    "  encrypted with an AWS owned key; the primary uses a customer managed key \
                     (a key is per region and account: give --replica-kms-key ARN)"
                );
            }
        }
        Err(e) => return Err(e.into()),
        Ok(found) if found.schema != wanted.schema => {
            return Err(AdminError::SchemaMismatch {
                table: replica.label(),
                found: Box::new(found.schema),
                wanted: Box::new(wanted.schema),
            }
            .into());
        }
        Ok(found) => {
            let drifts = drift::drift(&wanted, &found);
            eprintln!("table `{name}` ({}): exists, left as it is", wanted.schema);
            for d in &drifts {
                eprintln!("  {}", d.line);
            }
            if !drifts.is_empty() {
                eprintln!("  see `dyno check`; `dyno check --apply` adds what is missing");
            }
        }
    }
    Ok(())
}
