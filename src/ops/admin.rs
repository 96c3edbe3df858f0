//! Table and stream setup: creates what is missing and checks what exists, and deletes only when
//! told to (`recreate`) and only on a server on this machine. Every wait has a limit, and running
//! out of it is an error that says what was being waited for.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableStatus,
};
use aws_sdk_kinesis::types::StreamStatus;
use aws_smithy_types::error::operation::BuildError;
use tokio::time::Instant;

use crate::aws::error::AwsError;
use crate::aws::key::{KeySchema, ScalarType};
use crate::aws::stream::{Stream, StreamError};
use crate::aws::table::{Table, TableError};

/// What setup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// It was missing and is now created.
    Created,
    /// It was there already (and, for a table, has the expected key schema).
    Existed,
}

/// Setup could not be done; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(
        "{table} already exists with the key schema {found}, not {wanted}: nothing was changed; \
         name another table, or give the key schema it has"
    )]
    SchemaMismatch {
        table: String,
        found: Box<KeySchema>,
        wanted: Box<KeySchema>,
    },
    #[error("{what}: {source}")]
    Call {
        what: String,
        #[source]
        source: AwsError,
    },
    #[error(
        "{what} is reached at {endpoint}, which is not a server on this machine: tables and \
         streams are deleted only on local servers (127.0.0.1, ::1, localhost); nothing was \
         deleted"
    )]
    NotLocal { what: String, endpoint: String },
    #[error(
        "{action} works only on servers on this machine (127.0.0.1, ::1, localhost), and \
         {remote} is not: nothing was deleted or changed"
    )]
    NotAllLocal {
        action: &'static str,
        remote: String,
    },
    #[error("{what}: the request could not be built: {source}")]
    Build {
        what: String,
        #[source]
        source: BuildError,
    },
    #[error("{what}: still not {state} after {waited:?}; check it, then run the command again")]
    Timeout {
        what: String,
        state: &'static str,
        waited: Duration,
    },
}

/// How long setup waits for a table or stream to become usable (or gone).
pub const WAIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);

