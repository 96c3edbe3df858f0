//! `dyno put`: puts an item on the primary through the writer, then announces its key.

use std::process::ExitCode;

use dyno::regional::outcome::may_have_written;

use super::input::{Expressions, parse_item, parse_names, parse_values};
use super::session_args::SessionArgs;
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
    #[command(flatten)]
    session: SessionArgs,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let item = parse_item(&args.item, "--item")?;
    let e = &args.expressions;
    let w = writer(at).await?;
    let kept = args.session.open(w.table(), None).await?;
    let key = w.key(item.clone()).ok().map(|k| k.to_attributes());
    let request = w
        .put()
        .set_item(Some(item))
        .set_condition_expression(e.condition.clone())
        .set_expression_attribute_names(parse_names(&e.names)?)
        .set_expression_attribute_values(parse_values(&e.values)?);
    let Some(kept) = kept else {
        w.put_item(request).await.map_err(write_failure)?;
        return Ok(ExitCode::SUCCESS);
    };
    let result = dyno::regional::writes::put_item(&w, kept.session(), request).await;
    if let (true, Some(key)) = (args.session.explain, &key) {
        kept.explain_write(key, may_have_written(result.as_ref().map(drop)));
    }
    kept.save_after_write("the put", result.map_err(write_failure))?;
    Ok(ExitCode::SUCCESS)
}
