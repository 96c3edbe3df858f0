//! Where keys go to be made to agree: a publisher on the key stream, or (`--direct`, for a
//! deployment with no key stream) a copy to the replica at once.

use dyno::aws::retry::Backoff;
use dyno::ops::sink::KeySink;
use dyno::publish::publisher::Publisher;
use dyno::replicate::engine::Engine;

use crate::connect::Connected;
use crate::failure::{Failure, usage};

/// For a deployment with no key stream.
#[derive(clap::Args)]
pub struct DirectArg {
    /// Copy each key now (consistent read of the primary, write to the replica) instead of
    /// announcing it on --stream: for a deployment with no key stream (the source is the
    /// table's own DynamoDB stream). A copy made beside the live replicator can race it on a
    /// key written at that moment: run `dyno diff` afterwards.
    #[arg(long)]
    pub direct: bool,
}

/// Where keys to make agree go: announced on the stream, or (`--direct`) copied at once.
pub async fn key_sink(at: &Connected, direct: &DirectArg) -> Result<KeySink, Failure> {
    if direct.direct {
        let (primary, replica) = (at.primary(), at.replica().await?);
        let engine = Engine::connect(primary, replica, at.tuning.clone()).await?;
        return Ok(KeySink::Replica(Box::new(engine)));
    }
    Ok(KeySink::Stream(publisher(at).await?))
}

/// A publisher on the stream of the flags, checked to take records, naming the table in each
/// record with `--table-arn` when given.
pub async fn publisher(at: &Connected) -> Result<Publisher, Failure> {
    let stream = at.stream();
    stream.check_writable().await?;
    let region = at.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let publisher = Publisher::new(stream, region, Backoff::default());
    Ok(match at.table_arn().map_err(usage)? {
        Some(arn) => publisher.with_table_arn(arn),
        None => publisher,
    })
}
