//! A table's definition, as a failover replica needs the primary's: key schema, secondary
//! indexes, billing, table class, stream, TTL, point-in-time recovery, deletion protection, tags
//! and encryption. Read from a table with the describe calls; what a replica of it should be is a
//! pure function of it and the operator's choices.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::{
    BillingMode, ContinuousBackupsStatus, KeySchemaElement, KeyType, PointInTimeRecoveryStatus,
    ProjectionType, ScalarAttributeType, SseType, TableDescription,
};

use crate::aws::error::AwsError;
use crate::aws::key::{KeySchema, ScalarType};
use crate::aws::table::{Table, TableError};

/// Read and write capacity units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub read: i64,
    pub write: i64,
}

/// How a table (or a global index) is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    OnDemand,
    Provisioned(Capacity),
}

/// What an index holds of each item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projected {
    All,
    KeysOnly,
    Include(BTreeSet<String>),
}

/// A secondary index: its keys (attribute, type, role) and what it projects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub keys: Vec<(String, ScalarType, KeyType)>,
    pub projected: Projected,
    /// A global index's own capacity, on a provisioned table.
    pub capacity: Option<Capacity>,
}

impl Index {
    /// Every attribute the index needs of an item: its keys and, for `INCLUDE`, the others.
    pub fn attributes(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.keys.iter().map(|(n, _, _)| n.clone()).collect();
        if let Projected::Include(others) = &self.projected {
            names.extend(others.iter().cloned());
        }
        names
    }
}

/// A setting some servers cannot report (dynalite has no TTL, backups or tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known<T> {
    Is(T),
    /// The server answered that it does not know the call.
    Unsupported,
}

impl Known<bool> {
    /// `choice`, where the server knows the setting at all.
    pub fn choose(&self, choice: bool) -> Known<bool> {
        match self {
            Known::Is(_) => Known::Is(choice),
            Known::Unsupported => Known::Unsupported,
        }
    }
}

impl<T> Known<T> {
    pub fn as_known(&self) -> Option<&T> {
        match self {
            Known::Is(value) => Some(value),
            Known::Unsupported => None,
        }
    }
}

/// What a table is, beyond its items.
///
/// `create` gives a replica everything here; the stream (the table's own DynamoDB stream, of
/// the primary's view type) too, so that a failed-over application can be replicated back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub schema: KeySchema,
    pub global_indexes: Vec<Index>,
    pub local_indexes: Vec<Index>,
    pub billing: Billing,
    /// `STANDARD` or `STANDARD_INFREQUENT_ACCESS`; `None`: not reported (standard).
    pub table_class: Option<String>,
    /// The DynamoDB stream's view type, if the table has a stream.
    pub stream: Option<String>,
    /// The TTL attribute, when TTL is on (or being turned on).
    pub ttl: Known<Option<String>>,
    pub point_in_time_recovery: Known<bool>,
    pub deletion_protection: Known<bool>,
    pub tags: Known<BTreeMap<String, String>>,
    /// A customer managed KMS key's ARN; `None`: an AWS owned or AWS managed key.
    pub kms_key: Option<String>,
}

/// The operator's choices for a replica (the `create` and `check` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaChoices {
    pub indexes: bool,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    pub tags: bool,
    /// The primary's TTL; `false`: no TTL, for an archive that keeps what the primary expires.
    pub ttl: bool,
    /// `None`: the primary's billing.
    pub billing: Option<Billing>,
    /// The replica's own KMS key (a key is per region and account); `None`: AWS owned.
    pub kms_key: Option<String>,
}

impl Default for ReplicaChoices {
    fn default() -> Self {
        ReplicaChoices {
            indexes: true,
            point_in_time_recovery: true,
            deletion_protection: true,
            tags: true,
            ttl: true,
            billing: None,
            kms_key: None,
        }
    }
}

impl Definition {
    /// Reads `table`'s definition: `DescribeTable`, `DescribeTimeToLive`,
    /// `DescribeContinuousBackups` and `ListTagsOfResource`.
    pub async fn read(table: &Table) -> Result<Definition, TableError> {
        let description = table.describe().await?;
        let mut definition = from_description(table, &description)?;
        definition.ttl = read_ttl(table).await?;
        definition.point_in_time_recovery = read_pitr(table).await?;
        definition.tags = match description.table_arn() {
            Some(arn) => read_tags(table, arn).await?,
            None => Known::Unsupported,
        };
        Ok(definition)
    }

