//! The SAM templates: variants: source x on-failure destination x replica account.

use super::*;

const KINESIS_STREAM_ARN: &str = "arn:aws:kinesis:eu-west-1:123456789012:stream/dyno-keys";
const KMS_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const TABLE_STREAM_ARN: &str =
    "arn:aws:dynamodb:eu-west-1:123456789012:table/dyno-primary/stream/2024-05-01T00:00:00.000";
pub(super) const REPLICA_ROLE_ARN: &str = "arn:aws:iam::210987654321:role/dyno-replica-writer";
pub(super) const ALARM_TOPIC_ARN: &str = "arn:aws:sns:eu-west-1:123456789012:dyno-alarms";

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Source {
    /// Kinesis, a stream this stack creates.
    NewKinesis,
    /// Kinesis, an existing stream encrypted with a customer managed key.
    ExistingKinesis,
    /// The primary table's DynamoDB stream (given an existing Kinesis stream and key too, which
    /// must be ignored).
    DynamoDBStream,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Destination {
    S3,
    Sqs,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Replica {
    SameAccount,
    OtherAccount,
    OtherAccountWithExternalId,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Variant {
    pub(super) source: Source,
    pub(super) destination: Destination,
    pub(super) replica: Replica,
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

    pub(super) fn parameters(&self) -> Vec<(&'static str, &'static str)> {
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

    pub(super) fn expected_grants(&self) -> BTreeMap<String, BTreeSet<String>> {
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
