//! The SAM templates: several targets and source tables; enhanced fan-out.

use super::*;

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
