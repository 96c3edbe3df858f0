//! The SAM templates: the replica account's template.

use super::*;

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
