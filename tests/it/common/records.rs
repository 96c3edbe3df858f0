//! Records and events as Lambda delivers them (key records, Kinesis events, event files), the
//! failures a handler reports, and every record read back from a stream.

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};

use super::root;

/// A DynamoDB Streams key record (the seed's shape) for a key, as JSON bytes.
pub fn key_record(keys: serde_json::Value, event_name: &str, sequence: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": keys,
            "SequenceNumber": sequence.to_string(),
            "SizeBytes": 41,
            "StreamViewType": "KEYS_ONLY"
        },
        "eventID": format!("{sequence:032x}"),
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.0"
    }))
    .expect("json")
}

/// The key record of a Thread key.
pub fn thread_record(forum: &str, subject: &str, sequence: u64) -> Vec<u8> {
    key_record(
        serde_json::json!({"ForumName": {"S": forum}, "Subject": {"S": subject}}),
        "MODIFY",
        sequence,
    )
}

/// A Kinesis event as Lambda delivers it, one record per data blob, sequence numbers 1, 2, ….
pub fn kinesis_event(data: Vec<Vec<u8>>) -> KinesisEvent {
    kinesis_event_from(1, data)
}

/// [`kinesis_event`], its sequence numbers starting at `first` (records of another batch of the
/// same shard: a sequence number names one record).
pub fn kinesis_event_from(first: usize, data: Vec<Vec<u8>>) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    for (i, data) in data.into_iter().enumerate() {
        let sequence = format!("{:056}", first + i);
        let mut record = KinesisEventRecord::default();
        record.event_id = Some(format!("shardId-000000000000:{sequence}"));
        record.event_source = Some("aws:kinesis".into());
        record.kinesis.sequence_number = sequence;
        record.kinesis.partition_key = "pk".into();
        *record.kinesis.data = data;
        record.kinesis.approximate_arrival_timestamp.0 = chrono::Utc::now();
        event.records.push(record);
    }
    event
}

/// Reads an event file from `events/`.
pub fn event_file(name: &str) -> KinesisEvent {
    let path = root().join("events").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sequence numbers a response reports as failed.
pub fn failures(response: &aws_lambda_events::event::streams::KinesisEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect()
}

/// Every record on every shard of a stream, from the trim horizon: (shard, record).
pub async fn stream_records(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Vec<aws_sdk_kinesis::types::Record> {
    let mut all = Vec::new();
    let shards = kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("ListShards");
    for shard in shards.shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator
            .expect("an iterator");
        loop {
            let out = kinesis
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
                .expect("GetRecords");
            if out.records.is_empty() {
                break;
            }
            all.extend(out.records);
            match out.next_shard_iterator {
                Some(next) => iterator = next,
                None => break,
            }
        }
    }
    all
}

/// An event as the Lambda runtime hands it to `function_handler`: its JSON text.
pub fn raw(event: &impl serde::Serialize) -> Box<serde_json::value::RawValue> {
    let text = serde_json::to_string(event).expect("json");
    serde_json::value::RawValue::from_string(text).expect("raw json")
}

/// The item identifiers of `function_handler`'s answer, whatever the source.
pub fn response_failures(response: &dyno::replicate::lambda::Response) -> Vec<String> {
    let json = serde_json::to_value(response).expect("json");
    json["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
        .collect()
}
