//! `dyno diff` at scale and `--repair`, against dynalite and moto: a damaged replica (missing,
//! extra and different items; sets in another order are not differences) is found key for key,
//! written to `--keys-out`, repaired through the stream, and then equal (exit 0); differing key
//! schemas and missing tables are errors (exit 2); a key that settles during the re-check is not
//! reported.

mod oracle_agrees;
mod repair;
mod settle;

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::process::Output;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use common::oracle;
use common::*;

const PRIMARY: &str = "orders";
const REPLICA: &str = "orders-copy";
const STREAM: &str = "orders-keys";

fn item(n: usize, tags: [&str; 2]) -> Item {
    HashMap::from([
        ("ForumName".to_owned(), s(&format!("f{}", n % 3))),
        ("Subject".to_owned(), s(&format!("s{n:04}"))),
        ("Body".to_owned(), s("the same")),
        (
            "Tags".to_owned(),
            AttributeValue::Ss(tags.iter().map(|t| t.to_string()).collect()),
        ),
    ])
}

/// A key in DynamoDB JSON (`{"id":{"N":"1"}}`), as attribute values.
fn key_attributes(json: &serde_json::Value) -> HashMap<String, AttributeValue> {
    use base64::Engine as _;
    json.as_object()
        .expect("a key object")
        .iter()
        .map(|(name, typed)| {
            let (tag, value) = typed.as_object().unwrap().iter().next().unwrap();
            let value = value.as_str().unwrap().to_owned();
            let value = match tag.as_str() {
                "S" => AttributeValue::S(value),
                "N" => AttributeValue::N(value),
                "B" => AttributeValue::B(Blob::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(value)
                        .unwrap(),
                )),
                other => panic!("a key of type {other}"),
            };
            (name.clone(), value)
        })
        .collect()
}

fn oracle_kind(kind: &str) -> oracle::Kind {
    match kind {
        "missing" => oracle::Kind::Missing,
        "extra" => oracle::Kind::Extra,
        "different" => oracle::Kind::Different,
        other => panic!("kind {other}"),
    }
}

/// The keys of a `--keys-out` file, as the oracle names them, with their kinds.
fn keys_out_kinds(path: &std::path::Path, names: &[&str]) -> BTreeMap<oracle::Key, oracle::Kind> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut kinds = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = oracle::Key::of(&names, &key_attributes(&line["key"]));
        let kind = oracle_kind(line["kind"].as_str().unwrap());
        assert!(kinds.insert(key, kind).is_none(), "a key written twice");
    }
    kinds
}

struct Rig {
    _servers: (Server, Server),
    kinesis: Server,
    endpoint: String,
    dir: std::path::PathBuf,
}

impl Rig {
    fn dyno(&self, args: &[&str]) -> Output {
        dyno_command(At {
            tables: Some(&self.endpoint),
            replica: None,
            kinesis: Some(&self.kinesis.endpoint),
        })
        .args([
            "--table",
            PRIMARY,
            "--replica-table",
            REPLICA,
            "--stream",
            STREAM,
        ])
        .args(args)
        .output()
        .expect("run dyno")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
