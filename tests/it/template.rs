//! Security and operations of the SAM template (`template.yaml`) and of the replica account's
//! template (`replica-account.yaml`): the replicator role's exact IAM actions per resource
//! (read-only on the primary, write-only on the replica, send-only on the queues, put-only on the
//! failed-batch bucket), for every source, on-failure destination and replica account, by
//! evaluating the templates' conditions for given parameter values; no wildcard anywhere but the
//! one named object resource; the dead-letter queue encrypted and kept 14 days; the failed-batch
//! bucket private, encrypted, TLS-only and expiring; the alarms on the right metrics; the
//! dashboard; several targets and source tables (exactly their tables, their indexes and their
//! roles), enhanced fan-out (the consumer, its mapping and grants), the per-target alarms (Metrics
//! Insights queries over every target); and no credentials in the templates or the events.

use crate::common;
mod alarms;
mod hygiene;
mod replica_account;
mod seed;
mod storage;
mod targets;
mod variants;
use variants::ALARM_TOPIC_ARN;
use variants::Destination;
use variants::REPLICA_ROLE_ARN;
use variants::Replica;
use variants::Source;
use variants::Variant;

use std::collections::{BTreeMap, BTreeSet};

use common::cloudformation::*;
use dyno::replicate::metrics::{self as emf, names};
use serde_yaml_ng::{Mapping, Value};

// ---------------------------------------------------------------------------------------------
// The replicator role.
// ---------------------------------------------------------------------------------------------

/// The one resource with a wildcard in an Allow statement: the objects of the failed-batch
/// bucket, which the event source mapping writes with s3:PutObject under names it chooses.
const FAILED_BATCH_OBJECTS: &str = "${FailedBatchBucket.Arn}/*";

/// The other wildcards in an Allow statement: the indexes of the targets' tables (each table of
/// TargetTableArns, and `table/NAME/index/*`), for the write actions only.
const TARGET_TABLES_AND_INDEXES: &str = "${Tables},${Indexes}/index/*";
const TARGET_INDEX_SEPARATOR: &str = "/index/*,";

/// Names the resource a policy statement's `Resource` designates.
fn resource_name(resource: &Value) -> String {
    if let Some(sub) = resource.get("Fn::Sub") {
        let pattern = match sub {
            Value::Sequence(parts) => parts[0].as_str().unwrap_or_default().to_owned(),
            other => other.as_str().unwrap_or_default().to_owned(),
        };
        if pattern == FAILED_BATCH_OBJECTS {
            return "FailedBatchBucketObjects".to_owned();
        }
        for (needle, name) in [
            (":table/${PrimaryTableName}", "PrimaryTable"),
            (":table/${ReplicaTableName}", "ReplicaTable"),
        ] {
            if pattern.ends_with(needle) {
                return name.to_owned();
            }
        }
        panic!("unexpected Fn::Sub resource {pattern}");
    }
    if let Some(att) = resource.get("Fn::GetAtt") {
        let parts = strings(att);
        let arn = if parts[0] == "KeyStreamConsumer" {
            "ConsumerARN"
        } else {
            "Arn"
        };
        assert_eq!(parts.get(1).map(String::as_str), Some(arn), "{parts:?}");
        return parts[0].clone();
    }
    if let Some(split) = resource.get("Fn::Split") {
        // The targets' tables and their indexes, one list.
        let pattern = get(&split[1], &["Fn::Sub"])[0].as_str().unwrap_or_default();
        assert_eq!(pattern, TARGET_TABLES_AND_INDEXES);
        return "TargetTableArns".to_owned();
    }
    if let Some(name) = resource.get("Ref").and_then(Value::as_str) {
        return name.to_owned();
    }
    if let Some(branches) = resource.get("Fn::If").and_then(Value::as_sequence) {
        let names: BTreeSet<String> = branches[1..].iter().map(resource_name).collect();
        return names.into_iter().collect::<Vec<_>>().join("|");
    }
    panic!("unexpected resource {resource:?}");
}

