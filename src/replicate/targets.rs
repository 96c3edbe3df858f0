//! Targets: where the primary's items go, each filtered and projected.
//!
//! The configuration is JSON, `{"targets": [{...}, ...]}`, from `DYNO_TARGETS` or a file. Each
//! target names its table and, optionally, the primary table it follows, its region, a role to
//! assume (and that role's external id), a CEL filter over the primary's item (see
//! [`Filter`]), and the attributes to `include` or to `exclude`. A [`Shape`] is what a target
//! does to one key's item: delete it from the target, or put it, projected.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde_json::error::Category;

use crate::aws::printable::unprintable;
use crate::replicate::filter::{Filter, FilterError};
use crate::replicate::shape::{Projection, Shape};

/// The most bytes `DYNO_TARGETS` may hold: Lambda's environment variables together may hold at
/// most 4 KB.
pub const ENV_LIMIT_BYTES: usize = 4096;

/// The most targets one deployment (or one `--targets` file) may have: each is described, and
/// its client built, at start.
pub const MAX_TARGETS: usize = 100;

/// The name of the environment variable [`parse_env`] reads.
const ENV_NAME: &str = "DYNO_TARGETS";

/// One target as configured.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Unique among the targets, for messages and metrics.
    pub name: String,
    /// The table the items are written to.
    pub table: String,
    /// The primary table this target follows; `None`: the deployment's one primary.
    pub source: Option<String>,
    /// The target table's region; `None`: the deployment's.
    pub region: Option<String>,
    /// A role to assume to write to the table.
    pub role_arn: Option<String>,
    /// The external id the role asks for (only with `role_arn`).
    pub external_id: Option<String>,
    /// A CEL expression over `item`: an item it does not match is deleted from the target.
    pub filter: Option<String>,
    /// The only attributes to write, beside the key attributes.
    pub include: Option<Vec<String>>,
    /// The attributes not to write (never a key attribute).
    pub exclude: Option<Vec<String>>,
    /// `false`: the target gets no TTL (`create`, `check`): an archive, which keeps what the
    /// primary's TTL deletes. `None`: the primary's TTL, as a replica's.
    pub ttl: Option<bool>,
}

impl TargetSpec {
    /// A target `name` writing every item whole to `table` (set the other fields as needed).
    pub fn new(name: &str, table: &str) -> Self {
        TargetSpec {
            name: name.to_owned(),
            table: table.to_owned(),
            source: None,
            region: None,
            role_arn: None,
            external_id: None,
            filter: None,
            include: None,
            exclude: None,
            ttl: None,
        }
    }
}

/// The configuration as a whole.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    pub targets: Vec<TargetSpec>,
}

/// Why the targets' configuration is refused: one line, naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    #[error(
        "{ENV_NAME} is {bytes} bytes, over {ENV_LIMIT_BYTES}: Lambda's environment variables \
         together may hold at most 4 KB; put fewer or shorter targets, or use several functions"
    )]
    EnvTooLarge { bytes: usize },
    #[error("{from}: not valid JSON: {source}")]
    Syntax {
        from: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{from}: {source}")]
    Json {
        from: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{from}: {count} targets, over {MAX_TARGETS}: one deployment writes at most \
         {MAX_TARGETS} targets; split them over several deployments"
    )]
    TooMany { from: String, count: usize },
    #[error("{from}: no targets: list at least one under `targets`")]
    NoTargets { from: String },
    #[error("{from}: two targets are named `{name}`: give each its own name")]
    DuplicateName { from: String, name: String },
    #[error(
        "{from}: targets `{first}` and `{second}` both write to table `{table}`{}: give each \
         target its own table",
        in_region(.region.as_deref())
    )]
    DuplicateTable {
        from: String,
        first: String,
        second: String,
        table: String,
        region: Option<String>,
    },
    #[error("{from}: target {target}: {problem}")]
    Target {
        from: String,
        target: Label,
        #[source]
        problem: TargetProblem,
    },
    #[error("target {target}: {problem}")]
    Shape {
        target: Label,
        #[source]
        problem: TargetProblem,
    },
}

