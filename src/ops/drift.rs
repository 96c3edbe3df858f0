//! How a replica's definition differs from what it should be (the primary's, shaped by the
//! operator's choices): one line per difference, worst first, each saying whether `check --apply`
//! may add what is missing or a person must decide. A pure function of two definitions.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ops::definition::{Billing, Definition, Index, Known, Projected};

/// Who can fix a difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fix {
    /// Nothing can: the replica cannot serve the primary's application (its keys differ).
    Unusable,
    /// `check --apply` adds what is missing.
    Apply,
    /// A person decides: `check` never deletes or changes what exists.
    Person,
}

/// What `check --apply` does for a difference it may fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    CreateIndex(Index),
    EnableTtl(String),
    EnablePointInTimeRecovery,
    EnableDeletionProtection,
    AddTags(BTreeMap<String, String>),
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// What differs: `key schema`, `index byStatus`, `TTL`, …
    pub what: String,
    /// The line a person reads, e.g. `index byStatus: missing on the replica`.
    pub line: String,
    pub fix: Fix,
    #[serde(skip)]
    pub action: Option<Action>,
}

impl Drift {
    fn new(what: impl Into<String>, says: impl AsRef<str>, fix: Fix) -> Self {
        let what = what.into();
        let line = format!("{what}: {}", says.as_ref());
        Drift {
            what,
            line,
            fix,
            action: None,
        }
    }

    fn apply(what: impl Into<String>, says: impl AsRef<str>, action: Action) -> Self {
        Drift {
            action: Some(action),
            ..Drift::new(what, says, Fix::Apply)
        }
    }
}

/// Every way `found` (the replica) differs from `wanted`, the key schema first (it makes the
/// replica unusable), then what `check --apply` adds, then what a person decides. Settings a
/// server cannot report (TTL, backups, tags on dynalite) are not compared.
pub fn drift(wanted: &Definition, found: &Definition) -> Vec<Drift> {
    let mut all = Vec::new();
    if wanted.schema != found.schema {
        all.push(Drift::new(
            "key schema",
            format!(
                "{} on the replica, {} on the primary: the replica cannot serve the primary's \
                 application; make a new replica",
                found.schema, wanted.schema
            ),
            Fix::Unusable,
        ));
    }
    all.extend(global_indexes(
        &wanted.global_indexes,
        &found.global_indexes,
    ));
    all.extend(local_indexes(&wanted.local_indexes, &found.local_indexes));
    all.extend(ttl(&wanted.ttl, &found.ttl));
    all.extend(protection(wanted, found));
    all.extend(tags(&wanted.tags, &found.tags));
    all.extend(settings(wanted, found));
    all.sort_by_key(|d| match d.fix {
        Fix::Unusable => 0,
        Fix::Apply => 1,
        Fix::Person => 2,
    });
    all
}

/// The index of `name` in `indexes`.
fn named<'a>(indexes: &'a [Index], name: &str) -> Option<&'a Index> {
    indexes.iter().find(|i| i.name == name)
}

/// An index's keys and projection, as a person reads them: `status (S, HASH), INCLUDE [email]`.
pub fn describe(index: &Index) -> String {
    let keys: Vec<String> = index
        .keys
        .iter()
        .map(|(name, kind, role)| format!("{name} ({kind:?}, {})", role.as_str()))
        .collect();
    let projected = match &index.projected {
        Projected::All => "ALL".to_owned(),
        Projected::KeysOnly => "KEYS_ONLY".to_owned(),
        Projected::Include(names) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            format!("INCLUDE [{}]", names.join(", "))
        }
    };
    format!("{}, {projected}", keys.join(" + "))
}

fn same_shape(a: &Index, b: &Index) -> bool {
    a.keys == b.keys && a.projected == b.projected
}

fn global_indexes(wanted: &[Index], found: &[Index]) -> Vec<Drift> {
    let mut all = Vec::new();
    for index in wanted {
        let what = format!("index {}", index.name);
        match named(found, &index.name) {
            None => all.push(Drift::apply(
                what,
                "missing on the replica",
                Action::CreateIndex(index.clone()),
            )),
            Some(other) if !same_shape(index, other) => all.push(Drift::new(
                what,
                format!(
                    "{} on the replica, {} on the primary: check never deletes an index; \
                     delete it by hand, then apply again",
                    describe(other),
                    describe(index)
                ),
                Fix::Person,
            )),
            Some(_) => {}
        }
    }
    for index in found.iter().filter(|i| named(wanted, &i.name).is_none()) {
        all.push(Drift::new(
            format!("index {}", index.name),
            "only on the replica: left as it is",
            Fix::Person,
        ));
    }
    all
}

