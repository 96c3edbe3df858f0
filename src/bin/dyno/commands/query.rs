//! `dyno query`: the items of a key condition, on the table or an index, as line-delimited
//! DynamoDB JSON (`{"Item":{…}}`, as `export` writes them): from the primary (consistent), or
//! from the local replica with `--read-from replica`, in a session with `--session FILE` (then
//! from the primary when a key this session wrote may be in the query's range).

use std::io::Write;
use std::process::ExitCode;

use dyno::aws::json;
use dyno::regional::query::Query;
use dyno::regional::reader::Reader;
use dyno::regional::served::Served;
use dyno::regional::session::Session;
use futures::TryStreamExt;

use super::input::{parse_item, parse_names};
use super::session_args::{ReadTable, SessionArgs};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, usage};

/// Print the items of a key condition as line-delimited DynamoDB JSON ('{"Item":{…}}').
#[derive(clap::Args)]
pub struct Args {
    /// The key condition, e.g. 'ForumName = :f AND begins_with(Subject, :s)'.
    #[arg(long)]
    key_condition: String,
    /// Expression attribute values, in DynamoDB JSON: '{":f":{"S":"DynamoDB"}}'.
    #[arg(long)]
    values: Option<String>,
    /// Expression attribute names, as JSON: '{"#s":"Subject"}'.
    #[arg(long)]
    names: Option<String>,
    /// Query this secondary index (local or global) instead of the table.
    #[arg(long)]
    index: Option<String>,
    /// At most this many items.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// The table to read.
    #[arg(long, value_enum, default_value_t = ReadTable::Primary)]
    read_from: ReadTable,
    #[command(flatten)]
    session: SessionArgs,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    if args.key_condition.trim().is_empty() {
        return Err(usage(
            "--key-condition is empty: give one, e.g. 'ForumName = :f' with --values '{\":f\":{\"S\":\"x\"}}'",
        ));
    }
    let query = Query {
        index: args.index.clone(),
        key_condition: args.key_condition.clone(),
        names: parse_names(&args.names)?,
        values: args
            .values
            .as_deref()
            .map(|v| parse_item(v, "--values"))
            .transpose()?,
        limit: args.limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
    };
    let primary = at.primary();
    let reader = match args.read_from {
        ReadTable::Primary => Reader::primary_only(primary).await?,
        ReadTable::Replica => Reader::connect(primary, at.replica().await?).await?,
    };
    let identity = reader.primary_identity().clone();
    let kept = args.session.open(reader.primary(), Some(&identity)).await?;
    let session = kept.as_ref().map(|k| k.session());
    let printed = print(&reader, session, &query, args.read_from).await;
    let (served, count) = match &kept {
        Some(kept) => kept.save_after_read(printed)?,
        None => printed?,
    };
    // Said only once every page was read and printed: a query that failed was served by none.
    if args.session.explain {
        let label = reader.table(served.from).label();
        eprintln!("explain: query: {served} ({label}); {count} items");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the query's items, page by page: where it was served, and how many items.
async fn print(
    reader: &Reader,
    session: Option<&Session>,
    query: &Query,
    from: ReadTable,
) -> Result<(Served, usize), Failure> {
    let (served, mut pages) = reader.query(session, query, from.read_from()).await?;
    let mut count = 0;
    while let Some(page) = pages.try_next().await? {
        let mut out = std::io::stdout().lock();
        for item in &page {
            writeln!(out, "{{\"Item\":{}}}", json::to_json(item))
                .map_err(|e| usage(format!("standard output: {e}")))?;
        }
        out.flush()
            .map_err(|e| usage(format!("standard output: {e}")))?;
        count += page.len();
    }
    Ok((served, count))
}
