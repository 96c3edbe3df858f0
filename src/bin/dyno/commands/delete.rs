//! `dyno delete`: deletes an item of the primary through the writer, then announces its key.

use std::process::ExitCode;

use super::input::{Expressions, parse_item, parse_names, parse_values};
use super::writes::{write_failure, writer};
use crate::Outcome;
use crate::connect::Connected;

/// Delete an item, then announce its key.
#[derive(clap::Args)]
pub struct Args {
    /// The key, in DynamoDB JSON.
    #[arg(long)]
    key: String,
    #[command(flatten)]
    expressions: Expressions,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let key = parse_item(&args.key, "--key")?;
    let e = &args.expressions;
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
