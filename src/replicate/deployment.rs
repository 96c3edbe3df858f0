//! A deployment: the primary tables and each one's targets, connected and checked once per
//! container. Each target follows the primary its `source` names (or the deployment's one
//! primary), is another table with the primary's key schema, and gets its shape from its filter
//! and projection, which may not name a key attribute of the target or of its indexes.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{KeySchemaElement, TableDescription};

use crate::aws::identity::Identity;
use crate::aws::key::KeySchema;
use crate::aws::table::{PairError, Table, two_tables};
use crate::replicate::engine::{Engine, SetupError};
use crate::replicate::shape::Shape;
use crate::replicate::target::Target;
use crate::replicate::targets::TargetSpec;
use crate::replicate::tuning::Tuning;

/// A target's configuration and its table, reachable (with the target's own credentials).
#[derive(Debug, Clone)]
pub struct TargetTable {
    pub spec: TargetSpec,
    pub table: Table,
}

/// A table and what `DescribeTable` said of it.
type Described<T> = (T, TableDescription);

/// One engine per primary table that has targets: `primary` is the deployment's default
/// primary (for targets that name no `source`); another primary a target names is reached at
/// the same place with the same credentials. Every table is described before anything else:
/// a target that DynamoDB says is a primary (the default one, any target's `source`, or one of
/// `also`, primaries of targets not connected now), or another target's table, is refused
/// however it was spelled.
pub async fn connect(
    primary: Table,
    targets: Vec<TargetTable>,
    also: &[String],
    tuning: &Tuning,
) -> Result<Vec<Engine>, SetupError> {
    let mut sources: Vec<(Table, Vec<TargetTable>)> = Vec::new();
    for target in targets {
        let name = target.spec.source.as_deref().unwrap_or(&primary.name);
        match sources.iter_mut().find(|(table, _)| table.name == name) {
            Some((_, list)) => list.push(target),
            None => {
                let mut table = primary.clone();
                if name != primary.name {
                    table.name = name.to_owned();
                    table.setting = "a target's `source`";
                }
                sources.push((table, vec![target]));
            }
        }
    }
    let mut described = Vec::with_capacity(sources.len());
    let mut ttls = Vec::with_capacity(sources.len());
    for (source, targets) in sources {
        let mut tables = Vec::with_capacity(targets.len());
        for target in targets {
            let description = target.table.describe().await?;
            tables.push((target, description));
        }
        let description = source.describe().await?;
        ttls.push(source.time_to_live().await?.flatten());
        described.push(((source, description), tables));
    }
    let guarded = guarded(&primary, &described, also).await?;
    refuse_shared_tables(&described, &guarded)?;
    let mut engines = Vec::with_capacity(described.len());
    for ((source, targets), ttl) in described.into_iter().zip(ttls) {
        engines.push(engine(source, targets, ttl.as_deref(), tuning)?);
    }
    Ok(engines)
}

