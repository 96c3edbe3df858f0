//! `dyno announce`: puts keys on the stream again, from the flags or a file (after a write whose
//! key record was not published, or from `dyno diff --keys-out`).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dyno::aws::json;
use dyno::aws::key::Key;
use dyno::publish::writer::{WriteError, Writer};

use super::input::parse_item;
use super::writes::{write_failure, writer};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, usage};

/// Announce keys again (after a write whose key record was not published).
#[derive(clap::Args)]
pub struct Args {
    /// A key, in DynamoDB JSON (may be repeated).
    #[arg(long, required_unless_present = "keys_file")]
    key: Vec<String>,
    /// A file of keys, one per line: a key in DynamoDB JSON, or a `dyno diff --keys-out`
    /// line ({"kind":…,"key":{…}}).
    #[arg(long)]
    keys_file: Option<PathBuf>,
}

pub async fn run(at: &Connected, args: Args) -> Outcome {
    let w = writer(at).await?;
    let mut parsed = Vec::new();
    for text in &args.key {
        parsed.push(w.key(parse_item(text, "--key")?).map_err(write_failure)?);
    }
    if let Some(path) = args.keys_file.as_deref() {
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