fn local_indexes(wanted: &[Index], found: &[Index]) -> Vec<Drift> {
    let mut all = Vec::new();
    for index in wanted {
        let what = format!("local index {}", index.name);
        let differs = match named(found, &index.name) {
            None => "missing on the replica".to_owned(),
            Some(other) if !same_shape(index, other) => format!(
                "{} on the replica, {} on the primary",
                describe(other),
                describe(index)
            ),
            Some(_) => continue,
        };
        all.push(Drift::new(
            what,
            format!(
                "{differs}; a local index exists only from a table's creation, so it cannot be \
                 added: make a new replica to have it"
            ),
            Fix::Person,
        ));
    }
    for index in found.iter().filter(|i| named(wanted, &i.name).is_none()) {
        all.push(Drift::new(
            format!("local index {}", index.name),
            "only on the replica: left as it is",
            Fix::Person,
        ));
    }
    all
}

fn ttl(wanted: &Known<Option<String>>, found: &Known<Option<String>>) -> Option<Drift> {
    let (Known::Is(wanted), Known::Is(found)) = (wanted, found) else {
        return None;
    };
    match (wanted, found) {
        (Some(a), None) => Some(Drift::apply(
            "TTL",
            format!("off on the replica, on `{a}` on the primary"),
            Action::EnableTtl(a.clone()),
        )),
        (Some(a), Some(b)) if a != b => Some(Drift::new(
            "TTL",
            format!(
                "on `{b}` on the replica, on `{a}` on the primary: turn the replica's off, then \
                 apply again"
            ),
            Fix::Person,
        )),
        (None, Some(b)) => Some(Drift::new(
            "TTL",
            format!("on `{b}` on the replica only: it deletes items the primary keeps"),
            Fix::Person,
        )),
        _ => None,
    }
}

/// PITR and deletion protection: a replica has them unless the operator chose not to (more
/// protection than wanted is no difference).
fn protection(wanted: &Definition, found: &Definition) -> Vec<Drift> {
    let mut all = Vec::new();
    let pitr = (
        &wanted.point_in_time_recovery,
        &found.point_in_time_recovery,
    );
    if let (Known::Is(true), Known::Is(false)) = pitr {
        all.push(Drift::apply(
            "point-in-time recovery",
            "off on the replica",
            Action::EnablePointInTimeRecovery,
        ));
    }
    let deletion = (&wanted.deletion_protection, &found.deletion_protection);
    if let (Known::Is(true), Known::Is(false)) = deletion {
        all.push(Drift::apply(
            "deletion protection",
            "off on the replica",
            Action::EnableDeletionProtection,
        ));
    }
    all
}

/// Tags the replica lacks are added; a tag with another value is a person's call; tags only the
/// replica has are its own.
fn tags(
    wanted: &Known<BTreeMap<String, String>>,
    found: &Known<BTreeMap<String, String>>,
) -> Vec<Drift> {
    let (Known::Is(wanted), Known::Is(found)) = (wanted, found) else {
        return Vec::new();
    };
    let missing: BTreeMap<String, String> = wanted
        .iter()
        .filter(|(k, _)| !found.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut all = Vec::new();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.keys().map(String::as_str).collect();
        all.push(Drift::apply(
            "tags",
            format!("missing on the replica: {}", names.join(", ")),
            Action::AddTags(missing),
        ));
    }
    for (key, value) in wanted {
        if let Some(other) = found.get(key).filter(|v| *v != value) {
            all.push(Drift::new(
                format!("tag {key}"),
                format!("`{other}` on the replica, `{value}` on the primary: left as it is"),
                Fix::Person,
            ));
        }
    }
    all
}

/// Billing, table class, stream and encryption: each a person's decision.
fn settings(wanted: &Definition, found: &Definition) -> Vec<Drift> {
    let mut all = Vec::new();
    if wanted.billing != found.billing {
        all.push(Drift::new(
            "billing",
            format!(
                "{} on the replica, {} wanted: change it with UpdateTable",
                billing(&found.billing),
                billing(&wanted.billing)
            ),
            Fix::Person,
        ));
    }
    let class = |d: &Definition| d.table_class.clone().unwrap_or_else(|| "STANDARD".into());
    if class(wanted) != class(found) {
        all.push(Drift::new(
            "table class",
            format!(
                "{} on the replica, {} on the primary",
                class(found),
                class(wanted)
            ),
            Fix::Person,
        ));
    }
    if let (Some(view), None) = (&wanted.stream, &found.stream) {
        all.push(Drift::new(
            "stream",
            format!(
                "none on the replica, {view} on the primary: to replicate back from the \
                 replica's own stream after a failover, enable one"
            ),
            Fix::Person,
        ));
    }
    if let Some(key) = wanted
        .kms_key
        .as_ref()
        .filter(|k| found.kms_key.as_ref() != Some(*k))
    {
        all.push(Drift::new(
            "encryption",
            format!(
                "the replica does not use {key}: its key can only be \
                 changed with UpdateTable"
            ),
            Fix::Person,
        ));
    }
    all
}