/// The role's statements, with `Fn::If [cond, statement, AWS::NoValue]` unwrapped (every
/// statement, whatever the parameters; an evaluated template has no `Fn::If` left).
fn statements(doc: &Value) -> Vec<Value> {
    let role = get(doc, &["Resources", "ReplicatorRole", "Properties"]);
    let mut out = Vec::new();
    for policy in get(role, &["Policies"])
        .as_sequence()
        .expect("Policies is a list")
    {
        for statement in get(policy, &["PolicyDocument", "Statement"])
            .as_sequence()
            .expect("Statement is a list")
        {
            match statement.get("Fn::If").and_then(Value::as_sequence) {
                Some(branches) => {
                    assert_eq!(
                        branches[2].get("Ref").and_then(Value::as_str),
                        Some("AWS::NoValue"),
                        "a conditional statement's other branch is AWS::NoValue"
                    );
                    out.push(branches[1].clone());
                }
                None => out.push(statement.clone()),
            }
        }
    }
    out
}

/// The actions granted per resource.
fn granted(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for statement in statements(doc) {
        assert_eq!(
            statement.get("Effect").and_then(Value::as_str),
            Some("Allow")
        );
        assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
        assert!(
            statement.get("Condition").is_none(),
            "conditions would hide scope"
        );
        let resource = resource_name(get(&statement, &["Resource"]));
        granted
            .entry(resource)
            .or_default()
            .extend(strings(get(&statement, &["Action"])));
    }
    granted
}

// DescribeTimeToLive: a target keeps the primary's TTL attribute, read at init.
const PRIMARY_READS: &[&str] = &[
    "dynamodb:BatchGetItem",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:GetItem",
];
const REPLICA_WRITES: &[&str] = &[
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:PutItem",
];
const KINESIS_READS: &[&str] = &[
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:SubscribeToShard",
];
const TABLE_STREAM_READS: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];
// SendMessageBatch is authorised by sqs:SendMessage.
const EFO_READS: &[&str] = &["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"];
const QUEUE_SENDS: &[&str] = &["sqs:SendMessage"];
const LOG_WRITES: &[&str] = &["logs:CreateLogStream", "logs:PutLogEvents"];

fn set(actions: &[&str]) -> BTreeSet<String> {
    actions.iter().map(|a| (*a).to_owned()).collect()
}

/// Every statement the role can have, whatever the parameters.
#[test]
fn each_resource_gets_exactly_its_actions() {
    let doc = template();
    let granted = granted(&doc);
    let expected: BTreeMap<String, BTreeSet<String>> = [
        // One primary, or the tables of SourceTableArns.
        ("PrimaryTable", set(PRIMARY_READS)),
        ("SourceTableArns", set(PRIMARY_READS)),
        // Only with the replica in this account, and no TargetTableArns.
        ("ReplicaTable", set(REPLICA_WRITES)),
        // Only with TargetTableArns (the tables and their indexes).
        ("TargetTableArns", set(REPLICA_WRITES)),
        // Only with the replica in another account; the targets' roles, only with them.
        ("ReplicaRoleArn", set(&["sts:AssumeRole"])),
        ("TargetRoleArns", set(&["sts:AssumeRole"])),
        ("DeadLetterQueue", set(QUEUE_SENDS)),
        // The event source mapping's on-failure destination is written with the function's role:
        // the queue (SQS) or the bucket (S3).
        ("OnFailureQueue", set(QUEUE_SENDS)),
        ("FailedBatchBucket", set(&["s3:ListBucket"])),
        ("FailedBatchBucketObjects", set(&["s3:PutObject"])),
        // Only with the Kinesis source.
        ("ExistingStreamArn|KeyStream", set(KINESIS_READS)),
        // Only with enhanced fan-out.
        ("KeyStreamConsumer", set(EFO_READS)),
        ("ExistingStreamKmsKeyArn", set(&["kms:Decrypt"])),
        // Only with the DynamoDB stream source.
        ("PrimaryTableStreamArn", set(TABLE_STREAM_READS)),
        ("ReplicatorLogGroup", set(LOG_WRITES)),
    ]
    .into_iter()
    .map(|(name, actions)| (name.to_owned(), actions))
    .collect();
    assert_eq!(granted, expected);

    // Read-only on the primary, write-only on the replica, whatever else changes.
    let writes = ["PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem"];
    let reads = ["GetItem", "BatchGetItem", "Query", "Scan"];
    for read_only in ["PrimaryTable", "SourceTableArns", "PrimaryTableStreamArn"] {
        assert!(
            !granted[read_only]
                .iter()
                .any(|a| writes.iter().any(|w| a.ends_with(w)))
        );
    }
    for write_only in ["ReplicaTable", "TargetTableArns"] {
        assert!(
            !granted[write_only]
                .iter()
                .any(|a| reads.iter().any(|r| a.ends_with(r)))
        );
    }
}

