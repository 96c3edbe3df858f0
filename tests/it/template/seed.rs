//! The template's seeding from an export (SeedLoader, off by default): the loader function and a
//! Step Functions state machine whose Distributed Map reads the export's manifest-files.json as
//! JSON Lines and invokes the loader once per data file, MaxConcurrency at once, tolerating every
//! failure so that each file's outcome is written to the results; the roles grant exactly that.
//! And the catch-up's start: StartingPosition AT_TIMESTAMP with StartingPositionTimestamp, for
//! the Kinesis source only.

use std::collections::{BTreeMap, BTreeSet};

use super::common::cloudformation::*;

const BUCKET: &str = "my-exports";
const SEED: [(&str, &str); 3] = [
    ("SeedLoader", "true"),
    ("SeedExportBucket", BUCKET),
    ("SeedMaxConcurrency", "25"),
];
const SEED_RESOURCES: [&str; 5] = [
    "LoaderFunction",
    "LoaderLogGroup",
    "LoaderRole",
    "SeedStateMachine",
    "SeedStateMachineRole",
];

fn resources(evaluated: &Evaluated) -> BTreeSet<String> {
    let all = get(&evaluated.doc, &["Resources"]).as_mapping().unwrap();
    all.keys().map(|k| k.as_str().unwrap().to_owned()).collect()
}

/// Each statement of `role`, by Sid: its actions and computed resources.
fn grants(evaluated: &Evaluated, role: &str) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let policies = get(
        &evaluated.doc,
        &["Resources", role, "Properties", "Policies"],
    );
    let mut out = BTreeMap::new();
    for policy in policies.as_sequence().unwrap() {
        for statement in get(policy, &["PolicyDocument", "Statement"])
            .as_sequence()
            .unwrap()
        {
            assert_eq!(get(statement, &["Effect"]).as_str(), Some("Allow"));
            let sid = get(statement, &["Sid"]).as_str().unwrap().to_owned();
            let actions = strings(get(statement, &["Action"]));
            let on = evaluated.compute_strings(get(statement, &["Resource"]));
            out.insert(sid, (actions, on));
        }
    }
    out
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn seeding_is_off_by_default_and_needs_a_bucket() {
    let doc = template();
    let off = evaluate(&doc, &[]);
    for name in SEED_RESOURCES {
        assert!(!resources(&off).contains(name), "{name} without SeedLoader");
    }
    assert_eq!(
        broken_rules(&doc, &[("SeedLoader", "true")]),
        ["SeedLoaderNeedsABucket"]
    );
    assert!(broken_rules(&doc, &SEED).is_empty());
    let on = evaluate(&doc, &SEED);
    for name in SEED_RESOURCES {
        assert!(resources(&on).contains(name), "{name} with SeedLoader");
    }
    assert_no_dangling_references(&on, "SeedLoader");
    let function = get(&on.doc, &["Resources", "LoaderFunction"]);
    assert_eq!(
        get(function, &["Metadata", "BuildProperties", "Binary"]).as_str(),
        Some("loader")
    );
}

