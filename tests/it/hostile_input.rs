//! Hostile input: property tests throw arbitrary bytes, arbitrary and DynamoDB-shaped JSON, deep
//! nesting, huge strings, invalid UTF-8, wrong types and empty or oversized keys at the decoder
//! and the key encoding (never a panic; `Ok` or a typed error; the canonical encoding is
//! injective and order-independent), and a batch at Lambda's limits goes through the handler.

mod decoding;
mod key_encoding;
mod limits;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use dyno::aws::key::{KeySchema, ScalarType};
use dyno::replicate::decode::{self, Problem};
use serde_json::{Value, json};

const TABLE: &str = dyno::config::local::PRIMARY_TABLE;

fn kinesis_record(data: Vec<u8>) -> KinesisEventRecord {
    let mut r = KinesisEventRecord::default();
    r.event_id = Some("shardId-000000000001:99".into());
    r.kinesis.sequence_number = "99".into();
    *r.kinesis.data = data;
    r
}

fn thread() -> KeySchema {
    KeySchema::composite(("ForumName", ScalarType::S), ("Subject", ScalarType::S))
}

fn schemas() -> Vec<KeySchema> {
    let kinds = [ScalarType::S, ScalarType::N, ScalarType::B];
    let mut all: Vec<KeySchema> = kinds
        .iter()
        .map(|&k| KeySchema::hash_only("h", k))
        .collect();
    for &h in &kinds {
        for &r in &kinds {
            all.push(KeySchema::composite(("h", h), ("r", r)));
        }
    }
    all
}

/// Decodes and checks the result is coherent: a key that fits the schema, or an error that
/// names this record.
fn decode_checked(data: Vec<u8>, schema: &KeySchema) -> Result<Vec<u8>, Problem> {
    match decode::decode(&kinesis_record(data), schema, TABLE) {
        Ok(key) => {
            let attributes = key.to_attributes();
            assert_eq!(attributes.len(), 1 + schema.range.is_some() as usize);
            assert!(attributes.contains_key(&schema.hash.name));
            // A decoded key is a key: validating it again gives the same encoding.
            let again = schema.key(attributes).expect("a decoded key validates");
            assert_eq!(again.canonical(), key.canonical());
            assert!(key.partition_key().chars().count() <= 256);
            Ok(key.canonical().to_vec())
        }
        Err(error) => {
            assert_eq!(error.sequence_number, "99");
            assert_eq!(error.shard, "shardId-000000000001");
            assert!(!error.to_string().is_empty());
            Err(error.problem)
        }
    }
}

fn envelope(keys: Value, table: Option<&str>) -> Vec<u8> {
    let mut record = json!({
        "awsRegion": "us-east-1",
        "eventID": "e",
        "eventName": "MODIFY",
        "dynamodb": {"Keys": keys, "SizeBytes": 1}
    });
    if let Some(table) = table {
        record["tableName"] = json!(table);
    }
    serde_json::to_vec(&record).expect("json")
}
