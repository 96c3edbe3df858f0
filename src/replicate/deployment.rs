//! A deployment: the primary tables and each one's targets, connected and checked once per
//! container. Each target follows the primary its `source` names (or the deployment's one
//! primary), is another table with the primary's key schema, and gets its shape from its filter
//! and projection, which may not name a key attribute of the target or of its indexes.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{KeySchemaElement, TableDescription};

use crate::aws::key::KeySchema;
use crate::aws::table::{PairError, Table, TableError};
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

/// One engine per primary table that has targets: `primary` is the deployment's default
/// primary (for targets that name no `source`); another primary a target names is reached at
/// the same place with the same credentials.
pub async fn connect(
    primary: Table,
    targets: Vec<TargetTable>,
    tuning: &Tuning,
) -> Result<Vec<Engine>, SetupError> {
    let mut sources: Vec<(Table, Vec<TargetTable>)> = Vec::new();
    for target in targets {
        let name = target.spec.source.as_deref().unwrap_or(&primary.name);
        match sources.iter_mut().find(|(table, _)| table.name == name) {
            Some((_, list)) => list.push(target),
            None => {
                let mut table = primary.clone();
                table.name = name.to_owned();
                sources.push((table, vec![target]));
            }
        }
    }
    refuse_shared_tables(&sources)?;
    let mut engines = Vec::with_capacity(sources.len());
    for (source, targets) in sources {
        engines.push(engine(source, targets, tuning).await?);
    }
    Ok(engines)
}

/// Refuses a target table that is one of the deployment's primary tables (it would overwrite
/// it), or the table of another target (two rules would fight over it): the same table however
/// it is named (a region given or left to the default, `localhost` or `127.0.0.1`).
fn refuse_shared_tables(sources: &[(Table, Vec<TargetTable>)]) -> Result<(), SetupError> {
    let targets: Vec<&TargetTable> = sources.iter().flat_map(|(_, t)| t).collect();
    for (i, target) in targets.iter().enumerate() {
        let name = || format!("target `{}` ({})", target.spec.name, target.table.label());
        if let Some((primary, _)) = sources.iter().find(|(p, _)| target.table.is_same_as(p)) {
            return Err(PairError::SameTable {
                primary: primary.label(),
                replica: name(),
            }
            .into());
        }
        if let Some(other) = targets[..i]
            .iter()
            .find(|o| o.table.is_same_as(&target.table))
        {
            return Err(SetupError::SharedTarget {
                first: other.spec.name.clone(),
                second: target.spec.name.clone(),
                table: target.table.label(),
            });
        }
    }
    Ok(())
}

/// The engine of one primary table and its targets.
async fn engine(
    primary: Table,
    targets: Vec<TargetTable>,
    tuning: &Tuning,
) -> Result<Engine, SetupError> {
    let schema = primary.key_schema().await?;
    let mut connected = Vec::with_capacity(targets.len());
    for TargetTable { spec, table } in targets {
        let shape = shape_of(&schema, &spec, &table).await?;
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

/// The target's shape, once its table is checked to have the primary's key schema.
async fn shape_of(
    schema: &KeySchema,
    spec: &TargetSpec,
    table: &Table,
) -> Result<Shape, SetupError> {
    let description = table.describe().await?;
    let found = KeySchema::from_description(&description).map_err(|source| TableError::Schema {
        setting: table.setting,
        table: table.name.clone(),
        source,
    })?;
    if found != *schema {
        return Err(PairError::Mismatch {
            replica: format!("target `{}` ({})", spec.name, table.label()),
            expected: Box::new(schema.clone()),
            found: Box::new(found),
        }
        .into());
    }
    Ok(Shape::new(spec, &key_attributes(&description))?)
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

    /// A table at a local endpoint, in `region` (`None`: the client's default, us-east-1).
    fn table(name: &str, endpoint: &str, region: Option<&str>) -> Table {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        Table::new(client, name, "DYNO_TARGETS")
            .at(Some(endpoint.to_owned()), region.map(str::to_owned))
    }

    fn target(name: &str, table: Table) -> TargetTable {
        let spec = TargetSpec::new(name, &table.name);
        TargetTable { spec, table }
    }

    #[test]
    fn a_target_may_not_be_any_primary_nor_another_target() {
        let (here, there) = ("http://127.0.0.1:8001", "http://localhost:8001/");
        let orders = table("orders", here, None);
        let users = table("users", here, None);
        // A target of `orders` that is the `users` primary, spelled another way.
        let sources = vec![
            (
                orders.clone(),
                vec![target("a", table("users", there, None))],
            ),
            (users.clone(), vec![target("b", table("copy", here, None))]),
        ];
        let error = refuse_shared_tables(&sources).expect_err("users is a primary");
        assert!(error.to_string().contains("target `a`"), "{error}");
        // Two targets on one table, one naming the region the other leaves to the default.
        let sources = vec![(
            orders,
            vec![
                target("a", table("copy", here, None)),
                target("b", table("copy", there, Some("us-east-1"))),
            ],
        )];
        let error = refuse_shared_tables(&sources).expect_err("one table");
        assert!(matches!(error, SetupError::SharedTarget { .. }), "{error}");
        assert!(error.to_string().contains("`a` and `b`"), "{error}");
        let sources = vec![(users, vec![target("a", table("copy", here, None))])];
        assert!(refuse_shared_tables(&sources).is_ok());
    }
}
