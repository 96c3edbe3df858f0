//! `dyno put`: puts an item on the primary through the writer, then announces its key.

use std::process::ExitCode;

use super::input::{Expressions, parse_item, parse_names, parse_values};
use super::writes::{write_failure, writer};
use crate::Outcome;
use crate::connect::Connected;

/// Put an item, then announce its key.
#[derive(clap::Args)]
pub struct Args {
    /// The item, in DynamoDB JSON.
    #[arg(long)]
    item: String,
    #[command(flatten)]
    expressions: Expressions,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let item = parse_item(&args.item, "--item")?;
    let e = &args.expressions;
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
