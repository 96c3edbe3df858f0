//! A replica made from a definition (everything `CreateTable` can set, then TTL and
//! point-in-time recovery), and what an existing replica lacks added to it: a missing global
//! index (waited for until ACTIVE), TTL, point-in-time recovery, deletion protection, tags.
//! Nothing here deletes or changes what exists.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, LocalSecondaryIndex,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ProvisionedThroughput,
    ScalarAttributeType, SseSpecification, SseType, StreamSpecification, StreamViewType,
    TableClass, Tag, TimeToLiveSpecification,
};
use aws_smithy_types::error::operation::BuildError;

use crate::aws::error::AwsError;
use crate::aws::key::ScalarType;
use crate::aws::table::Table;
use crate::ops::admin::{self, AdminError};
use crate::ops::definition::{Billing, Capacity, Definition, Index, Known, Projected};
use crate::ops::drift::{Action, Drift};

/// Creates `table` as `wanted` says and waits until it is ACTIVE; then turns on TTL and
/// point-in-time recovery. Returns what was done, a line each.
pub async fn create(table: &Table, wanted: &Definition) -> Result<Vec<String>, AdminError> {
    let build = built(table);
    let request = table
        .client
        .create_table()
        .table_name(&table.name)
        .set_deletion_protection_enabled(wanted.deletion_protection.as_known().copied());
    let request = with_keys_and_billing(request, wanted).map_err(build)?;
    let request = with_options(request, wanted).map_err(build)?;
    request
        .send()
        .await
        .map_err(|e| call(table, AwsError::new("CreateTable", e)))?;
    admin::wait_active(table, admin::WAIT).await?;
    let mut said = vec![format!("created {}", summary(wanted))];
    said.extend(after_creation(table, wanted).await?);
    Ok(said)
}

type CreateTable = aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;

/// What `CreateTable` and `ImportTable` both take of a definition: attribute definitions, key
/// schema, billing (and capacity), global indexes and encryption.
pub(crate) struct Parts {
    pub attributes: Vec<AttributeDefinition>,
    pub keys: Vec<KeySchemaElement>,
    pub billing: BillingMode,
    pub throughput: Option<ProvisionedThroughput>,
    pub globals: Vec<GlobalSecondaryIndex>,
    pub sse: Option<SseSpecification>,
}

/// The [`Parts`] of `wanted`.
pub(crate) fn parts(wanted: &Definition) -> Result<Parts, BuildError> {
    let attributes = (wanted.attribute_types().into_iter())
        .map(|(name, kind)| attribute(&name, kind))
        .collect::<Result<_, _>>()?;
    let keys = (wanted.schema.elements())
        .map(|(attr, role)| element(&attr.name, role))
        .collect::<Result<_, _>>()?;
    let (billing, throughput) = match wanted.billing {
        Billing::OnDemand => (BillingMode::PayPerRequest, None),
        Billing::Provisioned(c) => (BillingMode::Provisioned, Some(throughput(c)?)),
    };
    let globals = (wanted.global_indexes.iter())
        .map(|index| global(index, wanted.billing))
        .collect::<Result<_, _>>()?;
    let sse = wanted.kms_key.as_ref().map(|key| {
        let sse = SseSpecification::builder()
            .enabled(true)
            .sse_type(SseType::Kms);
        sse.kms_master_key_id(key).build()
    });
    Ok(Parts {
        attributes,
        keys,
        billing,
        throughput,
        globals,
        sse,
    })
}

/// `request` with the key schema, attribute definitions, billing, indexes and encryption of
/// `wanted`.
fn with_keys_and_billing(
    request: CreateTable,
    wanted: &Definition,
) -> Result<CreateTable, BuildError> {
    let parts = parts(wanted)?;
    let mut request = request
        .set_attribute_definitions(Some(parts.attributes))
        .set_key_schema(Some(parts.keys))
        .billing_mode(parts.billing)
        .set_provisioned_throughput(parts.throughput)
        .set_sse_specification(parts.sse);
    if !parts.globals.is_empty() {
        request = request.set_global_secondary_indexes(Some(parts.globals));
    }
    for index in &wanted.local_indexes {
        request = request.local_secondary_indexes(local(index)?);
    }
    Ok(request)
}

/// `request` with the stream, table class and tags of `wanted`.
fn with_options(mut request: CreateTable, wanted: &Definition) -> Result<CreateTable, BuildError> {
    if let Some(view) = &wanted.stream {
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(view.as_str()))
            .build()?;
        request = request.stream_specification(stream);
    }
    if let Some(class) = &wanted.table_class {
        request = request.table_class(TableClass::from(class.as_str()));
    }
    for (key, value) in wanted.tags.as_known().into_iter().flatten() {
        request = request.tags(Tag::builder().key(key).value(value).build()?);
    }
    Ok(request)
}

