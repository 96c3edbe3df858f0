//! The SAM templates: alarms and dashboard.

use super::*;

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
