//! `--targets FILE` and `--target NAME`: the targets a command works on, in the same JSON the
//! replicator reads from `DYNO_TARGETS` (`{"targets":[…]}`), instead of `--replica-table`.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use dyno::aws::table::{Table, not_the_primary};
use dyno::ops::definition::{Definition, ReplicaChoices};
use dyno::ops::sink::KeySink;
use dyno::replicate::deployment::{self, TargetTable};
use dyno::replicate::engine::Engine;
use dyno::replicate::shape::Shape;
use dyno::replicate::targets::{MAX_TARGETS, TargetSpec, parse};
use dyno::replicate::tuning::Tuning;

use crate::connect::Connected;
use crate::failure::{Failure, usage};

/// The most bytes a `--targets` file may hold (checked before it is read).
const FILE_LIMIT_BYTES: u64 = 1 << 20;

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

/// The targets a command works on, and the primary tables the whole file names: no target may
/// be one of those, even when `--target` picks another.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub specs: Vec<TargetSpec>,
    pub sources: Vec<String>,
}

impl std::ops::Deref for Chosen {
    type Target = [TargetSpec];

    fn deref(&self) -> &[TargetSpec] {
        &self.specs
    }
}

/// The targets of `--targets FILE` (only `--target NAME` when given); `None` without the flag.
pub fn specs(arg: &TargetsArg) -> Result<Option<Chosen>, Failure> {
    let Some(path) = &arg.targets else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    let cannot = |e: std::io::Error| usage(format!("--targets {shown}: cannot read it: {e}"));
    let bytes = std::fs::metadata(path).map_err(cannot)?.len();
    if bytes > FILE_LIMIT_BYTES {
        return Err(usage(format!(
            "--targets {shown}: {bytes} bytes, over {FILE_LIMIT_BYTES}: a targets file of at \
             most {MAX_TARGETS} targets fits in far less; is it the right file?"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(cannot)?;
    let specs = parse(&text, &format!("--targets {shown}")).map_err(|e| usage(e.to_string()))?;
    let sources = specs.iter().filter_map(|s| s.source.clone()).collect();
    let Some(name) = &arg.target else {
        return Ok(Some(Chosen { specs, sources }));
    };
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    match specs.iter().find(|s| &s.name == name) {
        Some(spec) => Ok(Some(Chosen {
            specs: vec![spec.clone()],
            sources,
        })),
        None => Err(usage(format!(
            "--target {}: {shown} has no target of that name (it has: {})",
            name.escape_debug(),
            names.join(", ")
        ))),
    }
}

/// One engine per primary table of the targets (the primary is --table's; a target's `source`
/// names another table at the same place), each target's table checked and its shape built.
pub async fn engines(
    at: &Connected,
    chosen: &Chosen,
    tuning: &Tuning,
) -> Result<Vec<Engine>, Failure> {
    let mut tables = Vec::with_capacity(chosen.len());
    for spec in chosen.iter() {
        tables.push(TargetTable {
            spec: spec.clone(),
            table: at.target_table(spec).await?,
        });
    }
    let primaries = &chosen.sources;
    Ok(deployment::connect(at.primary(), tables, primaries, tuning).await?)
}

/// A target's table and the primary table it follows (its `source`, else --table's).
pub struct TargetOf {
    pub spec: TargetSpec,
    pub table: Table,
    pub source: Table,
}

/// Each target's table and its primary; a target whose table DynamoDB says is one of the
/// primaries is refused.
pub async fn tables(at: &Connected, chosen: &Chosen) -> Result<Vec<TargetOf>, Failure> {
    let primary = at.primary();
    let source_of = |name: Option<&String>| {
        let mut source = primary.clone();
        if let Some(name) = name {
            source.name = name.clone();
            source.setting = "a target's `source`";
        }
        source
    };
    let sources: Vec<Table> = chosen
        .iter()
        .map(|s| source_of(s.source.as_ref()))
        .collect();
    // Every primary the file names, and --table's, whichever targets were chosen.
    let mut primaries = vec![primary.clone()];
    primaries.extend(chosen.sources.iter().map(|name| source_of(Some(name))));
    let mut tables = Vec::with_capacity(chosen.len());
    for (spec, source) in chosen.iter().zip(&sources) {
        let table = at.target_table(spec).await?;
        let mut seen = BTreeSet::new();
        for primary in primaries.iter().filter(|p| seen.insert(&p.name)) {
            not_the_primary(primary, &table).await.map_err(|e| {
                usage(format!(
                    "target `{}`: {e}; nothing was created or changed",
                    spec.name
                ))
            })?;
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

/// The shape of `spec` as the replicator will build it, from its primary's `definition`: it
/// keeps the primary's keys and TTL attribute; the indexes it keeps are those whose attributes
/// it keeps (see `Definition::for_target`), so their keys are kept too.
pub fn shape(spec: &TargetSpec, definition: &Definition) -> Result<Shape, Failure> {
    let mut kept: BTreeSet<String> = (definition.schema.elements())
        .map(|(a, _)| a.name.clone())
        .collect();
    kept.extend(definition.ttl.as_known().cloned().flatten());
    Shape::new(spec, &kept).map_err(|e| usage(e.to_string()))
}

/// The choices for `spec`'s table: the command's, without TTL for an archive (`"ttl": false`).
pub fn choices_for(spec: &TargetSpec, choices: &ReplicaChoices) -> ReplicaChoices {
    ReplicaChoices {
        ttl: choices.ttl && spec.ttl != Some(false),
        ..choices.clone()
    }
}

/// Says on stderr what an archive (no TTL) lacks of `primary`'s stream, if anything.
pub fn note_archive(primary: &Definition, choices: &ReplicaChoices) {
    if let Some(needs) = primary.archive_needs().filter(|_| !choices.ttl) {
        eprintln!("note: {needs}");
    }
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
pub async fn sink(at: &Connected, chosen: &Chosen) -> Result<KeySink, Failure> {
    let table = at.primary().name;
    let mine: Vec<TargetSpec> = (chosen.iter())
        .filter(|s| s.source.as_deref().is_none_or(|source| source == table))
        .cloned()
        .collect();
    let mine = Chosen {
        specs: mine,
        sources: chosen.sources.clone(),
    };
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