/// The primaries no target may be, besides those with targets now: the default one and `also`,
/// each described (one that does not exist cannot be written over).
async fn guarded(
    primary: &Table,
    sources: &[(Described<Table>, Vec<Described<TargetTable>>)],
    also: &[String],
) -> Result<Vec<(String, Identity)>, SetupError> {
    let mut names: Vec<&String> = vec![&primary.name];
    names.extend(also);
    let mut guarded = Vec::new();
    for name in names {
        if sources.iter().any(|((table, _), _)| &table.name == name) {
            continue;
        }
        let mut table = primary.clone();
        if name != &primary.name {
            table.name = name.clone();
            table.setting = "a target's `source`";
        }
        match table.describe().await {
            Ok(description) => guarded.push((table.label(), Identity::of(&description))),
            Err(error) if error.is_missing() => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(guarded)
}

/// Refuses a target table that is one of the deployment's primary tables (those with targets,
/// and `guarded`: it would overwrite it), or the table of another target (two rules would
/// fight over it), as DynamoDB identifies them (see `identity`): an ARN for a name, another host
/// name or region spelling change nothing.
fn refuse_shared_tables(
    sources: &[(Described<Table>, Vec<Described<TargetTable>>)],
    guarded: &[(String, Identity)],
) -> Result<(), SetupError> {
    let mut primaries: Vec<(String, Identity)> = sources
        .iter()
        .map(|((table, d), _)| (table.label(), Identity::of(d)))
        .collect();
    primaries.extend(guarded.iter().cloned());
    let targets: Vec<(&TargetTable, Identity)> = sources
        .iter()
        .flat_map(|(_, targets)| targets)
        .map(|(target, d)| (target, Identity::of(d)))
        .collect();
    for (i, (target, identity)) in targets.iter().enumerate() {
        let name = format!("target `{}` ({})", target.spec.name, target.table.label());
        for (primary, theirs) in &primaries {
            two_tables((primary, theirs), (&name, identity))?;
        }
        for (other, theirs) in &targets[..i] {
            if two_tables((&other.table.label(), theirs), (&name, identity)).is_err() {
                return Err(SetupError::SharedTarget {
                    first: other.spec.name.clone(),
                    second: target.spec.name.clone(),
                    table: format!("{}, {}", target.table.label(), identity.shown()),
                });
            }
        }
    }
    Ok(())
}

/// The engine of one primary table (whose TTL attribute is `ttl`) and its targets.
fn engine(
    (primary, description): Described<Table>,
    targets: Vec<Described<TargetTable>>,
    ttl: Option<&str>,
    tuning: &Tuning,
) -> Result<Engine, SetupError> {
    let schema = primary.schema_of(&description)?;
    let mut connected = Vec::with_capacity(targets.len());
    for (TargetTable { spec, table }, description) in targets {
        let shape = shape_of(&schema, &spec, &table, &description, ttl)?;
        connected.push(Target {
            name: spec.name.clone(),
            store: Arc::new(table),
            shape,
        });
    }
    Ok(Engine::new(
        Arc::new(primary),
        schema,
        connected,
        tuning.clone(),
    ))
}

/// The target's shape, once its table is checked to have the primary's key schema: it always
/// keeps the key attributes of its table and indexes, and the primary's TTL attribute `ttl` (so
/// that its expired items leave the target too).
fn shape_of(
    schema: &KeySchema,
    spec: &TargetSpec,
    table: &Table,
    description: &TableDescription,
    ttl: Option<&str>,
) -> Result<Shape, SetupError> {
    let found = table.schema_of(description)?;
    if found != *schema {
        return Err(PairError::Mismatch {
            replica: format!("target `{}` ({})", spec.name, table.label()),
            expected: Box::new(schema.clone()),
            found: Box::new(found),
        }
        .into());
    }
    let mut kept = key_attributes(description);
    kept.extend(ttl.map(str::to_owned));
    Ok(Shape::new(spec, &kept)?)
}

/// The key attributes of a table and of each of its indexes.
pub fn key_attributes(table: &TableDescription) -> BTreeSet<String> {
    let names = |keys: &[KeySchemaElement]| {
        keys.iter()
            .map(|k| k.attribute_name().to_owned())
            .collect::<Vec<_>>()
    };
    let mut all: BTreeSet<String> = names(table.key_schema()).into_iter().collect();
    for index in table.global_secondary_indexes() {
        all.extend(names(index.key_schema()));
    }
    for index in table.local_secondary_indexes() {
        all.extend(names(index.key_schema()));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};

    fn table(name: &str) -> Table {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        Table::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            name,
            "DYNO_TARGETS",
        )
    }

    /// A description whose identity is `id` (and an ARN of `name`, as two local servers give).
    fn described(name: &str, id: &str) -> TableDescription {
        let arn = format!("arn:aws:dynamodb:us-east-1:000000000000:table/{name}");
        TableDescription::builder()
            .table_name(name)
            .table_arn(arn)
            .table_id(id)
            .build()
    }

    fn target(name: &str, table_name: &str, id: &str) -> Described<TargetTable> {
        let spec = TargetSpec::new(name, table_name);
        let table = table(table_name);
        (TargetTable { spec, table }, described(table_name, id))
    }

    #[test]
    fn a_target_may_not_be_any_primary_nor_another_target_by_identity() {
        let orders = (table("orders"), described("orders", "o"));
        let users = (table("users"), described("users", "u"));
        // A target of `orders` spelled `alias` that DynamoDB says is the `users` primary.
        let sources = vec![
            (orders.clone(), vec![target("a", "alias", "u")]),
            (users.clone(), vec![target("b", "copy", "c")]),
        ];
        let error = refuse_shared_tables(&sources, &[]).expect_err("users is a primary");
        assert!(error.to_string().contains("target `a`"), "{error}");
        assert!(error.to_string().contains("--table") || error.to_string().contains("users"));
        // Two targets spelled apart that are one table.
        let sources = vec![(
            orders.clone(),
            vec![target("a", "copy", "c"), target("b", "arn-of-copy", "c")],
        )];
        let error = refuse_shared_tables(&sources, &[]).expect_err("one table");
        assert!(matches!(error, SetupError::SharedTarget { .. }), "{error}");
        assert!(error.to_string().contains("`a` and `b`"), "{error}");
        // One name on two servers: two tables (their ids differ).
        let sources = vec![(users, vec![target("a", "orders", "other-orders")])];
        assert!(refuse_shared_tables(&sources, &[]).is_ok());
        let sources = vec![(orders, vec![target("a", "copy", "c")])];
        assert!(refuse_shared_tables(&sources, &[]).is_ok());
    }
}