/// What is wrong with one target.
#[derive(Debug, thiserror::Error)]
pub enum TargetProblem {
    #[error("`{field}` is empty: give it a value")]
    EmptyRequired { field: &'static str },
    #[error(
        "`{field}` holds a control or invisible character (a newline, a NUL, a zero-width or \
         bidirectional mark), which would break or disguise the lines that name it: use \
         printable characters"
    )]
    ControlCharacter { field: &'static str },
    #[error("`{field}` is empty: give it a value or leave it out")]
    EmptyOptional { field: &'static str },
    #[error(
        "`external_id` is set without `role_arn`: an external id is only sent when assuming a \
         role; add `role_arn` or remove `external_id`"
    )]
    ExternalIdWithoutRole,
    #[error("both `include` and `exclude` are set: keep one")]
    IncludeAndExclude,
    #[error("`{list}` is empty: list at least one attribute, or leave it out")]
    EmptyList { list: &'static str },
    #[error("`{list}` has an empty attribute name: remove it")]
    EmptyAttribute { list: &'static str },
    #[error("`{list}` names `{name}` twice: remove one")]
    DuplicateAttribute { list: &'static str, name: String },
    #[error(
        "`exclude` names `{name}`, which a target always keeps (a key attribute of its table or \
         of one of its indexes, or the primary's TTL attribute): remove it from the list"
    )]
    KeyAttribute { name: String },
    #[error("{0}")]
    Filter(#[source] FilterError),
}

/// How a message names a target: by its name, or by its place in the list when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    Name(String),
    Number(usize),
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Escaped: a name with a line break must not break the message's line.
            Label::Name(name) => write!(f, "`{}`", name.escape_debug()),
            Label::Number(number) => write!(f, "#{number}"),
        }
    }
}

impl Label {
    /// The label of `spec`, the `index`th target (from 0).
    fn of(spec: &TargetSpec, index: usize) -> Label {
        if spec.name.is_empty() {
            Label::Number(index + 1)
        } else {
            Label::Name(spec.name.clone())
        }
    }
}

/// " in region `r`", or nothing for the deployment's region.
fn in_region(region: Option<&str>) -> String {
    region.map_or_else(String::new, |r| format!(" in region `{r}`"))
}

/// The targets in `value`, the value of `DYNO_TARGETS`: refused, before it is parsed, when over
/// [`ENV_LIMIT_BYTES`]; see [`parse`].
pub fn parse_env(value: &str) -> Result<Vec<TargetSpec>, TargetsError> {
    if value.len() > ENV_LIMIT_BYTES {
        return Err(TargetsError::EnvTooLarge { bytes: value.len() });
    }
    parse(value, ENV_NAME)
}

/// The targets in `text`, which came from `from` (`DYNO_TARGETS` or a file's path), each checked:
/// refused are an unknown field, JSON that does not parse, no targets, two targets with the same
/// name or the same table (and region), and a target that [`check`] refuses.
pub fn parse(text: &str, from: &str) -> Result<Vec<TargetSpec>, TargetsError> {
    let file: TargetsFile =
        serde_json::from_str(text).map_err(|source| json_error(source, from))?;
    if file.targets.is_empty() {
        return Err(TargetsError::NoTargets { from: from.into() });
    }
    if file.targets.len() > MAX_TARGETS {
        let count = file.targets.len();
        return Err(TargetsError::TooMany {
            from: from.into(),
            count,
        });
    }
    for (index, spec) in file.targets.iter().enumerate() {
        check(spec).map_err(|problem| TargetsError::Target {
            from: from.into(),
            target: Label::of(spec, index),
            problem,
        })?;
    }
    check_names(&file.targets, from)?;
    check_tables(&file.targets, from)?;
    Ok(file.targets)
}

fn json_error(source: serde_json::Error, from: &str) -> TargetsError {
    let from = from.to_owned();
    match source.classify() {
        Category::Syntax | Category::Eof | Category::Io => TargetsError::Syntax { from, source },
        Category::Data => TargetsError::Json { from, source },
    }
}

/// Refuses two targets with the same name.
fn check_names(targets: &[TargetSpec], from: &str) -> Result<(), TargetsError> {
    let mut names = HashSet::new();
    match targets.iter().find(|t| !names.insert(t.name.as_str())) {
        Some(twice) => Err(TargetsError::DuplicateName {
            from: from.into(),
            name: twice.name.clone(),
        }),
        None => Ok(()),
    }
}

/// Refuses two targets that write to the same table in the same region with the same role (a
/// role in another account reaches another table of that name: two targets). Spellings this
/// cannot see (an ARN for a name) are refused at connect, by what DynamoDB says the tables are.
fn check_tables(targets: &[TargetSpec], from: &str) -> Result<(), TargetsError> {
    type Place<'a> = (&'a str, Option<&'a str>, Option<&'a str>);
    let mut tables: HashMap<Place, &str> = HashMap::new();
    for target in targets {
        let role = target.role_arn.as_deref();
        let table = (target.table.as_str(), target.region.as_deref(), role);
        if let Some(first) = tables.insert(table, &target.name) {
            return Err(TargetsError::DuplicateTable {
                from: from.into(),
                first: first.to_owned(),
                second: target.name.clone(),
                table: target.table.clone(),
                region: target.region.clone(),
            });
        }
    }
    Ok(())
}

