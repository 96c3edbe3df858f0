//! `dyno get`: prints an item of the primary (a consistent read), or nothing if there is none.

use std::process::ExitCode;

use dyno::aws::error::AwsError;
use dyno::aws::json;

use super::input::parse_item;
use crate::Outcome;
use crate::connect::Connected;

/// Print an item of the primary (consistent read), or nothing if there is none.
#[derive(clap::Args)]
pub struct Args {
    /// The key, in DynamoDB JSON.
    #[arg(long)]
    key: String,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let key = parse_item(&args.key, "--key")?;
    let table = at.primary();
    let answer = table
        .client
        .get_item()
        .table_name(&table.name)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| table.error(AwsError::new("GetItem", e)))?;
    if let Some(item) = answer.item {
        println!("{}", json::to_json(&item));
    }
    Ok(ExitCode::SUCCESS)
}