#[test]
fn the_distributed_map_reads_the_manifest_as_json_lines_and_keeps_every_outcome() {
    let on = evaluate(&template(), &SEED);
    let machine = get(&on.doc, &["Resources", "SeedStateMachine", "Properties"]);
    let text = scalar_string(&on.compute(get(machine, &["DefinitionString"])));
    let definition: serde_json::Value =
        serde_json::from_str(&text).expect("the definition is JSON");
    let map = &definition["States"]["LoadFiles"];
    assert_eq!(map["Type"], "Map");
    assert_eq!(map["ItemReader"]["ReaderConfig"]["InputType"], "JSONL");
    assert_eq!(
        map["ItemReader"]["Resource"],
        "arn:aws:states:::s3:getObject"
    );
    assert_eq!(map["ItemReader"]["Parameters"]["Bucket"], BUCKET);
    assert_eq!(
        map["ItemReader"]["Parameters"]["Key.$"],
        "$.manifestFilesKey"
    );
    assert_eq!(map["ItemSelector"]["file.$"], "$$.Map.Item.Value");
    assert_eq!(map["ItemSelector"]["bucket"], BUCKET);
    assert_eq!(
        map["MaxConcurrency"], 25,
        "a number, from SeedMaxConcurrency"
    );
    assert_eq!(
        map["ToleratedFailurePercentage"], 100,
        "a failed file does not stop the others"
    );
    assert_eq!(
        map["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "DISTRIBUTED"
    );
    let task = &map["ItemProcessor"]["States"]["LoadFile"];
    assert_eq!(task["Resource"], "arn:aws:states:::lambda:invoke");
    assert_eq!(task["Parameters"]["FunctionName"], "<LoaderFunction.Arn>");
    assert_eq!(
        map["ResultWriter"]["Parameters"]["Prefix"],
        "dyno-seed-results"
    );
    assert_eq!(map["ResultWriter"]["Parameters"]["Bucket"], BUCKET);
}

#[test]
fn its_roles_grant_exactly_what_it_does() {
    let on = evaluate(&template(), &SEED);
    let objects = format!("arn:aws:s3:::{BUCKET}/*");
    let primary = "arn:aws:dynamodb:us-east-1:123456789012:table/orders";
    let replica = "arn:aws:dynamodb:us-east-1:123456789012:table/orders-replica";
    let values = [
        ("PrimaryTableName", "orders"),
        ("ReplicaTableName", "orders-replica"),
    ];
    let on_tables = evaluate(&template(), &[SEED.as_slice(), &values].concat());
    let loader = grants(&on_tables, "LoaderRole");
    let expected: BTreeMap<String, (Vec<String>, Vec<String>)> = [
        (
            "ReadExportFiles",
            (owned(&["s3:GetObject"]), vec![objects.clone()]),
        ),
        (
            "DescribePrimaryTable",
            (
                owned(&["dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive"]),
                owned(&[primary]),
            ),
        ),
        (
            "WriteReplicaTable",
            (
                owned(&["dynamodb:BatchWriteItem", "dynamodb:DescribeTable"]),
                owned(&[replica]),
            ),
        ),
        (
            "WriteOwnLogs",
            (
                owned(&["logs:CreateLogStream", "logs:PutLogEvents"]),
                owned(&["<LoaderLogGroup.Arn>"]),
            ),
        ),
    ]
    .into_iter()
    .map(|(sid, grant)| (sid.to_owned(), grant))
    .collect();
    assert_eq!(loader, expected);
    let machine = grants(&on, "SeedStateMachineRole");
    let expected: BTreeMap<String, (Vec<String>, Vec<String>)> = [
        ("ReadManifest", (owned(&["s3:GetObject"]), vec![objects])),
        (
            "WriteResults",
            (
                owned(&[
                    "s3:PutObject",
                    "s3:ListMultipartUploadParts",
                    "s3:AbortMultipartUpload",
                ]),
                vec![format!("arn:aws:s3:::{BUCKET}/dyno-seed-results/*")],
            ),
        ),
        (
            "InvokeLoader",
            (
                owned(&["lambda:InvokeFunction"]),
                owned(&["<LoaderFunction.Arn>"]),
            ),
        ),
        (
            "RunChildExecutions",
            (
                owned(&["states:StartExecution"]),
                owned(&["arn:aws:states:us-east-1:123456789012:stateMachine:dyno-seed"]),
            ),
        ),
        (
            "WatchChildExecutions",
            (
                owned(&["states:DescribeExecution", "states:StopExecution"]),
                owned(&["arn:aws:states:us-east-1:123456789012:execution:dyno-seed/*"]),
            ),
        ),
    ]
    .into_iter()
    .map(|(sid, grant)| (sid.to_owned(), grant))
    .collect();
    assert_eq!(machine, expected);
}

#[test]
fn the_catch_up_starts_at_a_timestamp_on_the_kinesis_source_only() {
    let doc = template();
    let at = [
        ("StartingPosition", "AT_TIMESTAMP"),
        ("StartingPositionTimestamp", "1765087200"),
    ];
    assert!(broken_rules(&doc, &at).is_empty());
    let evaluated = evaluate(&doc, &at);
    let mapping = get(
        &evaluated.doc,
        &[
            "Resources",
            "ReplicatorFunctionKeyStreamRecords",
            "Properties",
        ],
    );
    assert_eq!(
        evaluated.compute_strings(get(mapping, &["StartingPositionTimestamp"])),
        ["1765087200"]
    );
    assert_eq!(
        evaluated.compute_strings(get(mapping, &["StartingPosition"])),
        ["AT_TIMESTAMP"]
    );
    let plain = evaluate(&doc, &[]);
    let mapping = get(
        &plain.doc,
        &[
            "Resources",
            "ReplicatorFunctionKeyStreamRecords",
            "Properties",
        ],
    );
    assert!(mapping.get("StartingPositionTimestamp").is_none());
    assert_eq!(
        broken_rules(&doc, &[("StartingPosition", "AT_TIMESTAMP")]),
        ["AtTimestampIsForKinesisWithATime"]
    );
    let stream = [
        ("StartingPosition", "AT_TIMESTAMP"),
        ("StartingPositionTimestamp", "1765087200"),
        ("SourceType", "DynamoDBStream"),
        (
            "PrimaryTableStreamArn",
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/x",
        ),
    ];
    assert_eq!(
        broken_rules(&doc, &stream),
        ["AtTimestampIsForKinesisWithATime"]
    );
}