    /// What a replica of this table should be, given the operator's choices: the same keys,
    /// indexes, billing, class, TTL and stream (`check` reports a missing one; `create` leaves
    /// the stream to the operator); PITR, deletion protection and tags as chosen (where the
    /// server knows them at all); its own KMS key.
    pub fn for_replica(&self, choices: &ReplicaChoices) -> Definition {
        let (global_indexes, local_indexes) = match choices.indexes {
            true => (self.global_indexes.clone(), self.local_indexes.clone()),
            false => (Vec::new(), Vec::new()),
        };
        Definition {
            schema: self.schema.clone(),
            global_indexes,
            local_indexes,
            billing: choices.billing.unwrap_or(self.billing),
            table_class: self.table_class.clone(),
            stream: self.stream.clone(),
            ttl: match choices.ttl {
                true => self.ttl.clone(),
                false => self
                    .ttl
                    .as_known()
                    .map_or(Known::Unsupported, |_| Known::Is(None)),
            },
            point_in_time_recovery: self
                .point_in_time_recovery
                .choose(choices.point_in_time_recovery),
            deletion_protection: self.deletion_protection.choose(choices.deletion_protection),
            tags: match choices.tags {
                true => self.tags.clone(),
                false => Known::Is(BTreeMap::new()),
            },
            kms_key: choices.kms_key.clone(),
        }
    }

    /// For an archive of this table (no TTL): what it lacks to keep the last version of each
    /// item the primary's TTL deletes, when the table's stream does not carry old images.
    pub fn archive_needs(&self) -> Option<String> {
        let view = self.stream.as_deref();
        if matches!(view, Some("OLD_IMAGE" | "NEW_AND_OLD_IMAGES")) {
            return None;
        }
        Some(format!(
            "an archive (no TTL) keeps the last version of an item the primary's TTL deletes \
             only from a stream that carries old images, with KEEP_TTL_DELETES: the primary's \
             stream is {}; set its view type to OLD_IMAGE or NEW_AND_OLD_IMAGES",
            view.unwrap_or("off")
        ))
    }

    /// What a target of this table that holds only the attributes `keeps` says should be: a
    /// replica's definition, with only the indexes whose every attribute the target keeps (an
    /// index on an attribute the target drops would stay empty).
    pub fn for_target(&self, choices: &ReplicaChoices, keeps: impl Fn(&str) -> bool) -> Definition {
        let mut wanted = self.for_replica(choices);
        let kept = |index: &Index| index.attributes().iter().all(|a| keeps(a));
        wanted.global_indexes.retain(kept);
        wanted.local_indexes.retain(kept);
        wanted
    }

    /// Every attribute definition the table needs: its keys' and its indexes' keys'.
    pub fn attribute_types(&self) -> BTreeMap<String, ScalarType> {
        let mut types: BTreeMap<String, ScalarType> = self
            .schema
            .elements()
            .map(|(a, _)| (a.name.clone(), a.kind))
            .collect();
        for index in self.global_indexes.iter().chain(&self.local_indexes) {
            for (name, kind, _) in &index.keys {
                types.insert(name.clone(), *kind);
            }
        }
        types
    }
}

fn from_description(table: &Table, d: &TableDescription) -> Result<Definition, TableError> {
    let schema = KeySchema::from_description(d).map_err(|source| TableError::Schema {
        setting: table.setting,
        table: table.name.clone(),
        source,
    })?;
    let (global_indexes, local_indexes) = indexes(d);
    Ok(Definition {
        schema,
        global_indexes,
        local_indexes,
        billing: billing(d),
        table_class: d
            .table_class_summary()
            .and_then(|c| c.table_class())
            .map(|c| c.as_str().to_owned()),
        stream: d
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_owned()),
        ttl: Known::Unsupported,
        point_in_time_recovery: Known::Unsupported,
        deletion_protection: match d.deletion_protection_enabled() {
            Some(on) => Known::Is(on),
            None => Known::Unsupported,
        },
        tags: Known::Unsupported,
        kms_key: d
            .sse_description()
            .filter(|s| s.sse_type() == Some(&SseType::Kms))
            .and_then(|s| s.kms_master_key_arn())
            .filter(|arn| !arn.contains(":alias/aws/"))
            .map(str::to_owned),
    })
}

