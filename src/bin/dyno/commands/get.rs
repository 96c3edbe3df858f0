//! `dyno get`: prints an item, or nothing if there is none: a consistent read of the primary
//! (as always), or of the local replica with `--read-from replica`, in a session with
//! `--session FILE` (this session's writes are seen even before the replica has them).

use std::process::ExitCode;

use dyno::aws::error::AwsError;
use dyno::aws::json;
use dyno::regional::reader::{Read, ReadFrom, Reader};
use dyno::regional::served::{Served, Source, Why};

use super::input::parse_item;
use super::session_args::{ReadTable, SessionArgs};
use crate::Outcome;
use crate::connect::Connected;

/// Print an item (a consistent read of the primary, or of the replica with
/// `--read-from replica`), or nothing if there is none.
#[derive(clap::Args)]
pub struct Args {
    /// The key, in DynamoDB JSON.
    #[arg(long)]
    key: String,
    /// The table to read.
    #[arg(long, value_enum, default_value_t = ReadTable::Primary)]
    read_from: ReadTable,
    #[command(flatten)]
    session: SessionArgs,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let key = parse_item(&args.key, "--key")?;
    let shown = json::to_json(&key);
    let table = at.primary();
    let (read, label, kept) = match args.read_from {
        ReadTable::Primary => {
            let kept = args.session.open(&table, None).await?;
            let answer = table
                .client
                .get_item()
                .table_name(&table.name)
                .set_key(Some(key))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| table.error(AwsError::new("GetItem", e)).into());
            let answer = match &kept {
                Some(kept) => kept.save_after_read(answer)?,
                None => answer?,
            };
            let served = Served {
                from: Source::Primary,
                why: Why::Asked,
            };
            let read = Read {
                item: answer.item,
                served,
            };
            (read, table.label(), kept)
        }
        ReadTable::Replica => {
            let reader = Reader::connect(table, at.replica().await?).await?;
            let identity = reader.primary_identity().clone();
            let kept = args.session.open(reader.primary(), Some(&identity)).await?;
            let read = match &kept {
                None => reader.get(key, ReadFrom::Replica).await?,
                Some(kept) => {
                    let read = reader.get_in(kept.session(), key).await;
                    kept.save_after_read(read.map_err(Into::into))?
                }
            };
            let label = reader.table(read.served.from).label();
            (read, label, kept)
        }
    };
    if args.session.explain {
        eprintln!("explain: get {shown}: {} ({label})", read.served);
    }
    if let Some(item) = read.item {
        println!("{}", json::to_json(&item));
    }
    drop(kept);
    Ok(ExitCode::SUCCESS)
}
