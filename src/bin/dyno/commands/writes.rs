//! What the writing subcommands share: a writer on the primary and the stream of the flags, and
//! a write's error, with the keys it could not announce saved to a file when there are many.

use std::path::PathBuf;

use dyno::aws::key::Key;
use dyno::publish::writer::{WriteError, Writer};

use crate::connect::Connected;
use crate::failure::{Failure, usage};

/// A writer on the primary (`--table`) and the key stream (`--stream`), naming the table in
/// each record with `--table-arn` when given.
pub async fn writer(at: &Connected) -> Result<Writer, Failure> {
    let arn = at.table_arn().map_err(usage)?;
    let writer = Writer::connect(at.primary(), at.stream()).await?;
    Ok(match arn {
        Some(arn) => writer.with_table_arn(arn),
        None => writer,
    })
}

/// A write's error; keys that could not be announced go to a file when there are many.
pub fn write_failure(error: WriteError) -> Failure {
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
    if !keys.is_empty() {
        return usage(format!(
            "{error}; announce them with `dyno announce --key KEY`, or repair with `dyno diff --repair`"
        ));
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