/// What `CreateTable` cannot set: TTL and point-in-time recovery.
async fn after_creation(table: &Table, wanted: &Definition) -> Result<Vec<String>, AdminError> {
    let mut said = Vec::new();
    if let Some(Some(attribute)) = wanted.ttl.as_known() {
        said.push(enable_ttl(table, attribute).await?);
    }
    if let Some(true) = wanted.point_in_time_recovery.as_known() {
        said.push(enable_pitr(table).await?);
    }
    Ok(said)
}

/// `indexes, billing, …` of a new table, for its creation line.
fn summary(wanted: &Definition) -> String {
    let names = |indexes: &[Index]| -> String {
        let names: Vec<&str> = indexes.iter().map(|i| i.name.as_str()).collect();
        match names.is_empty() {
            true => "none".to_owned(),
            false => names.join(", "),
        }
    };
    format!(
        "with global indexes: {}; local indexes: {}; {}; deletion protection {}",
        names(&wanted.global_indexes),
        names(&wanted.local_indexes),
        crate::ops::drift::billing(&wanted.billing),
        match wanted.deletion_protection {
            Known::Is(true) => "on",
            Known::Is(false) => "off",
            Known::Unsupported => "not known to this server",
        }
    )
}

/// Adds to `table` (billed as `billing`) what each difference's action says; `types` are the
/// attribute types of the table and every index it has or gets; `progress` hears how an index
/// being built goes. Returns what was done, a line each.
pub async fn apply(
    table: &Table,
    billing: Billing,
    types: &BTreeMap<String, ScalarType>,
    drifts: &[Drift],
    progress: impl Fn(&str),
) -> Result<Vec<String>, AdminError> {
    let mut done = Vec::new();
    for action in drifts.iter().filter_map(|d| d.action.as_ref()) {
        let line = match action {
            Action::CreateIndex(index) => {
                create_index(table, index, billing, types, &progress).await?
            }
            Action::EnableTtl(attribute) => enable_ttl(table, attribute).await?,
            Action::EnablePointInTimeRecovery => enable_pitr(table).await?,
            Action::EnableDeletionProtection => enable_deletion_protection(table).await?,
            Action::AddTags(tags) => add_tags(table, tags).await?,
        };
        done.push(line);
    }
    Ok(done)
}

async fn create_index(
    table: &Table,
    index: &Index,
    billing: Billing,
    types: &BTreeMap<String, ScalarType>,
    progress: &impl Fn(&str),
) -> Result<String, AdminError> {
    let build = built(table);
    let mut action = CreateGlobalSecondaryIndexAction::builder()
        .index_name(&index.name)
        .projection(projection(&index.projected));
    for (name, _, role) in &index.keys {
        action = action.key_schema(element(name, role.clone()).map_err(build)?);
    }
    if let Some(c) = index_capacity(index, billing) {
        action = action.provisioned_throughput(throughput(c).map_err(build)?);
    }
    let update = GlobalSecondaryIndexUpdate::builder()
        .create(action.build().map_err(build)?)
        .build();
    let mut request = table
        .client
        .update_table()
        .table_name(&table.name)
        .global_secondary_index_updates(update);
    // Every attribute definition of the table and its indexes, the new one's included: some
    // servers (moto) take the list as the table's whole list.
    for (name, kind) in types {
        request = request.attribute_definitions(attribute(name, *kind).map_err(build)?);
    }
    request
        .send()
        .await
        .map_err(|e| call(table, AwsError::new("UpdateTable", e)))?;
    wait_for_index(table, &index.name, admin::WAIT, progress).await?;
    Ok(format!("index {}: created, ACTIVE", index.name))
}

/// A global index's capacity on a provisioned table: its own, else the table's.
fn index_capacity(index: &Index, billing: Billing) -> Option<Capacity> {
    match billing {
        Billing::OnDemand => None,
        Billing::Provisioned(table) => Some(index.capacity.unwrap_or(table)),
    }
}

