//! The SAM templates: queues and the failed-batch bucket.

use super::*;

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