#[test]
fn no_wildcards_no_managed_policies_no_short_forms() {
    let doc = template();
    // Short forms anywhere would panic in walk.
    let _ = all_strings(&doc, "");
    let role = get(&doc, &["Resources", "ReplicatorRole"]);

    // The role: no wildcard but the failed-batch objects, only in the statement that puts them,
    // and the targets' indexes (`/index/*`), only in the statement that writes the targets.
    let role_wildcards: BTreeSet<String> = all_strings(role, "ReplicatorRole")
        .into_iter()
        .filter(|(_, s)| s.contains('*'))
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        role_wildcards,
        BTreeSet::from(
            [
                FAILED_BATCH_OBJECTS,
                TARGET_TABLES_AND_INDEXES,
                TARGET_INDEX_SEPARATOR
            ]
            .map(str::to_owned)
        ),
        "the wildcards in the role"
    );
    let with_wildcard: Vec<Value> = statements(&doc)
        .into_iter()
        .filter(|s| all_strings(s, "").iter().any(|(_, v)| v.contains('*')))
        .collect();
    let sids: Vec<&str> = with_wildcard
        .iter()
        .map(|s| get(s, &["Sid"]).as_str().expect("a Sid"))
        .collect();
    assert_eq!(sids, ["WriteTargetTables", "PutFailedBatches"]);
    let actions: BTreeSet<String> = strings(get(&with_wildcard[0], &["Action"]))
        .into_iter()
        .collect();
    assert_eq!(actions, set(REPLICA_WRITES));
    assert_eq!(
        strings(get(&with_wildcard[1], &["Action"])),
        ["s3:PutObject"]
    );
    assert_eq!(
        get(&with_wildcard[1], &["Resource"]),
        &sub(FAILED_BATCH_OBJECTS)
    );

    // Elsewhere in the resources, a wildcard only in the bucket policy, which only denies
    // (`failed_batch_bucket_is_private_encrypted_tls_only_and_expires` checks it).
    for (path, value) in all_strings(get(&doc, &["Resources"]), "Resources") {
        if value.contains('*') {
            // The seed roles' wildcards: `seed::its_roles_grant_exactly_what_it_does` checks them.
            assert!(
                path.starts_with("Resources.ReplicatorRole.")
                    || path.starts_with("Resources.FailedBatchBucketPolicy.")
                    || path.starts_with("Resources.LoaderRole.")
                    || path.starts_with("Resources.SeedStateMachineRole."),
                "{path}: wildcard {value:?}"
            );
        }
    }

    assert!(
        get(role, &["Properties"])
            .get("ManagedPolicyArns")
            .is_none(),
        "managed policies are not least privilege"
    );
    let function = get(&doc, &["Resources", "ReplicatorFunction", "Properties"]);
    assert!(
        function.get("Policies").is_none(),
        "the function uses the role, not SAM policy templates"
    );
    assert_eq!(
        strings(get(function, &["Role", "Fn::GetAtt"])),
        ["ReplicatorRole", "Arn"]
    );
    let trust = get(
        role,
        &["Properties", "AssumeRolePolicyDocument", "Statement"],
    );
    assert_eq!(
        trust.as_sequence().map(Vec::len),
        Some(1),
        "one trust statement"
    );
    assert_eq!(
        strings(get(&trust[0], &["Principal", "Service"])),
        ["lambda.amazonaws.com"]
    );
}