/// `PAY_PER_REQUEST`, or `PROVISIONED (5 read, 5 write)`.
pub fn billing(billing: &Billing) -> String {
    match billing {
        Billing::OnDemand => "PAY_PER_REQUEST".to_owned(),
        Billing::Provisioned(c) => format!("PROVISIONED ({} read, {} write)", c.read, c.write),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::key::{KeySchema, ScalarType};
    use crate::ops::definition::ReplicaChoices;
    use aws_sdk_dynamodb::types::KeyType;

    fn primary() -> Definition {
        let index = |name: &str, projected| Index {
            name: name.to_owned(),
            keys: vec![("status".to_owned(), ScalarType::S, KeyType::Hash)],
            projected,
            capacity: None,
        };
        Definition {
            schema: KeySchema::hash_only("id", ScalarType::S),
            global_indexes: vec![
                index("byStatus", Projected::All),
                index(
                    "byStatusSlim",
                    Projected::Include(["email".to_owned()].into()),
                ),
            ],
            local_indexes: vec![],
            billing: Billing::OnDemand,
            table_class: None,
            stream: None,
            ttl: Known::Is(Some("expires".to_owned())),
            point_in_time_recovery: Known::Is(true),
            deletion_protection: Known::Is(false),
            tags: Known::Is([("team".to_owned(), "orders".to_owned())].into()),
            kms_key: None,
        }
    }

    #[test]
    fn a_projected_target_gets_only_the_indexes_whose_attributes_it_keeps() {
        let choices = ReplicaChoices::default();
        let names = |d: &Definition| -> Vec<String> {
            d.global_indexes.iter().map(|i| i.name.clone()).collect()
        };
        let whole = primary().for_target(&choices, |_| true);
        assert_eq!(names(&whole), ["byStatus", "byStatusSlim"]);
        let no_email = primary().for_target(&choices, |a| a != "email");
        assert_eq!(names(&no_email), ["byStatus"]);
        let no_status = primary().for_target(&choices, |a| a != "status");
        assert!(names(&no_status).is_empty());
        assert_eq!(no_status.ttl, whole.ttl);
    }

    #[test]
    fn a_replica_made_as_wanted_has_no_drift() {
        let wanted = primary().for_replica(&ReplicaChoices::default());
        assert_eq!(drift(&wanted, &wanted), vec![]);
        assert_eq!(
            wanted.deletion_protection,
            Known::Is(true),
            "on by default for a replica"
        );
    }

    #[test]
    fn missing_parts_are_applied_and_the_rest_left_to_a_person_key_schema_first() {
        let wanted = primary().for_replica(&ReplicaChoices::default());
        let mut found = wanted.clone();
        found.global_indexes.remove(0);
        found.global_indexes.push(Index {
            name: "replicaOnly".to_owned(),
            ..wanted.global_indexes[0].clone()
        });
        found.ttl = Known::Is(None);
        found.schema = KeySchema::hash_only("id", ScalarType::N);
        let lines: Vec<(String, Fix)> = drift(&wanted, &found)
            .into_iter()
            .map(|d| (d.line, d.fix))
            .collect();
        assert_eq!(lines[0].1, Fix::Unusable, "{lines:?}");
        assert!(lines[0].0.starts_with("key schema: "), "{lines:?}");
        assert!(
            lines.contains(&(
                "index byStatus: missing on the replica".to_owned(),
                Fix::Apply
            )),
            "{lines:?}"
        );
        assert!(
            lines.contains(&(
                "TTL: off on the replica, on `expires` on the primary".to_owned(),
                Fix::Apply
            )),
            "{lines:?}"
        );
        assert!(
            lines.contains(&(
                "index replicaOnly: only on the replica: left as it is".to_owned(),
                Fix::Person
            )),
            "{lines:?}"
        );
    }

    #[test]
    fn choices_shape_what_is_wanted_and_unknown_settings_are_not_compared() {
        let choices = ReplicaChoices {
            indexes: false,
            point_in_time_recovery: false,
            deletion_protection: false,
            tags: false,
            ..ReplicaChoices::default()
        };
        let wanted = primary().for_replica(&choices);
        let mut found = wanted.clone();
        found.point_in_time_recovery = Known::Is(true);
        found.deletion_protection = Known::Is(true);
        found.tags = Known::Unsupported;
        found.ttl = Known::Unsupported;
        assert_eq!(
            drift(&wanted, &found),
            vec![],
            "more protection is no difference"
        );
        assert!(wanted.global_indexes.is_empty());
    }
}
