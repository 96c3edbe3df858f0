//! `--targets FILE` and `--target NAME`: the targets a command works on, in the same JSON the
//! replicator reads from `DYNO_TARGETS` (`{"targets":[…]}`), instead of `--replica-table`.

use std::path::PathBuf;

use dyno::replicate::deployment::{self, TargetTable};
use dyno::replicate::engine::Engine;
use dyno::replicate::targets::{TargetSpec, parse};
use dyno::replicate::tuning::Tuning;

use crate::connect::Connected;
use crate::failure::{Failure, usage};

/// The targets to work on.
#[derive(clap::Args, Debug, Default)]
pub struct TargetsArg {
    /// The targets, as the replicator's DYNO_TARGETS JSON ({"targets":[{"name":…,"table":…,
    /// "filter":…,"exclude":[…]}]}), instead of --replica-table. Each is reached at the
    /// replica's endpoint, in its own region or the replica's.
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// With --targets: only the target of this name.
    #[arg(long, value_name = "NAME", requires = "targets")]
    pub target: Option<String>,
}

/// The targets of `--targets FILE` (only `--target NAME` when given); `None` without the flag.
pub fn specs(arg: &TargetsArg) -> Result<Option<Vec<TargetSpec>>, Failure> {
    let Some(path) = &arg.targets else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--targets {shown}: cannot read it: {e}")))?;
    let specs = parse(&text, &format!("--targets {shown}")).map_err(|e| usage(e.to_string()))?;
    let Some(name) = &arg.target else {
        return Ok(Some(specs));
    };
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    match specs.iter().find(|s| &s.name == name) {
        Some(spec) => Ok(Some(vec![spec.clone()])),
        None => Err(usage(format!(
            "--target {name}: {shown} has no target of that name (it has: {})",
            names.join(", ")
        ))),
    }
}

/// One engine per primary table of the targets (the primary is --table's; a target's `source`
/// names another table at the same place), each target's table checked and its shape built.
pub async fn engines(
    at: &Connected,
    specs: &[TargetSpec],
    tuning: &Tuning,
) -> Result<Vec<Engine>, Failure> {
    let mut tables = Vec::with_capacity(specs.len());
    for spec in specs {
        tables.push(TargetTable {
            spec: spec.clone(),
            table: at.target_table(spec).await?,
        });
    }
    Ok(deployment::connect(at.primary(), tables, tuning).await?)
}