/// A description's global and local secondary indexes.
fn indexes(d: &TableDescription) -> (Vec<Index>, Vec<Index>) {
    let types: BTreeMap<&str, ScalarType> = d
        .attribute_definitions()
        .iter()
        .filter_map(|a| Some((a.attribute_name(), scalar(a.attribute_type())?)))
        .collect();
    let keys = |elements: &[KeySchemaElement]| -> Vec<(String, ScalarType, KeyType)> {
        elements
            .iter()
            .filter_map(|e| {
                let kind = *types.get(e.attribute_name())?;
                Some((e.attribute_name().to_owned(), kind, e.key_type().clone()))
            })
            .collect()
    };
    let global = d
        .global_secondary_indexes()
        .iter()
        .map(|g| Index {
            name: g.index_name().unwrap_or_default().to_owned(),
            keys: keys(g.key_schema()),
            projected: projected(g.projection()),
            capacity: g
                .provisioned_throughput()
                .and_then(|p| capacity(p.read_capacity_units(), p.write_capacity_units())),
        })
        .collect();
    let local = d
        .local_secondary_indexes()
        .iter()
        .map(|l| Index {
            name: l.index_name().unwrap_or_default().to_owned(),
            keys: keys(l.key_schema()),
            projected: projected(l.projection()),
            capacity: None,
        })
        .collect();
    (global, local)
}

fn scalar(kind: &ScalarAttributeType) -> Option<ScalarType> {
    match kind {
        ScalarAttributeType::S => Some(ScalarType::S),
        ScalarAttributeType::N => Some(ScalarType::N),
        ScalarAttributeType::B => Some(ScalarType::B),
        _ => None,
    }
}

fn projected(p: Option<&aws_sdk_dynamodb::types::Projection>) -> Projected {
    match p.and_then(|p| p.projection_type()) {
        Some(ProjectionType::KeysOnly) => Projected::KeysOnly,
        Some(ProjectionType::Include) => Projected::Include(
            p.map(|p| p.non_key_attributes().iter().cloned().collect())
                .unwrap_or_default(),
        ),
        _ => Projected::All,
    }
}

fn capacity(read: Option<i64>, write: Option<i64>) -> Option<Capacity> {
    match (read?, write?) {
        (0, 0) => None,
        (read, write) => Some(Capacity { read, write }),
    }
}

fn billing(d: &TableDescription) -> Billing {
    let on_demand = d
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .is_some_and(|m| *m == BillingMode::PayPerRequest);
    let provisioned = d
        .provisioned_throughput()
        .and_then(|p| capacity(p.read_capacity_units(), p.write_capacity_units()));
    match (on_demand, provisioned) {
        (false, Some(c)) => Billing::Provisioned(c),
        _ => Billing::OnDemand,
    }
}

/// The table's TTL attribute, when TTL is on; `None` when it is off or the server has no TTL.
pub async fn ttl_attribute(table: &Table) -> Result<Option<String>, TableError> {
    Ok(read_ttl(table).await?.as_known().cloned().flatten())
}

async fn read_ttl(table: &Table) -> Result<Known<Option<String>>, TableError> {
    Ok(match table.time_to_live().await? {
        Some(attribute) => Known::Is(attribute),
        None => Known::Unsupported,
    })
}

/// Whether the table's point-in-time recovery is on (`Unsupported` on a server without it).
pub(crate) async fn read_pitr(table: &Table) -> Result<Known<bool>, TableError> {
    let answer = table
        .client
        .describe_continuous_backups()
        .table_name(&table.name)
        .send()
        .await
        .map_err(|e| AwsError::new("DescribeContinuousBackups", e));
    let description = match answer {
        Ok(answer) => answer.continuous_backups_description,
        Err(e) if e.is_unsupported() => return Ok(Known::Unsupported),
        Err(e) => return Err(table.error(e)),
    };
    let on = description.is_some_and(|d| {
        d.continuous_backups_status() == &ContinuousBackupsStatus::Enabled
            && d.point_in_time_recovery_description()
                .and_then(|p| p.point_in_time_recovery_status())
                == Some(&PointInTimeRecoveryStatus::Enabled)
    });
    Ok(Known::Is(on))
}

async fn read_tags(
    table: &Table,
    arn: &str,
) -> Result<Known<BTreeMap<String, String>>, TableError> {
    let mut tags = BTreeMap::new();
    let mut next: Option<String> = None;
    loop {
        let answer = table
            .client
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| AwsError::new("ListTagsOfResource", e));
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) if e.is_unsupported() => return Ok(Known::Unsupported),
            Err(e) => return Err(table.error(e)),
        };
        for tag in answer.tags() {
            tags.insert(tag.key().to_owned(), tag.value().to_owned());
        }
        match answer.next_token {
            Some(token) => next = Some(token),
            None => return Ok(Known::Is(tags)),
        }
    }
}
