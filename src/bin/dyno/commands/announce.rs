//! `dyno announce`: puts keys on the stream again, from the flags or a file (after a write whose
//! key record was not published, or from `dyno diff --keys-out`).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use dyno::aws::json;
use dyno::aws::key::Key;
use dyno::publish::writer::{WriteError, Writer};
use dyno::replicate::targets::TargetSpec;

use super::from_export;
use super::input::parse_item;
use super::sink::DirectArg;
use super::targets::{self, TargetsArg};
use super::writes::{write_failure, writer};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, usage};

/// Announce keys again (after a write whose key record was not published).
#[derive(clap::Args)]
pub struct Args {
    /// A key, in DynamoDB JSON (may be repeated).
    #[arg(long, required_unless_present_any = ["keys_file", "from_export"])]
    key: Vec<String>,
    /// A file of keys, one per line: a key in DynamoDB JSON, or a `dyno diff --keys-out`
    /// line ({"kind":…,"key":{…}}).
    #[arg(long)]
    keys_file: Option<PathBuf>,
    /// The targets file the `--keys-file` lines' `"target"` fields name (as `dyno diff
    /// --targets` wrote them): each such key is announced for the primary its target follows.
    #[arg(long, value_name = "FILE", requires = "keys_file")]
    targets: Option<PathBuf>,
    /// Announce every key of this DynamoDB export (s3://BUCKET/PREFIX/AWSDynamoDB/ID/ or its
    /// ARN), to heal a gap: an incremental export (repeat the flag for a chain) names exactly
    /// the keys written in its window. Only the keys are used, never the images.
    #[arg(long, value_name = "EXPORT", conflicts_with_all = ["key", "keys_file"])]
    from_export: Vec<String>,
    /// S3 endpoint (local servers) [default: AWS].
    #[arg(long, value_parser = dyno::aws::endpoint::parse_flag, env = "DYNO_S3_ENDPOINT_URL")]
    s3_endpoint_url: Option<String>,
    /// With --from-export: copy each key now instead of announcing it (no key stream).
    #[command(flatten)]
    direct: DirectArg,
}

/// A key as a file line gave it: its attributes, and the target it was found on, if any.
type Line = (usize, Option<String>, HashMap<String, AttributeValue>);

pub async fn run(at: &Connected, args: Args) -> Outcome {
    if !args.from_export.is_empty() {
        let s3 = args.s3_endpoint_url.as_deref();
        return from_export::announce(at, &args.from_export, s3, &args.direct).await;
    }
    if args.direct.direct {
        return Err(usage("--direct goes with --from-export"));
    }
    let w = writer(at).await?;
    let mut parsed = Vec::new();
    for text in &args.key {
        parsed.push(w.key(parse_item(text, "--key")?).map_err(write_failure)?);
    }
    let mut others = Vec::new();
    if let Some(path) = args.keys_file.as_deref() {
        let lines = read_keys_file(path)?;
        let specs = specs(&args)?;
        for (source, lines) in by_source(lines, specs.as_deref(), &w, path)? {
            match source {
                None => parsed.extend(keys(&w, lines, path)?),
                Some(table) => others.push((table, lines)),
            }
        }
    }
    for (table, lines) in others {
        announce_for(at, &table, lines, args.keys_file.as_deref()).await?;
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

/// The specs of `--targets`, if given.
fn specs(args: &Args) -> Result<Option<targets::Chosen>, Failure> {
    let arg = TargetsArg {
        targets: args.targets.clone(),
        target: None,
    };
    targets::specs(&arg)
}

/// The lines grouped by the primary table their keys are announced for: `None` for --table's,
/// else the table a line's target follows (a target that follows --table is --table's).
fn by_source(
    lines: Vec<Line>,
    specs: Option<&[TargetSpec]>,
    w: &Writer,
    path: &Path,
) -> Result<BTreeMap<Option<String>, Vec<Line>>, Failure> {
    let shown = path.display();
    let mut groups: BTreeMap<Option<String>, Vec<Line>> = BTreeMap::new();
    for line in lines {
        let source = match (&line.1, specs) {
            (None, _) => None,
            (Some(target), None) => {
                return Err(usage(format!(
                    "--keys-file {shown}: line {} names target `{target}`: give the targets \
                     file with --targets FILE, so its key is announced for the primary that \
                     target follows",
                    line.0
                )));
            }
            (Some(target), Some(specs)) => match specs.iter().find(|s| &s.name == target) {
                Some(spec) => spec.source.clone().filter(|s| s != &w.table().name),
                None => {
                    return Err(usage(format!(
                        "--keys-file {shown}: line {} names target `{target}`, which --targets \
                         does not have",
                        line.0
                    )));
                }
            },
        };
        groups.entry(source).or_default().push(line);
    }
    Ok(groups)
}

/// The keys of `lines`, checked against `w`'s table's key schema.
fn keys(w: &Writer, lines: Vec<Line>, path: &Path) -> Result<Vec<Key>, Failure> {
    let shown = path.display();
    let at_line = |n: usize, e: String| usage(format!("--keys-file {shown}: line {n}: {e}"));
    (lines.into_iter())
        .map(|(n, _, attrs)| w.key(attrs).map_err(|e| at_line(n, e.to_string())))
        .collect()
}

/// Announces `lines` for primary table `name` (at --table's place), each record naming that
/// table by the ARN DynamoDB gives it, so the replicator hands it to that table's targets.
async fn announce_for(
    at: &Connected,
    name: &str,
    lines: Vec<Line>,
    path: Option<&Path>,
) -> Result<(), Failure> {
    let mut table = at.primary();
    table.name = name.to_owned();
    let arn = table.identity().await?.arn.ok_or_else(|| {
        usage(format!(
            "{}: DescribeTable gave no TableArn to name it by in the records",
            table.label()
        ))
    })?;
    let w = Writer::connect(table, at.stream())
        .await?
        .with_table_arn(arn);
    let keys = keys(&w, lines, path.unwrap_or(Path::new("-")))?;
    w.announce(&keys).await.map_err(|e| {
        write_failure(WriteError::NotPublished {
            table: name.to_owned(),
            source: e,
        })
    })?;
    eprintln!(
        "announced {} keys of `{name}` on `{}`",
        keys.len(),
        w.publisher().stream().name
    );
    Ok(())
}

/// Keys from a file: one per line, a key in DynamoDB JSON or a `diff --keys-out` line (whose
/// `"target"`, when present, is kept).
fn read_keys_file(path: &Path) -> Result<Vec<Line>, Failure> {
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
        let target = match value.get("target") {
            None => None,
            Some(serde_json::Value::String(t)) => Some(t.clone()),
            Some(_) => return Err(at_line("`target` is not a string".to_owned())),
        };
        let value = match value.get("key") {
            Some(key) if value.get("kind").is_some() => key.clone(),
            _ => value,
        };
        let attrs = json::item_from_value(value).map_err(|e| at_line(e.to_string()))?;
        keys.push((n + 1, target, attrs));
    }
    Ok(keys)
}
