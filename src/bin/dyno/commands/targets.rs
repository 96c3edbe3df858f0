//! `--targets FILE` and `--target NAME`: the targets a command works on, in the same JSON the
//! replicator reads from `DYNO_TARGETS` (`{"targets":[…]}`), instead of `--replica-table`.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use dyno::aws::key::KeySchema;
use dyno::aws::table::Table;
use dyno::ops::definition::Definition;
use dyno::ops::sink::KeySink;
use dyno::replicate::deployment::{self, TargetTable};
use dyno::replicate::engine::Engine;
use dyno::replicate::shape::Shape;
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

/// A target's table and the primary table it follows (its `source`, else --table's).
pub struct TargetOf {
    pub spec: TargetSpec,
    pub table: Table,
    pub source: Table,
}

/// Each target's table and its primary; a target whose table is one of the primaries is
/// refused.
pub async fn tables(at: &Connected, specs: &[TargetSpec]) -> Result<Vec<TargetOf>, Failure> {
    let primary = at.primary();
    let source_of = |spec: &TargetSpec| {
        let mut source = primary.clone();
        if let Some(name) = &spec.source {
            source.name = name.clone();
        }
        source
    };
    let sources: Vec<Table> = specs.iter().map(source_of).collect();
    let mut tables = Vec::with_capacity(specs.len());
    for (spec, source) in specs.iter().zip(&sources) {
        let table = at.target_table(spec).await?;
        if let Some(primary) = sources.iter().find(|p| table.is_same_as(p)) {
            return Err(usage(format!(
                "target `{}` ({}) is a primary table ({}): nothing was created or changed",
                spec.name,
                table.label(),
                primary.label()
            )));
        }
        let (spec, source) = (spec.clone(), source.clone());
        tables.push(TargetOf {
            spec,
            table,
            source,
        });
    }
    Ok(tables)
}

/// The shape of `spec` as far as it can be known from its primary's key schema (the target's
/// own indexes' keys are not known before it exists).
pub fn shape(spec: &TargetSpec, schema: &KeySchema) -> Result<Shape, Failure> {
    let keys: BTreeSet<String> = schema.elements().map(|(a, _)| a.name.clone()).collect();
    Shape::new(spec, &keys).map_err(|e| usage(e.to_string()))
}

/// Each primary's definition, read once.
#[derive(Default)]
pub struct Definitions(HashMap<String, Definition>);

impl Definitions {
    pub async fn of(&mut self, table: &Table) -> Result<&Definition, Failure> {
        if !self.0.contains_key(&table.name) {
            let definition = Definition::read(table).await?;
            self.0.insert(table.name.clone(), definition);
        }
        Ok(&self.0[&table.name])
    }
}

/// Where `--direct` copies keys of --table with `--targets`: the engine of --table and its
/// targets (targets of other primary tables are left out).
pub async fn sink(at: &Connected, specs: &[TargetSpec]) -> Result<KeySink, Failure> {
    let table = at.primary().name;
    let mine: Vec<TargetSpec> = specs
        .iter()
        .filter(|s| s.source.as_deref().is_none_or(|source| source == table))
        .cloned()
        .collect();
    if mine.is_empty() {
        return Err(usage(format!(
            "--targets: no target follows --table `{table}` (each names another `source`)"
        )));
    }
    let mut engines = engines(at, &mine, &at.tuning).await?;
    match engines.pop() {
        Some(engine) if engines.is_empty() => Ok(KeySink::Replica(Box::new(engine))),
        _ => Err(usage(
            "--targets: the targets of --table make more than one engine",
        )),
    }
}