/// Refuses a target with an empty name, table or optional field, an external id without a
/// role, both `include` and `exclude`, an empty list or one with an empty or repeated name, and
/// a filter that does not compile.
pub fn check(spec: &TargetSpec) -> Result<(), TargetProblem> {
    Shape::build(spec, &BTreeSet::new()).map(drop)
}

fn check_fields(spec: &TargetSpec) -> Result<(), TargetProblem> {
    for (field, value) in [("name", &spec.name), ("table", &spec.table)] {
        if value.is_empty() {
            return Err(TargetProblem::EmptyRequired { field });
        }
        if value.chars().any(unprintable) {
            return Err(TargetProblem::ControlCharacter { field });
        }
    }
    let optional = [
        ("source", &spec.source),
        ("region", &spec.region),
        ("role_arn", &spec.role_arn),
        ("external_id", &spec.external_id),
    ];
    if let Some((field, _)) = optional.iter().find(|(_, v)| v.as_deref() == Some("")) {
        return Err(TargetProblem::EmptyOptional { field });
    }
    let text = |v: &&Option<String>| v.as_deref().is_some_and(|v| v.chars().any(unprintable));
    match optional.iter().find(|(_, v)| text(v)) {
        Some((field, _)) => Err(TargetProblem::ControlCharacter { field }),
        None => Ok(()),
    }
}

/// The target's projection, its lists checked (but not against key attributes).
fn projection(spec: &TargetSpec) -> Result<Projection, TargetProblem> {
    match (&spec.include, &spec.exclude) {
        (Some(_), Some(_)) => Err(TargetProblem::IncludeAndExclude),
        (Some(include), None) => Ok(Projection::Include(attributes("include", include)?)),
        (None, Some(exclude)) => Ok(Projection::Exclude(attributes("exclude", exclude)?)),
        (None, None) => Ok(Projection::All),
    }
}

/// The names in `list`, refused when it is empty or has an empty or repeated name.
fn attributes(list: &'static str, names: &[String]) -> Result<BTreeSet<String>, TargetProblem> {
    if names.is_empty() {
        return Err(TargetProblem::EmptyList { list });
    }
    let mut set = BTreeSet::new();
    for name in names {
        if name.is_empty() {
            return Err(TargetProblem::EmptyAttribute { list });
        }
        if !set.insert(name.clone()) {
            let name = name.clone();
            return Err(TargetProblem::DuplicateAttribute { list, name });
        }
    }
    Ok(set)
}

/// Refuses an `exclude` that names an attribute the target always keeps. (An `include` may
/// name one: it is kept either way, so `create`, which knows only the primary's keys, and the
/// replicator, which knows the target's indexes too, agree on every shape.)
fn check_keys(projection: &Projection, kept: &BTreeSet<String>) -> Result<(), TargetProblem> {
    let Projection::Exclude(names) = projection else {
        return Ok(());
    };
    match names.intersection(kept).next() {
        Some(name) => Err(TargetProblem::KeyAttribute { name: name.clone() }),
        None => Ok(()),
    }
}

impl Shape {
    /// The shape of the target `spec`, which always keeps `key_attributes` (the key attributes
    /// of its table and indexes, and the primary's TTL attribute): refused when [`check`]
    /// refuses the target, or its `exclude` names one of them.
    pub fn new(
        spec: &TargetSpec,
        key_attributes: &BTreeSet<String>,
    ) -> Result<Shape, TargetsError> {
        Shape::build(spec, key_attributes).map_err(|problem| TargetsError::Shape {
            target: Label::of(spec, 0),
            problem,
        })
    }

    fn build(spec: &TargetSpec, key_attributes: &BTreeSet<String>) -> Result<Shape, TargetProblem> {
        check_fields(spec)?;
        if spec.external_id.is_some() && spec.role_arn.is_none() {
            return Err(TargetProblem::ExternalIdWithoutRole);
        }
        let projection = projection(spec)?;
        check_keys(&projection, key_attributes)?;
        let filter = match &spec.filter {
            Some(filter) => Some(Filter::compile(filter).map_err(TargetProblem::Filter)?),
            None => None,
        };
        Ok(Shape::of(filter, projection, key_attributes.clone()))
    }
}

#[cfg(test)]
#[path = "targets_tests.rs"]
mod tests;
