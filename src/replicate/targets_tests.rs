//! Tests of `targets.rs`: the targets' configuration: what parses, and each refusal in one line.

use super::*;

fn spec(name: &str, table: &str) -> TargetSpec {
    TargetSpec::new(name, table)
}

fn refusal(text: &str) -> String {
    match parse(text, "targets.json") {
        Ok(targets) => panic!("accepted {targets:?}"),
        Err(error) => error.to_string(),
    }
}

fn one(target: &str) -> String {
    format!(r#"{{"targets": [{target}]}}"#)
}

#[test]
fn a_minimal_target_parses() {
    let targets = parse(&one(r#"{"name": "copy", "table": "t2"}"#), "targets.json");
    assert_eq!(targets.ok(), Some(vec![spec("copy", "t2")]));
}

#[test]
fn every_field_parses() {
    let text = one(
        r#"{"name": "n", "table": "t", "source": "p", "region": "eu-west-1",
            "role_arn": "arn:aws:iam::1:role/r", "external_id": "x",
            "filter": "item.a == 1", "include": ["a", "b"]}"#,
    );
    let expected = TargetSpec {
        source: Some("p".into()),
        region: Some("eu-west-1".into()),
        role_arn: Some("arn:aws:iam::1:role/r".into()),
        external_id: Some("x".into()),
        filter: Some("item.a == 1".into()),
        include: Some(vec!["a".into(), "b".into()]),
        ..spec("n", "t")
    };
    assert_eq!(parse(&text, "f").ok(), Some(vec![expected]));
}

#[test]
fn an_unknown_field_is_named() {
    let message = refusal(&one(r#"{"name": "a", "table": "t", "colour": "red"}"#));
    assert!(
        message.starts_with("targets.json: unknown field `colour`, expected one of `name`"),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    let message = refusal(r#"{"targets": [], "version": 2}"#);
    assert!(message.contains("unknown field `version`"), "{message}");
}

#[test]
fn a_missing_field_is_named() {
    let message = refusal(&one(r#"{"name": "a"}"#));
    assert!(
        message.starts_with("targets.json: missing field `table` at line 1"),
        "{message}"
    );
}

#[test]
fn bad_json_gives_line_and_column() {
    let message = refusal("{\"targets\": [\n  {\"name\": \"a\",, }\n]}");
    assert!(
        message.starts_with("targets.json: not valid JSON: "),
        "{message}"
    );
    assert!(message.ends_with("at line 2 column 16"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn no_targets_are_refused() {
    assert_eq!(
        refusal(r#"{"targets": []}"#),
        "targets.json: no targets: list at least one under `targets`"
    );
}

#[test]
fn two_targets_with_one_name_are_refused() {
    let text = r#"{"targets": [{"name": "a", "table": "t1"}, {"name": "a", "table": "t2"}]}"#;
    assert_eq!(
        refusal(text),
        "targets.json: two targets are named `a`: give each its own name"
    );
}

#[test]
fn two_targets_with_one_table_are_refused() {
    let text = r#"{"targets": [{"name": "a", "table": "t"}, {"name": "b", "table": "t"}]}"#;
    assert_eq!(
        refusal(text),
        "targets.json: targets `a` and `b` both write to table `t`: give each target its \
         own table"
    );
    let text = r#"{"targets": [{"name": "a", "table": "t", "region": "r"},
                               {"name": "b", "table": "t", "region": "r"}]}"#;
    assert!(refusal(text).contains("table `t` in region `r`"));
}

#[test]
fn one_table_in_two_regions_is_accepted() {
    let text = r#"{"targets": [{"name": "a", "table": "t", "region": "r1"},
                               {"name": "b", "table": "t", "region": "r2"}]}"#;
    assert_eq!(parse(text, "f").map(|t| t.len()).ok(), Some(2));
}

#[test]
fn include_and_exclude_together_are_refused() {
    let message = refusal(&one(
        r#"{"name": "a", "table": "t", "include": ["x"], "exclude": ["y"]}"#,
    ));
    assert_eq!(
        message,
        "targets.json: target `a`: both `include` and `exclude` are set: keep one"
    );
}

#[test]
fn an_empty_name_or_table_is_refused() {
    let message = refusal(&one(r#"{"name": "", "table": "t"}"#));
    assert_eq!(
        message,
        "targets.json: target #1: `name` is empty: give it a value"
    );
    let message = refusal(&one(r#"{"name": "a", "table": ""}"#));
    assert_eq!(
        message,
        "targets.json: target `a`: `table` is empty: give it a value"
    );
}

#[test]
fn an_empty_optional_field_is_refused() {
    let message = refusal(&one(r#"{"name": "a", "table": "t", "region": ""}"#));
    assert_eq!(
        message,
        "targets.json: target `a`: `region` is empty: give it a value or leave it out"
    );
}

#[test]
fn an_external_id_without_a_role_is_refused() {
    let message = refusal(&one(r#"{"name": "a", "table": "t", "external_id": "x"}"#));
    assert!(
        message.starts_with("targets.json: target `a`: `external_id` is set without `role_arn`"),
        "{message}"
    );
}

#[test]
fn bad_lists_are_refused() {
    let message = refusal(&one(r#"{"name": "a", "table": "t", "include": []}"#));
    assert!(message.contains("`include` is empty"), "{message}");
    let message = refusal(&one(r#"{"name": "a", "table": "t", "exclude": ["x", ""]}"#));
    assert!(
        message.contains("`exclude` has an empty attribute name"),
        "{message}"
    );
    let message = refusal(&one(
        r#"{"name": "a", "table": "t", "exclude": ["x", "x"]}"#,
    ));
    assert!(message.contains("`exclude` names `x` twice"), "{message}");
}

#[test]
fn a_filter_that_does_not_compile_is_refused() {
    let message = refusal(&one(
        r#"{"name": "a", "table": "t", "filter": "item.a =="}"#,
    ));
    assert!(
        message.starts_with(
            "targets.json: target `a`: the filter `item.a ==` does not compile: line 1, \
             column 10: "
        ),
        "{message}"
    );
    let message = refusal(&one(r#"{"name": "a", "table": "t", "filter": "x.a == 1"}"#));
    assert_eq!(
        message,
        "targets.json: target `a`: the filter may only refer to `item`, not `x`"
    );
}

/// A valid `DYNO_TARGETS` value exactly `len` bytes long.
fn env_value(len: usize) -> String {
    let text = one(r#"{"name": "a", "table": "t"}"#);
    format!("{text}{}", " ".repeat(len - text.len()))
}

#[test]
fn the_env_value_may_be_4096_bytes() {
    let value = env_value(ENV_LIMIT_BYTES);
    assert_eq!(value.len(), 4096);
    assert_eq!(parse_env(&value).ok(), Some(vec![spec("a", "t")]));
}

#[test]
fn an_env_value_over_4096_bytes_is_refused_unparsed() {
    let message = match parse_env(&env_value(4097)) {
        Ok(targets) => panic!("accepted {targets:?}"),
        Err(error) => error.to_string(),
    };
    assert!(
        message.starts_with("DYNO_TARGETS is 4097 bytes, over 4096: Lambda's environment"),
        "{message}"
    );
    let garbage = "x".repeat(4097);
    assert!(matches!(
        parse_env(&garbage),
        Err(TargetsError::EnvTooLarge { bytes: 4097 })
    ));
}

#[test]
fn env_errors_name_the_variable() {
    let message = match parse_env("{") {
        Ok(targets) => panic!("accepted {targets:?}"),
        Err(error) => error.to_string(),
    };
    assert!(
        message.starts_with("DYNO_TARGETS: not valid JSON: "),
        "{message}"
    );
}

#[test]
fn one_table_in_two_accounts_is_two_targets() {
    let text = r#"{"targets": [
        {"name": "a", "table": "t", "role_arn": "arn:aws:iam::1:role/r"},
        {"name": "b", "table": "t", "role_arn": "arn:aws:iam::2:role/r"},
        {"name": "c", "table": "t"}]}"#;
    assert_eq!(parse(text, "targets.json").map(|t| t.len()).ok(), Some(3));
}

#[test]
fn at_most_max_targets_are_taken() {
    let many = |n: usize| {
        let targets: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"name": "n{i}", "table": "t{i}"}}"#))
            .collect();
        format!(r#"{{"targets": [{}]}}"#, targets.join(","))
    };
    assert_eq!(
        parse(&many(MAX_TARGETS), "f").map(|t| t.len()).ok(),
        Some(MAX_TARGETS)
    );
    let error = refusal(&many(MAX_TARGETS + 1));
    assert_eq!(
        error,
        "targets.json: 101 targets, over 100: one deployment writes at most 100 targets; split \
         them over several deployments"
    );
}

#[test]
fn a_name_or_table_with_a_control_character_is_refused() {
    for (field, target) in [
        ("name", r#"{"name": "a\nb", "table": "t"}"#),
        ("name", r#"{"name": "a\u0000", "table": "t"}"#),
        ("table", r#"{"name": "a", "table": "t\r"}"#),
        ("name", r#"{"name": "a\u202Eb", "table": "t"}"#),
        ("name", r#"{"name": "a\u200Bb", "table": "t"}"#),
        (
            "source",
            r#"{"name": "a", "table": "t", "source": "p\nFAKE"}"#,
        ),
        (
            "region",
            r#"{"name": "a", "table": "t", "region": "r\u0007"}"#,
        ),
    ] {
        let error = refusal(&one(target));
        assert!(
            error.contains(&format!("`{field}` holds a control or invisible")),
            "{error}"
        );
        assert_eq!(error.lines().count(), 1, "{error}");
    }
}