/// Polls until `name` is ACTIVE, telling `progress` its state (and how far its backfill is).
async fn wait_for_index(
    table: &Table,
    name: &str,
    limit: Duration,
    progress: &impl Fn(&str),
) -> Result<(), AdminError> {
    let started = tokio::time::Instant::now();
    loop {
        let description = table.describe().await?;
        let index = description
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(name));
        let status = index.and_then(|i| i.index_status());
        if status == Some(&IndexStatus::Active) {
            return Ok(());
        }
        let items = index.and_then(|i| i.item_count()).unwrap_or(0);
        let state = status.map_or("not listed yet", |s| s.as_str());
        progress(&format!("index {name}: {state}, {items} items so far"));
        if started.elapsed() >= limit {
            return Err(AdminError::Timeout {
                what: format!("{} index {name}", table.label()),
                state: "ACTIVE",
                waited: limit,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn enable_ttl(table: &Table, attribute: &str) -> Result<String, AdminError> {
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(attribute)
        .build()
        .map_err(built(table))?;
    table
        .client
        .update_time_to_live()
        .table_name(&table.name)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| call(table, AwsError::new("UpdateTimeToLive", e)))?;
    Ok(format!("TTL: on `{attribute}`"))
}

async fn enable_pitr(table: &Table) -> Result<String, AdminError> {
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .map_err(built(table))?;
    table
        .client
        .update_continuous_backups()
        .table_name(&table.name)
        .point_in_time_recovery_specification(spec)
        .send()
        .await
        .map_err(|e| call(table, AwsError::new("UpdateContinuousBackups", e)))?;
    Ok("point-in-time recovery: on".to_owned())
}

async fn enable_deletion_protection(table: &Table) -> Result<String, AdminError> {
    table
        .client
        .update_table()
        .table_name(&table.name)
        .deletion_protection_enabled(true)
        .send()
        .await
        .map_err(|e| call(table, AwsError::new("UpdateTable", e)))?;
    admin::wait_active(table, admin::WAIT).await?;
    Ok("deletion protection: on".to_owned())
}

async fn add_tags(table: &Table, tags: &BTreeMap<String, String>) -> Result<String, AdminError> {
    let arn = table
        .describe()
        .await?
        .table_arn()
        .map(str::to_owned)
        .unwrap_or_default();
    let mut request = table.client.tag_resource().resource_arn(arn);
    for (key, value) in tags {
        let tag = Tag::builder().key(key).value(value).build();
        request = request.tags(tag.map_err(built(table))?);
    }
    request
        .send()
        .await
        .map_err(|e| call(table, AwsError::new("TagResource", e)))?;
    let names: Vec<&str> = tags.keys().map(String::as_str).collect();
    Ok(format!("tags: added {}", names.join(", ")))
}

/// A request for `table` the SDK could not build (an impossible name or value), as its error.
pub(crate) fn built(table: &Table) -> impl Fn(BuildError) -> AdminError + Copy + '_ {
    move |source| AdminError::Build {
        what: table.label(),
        source,
    }
}

pub(crate) fn call(table: &Table, source: AwsError) -> AdminError {
    AdminError::Call {
        what: table.label(),
        source,
    }
}

fn attribute(name: &str, kind: ScalarType) -> Result<AttributeDefinition, BuildError> {
    let kind = match kind {
        ScalarType::S => ScalarAttributeType::S,
        ScalarType::N => ScalarAttributeType::N,
        ScalarType::B => ScalarAttributeType::B,
    };
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
}

fn element(name: &str, role: KeyType) -> Result<KeySchemaElement, BuildError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(role)
        .build()
}

fn throughput(c: Capacity) -> Result<ProvisionedThroughput, BuildError> {
    ProvisionedThroughput::builder()
        .read_capacity_units(c.read)
        .write_capacity_units(c.write)
        .build()
}

fn projection(projected: &Projected) -> Projection {
    let builder = Projection::builder();
    match projected {
        Projected::All => builder.projection_type(ProjectionType::All),
        Projected::KeysOnly => builder.projection_type(ProjectionType::KeysOnly),
        Projected::Include(names) => builder
            .projection_type(ProjectionType::Include)
            .set_non_key_attributes(Some(names.iter().cloned().collect())),
    }
    .build()
}

fn global(index: &Index, billing: Billing) -> Result<GlobalSecondaryIndex, BuildError> {
    let mut builder = GlobalSecondaryIndex::builder()
        .index_name(&index.name)
        .projection(projection(&index.projected));
    for (name, _, role) in &index.keys {
        builder = builder.key_schema(element(name, role.clone())?);
    }
    if let Some(c) = index_capacity(index, billing) {
        builder = builder.provisioned_throughput(throughput(c)?);
    }
    builder.build()
}

fn local(index: &Index) -> Result<LocalSecondaryIndex, BuildError> {
    let mut builder = LocalSecondaryIndex::builder()
        .index_name(&index.name)
        .projection(projection(&index.projected));
    for (name, _, role) in &index.keys {
        builder = builder.key_schema(element(name, role.clone())?);
    }
    builder.build()
}
