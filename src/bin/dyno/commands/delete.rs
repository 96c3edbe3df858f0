//! `dyno delete`: deletes an item of the primary through the writer, then announces its key.

use std::process::ExitCode;

use dyno::regional::outcome::may_have_written;

use super::input::{Expressions, parse_item, parse_names, parse_values};
use super::session_args::SessionArgs;
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
    #[command(flatten)]
    session: SessionArgs,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let key = parse_item(&args.key, "--key")?;
    let e = &args.expressions;
    let w = writer(at).await?;
    let kept = args.session.open(w.table(), None).await?;
    let shown = key.clone();
    let request = w
        .delete()
        .set_key(Some(key))
        .set_condition_expression(e.condition.clone())
        .set_expression_attribute_names(parse_names(&e.names)?)
        .set_expression_attribute_values(parse_values(&e.values)?);
    let Some(kept) = kept else {
        w.delete_item(request).await.map_err(write_failure)?;
        return Ok(ExitCode::SUCCESS);
    };
    let result = dyno::regional::writes::delete_item(&w, kept.session(), request).await;
    if args.session.explain {
        kept.explain_write(&shown, may_have_written(result.as_ref().map(drop)));
    }
    kept.save_after_write("the delete", result.map_err(write_failure))?;
    Ok(ExitCode::SUCCESS)
}
