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

mod common;
#[path = "template/seed.rs"]
mod seed;

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

// ---------------------------------------------------------------------------------------------
// Variants: source x on-failure destination x replica account.
// ---------------------------------------------------------------------------------------------

const KINESIS_STREAM_ARN: &str = "arn:aws:kinesis:eu-west-1:123456789012:stream/dyno-keys";
const KMS_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const TABLE_STREAM_ARN: &str =
    "arn:aws:dynamodb:eu-west-1:123456789012:table/dyno-primary/stream/2024-05-01T00:00:00.000";
const REPLICA_ROLE_ARN: &str = "arn:aws:iam::210987654321:role/dyno-replica-writer";
const ALARM_TOPIC_ARN: &str = "arn:aws:sns:eu-west-1:123456789012:dyno-alarms";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    /// Kinesis, a stream this stack creates.
    NewKinesis,
    /// Kinesis, an existing stream encrypted with a customer managed key.
    ExistingKinesis,
    /// The primary table's DynamoDB stream (given an existing Kinesis stream and key too, which
    /// must be ignored).
    DynamoDBStream,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Destination {
    S3,
    Sqs,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Replica {
    SameAccount,
    OtherAccount,
    OtherAccountWithExternalId,
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    source: Source,
    destination: Destination,
    replica: Replica,
}

impl Variant {
    fn all() -> Vec<Variant> {
        let mut all = Vec::new();
        for source in [
            Source::NewKinesis,
            Source::ExistingKinesis,
            Source::DynamoDBStream,
        ] {
            for destination in [Destination::S3, Destination::Sqs] {
                for replica in [
                    Replica::SameAccount,
                    Replica::OtherAccount,
                    Replica::OtherAccountWithExternalId,
                ] {
                    all.push(Variant {
                        source,
                        destination,
                        replica,
                    });
                }
            }
        }
        all
    }

    fn parameters(&self) -> Vec<(&'static str, &'static str)> {
        let mut p = vec![
            ("PrimaryTableName", "dyno-primary"),
            ("ReplicaTableName", "dyno-replica"),
        ];
        match self.source {
            Source::NewKinesis => p.push(("SourceType", "Kinesis")),
            Source::ExistingKinesis => p.extend([
                ("SourceType", "Kinesis"),
                ("ExistingStreamArn", KINESIS_STREAM_ARN),
                ("ExistingStreamKmsKeyArn", KMS_KEY_ARN),
            ]),
            Source::DynamoDBStream => p.extend([
                ("SourceType", "DynamoDBStream"),
                ("PrimaryTableStreamArn", TABLE_STREAM_ARN),
                ("ExistingStreamArn", KINESIS_STREAM_ARN),
                ("ExistingStreamKmsKeyArn", KMS_KEY_ARN),
            ]),
        }
        p.push((
            "OnFailureDestination",
            match self.destination {
                Destination::S3 => "S3",
                Destination::Sqs => "SQS",
            },
        ));
        match self.replica {
            Replica::SameAccount => {}
            Replica::OtherAccount => p.push(("ReplicaRoleArn", REPLICA_ROLE_ARN)),
            Replica::OtherAccountWithExternalId => p.extend([
                ("ReplicaRoleArn", REPLICA_ROLE_ARN),
                ("ReplicaExternalId", "dyno-external-id-1"),
            ]),
        }
        p
    }

    fn expected_grants(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut expected = vec![
            ("PrimaryTable", set(PRIMARY_READS)),
            ("DeadLetterQueue", set(QUEUE_SENDS)),
            ("ReplicatorLogGroup", set(LOG_WRITES)),
        ];
        match self.replica {
            Replica::SameAccount => expected.push(("ReplicaTable", set(REPLICA_WRITES))),
            _ => expected.push(("ReplicaRoleArn", set(&["sts:AssumeRole"]))),
        }
        match self.destination {
            Destination::S3 => expected.extend([
                ("FailedBatchBucket", set(&["s3:ListBucket"])),
                ("FailedBatchBucketObjects", set(&["s3:PutObject"])),
            ]),
            Destination::Sqs => expected.push(("OnFailureQueue", set(QUEUE_SENDS))),
        }
        match self.source {
            Source::NewKinesis => expected.push(("KeyStream", set(KINESIS_READS))),
            Source::ExistingKinesis => expected.extend([
                ("ExistingStreamArn", set(KINESIS_READS)),
                ("ExistingStreamKmsKeyArn", set(&["kms:Decrypt"])),
            ]),
            Source::DynamoDBStream => {
                expected.push(("PrimaryTableStreamArn", set(TABLE_STREAM_READS)))
            }
        }
        expected
            .into_iter()
            .map(|(name, actions)| (name.to_owned(), actions))
            .collect()
    }
}

#[test]
fn every_variant_has_exactly_its_permissions_resources_and_mapping() {
    let doc = template();
    assert!(
        get(&doc, &["Resources", "ReplicatorFunction", "Properties"])
            .get("Events")
            .is_none(),
        "SAM events cannot be conditional: the mappings are explicit resources"
    );
    for variant in Variant::all() {
        let name = format!("{variant:?}");
        let parameters = variant.parameters();
        assert_eq!(
            broken_rules(&doc, &parameters),
            Vec::<String>::new(),
            "{name}"
        );
        let evaluated = evaluate(&doc, &parameters);
        let out = &evaluated.doc;
        let referred = assert_no_dangling_references(&evaluated, &name);

        // IAM: exactly the actions of this variant, per resource.
        assert_eq!(granted(out), variant.expected_grants(), "{name}");

        // The source: one mapping, to the function, with partial batch failures, bisection and
        // the on-failure destination.
        let mappings = resources_of_type(out, "AWS::Lambda::EventSourceMapping");
        assert_eq!(mappings.len(), 1, "{name}: one event source mapping");
        let mapping = get(mappings.values().next().expect("one"), &["Properties"]);
        let source = match variant.source {
            Source::NewKinesis => yaml("Fn::GetAtt: [KeyStream, Arn]"),
            Source::ExistingKinesis => yaml("Ref: ExistingStreamArn"),
            Source::DynamoDBStream => yaml("Ref: PrimaryTableStreamArn"),
        };
        assert_eq!(get(mapping, &["EventSourceArn"]), &source, "{name}");
        assert_eq!(
            get(mapping, &["FunctionName"]),
            &yaml("Ref: ReplicatorFunction")
        );
        assert_eq!(
            strings(get(mapping, &["FunctionResponseTypes"])),
            ["ReportBatchItemFailures"]
        );
        assert_eq!(
            get(mapping, &["BisectBatchOnFunctionError"]).as_bool(),
            Some(true)
        );
        for (property, parameter) in [
            ("StartingPosition", "StartingPosition"),
            ("BatchSize", "BatchSize"),
            ("ParallelizationFactor", "ParallelizationFactor"),
            ("MaximumRetryAttempts", "MaximumRetryAttempts"),
            ("MaximumRecordAgeInSeconds", "MaximumRecordAgeInSeconds"),
        ] {
            assert_eq!(
                get(mapping, &[property]),
                &yaml(&format!("Ref: {parameter}")),
                "{name}: {property}"
            );
        }
        assert_eq!(
            get(mapping, &["MaximumBatchingWindowInSeconds"]).as_u64(),
            Some(1)
        );
        assert_eq!(get(mapping, &["Enabled"]).as_bool(), Some(true));
        let destination = match variant.destination {
            Destination::S3 => yaml("Fn::GetAtt: [FailedBatchBucket, Arn]"),
            Destination::Sqs => yaml("Fn::GetAtt: [OnFailureQueue, Arn]"),
        };
        assert_eq!(
            get(mapping, &["DestinationConfig", "OnFailure", "Destination"]),
            &destination,
            "{name}"
        );

        // Resources that exist only for some values.
        let resources = get(out, &["Resources"]);
        let has = |resource: &str| resources.get(resource).is_some();
        let kinesis = variant.source != Source::DynamoDBStream;
        assert_eq!(
            has("KeyStream"),
            variant.source == Source::NewKinesis,
            "{name}"
        );
        assert_eq!(
            resources_of_type(out, "AWS::Kinesis::Stream").len(),
            usize::from(variant.source == Source::NewKinesis)
        );
        let s3 = variant.destination == Destination::S3;
        for resource in [
            "FailedBatchBucket",
            "FailedBatchBucketPolicy",
            "FailedBatchBucketAlarm",
        ] {
            assert_eq!(has(resource), s3, "{name}: {resource}");
        }
        for resource in ["OnFailureQueue", "OnFailureQueueAlarm"] {
            assert_eq!(has(resource), !s3, "{name}: {resource}");
        }
        assert!(has("DeadLetterQueue") && has("ReplicatorDashboard"));
        // No trace of the other source (nor of the stream this variant does not use).
        for (parameter_or_resource, used) in [
            ("KeyStream", variant.source == Source::NewKinesis),
            (
                "ExistingStreamArn",
                variant.source == Source::ExistingKinesis,
            ),
            (
                "ExistingStreamKmsKeyArn",
                variant.source == Source::ExistingKinesis,
            ),
            ("PrimaryTableStreamArn", !kinesis),
        ] {
            assert_eq!(
                referred.contains(parameter_or_resource),
                used,
                "{name}: reference to {parameter_or_resource}"
            );
        }

        // The function's environment.
        let environment = get(
            out,
            &[
                "Resources",
                "ReplicatorFunction",
                "Properties",
                "Environment",
                "Variables",
            ],
        );
        assert_eq!(get(environment, &["SOURCE_TYPE"]), &yaml("Ref: SourceType"));
        let other_account = variant.replica != Replica::SameAccount;
        assert_eq!(
            environment.get("REPLICA_ROLE_ARN"),
            other_account.then(|| yaml("Ref: ReplicaRoleArn")).as_ref(),
            "{name}"
        );
        assert_eq!(
            environment.get("REPLICA_EXTERNAL_ID"),
            (variant.replica == Replica::OtherAccountWithExternalId)
                .then(|| yaml("Ref: ReplicaExternalId"))
                .as_ref(),
            "{name}"
        );

        // Outputs.
        let outputs = get(out, &["Outputs"]);
        let output = |o: &str| outputs.get(o).is_some();
        assert_eq!(output("KeyStreamName"), kinesis, "{name}");
        assert_eq!(output("KeyStreamArn"), kinesis, "{name}");
        assert_eq!(output("FailedBatchBucketName"), s3, "{name}");
        assert_eq!(output("OnFailureQueueUrl"), !s3, "{name}");
        assert!(output("ReplicatorRoleArn") && output("DeadLetterQueueUrl"));
    }
}

#[test]
fn rules_refuse_a_table_stream_source_without_its_arn() {
    let doc = template();
    let base = [
        ("PrimaryTableName", "dyno-primary"),
        ("ReplicaTableName", "dyno-replica"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p = base.to_vec();
        p.extend_from_slice(extra);
        broken_rules(&doc, &p)
    };
    assert_eq!(with(&[]), Vec::<String>::new(), "the defaults pass");
    assert_eq!(
        with(&[("SourceType", "DynamoDBStream")]),
        ["DynamoDBStreamNeedsItsArn"]
    );
    assert_eq!(
        with(&[
            ("SourceType", "DynamoDBStream"),
            ("PrimaryTableStreamArn", TABLE_STREAM_ARN)
        ]),
        Vec::<String>::new()
    );
    assert_eq!(
        with(&[("ReplicaExternalId", "dyno-external-id-1")]),
        ["ExternalIdNeedsReplicaRole"]
    );
    // Even without the rule, the table stream's statement and mapping need its ARN.
    let evaluated = evaluate(
        &doc,
        &[
            base[0],
            base[1],
            ("SourceType", "DynamoDBStream"),
            ("PrimaryTableStreamArn", ""),
        ],
    );
    assert!(!evaluated.conditions["UseDynamoDBStream"]);
    assert!(!evaluated.conditions["UseKinesis"]);
}

#[test]
fn defaults_are_kinesis_s3_same_account_no_alarm_actions() {
    let doc = template();
    let default = |name: &str| scalar_string(get(&doc, &["Parameters", name, "Default"]));
    for (name, value) in [
        ("SourceType", "Kinesis"),
        ("EnhancedFanOut", "false"),
        ("Targets", ""),
        ("TargetTableArns", ""),
        ("SourceTableArns", ""),
        ("TargetRoleArns", ""),
        ("PrimaryTableStreamArn", ""),
        ("OnFailureDestination", "S3"),
        ("FailedBatchRetentionDays", "30"),
        ("ReplicaRoleArn", ""),
        ("ReplicaExternalId", ""),
        ("AlarmTopicArn", ""),
        ("IteratorAgeAlarmMs", "60000"),
        ("ReplicationLagAlarmMs", "30000"),
    ] {
        assert_eq!(default(name), value, "{name}");
    }
    let retention = get(&doc, &["Parameters", "FailedBatchRetentionDays"]);
    assert_eq!(get(retention, &["Type"]).as_str(), Some("Number"));
    assert_eq!(get(retention, &["MinValue"]).as_u64(), Some(1));
    assert_eq!(get(retention, &["MaxValue"]).as_u64(), Some(3650));
    assert_eq!(
        get(&doc, &["Parameters", "ReplicaExternalId", "NoEcho"]).as_bool(),
        Some(true)
    );
    for name in ["ReplicaExternalId", "Targets"] {
        assert_eq!(
            get(&doc, &["Parameters", name, "NoEcho"]).as_bool(),
            Some(true),
            "{name} may hold external IDs"
        );
    }
    assert_eq!(
        get(&doc, &["Parameters", "Targets", "MaxLength"]).as_u64(),
        Some(4096),
        "Lambda's environment holds 4 KB"
    );
    for name in ["TargetTableArns", "SourceTableArns", "TargetRoleArns"] {
        assert_eq!(
            get(&doc, &["Parameters", name, "Type"]).as_str(),
            Some("CommaDelimitedList"),
            "{name}"
        );
    }
    for (name, allowed) in [
        ("SourceType", ["Kinesis", "DynamoDBStream"]),
        ("OnFailureDestination", ["S3", "SQS"]),
        ("EnhancedFanOut", ["false", "true"]),
    ] {
        assert_eq!(
            strings(get(&doc, &["Parameters", name, "AllowedValues"])),
            allowed
        );
    }
}

#[test]
fn every_parameter_is_in_exactly_one_group() {
    for (file, doc) in [
        ("template.yaml", template()),
        ("replica-account.yaml", replica_template()),
    ] {
        let declared: BTreeSet<String> = get(&doc, &["Parameters"])
            .as_mapping()
            .expect("Parameters")
            .keys()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let mut grouped = Vec::new();
        for group in get(
            &doc,
            &[
                "Metadata",
                "AWS::CloudFormation::Interface",
                "ParameterGroups",
            ],
        )
        .as_sequence()
        .expect("a list")
        {
            grouped.extend(strings(get(group, &["Parameters"])));
        }
        let unique: BTreeSet<String> = grouped.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            grouped.len(),
            "{file}: a parameter in two groups"
        );
        assert_eq!(unique, declared, "{file}");
    }
}

// ---------------------------------------------------------------------------------------------
// Several targets and source tables; enhanced fan-out.
// ---------------------------------------------------------------------------------------------

const TARGETS_JSON: &str = r#"{"targets":[{"name":"eu","table":"orders-eu","region":"eu-west-1"},{"name":"archive","table":"orders-archive","exclude":["payload"]}]}"#;
const TARGET_TABLE_EU: &str = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-eu";
const TARGET_TABLE_ARCHIVE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/orders-archive";
const TARGET_ROLE_A: &str = "arn:aws:iam::210987654321:role/dyno-target-a";
const TARGET_ROLE_B: &str = "arn:aws:iam::310987654321:role/dyno-target-b";
const SOURCE_TABLE_ORDERS: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/orders";
const SOURCE_TABLE_USERS: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/users";
/// The tables of the variants, in the evaluator's account and region.
const PRIMARY_TABLE_ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/dyno-primary";
const REPLICA_TABLE_ARN_HERE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/dyno-replica";

/// The role's statement with this Sid, if the evaluated template has it.
fn statement(doc: &Value, sid: &str) -> Option<Value> {
    statements(doc)
        .into_iter()
        .find(|s| s.get("Sid").and_then(Value::as_str) == Some(sid))
}

/// Every resource the evaluated role grants `action` on, computed.
fn resources_granting(evaluated: &Evaluated, action: &str) -> BTreeSet<String> {
    statements(&evaluated.doc)
        .iter()
        .filter(|s| strings(get(s, &["Action"])).iter().any(|a| a == action))
        .flat_map(|s| evaluated.compute_strings(get(s, &["Resource"])))
        .collect()
}

fn function_environment(doc: &Value) -> &Value {
    get(
        doc,
        &[
            "Resources",
            "ReplicatorFunction",
            "Properties",
            "Environment",
            "Variables",
        ],
    )
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Targets given: DYNO_TARGETS is the JSON, the function writes exactly the targets' tables and
/// their indexes (nothing on ReplicaTableName) and assumes exactly the targets' roles, besides
/// ReplicaRoleArn when there is one.
#[test]
fn targets_get_exactly_their_tables_indexes_and_roles() {
    let doc = template();
    let tables = format!("{TARGET_TABLE_EU},{TARGET_TABLE_ARCHIVE}");
    let roles = format!("{TARGET_ROLE_A},{TARGET_ROLE_B}");
    for replica in [Replica::SameAccount, Replica::OtherAccount] {
        let variant = Variant {
            source: Source::NewKinesis,
            destination: Destination::S3,
            replica,
        };
        let mut parameters = variant.parameters();
        parameters.extend([
            ("Targets", TARGETS_JSON),
            ("TargetTableArns", tables.as_str()),
            ("TargetRoleArns", roles.as_str()),
        ]);
        let evaluated = evaluate(&doc, &parameters);
        let out = &evaluated.doc;
        assert_no_dangling_references(&evaluated, "targets");

        let environment = function_environment(out);
        assert_eq!(get(environment, &["DYNO_TARGETS"]), &yaml("Ref: Targets"));
        assert_eq!(
            evaluated.compute(get(environment, &["DYNO_TARGETS"])),
            Value::String(TARGETS_JSON.to_owned())
        );

        // Exactly the targets' tables and their indexes, in this order.
        let write = statement(out, "WriteTargetTables").expect("the targets' statement");
        assert_eq!(
            evaluated.compute_strings(get(&write, &["Resource"])),
            [
                TARGET_TABLE_EU.to_owned(),
                TARGET_TABLE_ARCHIVE.to_owned(),
                format!("{TARGET_TABLE_EU}/index/*"),
                format!("{TARGET_TABLE_ARCHIVE}/index/*"),
            ]
        );
        // DescribeTable is a read too: on the primary as well.
        for action in REPLICA_WRITES
            .iter()
            .filter(|a| **a != "dynamodb:DescribeTable")
        {
            let on: BTreeSet<String> = resources_granting(&evaluated, action);
            assert_eq!(
                on,
                BTreeSet::from([
                    TARGET_TABLE_EU.to_owned(),
                    TARGET_TABLE_ARCHIVE.to_owned(),
                    format!("{TARGET_TABLE_EU}/index/*"),
                    format!("{TARGET_TABLE_ARCHIVE}/index/*"),
                ]),
                "{replica:?}: {action} on the targets only, not on {REPLICA_TABLE_ARN_HERE}"
            );
        }
        assert!(statement(out, "WriteReplicaTable").is_none());
        assert_eq!(
            resources_granting(&evaluated, "dynamodb:DescribeTable"),
            BTreeSet::from([
                PRIMARY_TABLE_ARN.to_owned(),
                TARGET_TABLE_EU.to_owned(),
                TARGET_TABLE_ARCHIVE.to_owned(),
                format!("{TARGET_TABLE_EU}/index/*"),
                format!("{TARGET_TABLE_ARCHIVE}/index/*"),
            ])
        );

        // The roles: the targets', and ReplicaRoleArn's when given.
        let assume = statement(out, "AssumeTargetRoles").expect("the targets' roles");
        assert_eq!(
            evaluated.compute_strings(get(&assume, &["Resource"])),
            owned(&[TARGET_ROLE_A, TARGET_ROLE_B])
        );
        let mut want_roles = BTreeSet::from([TARGET_ROLE_A.to_owned(), TARGET_ROLE_B.to_owned()]);
        if replica == Replica::OtherAccount {
            want_roles.insert(REPLICA_ROLE_ARN.to_owned());
        }
        assert_eq!(resources_granting(&evaluated, "sts:AssumeRole"), want_roles);

        // Everything else as for one target.
        let mut want = variant.expected_grants();
        want.remove("ReplicaTable");
        want.insert("TargetTableArns".to_owned(), set(REPLICA_WRITES));
        want.insert("TargetRoleArns".to_owned(), set(&["sts:AssumeRole"]));
        assert_eq!(granted(out), want, "{replica:?}");
    }
}

/// No targets: no DYNO_TARGETS and today's one statement on ReplicaTableName (in ReplicaRegion);
/// Targets alone (no TargetTableArns) keep that statement too.
#[test]
fn without_target_tables_the_replica_statement_stays() {
    let doc = template();
    let base = Variant {
        source: Source::NewKinesis,
        destination: Destination::S3,
        replica: Replica::SameAccount,
    };
    for (targets, region, table) in [
        ("", "", REPLICA_TABLE_ARN_HERE),
        (
            "",
            "eu-central-1",
            "arn:aws:dynamodb:eu-central-1:123456789012:table/dyno-replica",
        ),
        (TARGETS_JSON, "", REPLICA_TABLE_ARN_HERE),
    ] {
        let mut parameters = base.parameters();
        parameters.extend([("Targets", targets), ("ReplicaRegion", region)]);
        let evaluated = evaluate(&doc, &parameters);
        let out = &evaluated.doc;
        assert_no_dangling_references(&evaluated, "no target tables");
        assert_eq!(
            function_environment(out).get("DYNO_TARGETS").is_some(),
            !targets.is_empty()
        );
        let write = statement(out, "WriteReplicaTable").expect("the replica's statement");
        assert_eq!(
            evaluated.compute_strings(get(&write, &["Resource"])),
            [table]
        );
        // DescribeTable is a read too: on the primary as well.
        for action in REPLICA_WRITES
            .iter()
            .filter(|a| **a != "dynamodb:DescribeTable")
        {
            assert_eq!(
                resources_granting(&evaluated, action),
                BTreeSet::from([table.to_owned()]),
                "{action}"
            );
        }
        for sid in ["WriteTargetTables", "AssumeTargetRoles", "ReadSourceTables"] {
            assert!(statement(out, sid).is_none(), "{sid}");
        }
        assert_eq!(granted(out), base.expected_grants());
    }
}

/// SourceTableArns given: the function reads exactly those tables, instead of PrimaryTableName;
/// empty: PrimaryTableName only.
#[test]
fn source_tables_replace_the_primary_table_statement() {
    let doc = template();
    let variant = Variant {
        source: Source::NewKinesis,
        destination: Destination::S3,
        replica: Replica::SameAccount,
    };
    let sources = format!("{SOURCE_TABLE_ORDERS},{SOURCE_TABLE_USERS}");
    for given in ["", sources.as_str()] {
        let mut parameters = variant.parameters();
        parameters.push(("SourceTableArns", given));
        let evaluated = evaluate(&doc, &parameters);
        let out = &evaluated.doc;
        assert_no_dangling_references(&evaluated, "source tables");
        let (sid, tables, other) = if given.is_empty() {
            (
                "ReadPrimaryTable",
                owned(&[PRIMARY_TABLE_ARN]),
                "ReadSourceTables",
            )
        } else {
            (
                "ReadSourceTables",
                owned(&[SOURCE_TABLE_ORDERS, SOURCE_TABLE_USERS]),
                "ReadPrimaryTable",
            )
        };
        let read = statement(out, sid).expect("the read statement");
        assert_eq!(evaluated.compute_strings(get(&read, &["Resource"])), tables);
        let actions: BTreeSet<String> = strings(get(&read, &["Action"])).into_iter().collect();
        assert_eq!(actions, set(PRIMARY_READS));
        assert!(statement(out, other).is_none(), "{other}");
        for action in PRIMARY_READS
            .iter()
            .filter(|a| **a != "dynamodb:DescribeTable")
        {
            assert_eq!(
                resources_granting(&evaluated, action),
                tables.iter().cloned().collect::<BTreeSet<_>>(),
                "{action}"
            );
        }
        let mut want = variant.expected_grants();
        if !given.is_empty() {
            let reads = want.remove("PrimaryTable").expect("the primary's reads");
            want.insert("SourceTableArns".to_owned(), reads);
        }
        assert_eq!(granted(out), want);
    }
}

/// EnhancedFanOut true with the key stream (created or existing): a consumer of that stream,
/// the mapping reads the consumer with no batching window, and the role may subscribe through
/// it. False, or with the table's own stream: nothing changes.
#[test]
fn enhanced_fan_out_maps_the_consumer_with_no_batching_window() {
    let doc = template();
    for source in [
        Source::NewKinesis,
        Source::ExistingKinesis,
        Source::DynamoDBStream,
    ] {
        for efo in ["false", "true"] {
            let name = format!("{source:?} EnhancedFanOut={efo}");
            let variant = Variant {
                source,
                destination: Destination::S3,
                replica: Replica::SameAccount,
            };
            let mut parameters = variant.parameters();
            parameters.push(("EnhancedFanOut", efo));
            let evaluated = evaluate(&doc, &parameters);
            let out = &evaluated.doc;
            let referred = assert_no_dangling_references(&evaluated, &name);
            let on = efo == "true" && source != Source::DynamoDBStream;
            assert_eq!(evaluated.conditions["UseEnhancedFanOut"], on, "{name}");

            let consumers = resources_of_type(out, "AWS::Kinesis::StreamConsumer");
            assert_eq!(consumers.len(), usize::from(on), "{name}");
            assert_eq!(referred.contains("KeyStreamConsumer"), on, "{name}");
            let mappings = resources_of_type(out, "AWS::Lambda::EventSourceMapping");
            assert_eq!(mappings.len(), 1, "{name}");
            let mapping = get(mappings.values().next().expect("one"), &["Properties"]);
            let stream = match source {
                Source::NewKinesis => yaml("Fn::GetAtt: [KeyStream, Arn]"),
                Source::ExistingKinesis => yaml("Ref: ExistingStreamArn"),
                Source::DynamoDBStream => yaml("Ref: PrimaryTableStreamArn"),
            };
            let mut want = variant.expected_grants();
            if on {
                let consumer = get(consumers["KeyStreamConsumer"], &["Properties"]);
                assert_eq!(get(consumer, &["StreamARN"]), &stream, "{name}");
                assert_eq!(
                    evaluated.compute(get(consumer, &["ConsumerName"])),
                    Value::String("dyno-replicator".to_owned()),
                    "{name}: one consumer per stack"
                );
                assert_eq!(
                    get(mapping, &["EventSourceArn"]),
                    &yaml("Fn::GetAtt: [KeyStreamConsumer, ConsumerARN]"),
                    "{name}"
                );
                assert_eq!(
                    get(mapping, &["MaximumBatchingWindowInSeconds"]).as_u64(),
                    Some(0),
                    "{name}"
                );
                let read = statement(out, "ReadKeyStreamConsumer").expect("the consumer's");
                assert_eq!(
                    get(&read, &["Resource"]),
                    &yaml("Fn::GetAtt: [KeyStreamConsumer, ConsumerARN]")
                );
                want.insert("KeyStreamConsumer".to_owned(), set(EFO_READS));
            } else {
                assert_eq!(get(mapping, &["EventSourceArn"]), &stream, "{name}");
                assert_eq!(
                    get(mapping, &["MaximumBatchingWindowInSeconds"]).as_u64(),
                    Some(1),
                    "{name}"
                );
                assert!(statement(out, "ReadKeyStreamConsumer").is_none(), "{name}");
            }
            // SubscribeToShard on the consumer with EFO; the stream's reads either way.
            assert_eq!(granted(out), want, "{name}");
            let subscribe = resources_granting(&evaluated, "kinesis:SubscribeToShard");
            assert_eq!(
                subscribe.contains("<KeyStreamConsumer.ConsumerARN>"),
                on,
                "{name}: {subscribe:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queues and the failed-batch bucket.
// ---------------------------------------------------------------------------------------------

fn assert_kept_queue(doc: &Value, name: &str) {
    let queue = get(doc, &["Resources", name]);
    assert_eq!(get(queue, &["Type"]).as_str(), Some("AWS::SQS::Queue"));
    assert_eq!(get(queue, &["DeletionPolicy"]).as_str(), Some("Retain"));
    assert_eq!(
        get(queue, &["UpdateReplacePolicy"]).as_str(),
        Some("Retain")
    );
    let properties = get(queue, &["Properties"]);
    let encrypted = properties
        .get("SqsManagedSseEnabled")
        .and_then(Value::as_bool)
        == Some(true)
        || properties.get("KmsMasterKeyId").is_some();
    assert!(encrypted, "{name} must be encrypted at rest");
    assert_eq!(
        get(properties, &["MessageRetentionPeriod"]).as_u64(),
        Some(14 * 24 * 3600)
    );
}

#[test]
fn dead_letter_queue_is_encrypted_kept_14_days_and_wired() {
    let doc = template();
    assert!(
        get(&doc, &["Resources", "DeadLetterQueue"])
            .get("Condition")
            .is_none(),
        "the dead-letter queue exists whatever the parameters"
    );
    assert_kept_queue(&doc, "DeadLetterQueue");
    let environment = get(
        &doc,
        &[
            "Resources",
            "ReplicatorFunction",
            "Properties",
            "Environment",
            "Variables",
        ],
    );
    assert_eq!(
        get(environment, &["DEAD_LETTER_QUEUE_URL", "Ref"]).as_str(),
        Some("DeadLetterQueue")
    );
    assert!(
        environment.get("DEAD_LETTER_ENDPOINT_URL").is_none(),
        "AWS's endpoint in production"
    );
    // The on-failure queue, when it is the destination, is kept the same way.
    let sqs = evaluate(
        &doc,
        &[
            ("PrimaryTableName", "dyno-primary"),
            ("ReplicaTableName", "dyno-replica"),
            ("OnFailureDestination", "SQS"),
        ],
    );
    assert_kept_queue(&sqs.doc, "OnFailureQueue");
}

#[test]
fn failed_batch_bucket_is_private_encrypted_tls_only_and_expires() {
    let doc = template();
    let s3 = evaluate(
        &doc,
        &[
            ("PrimaryTableName", "dyno-primary"),
            ("ReplicaTableName", "dyno-replica"),
            ("OnFailureDestination", "S3"),
        ],
    )
    .doc;
    let bucket = get(&s3, &["Resources", "FailedBatchBucket"]);
    assert_eq!(get(bucket, &["Type"]).as_str(), Some("AWS::S3::Bucket"));
    assert_eq!(get(bucket, &["DeletionPolicy"]).as_str(), Some("Retain"));
    assert_eq!(
        get(bucket, &["UpdateReplacePolicy"]).as_str(),
        Some("Retain")
    );
    let properties = get(bucket, &["Properties"]);
    assert!(
        properties.get("BucketName").is_none(),
        "a generated name cannot collide"
    );

    let encryption = get(
        properties,
        &["BucketEncryption", "ServerSideEncryptionConfiguration"],
    )
    .as_sequence()
    .expect("a list");
    assert_eq!(encryption.len(), 1);
    assert_eq!(
        get(
            &encryption[0],
            &["ServerSideEncryptionByDefault", "SSEAlgorithm"]
        )
        .as_str(),
        Some("AES256"),
        "SSE-S3: no key policy for the event source mapping to get right"
    );

    let block = get(properties, &["PublicAccessBlockConfiguration"]);
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(get(block, &[flag]).as_bool(), Some(true), "{flag}");
    }
    assert_eq!(block.as_mapping().map(Mapping::len), Some(4), "{block:?}");
    let ownership = get(properties, &["OwnershipControls", "Rules"]);
    assert_eq!(
        strings(&Value::Sequence(
            ownership
                .as_sequence()
                .expect("a list")
                .iter()
                .map(|r| get(r, &["ObjectOwnership"]).clone())
                .collect()
        )),
        ["BucketOwnerEnforced"]
    );

    // Every object expires after FailedBatchRetentionDays.
    let rules = get(properties, &["LifecycleConfiguration", "Rules"])
        .as_sequence()
        .expect("a list");
    let expiring: Vec<&Value> = rules
        .iter()
        .filter(|r| r.get("ExpirationInDays").is_some())
        .collect();
    assert_eq!(expiring.len(), 1);
    let rule = expiring[0];
    assert_eq!(get(rule, &["Status"]).as_str(), Some("Enabled"));
    assert_eq!(
        get(rule, &["ExpirationInDays"]),
        &yaml("Ref: FailedBatchRetentionDays")
    );
    for narrowing in [
        "Prefix",
        "TagFilters",
        "ObjectSizeGreaterThan",
        "ObjectSizeLessThan",
    ] {
        assert!(
            rule.get(narrowing).is_none(),
            "the rule covers every object"
        );
    }

    // Request metrics of the whole bucket, for the alarm on PutRequests.
    let metrics = get(properties, &["MetricsConfigurations"])
        .as_sequence()
        .expect("a list");
    assert_eq!(metrics, &[yaml("Id: EntireBucket")]);

    // The bucket policy only denies: any request without TLS.
    let policy = get(&s3, &["Resources", "FailedBatchBucketPolicy"]);
    assert_eq!(
        get(policy, &["Type"]).as_str(),
        Some("AWS::S3::BucketPolicy")
    );
    assert_eq!(
        get(policy, &["Properties", "Bucket"]),
        &yaml("Ref: FailedBatchBucket")
    );
    let statements = get(policy, &["Properties", "PolicyDocument", "Statement"])
        .as_sequence()
        .expect("a list");
    assert_eq!(statements.len(), 1, "{statements:?}");
    let deny = &statements[0];
    assert_eq!(get(deny, &["Effect"]).as_str(), Some("Deny"));
    assert_eq!(get(deny, &["Principal"]), &yaml("'*'"));
    assert_eq!(strings(get(deny, &["Action"])), ["s3:*"]);
    assert_eq!(
        get(deny, &["Resource"]),
        &Value::Sequence(vec![
            yaml("Fn::GetAtt: [FailedBatchBucket, Arn]"),
            sub(FAILED_BATCH_OBJECTS)
        ])
    );
    assert_eq!(
        get(deny, &["Condition"]),
        &yaml("Bool: {'aws:SecureTransport': 'false'}")
    );
}

// ---------------------------------------------------------------------------------------------
// Alarms and dashboard.
// ---------------------------------------------------------------------------------------------

struct ExpectedAlarm {
    namespace: &'static str,
    metric: &'static str,
    dimensions: Vec<(&'static str, Value)>,
    statistic: &'static str,
    comparison: &'static str,
    threshold: Value,
}

fn function_dimension() -> (&'static str, Value) {
    (emf::FUNCTION, yaml("Ref: ReplicatorFunction"))
}

fn table_pair_dimension() -> (&'static str, Value) {
    (
        emf::TABLE_PAIR,
        sub(&emf::table_pair(
            "${PrimaryTableName}",
            "${ReplicaTableName}",
        )),
    )
}

fn expected_alarms(destination: Destination) -> BTreeMap<&'static str, ExpectedAlarm> {
    let dyno_dimensions = || vec![function_dimension(), table_pair_dimension()];
    let one = || yaml("1");
    let mut alarms = BTreeMap::from([
        (
            "IteratorAgeAlarm",
            ExpectedAlarm {
                namespace: "AWS/Lambda",
                metric: "IteratorAge",
                dimensions: vec![function_dimension()],
                statistic: "Maximum",
                comparison: "GreaterThanThreshold",
                threshold: yaml("Ref: IteratorAgeAlarmMs"),
            },
        ),
        (
            "ReplicationLagAlarm",
            ExpectedAlarm {
                namespace: emf::NAMESPACE,
                metric: names::LAG_MAX,
                dimensions: dyno_dimensions(),
                statistic: "Maximum",
                comparison: "GreaterThanThreshold",
                threshold: yaml("Ref: ReplicationLagAlarmMs"),
            },
        ),
        (
            "FailedRecordsAlarm",
            ExpectedAlarm {
                namespace: emf::NAMESPACE,
                metric: names::FAILED,
                dimensions: dyno_dimensions(),
                statistic: "Sum",
                comparison: "GreaterThanOrEqualToThreshold",
                threshold: one(),
            },
        ),
        (
            "DeadLetterQueueAlarm",
            ExpectedAlarm {
                namespace: "AWS/SQS",
                metric: "ApproximateNumberOfMessagesVisible",
                dimensions: vec![(
                    "QueueName",
                    yaml("Fn::GetAtt: [DeadLetterQueue, QueueName]"),
                )],
                statistic: "Maximum",
                comparison: "GreaterThanOrEqualToThreshold",
                threshold: one(),
            },
        ),
        (
            "FunctionErrorsAlarm",
            ExpectedAlarm {
                namespace: "AWS/Lambda",
                metric: "Errors",
                dimensions: vec![function_dimension()],
                statistic: "Sum",
                comparison: "GreaterThanOrEqualToThreshold",
                threshold: one(),
            },
        ),
    ]);
    match destination {
        Destination::Sqs => alarms.insert(
            "OnFailureQueueAlarm",
            ExpectedAlarm {
                namespace: "AWS/SQS",
                metric: "ApproximateNumberOfMessagesVisible",
                dimensions: vec![("QueueName", yaml("Fn::GetAtt: [OnFailureQueue, QueueName]"))],
                statistic: "Maximum",
                comparison: "GreaterThanOrEqualToThreshold",
                threshold: one(),
            },
        ),
        Destination::S3 => alarms.insert(
            "FailedBatchBucketAlarm",
            ExpectedAlarm {
                namespace: "AWS/S3",
                metric: "PutRequests",
                dimensions: vec![
                    ("BucketName", yaml("Ref: FailedBatchBucket")),
                    ("FilterId", yaml("EntireBucket")),
                ],
                statistic: "Sum",
                comparison: "GreaterThanOrEqualToThreshold",
                threshold: one(),
            },
        ),
    };
    alarms
}

fn dimensions(alarm: &Value) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = get(alarm, &["Dimensions"])
        .as_sequence()
        .expect("Dimensions is a list")
        .iter()
        .map(|d| {
            (
                get(d, &["Name"]).as_str().expect("a name").to_owned(),
                get(d, &["Value"]).clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The per-target alarms: each a Metrics Insights query, the largest value of a metric over every
/// target (every `Target` dimension) of the function, whatever the targets' names.
const QUERY_ALARMS: [(&str, &str); 2] = [
    ("TargetFailuresAlarm", "TargetFailedKeys"),
    ("FilterErrorsAlarm", "FilterErrors"),
];

/// The query of a per-target alarm on `metric`, for the function `<ReplicatorFunction>`.
fn target_query(function: &str, metric: &str) -> String {
    format!(
        "SELECT MAX({metric}) FROM SCHEMA(\"dyno\", FunctionName, TablePair, Target) \
         WHERE FunctionName = '{function}'"
    )
}

/// What every alarm does alike: no data is no breach, a description that says what to do,
/// consecutive periods (3 of 5 minutes for failures), and the topic as its actions, or none.
fn assert_alarm_behaviour(name: &str, alarm: &Value, topic: &str) {
    let text = |key: &str| get(alarm, &[key]).as_str().map(str::to_owned);
    assert_eq!(
        text("TreatMissingData").as_deref(),
        Some("notBreaching"),
        "{name}: no data means nothing to replicate"
    );
    let description = text("AlarmDescription").unwrap_or_default();
    assert!(
        description.starts_with("dyno: ") && description.len() > 120,
        "{name}: say what happened and what to do: {description}"
    );
    let periods = get(alarm, &["EvaluationPeriods"])
        .as_u64()
        .expect("a number");
    let datapoints = alarm
        .get("DatapointsToAlarm")
        .and_then(Value::as_u64)
        .unwrap_or(periods);
    assert_eq!(datapoints, periods, "{name}: consecutive periods");
    if [
        "FailedRecordsAlarm",
        "TargetFailuresAlarm",
        "FilterErrorsAlarm",
    ]
    .contains(&name)
    {
        assert_eq!(
            periods, 3,
            "{name}: several periods in a row, not one retry"
        );
        let period = alarm
            .get("Period")
            .or_else(|| get(alarm, &["Metrics"])[0].get("Period"))
            .and_then(Value::as_u64);
        assert_eq!(period, Some(300), "{name}");
    }

    // Actions: the topic, or none.
    for actions in ["AlarmActions", "OKActions"] {
        let want_actions = (!topic.is_empty()).then(|| yaml("[{Ref: AlarmTopicArn}]"));
        assert_eq!(
            alarm.get(actions),
            want_actions.as_ref(),
            "{name}: {actions} with AlarmTopicArn={topic:?}"
        );
    }
    assert!(alarm.get("InsufficientDataActions").is_none());
}

#[test]
fn alarms_watch_the_right_metrics_and_notify_the_topic_when_given() {
    let doc = template();
    for destination in [Destination::S3, Destination::Sqs] {
        for topic in ["", ALARM_TOPIC_ARN] {
            let variant = Variant {
                source: Source::NewKinesis,
                destination,
                replica: Replica::SameAccount,
            };
            let mut parameters = variant.parameters();
            parameters.push(("AlarmTopicArn", topic));
            let evaluated = evaluate(&doc, &parameters);
            let alarms = resources_of_type(&evaluated.doc, "AWS::CloudWatch::Alarm");
            let expected = expected_alarms(destination);
            let mut all: Vec<&str> = expected.keys().copied().collect();
            all.extend(QUERY_ALARMS.map(|(name, _)| name));
            all.sort_unstable();
            assert_eq!(
                alarms.keys().map(String::as_str).collect::<Vec<_>>(),
                all,
                "{destination:?}: exactly these alarms"
            );
            for (name, want) in &expected {
                let alarm = get(alarms[*name], &["Properties"]);
                let text = |key: &str| get(alarm, &[key]).as_str().map(str::to_owned);
                assert_eq!(text("Namespace").as_deref(), Some(want.namespace), "{name}");
                assert_eq!(text("MetricName").as_deref(), Some(want.metric), "{name}");
                let mut dims: Vec<(String, Value)> = want
                    .dimensions
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.clone()))
                    .collect();
                dims.sort_by(|a, b| a.0.cmp(&b.0));
                assert_eq!(dimensions(alarm), dims, "{name}");
                assert_eq!(text("Statistic").as_deref(), Some(want.statistic), "{name}");
                assert!(alarm.get("ExtendedStatistic").is_none(), "{name}");
                assert!(alarm.get("Metrics").is_none(), "{name}: one metric");
                assert!(
                    alarm.get("Unit").is_none(),
                    "{name}: a unit the metric does not have would leave the alarm without data"
                );
                assert_eq!(
                    text("ComparisonOperator").as_deref(),
                    Some(want.comparison),
                    "{name}"
                );
                assert_eq!(get(alarm, &["Threshold"]), &want.threshold, "{name}");
                assert_alarm_behaviour(name, alarm, topic);
            }
            for (name, _) in QUERY_ALARMS {
                assert_alarm_behaviour(name, get(alarms[name], &["Properties"]), topic);
            }
        }
    }
}

/// `TargetFailuresAlarm` and `FilterErrorsAlarm`: one Metrics Insights query each, the largest
/// TargetFailedKeys (FilterErrors) of any target of this function, at least 1 in each of 3
/// consecutive 5-minute periods; the description points at the dashboard's Target dimension.
#[test]
fn per_target_alarms_query_every_target_of_the_function() {
    let doc = template();
    let evaluated = evaluate(
        &doc,
        &[
            ("PrimaryTableName", "dyno-primary"),
            ("ReplicaTableName", "dyno-replica"),
        ],
    );
    let alarms = resources_of_type(&evaluated.doc, "AWS::CloudWatch::Alarm");
    for (name, metric) in QUERY_ALARMS {
        let alarm = get(
            alarms
                .get(name)
                .unwrap_or_else(|| panic!("no alarm {name}")),
            &["Properties"],
        );
        let metrics = get(alarm, &["Metrics"]).as_sequence().expect("a list");
        assert_eq!(metrics.len(), 1, "{name}: one query");
        let query = &metrics[0];
        let keys: BTreeSet<&str> = query
            .as_mapping()
            .expect("a mapping")
            .keys()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["Id", "Expression", "Period", "ReturnData"]),
            "{name}"
        );
        assert_eq!(
            evaluated.compute(get(query, &["Expression"])),
            Value::String(target_query("<ReplicatorFunction>", metric)),
            "{name}: the query names the function, not the targets"
        );
        assert_eq!(get(query, &["Period"]).as_u64(), Some(300), "{name}");
        assert_eq!(get(query, &["ReturnData"]).as_bool(), Some(true), "{name}");
        let id = get(query, &["Id"]).as_str().expect("an Id");
        assert!(
            id.starts_with(|c: char| c.is_ascii_lowercase()),
            "{name}: an Id starts with a lower-case letter"
        );
        // A query alarm names no metric of its own.
        for single in [
            "Namespace",
            "MetricName",
            "Dimensions",
            "Statistic",
            "ExtendedStatistic",
            "Period",
            "Unit",
        ] {
            assert!(alarm.get(single).is_none(), "{name}: {single}");
        }
        assert_eq!(get(alarm, &["Threshold"]).as_u64(), Some(1), "{name}");
        assert_eq!(
            get(alarm, &["ComparisonOperator"]).as_str(),
            Some("GreaterThanOrEqualToThreshold"),
            "{name}"
        );
        assert_eq!(get(alarm, &["EvaluationPeriods"]).as_u64(), Some(3));
        assert_eq!(get(alarm, &["DatapointsToAlarm"]).as_u64(), Some(3));
        let description = get(alarm, &["AlarmDescription"]).as_str().unwrap_or("");
        assert!(
            description.contains("dashboard") && description.contains("Target dimension"),
            "{name}: which target fails is on the dashboard: {description}"
        );
        assert_alarm_behaviour(name, alarm, "");
    }
}

#[test]
fn dashboard_graphs_lag_throughput_failures_and_iterator_age() {
    let doc = template();
    let dashboard = get(&doc, &["Resources", "ReplicatorDashboard"]);
    assert_eq!(
        get(dashboard, &["Type"]).as_str(),
        Some("AWS::CloudWatch::Dashboard")
    );
    assert!(dashboard.get("Condition").is_none());
    let body = get(dashboard, &["Properties", "DashboardBody", "Fn::Sub"])
        .as_str()
        .expect("the body is one Fn::Sub string");
    for mention in [
        names::LAG,
        names::LAG_MAX,
        names::RECORDS,
        names::FAILED,
        "IteratorAge",
    ] {
        assert!(body.contains(mention), "the dashboard shows {mention}");
    }

    // After substitution the body is JSON: numbers for Number parameters, a placeholder
    // `<Name>` for anything else.
    let mut json = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        json.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${") + start;
        let name = &rest[start + 2..end];
        let number = doc
            .get("Parameters")
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("Type"))
            .and_then(Value::as_str)
            == Some("Number");
        json.push_str(&if number {
            "1".to_owned()
        } else {
            format!("<{name}>")
        });
        rest = &rest[end + 1..];
    }
    json.push_str(rest);
    let body: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("the dashboard is JSON: {e}"));

    // (namespace, metric, stat) of every graph line; each dyno line has exactly the function's
    // and the table pair's dimensions.
    let table_pair = emf::table_pair("<PrimaryTableName>", "<ReplicaTableName>");
    let mut lines: BTreeSet<(String, String, String)> = BTreeSet::new();
    let widgets = body["widgets"].as_array().expect("widgets");
    // The Metrics Insights queries of the per-target graphs.
    let mut queries: BTreeSet<String> = BTreeSet::new();
    for widget in widgets {
        let properties = &widget["properties"];
        assert_eq!(properties["region"], "<AWS::Region>");
        let default_stat = properties["stat"].as_str().unwrap_or("Average");
        for line in properties["metrics"].as_array().expect("metrics") {
            let line = line.as_array().expect("a metric line");
            if let [serde_json::Value::Object(query)] = &line[..]
                && let Some(expression) = query.get("expression")
            {
                assert!(query["id"].is_string(), "{query:?}");
                queries.insert(expression.as_str().expect("a string").to_owned());
                continue;
            }
            let (fields, options) = match line.last() {
                Some(serde_json::Value::Object(o)) => (&line[..line.len() - 1], Some(o)),
                _ => (&line[..], None),
            };
            let fields: Vec<&str> = fields
                .iter()
                .map(|f| f.as_str().expect("a string field"))
                .collect();
            assert!(!fields.contains(&"..."), "lines written out in full");
            let stat = options
                .and_then(|o| o.get("stat"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or(default_stat);
            let dims: BTreeMap<&str, &str> = fields[2..]
                .chunks(2)
                .map(|pair| (pair[0], pair[1]))
                .collect();
            if fields[0] == emf::NAMESPACE {
                assert_eq!(
                    dims,
                    BTreeMap::from([
                        (emf::FUNCTION, "<ReplicatorFunction>"),
                        (emf::TABLE_PAIR, table_pair.as_str()),
                    ]),
                    "{fields:?}"
                );
            } else if fields[0] == "AWS/Lambda" {
                assert_eq!(
                    dims,
                    BTreeMap::from([("FunctionName", "<ReplicatorFunction>")])
                );
            }
            lines.insert((fields[0].to_owned(), fields[1].to_owned(), stat.to_owned()));
        }
    }
    let line = |namespace: &str, metric: &str, stat: &str| {
        (namespace.to_owned(), metric.to_owned(), stat.to_owned())
    };
    for want in [
        line(emf::NAMESPACE, names::LAG, "p50"),
        line(emf::NAMESPACE, names::LAG, "p99"),
        line(emf::NAMESPACE, names::LAG_MAX, "Maximum"),
        line(emf::NAMESPACE, names::RECORDS, "Sum"),
        line(emf::NAMESPACE, names::PUTS, "Sum"),
        line(emf::NAMESPACE, names::DELETES, "Sum"),
        line(emf::NAMESPACE, names::FAILED, "Sum"),
        line(emf::NAMESPACE, names::UNUSABLE, "Sum"),
        line(emf::NAMESPACE, names::DEAD_LETTERED, "Sum"),
        line("AWS/Lambda", "IteratorAge", "Maximum"),
    ] {
        assert!(lines.contains(&want), "the dashboard graphs {want:?}");
    }

    // Per target, whatever the targets' names: one query per metric, over every target of the
    // function, a line per Target.
    let per_target: BTreeSet<String> = [
        "TargetPuts",
        "TargetDeletes",
        "TargetFailedKeys",
        "FilteredOut",
        "FilterErrors",
    ]
    .iter()
    .map(|metric| {
        format!(
            "SELECT SUM({metric}) FROM SCHEMA(\"dyno\", FunctionName, TablePair, Target) \
             WHERE FunctionName = '<ReplicatorFunction>' GROUP BY Target"
        )
    })
    .collect();
    assert_eq!(queries, per_target);
}

// ---------------------------------------------------------------------------------------------
// The replica account's template.
// ---------------------------------------------------------------------------------------------

/// The replica table, in the account and (by default) the region of the replica's stack.
const REPLICA_TABLE_ARN: &str =
    "arn:${AWS::Partition}:dynamodb:${TableRegion}:${AWS::AccountId}:table/${ReplicaTableName}";

#[test]
fn replica_account_role_trusts_only_the_replicator_and_only_writes_the_replica() {
    let doc = replica_template();
    assert_eq!(
        get(&doc, &["AWSTemplateFormatVersion"]).as_str(),
        Some("2010-09-09")
    );
    // Short forms would panic in walk; no wildcard in any resource.
    for (path, value) in all_strings(get(&doc, &["Resources"]), "Resources") {
        assert!(!value.contains('*'), "{path}: wildcard {value:?}");
    }
    let parameter = |name: &str| get(&doc, &["Parameters", name]);
    assert!(
        parameter("ReplicatorRoleArn").get("Default").is_none(),
        "the replicator's role is required"
    );
    assert!(parameter("ReplicaTableName").get("Default").is_none());
    assert_eq!(
        get(parameter("ExternalId"), &["NoEcho"]).as_bool(),
        Some(true)
    );
    assert_eq!(
        scalar_string(get(parameter("ExternalId"), &["Default"])),
        ""
    );
    assert_eq!(
        scalar_string(get(parameter("ReplicaRegion"), &["Default"])),
        ""
    );

    // The two templates agree: the same role pattern and external ID pattern.
    let main = template();
    let pattern = |doc: &Value, name: &str| {
        get(doc, &["Parameters", name, "AllowedPattern"])
            .as_str()
            .expect("a pattern")
            .to_owned()
    };
    assert_eq!(
        pattern(&main, "ReplicaRoleArn"),
        format!("^$|{}", pattern(&doc, "ReplicatorRoleArn"))
    );
    assert_eq!(
        pattern(&main, "ReplicaExternalId"),
        pattern(&doc, "ExternalId")
    );
    assert_eq!(
        get(&main, &["Outputs", "ReplicatorRoleArn", "Value"]),
        &yaml("Fn::GetAtt: [ReplicatorRole, Arn]")
    );

    for external_id in ["", "dyno-external-id-1"] {
        for region in ["", "eu-central-1"] {
            let evaluated = evaluate(
                &doc,
                &[
                    ("ReplicaTableName", "dyno-replica"),
                    ("ReplicatorRoleArn", "arn:aws:iam::123456789012:role/x"),
                    ("ExternalId", external_id),
                    ("ReplicaRegion", region),
                ],
            );
            let out = &evaluated.doc;
            assert_no_dangling_references(&evaluated, "replica-account.yaml");
            let resources = get(out, &["Resources"]).as_mapping().expect("Resources");
            assert_eq!(
                resources
                    .keys()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>(),
                ["ReplicaWriterRole"],
                "the role and nothing else"
            );
            let role = get(out, &["Resources", "ReplicaWriterRole"]);
            assert_eq!(get(role, &["Type"]).as_str(), Some("AWS::IAM::Role"));
            let properties = get(role, &["Properties"]);
            assert_eq!(
                get(properties, &["MaxSessionDuration"]).as_u64(),
                Some(3600)
            );
            assert!(properties.get("ManagedPolicyArns").is_none());

            // Trust: the replicator's role only, with the external ID when there is one.
            let trust = get(properties, &["AssumeRolePolicyDocument", "Statement"])
                .as_sequence()
                .expect("a list");
            assert_eq!(trust.len(), 1, "one trust statement");
            let statement = &trust[0];
            assert_eq!(get(statement, &["Effect"]).as_str(), Some("Allow"));
            assert_eq!(
                get(statement, &["Principal"]),
                &yaml("AWS: {Ref: ReplicatorRoleArn}")
            );
            assert_eq!(strings(get(statement, &["Action"])), ["sts:AssumeRole"]);
            assert!(
                statement.get("NotPrincipal").is_none() && statement.get("NotAction").is_none()
            );
            let condition = (!external_id.is_empty())
                .then(|| yaml("StringEquals: {'sts:ExternalId': {Ref: ExternalId}}"));
            assert_eq!(
                statement.get("Condition"),
                condition.as_ref(),
                "ExternalId={external_id:?}"
            );

            // Permissions: the four writes on the replica table of this account, nothing else.
            let policies = get(properties, &["Policies"])
                .as_sequence()
                .expect("a list");
            assert_eq!(policies.len(), 1);
            let statements = get(&policies[0], &["PolicyDocument", "Statement"])
                .as_sequence()
                .expect("a list");
            assert_eq!(statements.len(), 1);
            let statement = &statements[0];
            assert_eq!(get(statement, &["Effect"]).as_str(), Some("Allow"));
            assert!(statement.get("Condition").is_none());
            assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
            let actions: BTreeSet<String> =
                strings(get(statement, &["Action"])).into_iter().collect();
            assert_eq!(actions, set(REPLICA_WRITES));
            let table_region = if region.is_empty() {
                "Ref: AWS::Region"
            } else {
                "Ref: ReplicaRegion"
            };
            let mut variables = Mapping::new();
            variables.insert("TableRegion".into(), yaml(table_region));
            let mut resource = Mapping::new();
            resource.insert(
                "Fn::Sub".into(),
                Value::Sequence(vec![REPLICA_TABLE_ARN.into(), Value::Mapping(variables)]),
            );
            assert_eq!(get(statement, &["Resource"]), &Value::Mapping(resource));
            assert_eq!(
                get(out, &["Outputs", "ReplicaRoleArn", "Value"]),
                &yaml("Fn::GetAtt: [ReplicaWriterRole, Arn]")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Logging and credentials.
// ---------------------------------------------------------------------------------------------

/// The AWS SDK logs whole request and response bodies (items) at trace level; the function must
/// not run at it (`tests/logs.rs` shows debug and below keep item content out of the logs).
#[test]
fn function_never_logs_at_trace_level() {
    let doc = template();
    let function = get(&doc, &["Resources", "ReplicatorFunction", "Properties"]);
    let rust_log = get(function, &["Environment", "Variables", "RUST_LOG"])
        .as_str()
        .expect("RUST_LOG is a literal")
        .to_ascii_lowercase();
    assert!(!rust_log.contains("trace"), "RUST_LOG={rust_log}");
    let level = get(function, &["LoggingConfig"])
        .get("ApplicationLogLevel")
        .and_then(Value::as_str)
        .unwrap_or("INFO");
    assert_ne!(level.to_ascii_uppercase(), "TRACE");
}

/// No access key, secret or session token in the templates, the sample events or the sources.
#[test]
fn no_credentials_in_template_events_or_sources() {
    let root = common::project_root();
    let mut files = vec![
        root.join("template.yaml"),
        root.join("replica-account.yaml"),
    ];
    for dir in ["events", "src", "src/bin"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    assert!(files.len() > 5);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let where_ = format!("{}:{}", file.display(), n + 1);
            // A secret access key: exactly 40 base64 characters, mixed case and digits.
            for run in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '+')) {
                let secret_like = run.len() == 40
                    && run.chars().any(|c| c.is_ascii_uppercase())
                    && run.chars().any(|c| c.is_ascii_lowercase())
                    && run.chars().any(|c| c.is_ascii_digit());
                assert!(!secret_like, "{where_}: looks like a secret access key");
            }
            let bytes = line.as_bytes();
            for i in 0..bytes.len().saturating_sub(19) {
                let id = &bytes[i..i + 20];
                let looks_like_key = (id.starts_with(b"AKIA") || id.starts_with(b"ASIA"))
                    && id[4..]
                        .iter()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                assert!(!looks_like_key, "{where_}: an access key id");
            }
        }
    }
}
