//! Security of the SAM template: the replicator role's exact IAM actions per resource (read-only
//! on the primary, write-only on the replica, send-only on the queues), no wildcard anywhere, the
//! dead-letter queue encrypted and kept 14 days, and no credentials in the template or the events.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::Value;

fn template() -> Value {
    let path = common::project_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml is plain YAML")
}

fn get<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |v, key| {
        v.get(*key)
            .unwrap_or_else(|| panic!("template has no {}", path.join(".")))
    })
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        other => panic!("expected a string or a list of strings, found {other:?}"),
    }
}

/// Every scalar string in the document, with the path to it.
fn walk(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path, s.clone())),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map {
                let key = k.as_str().unwrap_or("?");
                out.push((format!("{path}.{key}<key>"), key.to_owned()));
                walk(v, format!("{path}.{key}"), out);
            }
        }
        Value::Tagged(tagged) => panic!(
            "{path}: short-form intrinsic {} (write the long form, e.g. Fn::GetAtt:)",
            tagged.tag
        ),
        _ => {}
    }
}

/// Names the resource a policy statement's `Resource` designates.
fn resource_name(resource: &Value) -> String {
    if let Some(sub) = resource.get("Fn::Sub") {
        let pattern = match sub {
            Value::Sequence(parts) => parts[0].as_str().unwrap_or_default().to_owned(),
            other => other.as_str().unwrap_or_default().to_owned(),
        };
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
        assert_eq!(parts.get(1).map(String::as_str), Some("Arn"), "{parts:?}");
        return parts[0].clone();
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

/// The role's statements, with `Fn::If [cond, statement, AWS::NoValue]` unwrapped.
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

#[test]
fn each_resource_gets_exactly_its_actions() {
    let doc = template();
    let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for statement in statements(&doc) {
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
    let set = |actions: &[&str]| actions.iter().map(|a| (*a).to_owned()).collect();
    let expected: BTreeMap<String, BTreeSet<String>> = [
        (
            "PrimaryTable",
            set(&[
                "dynamodb:BatchGetItem",
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
            ]),
        ),
        (
            "ReplicaTable",
            set(&[
                "dynamodb:BatchWriteItem",
                "dynamodb:DeleteItem",
                "dynamodb:DescribeTable",
                "dynamodb:PutItem",
            ]),
        ),
        // SendMessageBatch is authorised by sqs:SendMessage.
        ("DeadLetterQueue", set(&["sqs:SendMessage"])),
        // The event source mapping's on-failure destination is sent to with the function's role.
        ("OnFailureQueue", set(&["sqs:SendMessage"])),
        (
            "ExistingStreamArn|KeyStream",
            set(&[
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
                "kinesis:SubscribeToShard",
            ]),
        ),
        ("ExistingStreamKmsKeyArn", set(&["kms:Decrypt"])),
        (
            "ReplicatorLogGroup",
            set(&["logs:CreateLogStream", "logs:PutLogEvents"]),
        ),
    ]
    .into_iter()
    .map(|(name, actions)| (name.to_owned(), actions))
    .collect();
    assert_eq!(granted, expected);

    // Read-only on the primary, write-only on the replica, whatever else changes.
    let writes = ["PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem"];
    let reads = ["GetItem", "BatchGetItem", "Query", "Scan"];
    assert!(
        !granted["PrimaryTable"]
            .iter()
            .any(|a| writes.iter().any(|w| a.ends_with(w)))
    );
    assert!(
        !granted["ReplicaTable"]
            .iter()
            .any(|a| reads.iter().any(|r| a.ends_with(r)))
    );
}

#[test]
fn no_wildcards_no_managed_policies_no_short_forms() {
    let doc = template();
    let mut all = Vec::new();
    walk(&doc, String::new(), &mut all);
    let role = get(&doc, &["Resources", "ReplicatorRole"]);
    let mut role_strings = Vec::new();
    walk(role, "ReplicatorRole".into(), &mut role_strings);
    for (path, value) in &role_strings {
        assert!(!value.contains('*'), "{path}: wildcard {value:?}");
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

#[test]
fn dead_letter_queue_is_encrypted_kept_14_days_and_wired() {
    let doc = template();
    let queue = get(&doc, &["Resources", "DeadLetterQueue"]);
    assert_eq!(get(queue, &["Type"]).as_str(), Some("AWS::SQS::Queue"));
    assert_eq!(get(queue, &["DeletionPolicy"]).as_str(), Some("Retain"));
    let properties = get(queue, &["Properties"]);
    let encrypted = properties
        .get("SqsManagedSseEnabled")
        .and_then(Value::as_bool)
        == Some(true)
        || properties.get("KmsMasterKeyId").is_some();
    assert!(encrypted, "the dead-letter queue must be encrypted at rest");
    assert_eq!(
        get(properties, &["MessageRetentionPeriod"]).as_u64(),
        Some(14 * 24 * 3600)
    );
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
}

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

/// No access key, secret or session token in the template, the sample events or the sources.
#[test]
fn no_credentials_in_template_events_or_sources() {
    let root = common::project_root();
    let mut files = vec![root.join("template.yaml")];
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