/// Creates `table` with `schema` (on demand) unless it exists; if it exists, checks that its
/// key schema is `schema`. Never deletes or changes an existing table. With `stream_view`, the
/// table gets a DynamoDB stream of that view type.
pub async fn ensure_table(
    table: &Table,
    schema: &KeySchema,
    stream_view: Option<StreamViewType>,
    wait: Duration,
) -> Result<Setup, AdminError> {
    match table.key_schema().await {
        Ok(found) if &found == schema => {
            wait_for_table(table, TableState::Active, wait).await?;
            Ok(Setup::Existed)
        }
        Ok(found) => Err(AdminError::SchemaMismatch {
            table: table.label(),
            found: Box::new(found),
            wanted: Box::new(schema.clone()),
        }),
        Err(e) if e.is_missing() => {
            create_table(table, schema, stream_view).await?;
            wait_for_table(table, TableState::Active, wait).await?;
            Ok(Setup::Created)
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes `table` if it exists and creates it anew: only on a server on this machine.
pub async fn recreate_table(
    table: &Table,
    schema: &KeySchema,
    stream_view: Option<StreamViewType>,
    wait: Duration,
) -> Result<(), AdminError> {
    refuse_unless_local(&table.label(), table.is_local(), table.endpoint.as_deref())?;
    match table
        .client
        .delete_table()
        .table_name(&table.name)
        .send()
        .await
    {
        Ok(_) => wait_for_table(table, TableState::Gone, wait).await?,
        Err(e) => {
            let error = AwsError::new("DeleteTable", e);
            if !error.is("ResourceNotFoundException") {
                return Err(call(&table.label(), error));
            }
        }
    }
    create_table(table, schema, stream_view).await?;
    wait_for_table(table, TableState::Active, wait).await
}

/// Waits until `table` is ACTIVE (an error after `wait`).
pub async fn wait_active(table: &Table, wait: Duration) -> Result<(), AdminError> {
    wait_for_table(table, TableState::Active, wait).await
}

/// Creates `stream` with `shards` shards unless it exists (an existing stream is left as it is).
pub async fn ensure_stream(
    stream: &Stream,
    shards: i32,
    wait: Duration,
) -> Result<Setup, AdminError> {
    match stream.summary().await {
        Ok(_) => {
            wait_for_stream(stream, true, wait).await?;
            Ok(Setup::Existed)
        }
        Err(e) if e.is_missing() => {
            create_stream(stream, shards).await?;
            wait_for_stream(stream, true, wait).await?;
            Ok(Setup::Created)
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes `stream` if it exists and creates it anew: only on a server on this machine.
pub async fn recreate_stream(
    stream: &Stream,
    shards: i32,
    wait: Duration,
) -> Result<(), AdminError> {
    let label = format!("{}={}", stream.setting, stream.name);
    let local = crate::aws::endpoint::is_local(stream.endpoint.as_deref());
    refuse_unless_local(&label, local, stream.endpoint.as_deref())?;
    let deleted = stream
        .client
        .delete_stream()
        .stream_name(&stream.name)
        .enforce_consumer_deletion(true)
        .send()
        .await;
    match deleted {
        Ok(_) => wait_for_stream(stream, false, wait).await?,
        Err(e) => {
            let error = AwsError::new("DeleteStream", e);
            if !error.is("ResourceNotFoundException") {
                return Err(call(&label, error));
            }
        }
    }
    create_stream(stream, shards).await?;
    wait_for_stream(stream, true, wait).await
}

/// Refuses `action` (`--recreate`, the demo) unless every one of `places` (a label and its
/// endpoint; `None`: AWS) is a server on this machine. Called before anything is done, so that a
/// refusal leaves every table and stream as it was.
pub fn all_local(
    action: &'static str,
    places: &[(String, Option<&str>)],
) -> Result<(), AdminError> {
    let remote: Vec<String> = places
        .iter()
        .filter(|(_, endpoint)| !crate::aws::endpoint::is_local(*endpoint))
        .map(|(label, endpoint)| format!("{label} at {}", endpoint.unwrap_or("AWS")))
        .collect();
    if remote.is_empty() {
        return Ok(());
    }
    Err(AdminError::NotAllLocal {
        action,
        remote: remote.join(", "),
    })
}

/// The label and endpoint of a table, for [`all_local`].
pub fn place_of(table: &Table) -> (String, Option<&str>) {
    (table.label(), table.endpoint.as_deref())
}

/// The label and endpoint of a stream, for [`all_local`].
pub fn place_of_stream(stream: &Stream) -> (String, Option<&str>) {
    (
        format!("{}={}", stream.setting, stream.name),
        stream.endpoint.as_deref(),
    )
}

fn refuse_unless_local(what: &str, local: bool, endpoint: Option<&str>) -> Result<(), AdminError> {
    if local {
        return Ok(());
    }
    Err(AdminError::NotLocal {
        what: what.to_owned(),
        endpoint: endpoint.unwrap_or("AWS").to_owned(),
    })
}

fn call(what: &str, source: AwsError) -> AdminError {
    AdminError::Call {
        what: what.to_owned(),
        source,
    }
}

async fn create_table(
    table: &Table,
    schema: &KeySchema,
    stream_view: Option<StreamViewType>,
) -> Result<(), AdminError> {
    let mut request = table
        .client
        .create_table()
        .table_name(&table.name)
        .billing_mode(BillingMode::PayPerRequest);
    if let Some(view) = stream_view {
        let spec = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(view)
            .build()
            .map_err(|e| built(&table.label(), e))?;
        request = request.stream_specification(spec);
    }
    for (attr, key_type) in schema.elements() {
        let kind = match attr.kind {
            ScalarType::S => ScalarAttributeType::S,
            ScalarType::N => ScalarAttributeType::N,
            ScalarType::B => ScalarAttributeType::B,
        };
        let definition = AttributeDefinition::builder()
            .attribute_name(&attr.name)
            .attribute_type(kind)
            .build()
            .map_err(|e| built(&table.label(), e))?;
        let element = KeySchemaElement::builder()
            .attribute_name(&attr.name)
            .key_type(key_type)
            .build()
            .map_err(|e| built(&table.label(), e))?;
        request = request
            .attribute_definitions(definition)
            .key_schema(element);
    }
    request
        .send()
        .await
        .map(|_| ())
        .map_err(|e| call(&table.label(), AwsError::new("CreateTable", e)))
}

/// A request the SDK could not build (an impossible name or attribute).
fn built(what: &str, source: BuildError) -> AdminError {
    AdminError::Build {
        what: what.to_owned(),
        source,
    }
}

async fn create_stream(stream: &Stream, shards: i32) -> Result<(), AdminError> {
    stream
        .client
        .create_stream()
        .stream_name(&stream.name)
        .shard_count(shards)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| stream.error(AwsError::new("CreateStream", e)).into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableState {
    Active,
    Gone,
}

async fn wait_for_table(
    table: &Table,
    state: TableState,
    wait: Duration,
) -> Result<(), AdminError> {
    let reached = || async {
        match (state, table.describe().await) {
            (TableState::Active, Ok(t)) => Ok(t.table_status() == Some(&TableStatus::Active)),
            (TableState::Gone, Err(e)) if e.is_missing() => Ok(true),
            (TableState::Gone, Ok(_)) => Ok(false),
            (TableState::Active, Err(e)) if e.is_missing() => Ok(false),
            (_, Err(e)) => Err(AdminError::from(e)),
        }
    };
    let label = match state {
        TableState::Active => "ACTIVE",
        TableState::Gone => "deleted",
    };
    wait_until(&table.label(), label, wait, reached).await
}

async fn wait_for_stream(stream: &Stream, active: bool, wait: Duration) -> Result<(), AdminError> {
    let reached = || async {
        match stream.summary().await {
            Ok((status, _)) => Ok(active && status == StreamStatus::Active),
            Err(e) if e.is_missing() => Ok(!active),
            Err(e) => Err(AdminError::from(e)),
        }
    };
    let label = format!("{}={}", stream.setting, stream.name);
    let state = if active { "ACTIVE" } else { "deleted" };
    wait_until(&label, state, wait, reached).await
}

/// Polls `reached` until it says yes, fails, or `limit` has passed (an error, never silence).
async fn wait_until<F, Fut>(
    what: &str,
    state: &'static str,
    limit: Duration,
    reached: F,
) -> Result<(), AdminError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool, AdminError>>,
{
    let started = Instant::now();
    loop {
        if reached().await? {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return Err(AdminError::Timeout {
                what: what.to_owned(),
                state,
                waited: limit,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
