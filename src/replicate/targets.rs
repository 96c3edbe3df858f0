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

use crate::aws::table::Item;
use crate::replicate::filter::{Filter, FilterError};

/// The most bytes `DYNO_TARGETS` may hold: Lambda's environment variables together may hold at
/// most 4 KB.
pub const ENV_LIMIT_BYTES: usize = 4096;

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
}

/// The configuration as a whole.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    pub targets: Vec<TargetSpec>,
}

/// Which of an item's attributes a target writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    /// These, and the key attributes.
    Include(BTreeSet<String>),
    /// All but these (never a key attribute).
    Exclude(BTreeSet<String>),
}

/// What a target does to the items of the primary: its filter and projection, and the key
/// attributes of its table and indexes, which it always keeps.
#[derive(Debug, Clone)]
pub struct Shape {
    filter: Option<Filter>,
    projection: Projection,
    key_attributes: BTreeSet<String>,
}

/// What to do to a key on the target.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Put(Item),
    Delete,
}

/// A [`Verdict`], and why it is a delete when the filter decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    pub verdict: Verdict,
    /// The filter failed on the item, which counts as not matching.
    pub filter_error: bool,
    /// The primary has the item but the filter did not match it (or failed).
    pub filtered_out: bool,
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
        "`{list}` names `{name}`, a key attribute of the table or one of its indexes; key \
         attributes are always kept: remove it from the list"
    )]
    KeyAttribute { list: &'static str, name: String },
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
            Label::Name(name) => write!(f, "`{name}`"),
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

/// Refuses two targets that write to the same table in the same region.
fn check_tables(targets: &[TargetSpec], from: &str) -> Result<(), TargetsError> {
    let mut tables: HashMap<(&str, Option<&str>), &str> = HashMap::new();
    for target in targets {
        let table = (target.table.as_str(), target.region.as_deref());
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
    }
    let optional = [
        ("source", &spec.source),
        ("region", &spec.region),
        ("role_arn", &spec.role_arn),
        ("external_id", &spec.external_id),
    ];
    match optional.into_iter().find(|(_, v)| v.as_deref() == Some("")) {
        Some((field, _)) => Err(TargetProblem::EmptyOptional { field }),
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

/// Refuses a list that names a key attribute.
fn check_keys(projection: &Projection, keys: &BTreeSet<String>) -> Result<(), TargetProblem> {
    let (list, names) = match projection {
        Projection::All => return Ok(()),
        Projection::Include(names) => ("include", names),
        Projection::Exclude(names) => ("exclude", names),
    };
    match names.intersection(keys).next() {
        Some(name) => Err(TargetProblem::KeyAttribute {
            list,
            name: name.clone(),
        }),
        None => Ok(()),
    }
}

impl Shape {
    /// The shape of the target `spec`, whose table and indexes have `key_attributes`: refused
    /// when [`check`] refuses the target, or its `include` or `exclude` names a key attribute.
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
        Ok(Shape {
            filter,
            projection,
            key_attributes: key_attributes.clone(),
        })
    }

    /// No filter, every attribute: a full copy.
    pub fn everything() -> Shape {
        Shape {
            filter: None,
            projection: Projection::All,
            key_attributes: BTreeSet::new(),
        }
    }

    /// What the target does with `item`, the primary's item for a key (`None`: it has none):
    /// delete the key when the primary has no item or the filter does not match it (a filter
    /// that fails counts as not matching), else put the item, projected.
    pub fn apply(&self, item: Option<&Item>) -> Shaped {
        let Some(item) = item else {
            return Shaped::delete(false, false);
        };
        if let Some(filter) = &self.filter {
            match filter.matches(item) {
                Ok(true) => {}
                Ok(false) => return Shaped::delete(true, false),
                Err(_) => return Shaped::delete(true, true),
            }
        }
        Shaped {
            verdict: Verdict::Put(self.project(item)),
            filter_error: false,
            filtered_out: false,
        }
    }

    /// The attributes of `item` the target keeps, cloned.
    fn project(&self, item: &Item) -> Item {
        match &self.projection {
            Projection::All => item.clone(),
            _ => item
                .iter()
                .filter(|(name, _)| self.keeps(name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }

    /// No filter and every attribute.
    pub fn is_everything(&self) -> bool {
        self.filter.is_none() && self.projection == Projection::All
    }

    /// Whether the target writes `attribute` (when the item has it).
    pub fn keeps(&self, attribute: &str) -> bool {
        match &self.projection {
            Projection::All => true,
            Projection::Include(names) => {
                names.contains(attribute) || self.key_attributes.contains(attribute)
            }
            Projection::Exclude(names) => !names.contains(attribute),
        }
    }

    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    pub fn projection(&self) -> &Projection {
        &self.projection
    }
}

impl Shaped {
    fn delete(filtered_out: bool, filter_error: bool) -> Shaped {
        Shaped {
            verdict: Verdict::Delete,
            filter_error,
            filtered_out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn s(value: &str) -> AttributeValue {
        AttributeValue::S(value.to_owned())
    }

    fn item(attributes: &[(&str, &str)]) -> Item {
        attributes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), s(value)))
            .collect()
    }

    fn names(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn spec(name: &str, table: &str) -> TargetSpec {
        TargetSpec {
            name: name.into(),
            table: table.into(),
            source: None,
            region: None,
            role_arn: None,
            external_id: None,
            filter: None,
            include: None,
            exclude: None,
        }
    }

    fn refusal(text: &str) -> String {
        match parse(text, "targets.json") {
            Ok(targets) => panic!("accepted {targets:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn one(target: &str) -> String {
        format!(r#"{{"targets": [{target}]}}"#)
    }

    fn shape(spec: &TargetSpec, keys: &[&str]) -> Shape {
        match Shape::new(spec, &names(keys)) {
            Ok(shape) => shape,
            Err(error) => panic!("{error}"),
        }
    }

    fn shape_refusal(spec: &TargetSpec, keys: &[&str]) -> String {
        match Shape::new(spec, &names(keys)) {
            Ok(shape) => panic!("accepted {shape:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn put(attributes: &[(&str, &str)]) -> Shaped {
        Shaped {
            verdict: Verdict::Put(item(attributes)),
            filter_error: false,
            filtered_out: false,
        }
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn a_shape_is_send_and_sync() {
        assert_send_sync::<Shape>();
        assert_send_sync::<TargetsError>();
    }

    #[test]
    fn a_minimal_target_parses() {
        let targets = parse(&one(r#"{"name": "copy", "table": "t2"}"#), "targets.json");
        assert_eq!(targets.ok(), Some(vec![spec("copy", "t2")]));
    }

    #[test]
    fn every_field_parses() {
        let text = one(
            r#"{"name": "n", "table": "t", "source": "p", "region": "eu-west-1",
                "role_arn": "arn:aws:iam::1:role/r", "external_id": "x",
                "filter": "item.a == 1", "include": ["a", "b"]}"#,
        );
        let expected = TargetSpec {
            source: Some("p".into()),
            region: Some("eu-west-1".into()),
            role_arn: Some("arn:aws:iam::1:role/r".into()),
            external_id: Some("x".into()),
            filter: Some("item.a == 1".into()),
            include: Some(vec!["a".into(), "b".into()]),
            ..spec("n", "t")
        };
        assert_eq!(parse(&text, "f").ok(), Some(vec![expected]));
    }

    #[test]
    fn an_unknown_field_is_named() {
        let message = refusal(&one(r#"{"name": "a", "table": "t", "colour": "red"}"#));
        assert!(
            message.starts_with("targets.json: unknown field `colour`, expected one of `name`"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        let message = refusal(r#"{"targets": [], "version": 2}"#);
        assert!(message.contains("unknown field `version`"), "{message}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let message = refusal(&one(r#"{"name": "a"}"#));
        assert!(
            message.starts_with("targets.json: missing field `table` at line 1"),
            "{message}"
        );
    }

    #[test]
    fn bad_json_gives_line_and_column() {
        let message = refusal("{\"targets\": [\n  {\"name\": \"a\",, }\n]}");
        assert!(
            message.starts_with("targets.json: not valid JSON: "),
            "{message}"
        );
        assert!(message.ends_with("at line 2 column 16"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn no_targets_are_refused() {
        assert_eq!(
            refusal(r#"{"targets": []}"#),
            "targets.json: no targets: list at least one under `targets`"
        );
    }

    #[test]
    fn two_targets_with_one_name_are_refused() {
        let text = r#"{"targets": [{"name": "a", "table": "t1"}, {"name": "a", "table": "t2"}]}"#;
        assert_eq!(
            refusal(text),
            "targets.json: two targets are named `a`: give each its own name"
        );
    }

    #[test]
    fn two_targets_with_one_table_are_refused() {
        let text = r#"{"targets": [{"name": "a", "table": "t"}, {"name": "b", "table": "t"}]}"#;
        assert_eq!(
            refusal(text),
            "targets.json: targets `a` and `b` both write to table `t`: give each target its \
             own table"
        );
        let text = r#"{"targets": [{"name": "a", "table": "t", "region": "r"},
                                   {"name": "b", "table": "t", "region": "r"}]}"#;
        assert!(refusal(text).contains("table `t` in region `r`"));
    }

    #[test]
    fn one_table_in_two_regions_is_accepted() {
        let text = r#"{"targets": [{"name": "a", "table": "t", "region": "r1"},
                                   {"name": "b", "table": "t", "region": "r2"}]}"#;
        assert_eq!(parse(text, "f").map(|t| t.len()).ok(), Some(2));
    }

    #[test]
    fn include_and_exclude_together_are_refused() {
        let message = refusal(&one(
            r#"{"name": "a", "table": "t", "include": ["x"], "exclude": ["y"]}"#,
        ));
        assert_eq!(
            message,
            "targets.json: target `a`: both `include` and `exclude` are set: keep one"
        );
    }

    #[test]
    fn an_empty_name_or_table_is_refused() {
        let message = refusal(&one(r#"{"name": "", "table": "t"}"#));
        assert_eq!(
            message,
            "targets.json: target #1: `name` is empty: give it a value"
        );
        let message = refusal(&one(r#"{"name": "a", "table": ""}"#));
        assert_eq!(
            message,
            "targets.json: target `a`: `table` is empty: give it a value"
        );
    }

    #[test]
    fn an_empty_optional_field_is_refused() {
        let message = refusal(&one(r#"{"name": "a", "table": "t", "region": ""}"#));
        assert_eq!(
            message,
            "targets.json: target `a`: `region` is empty: give it a value or leave it out"
        );
    }

    #[test]
    fn an_external_id_without_a_role_is_refused() {
        let message = refusal(&one(r#"{"name": "a", "table": "t", "external_id": "x"}"#));
        assert!(
            message
                .starts_with("targets.json: target `a`: `external_id` is set without `role_arn`"),
            "{message}"
        );
    }

    #[test]
    fn bad_lists_are_refused() {
        let message = refusal(&one(r#"{"name": "a", "table": "t", "include": []}"#));
        assert!(message.contains("`include` is empty"), "{message}");
        let message = refusal(&one(r#"{"name": "a", "table": "t", "exclude": ["x", ""]}"#));
        assert!(
            message.contains("`exclude` has an empty attribute name"),
            "{message}"
        );
        let message = refusal(&one(
            r#"{"name": "a", "table": "t", "exclude": ["x", "x"]}"#,
        ));
        assert!(message.contains("`exclude` names `x` twice"), "{message}");
    }

    #[test]
    fn a_filter_that_does_not_compile_is_refused() {
        let message = refusal(&one(
            r#"{"name": "a", "table": "t", "filter": "item.a =="}"#,
        ));
        assert!(
            message.starts_with(
                "targets.json: target `a`: the filter `item.a ==` does not compile: line 1, \
                 column 10: "
            ),
            "{message}"
        );
        let message = refusal(&one(r#"{"name": "a", "table": "t", "filter": "x.a == 1"}"#));
        assert_eq!(
            message,
            "targets.json: target `a`: the filter may only refer to `item`, not `x`"
        );
    }

    /// A valid `DYNO_TARGETS` value exactly `len` bytes long.
    fn env_value(len: usize) -> String {
        let text = one(r#"{"name": "a", "table": "t"}"#);
        format!("{text}{}", " ".repeat(len - text.len()))
    }

    #[test]
    fn the_env_value_may_be_4096_bytes() {
        let value = env_value(ENV_LIMIT_BYTES);
        assert_eq!(value.len(), 4096);
        assert_eq!(parse_env(&value).ok(), Some(vec![spec("a", "t")]));
    }

    #[test]
    fn an_env_value_over_4096_bytes_is_refused_unparsed() {
        let message = match parse_env(&env_value(4097)) {
            Ok(targets) => panic!("accepted {targets:?}"),
            Err(error) => error.to_string(),
        };
        assert!(
            message.starts_with("DYNO_TARGETS is 4097 bytes, over 4096: Lambda's environment"),
            "{message}"
        );
        let garbage = "x".repeat(4097);
        assert!(matches!(
            parse_env(&garbage),
            Err(TargetsError::EnvTooLarge { bytes: 4097 })
        ));
    }

    #[test]
    fn env_errors_name_the_variable() {
        let message = match parse_env("{") {
            Ok(targets) => panic!("accepted {targets:?}"),
            Err(error) => error.to_string(),
        };
        assert!(
            message.starts_with("DYNO_TARGETS: not valid JSON: "),
            "{message}"
        );
    }

    #[test]
    fn a_list_naming_a_key_attribute_is_refused() {
        let target = TargetSpec {
            exclude: Some(vec!["email".into(), "pk".into()]),
            ..spec("x", "t")
        };
        assert_eq!(
            shape_refusal(&target, &["pk", "sk"]),
            "target `x`: `exclude` names `pk`, a key attribute of the table or one of its \
             indexes; key attributes are always kept: remove it from the list"
        );
        let target = TargetSpec {
            include: Some(vec!["gsi_pk".into()]),
            ..spec("x", "t")
        };
        assert!(shape_refusal(&target, &["pk", "gsi_pk"]).contains("`include` names `gsi_pk`"));
    }

    #[test]
    fn shape_new_checks_the_target() {
        let target = TargetSpec {
            include: Some(vec!["a".into()]),
            exclude: Some(vec!["b".into()]),
            ..spec("x", "t")
        };
        assert_eq!(
            shape_refusal(&target, &["pk"]),
            "target `x`: both `include` and `exclude` are set: keep one"
        );
    }

    #[test]
    fn include_keeps_the_listed_and_the_key_attributes() {
        let target = TargetSpec {
            include: Some(vec!["name".into(), "absent".into()]),
            ..spec("x", "t")
        };
        let shape = shape(&target, &["pk", "sk", "gsi_pk"]);
        let full = item(&[("pk", "1"), ("sk", "2"), ("name", "n"), ("email", "e")]);
        let expected = put(&[("pk", "1"), ("sk", "2"), ("name", "n")]);
        assert_eq!(shape.apply(Some(&full)), expected);
        assert!(shape.keeps("gsi_pk") && shape.keeps("name") && !shape.keeps("email"));
        assert!(!shape.is_everything());
    }

    #[test]
    fn exclude_drops_the_listed_attributes() {
        let target = TargetSpec {
            exclude: Some(vec!["email".into()]),
            ..spec("x", "t")
        };
        let shape = shape(&target, &["pk"]);
        let full = item(&[("pk", "1"), ("name", "n"), ("email", "e")]);
        assert_eq!(shape.apply(Some(&full)), put(&[("pk", "1"), ("name", "n")]));
        assert!(shape.keeps("pk") && shape.keeps("name") && !shape.keeps("email"));
    }

    #[test]
    fn a_filter_that_does_not_match_deletes() {
        let target = TargetSpec {
            filter: Some(r#"item.status == "active""#.into()),
            ..spec("x", "t")
        };
        let shape = shape(&target, &["pk"]);
        let active = item(&[("pk", "1"), ("status", "active")]);
        let gone = item(&[("pk", "1"), ("status", "gone")]);
        assert_eq!(
            shape.apply(Some(&active)),
            put(&[("pk", "1"), ("status", "active")])
        );
        let expected = Shaped {
            verdict: Verdict::Delete,
            filter_error: false,
            filtered_out: true,
        };
        assert_eq!(shape.apply(Some(&gone)), expected);
    }

    #[test]
    fn a_filter_that_fails_deletes_and_says_so() {
        let target = TargetSpec {
            filter: Some(r#"item.status == "active""#.into()),
            ..spec("x", "t")
        };
        let shaped = shape(&target, &["pk"]).apply(Some(&item(&[("pk", "1")])));
        let expected = Shaped {
            verdict: Verdict::Delete,
            filter_error: true,
            filtered_out: true,
        };
        assert_eq!(shaped, expected);
    }

    #[test]
    fn a_missing_item_deletes() {
        let target = TargetSpec {
            filter: Some("item.n > 1".into()),
            ..spec("x", "t")
        };
        let expected = Shaped {
            verdict: Verdict::Delete,
            filter_error: false,
            filtered_out: false,
        };
        assert_eq!(shape(&target, &["pk"]).apply(None), expected);
        assert_eq!(Shape::everything().apply(None), expected);
    }

    #[test]
    fn everything_copies_the_item() {
        let shape = Shape::everything();
        let full = item(&[("pk", "1"), ("email", "e")]);
        assert_eq!(
            shape.apply(Some(&full)),
            put(&[("pk", "1"), ("email", "e")])
        );
        assert!(shape.is_everything() && shape.keeps("anything"));
        assert!(shape.filter().is_none());
    }

    #[test]
    fn three_targets() {
        let text = r#"{"targets": [
            {"name": "copy", "table": "orders-copy"},
            {"name": "active", "table": "orders-active", "filter": "item.status == \"active\""},
            {"name": "no-email", "table": "orders-public", "region": "eu-west-1",
             "exclude": ["email"]}
        ]}"#;
        let targets = match parse(text, "targets.json") {
            Ok(targets) => targets,
            Err(error) => panic!("{error}"),
        };
        let shapes: Vec<Shape> = targets.iter().map(|t| shape(t, &["pk"])).collect();
        let active = item(&[("pk", "1"), ("status", "active"), ("email", "e")]);
        let closed = item(&[("pk", "2"), ("status", "closed"), ("email", "f")]);
        let on =
            |item: &Item| -> Vec<Shaped> { shapes.iter().map(|s| s.apply(Some(item))).collect() };
        let filtered = Shaped::delete(true, false);
        assert_eq!(
            on(&active),
            vec![
                put(&[("pk", "1"), ("status", "active"), ("email", "e")]),
                put(&[("pk", "1"), ("status", "active"), ("email", "e")]),
                put(&[("pk", "1"), ("status", "active")]),
            ]
        );
        assert_eq!(
            on(&closed),
            vec![
                put(&[("pk", "2"), ("status", "closed"), ("email", "f")]),
                filtered,
                put(&[("pk", "2"), ("status", "closed")]),
            ]
        );
        assert!(shapes[0].is_everything() && !shapes[1].is_everything());
        assert_eq!(
            shapes[2].projection(),
            &Projection::Exclude(names(&["email"]))
        );
    }
}
