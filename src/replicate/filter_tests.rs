//! Tests of `filter.rs`: CEL filters over items: values as CEL sees them, numbers compared
//! exactly, matches, run-time failures (whose messages hold no item value) and compile errors.

use super::*;
use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: &str) -> AttributeValue {
    AttributeValue::N(value.to_owned())
}

fn item(attributes: &[(&str, AttributeValue)]) -> Item {
    attributes
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn matches(expression: &str, item: &Item) -> Result<bool, FilterRunError> {
    Filter::compile(expression)
        .expect("the test's expression compiles")
        .matches(item)
}

fn error(expression: &str, item: &Item) -> String {
    match matches(expression, item) {
        Ok(result) => panic!("`{expression}` gave {result}, not an error"),
        Err(error) => error.to_string(),
    }
}

fn compile_error(expression: &str) -> String {
    match Filter::compile(expression) {
        Ok(filter) => panic!("`{}` compiled", filter.source()),
        Err(error) => error.to_string(),
    }
}

fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

#[test]
fn a_filter_is_send_sync_and_clone() {
    assert_send_sync_clone::<Filter>();
}

#[test]
fn status_and_tenant() {
    let expression = r#"item.status == "active" && item.tenant in ["a", "b"]"#;
    let active_a = item(&[("status", s("active")), ("tenant", s("a"))]);
    let active_c = item(&[("status", s("active")), ("tenant", s("c"))]);
    let gone_b = item(&[("status", s("gone")), ("tenant", s("b"))]);
    assert_eq!(matches(expression, &active_a).ok(), Some(true));
    assert_eq!(matches(expression, &active_c).ok(), Some(false));
    assert_eq!(matches(expression, &gone_b).ok(), Some(false));
}

#[test]
fn integers_compare_with_integers() {
    assert_eq!(
        matches("item.n > 3", &item(&[("n", n("4"))])).ok(),
        Some(true)
    );
    assert_eq!(
        matches("item.n > 3", &item(&[("n", n("3"))])).ok(),
        Some(false)
    );
    assert_eq!(
        matches("item.n == -7", &item(&[("n", n("-7"))])).ok(),
        Some(true)
    );
}

#[test]
fn a_decimal_is_a_double() {
    let cheap = item(&[("price", n("9.25"))]);
    let dear = item(&[("price", n("9.75"))]);
    assert_eq!(matches("item.price < 9.5", &cheap).ok(), Some(true));
    assert_eq!(matches("item.price < 9.5", &dear).ok(), Some(false));
    assert_eq!(
        matches("type(item.price) == double", &cheap).ok(),
        Some(true)
    );
}

#[test]
fn an_int_attribute_compares_with_a_double_literal() {
    // cel 0.15 compares numbers across int, uint and double, by value.
    let three = item(&[("n", n("3"))]);
    assert_eq!(matches("type(item.n) == int", &three).ok(), Some(true));
    assert_eq!(matches("item.n < 9.5", &three).ok(), Some(true));
    assert_eq!(matches("item.n > 2.5", &three).ok(), Some(true));
    assert_eq!(matches("item.n == 3.0", &three).ok(), Some(true));
    assert_eq!(matches("item.n == 3.5", &three).ok(), Some(false));
}

#[test]
fn a_number_past_i64_is_a_uint_then_a_double() {
    let big = item(&[("u", n("18446744073709551615")), ("d", n("1e30"))]);
    assert_eq!(matches("type(item.u) == uint", &big).ok(), Some(true));
    assert_eq!(
        matches("item.u == 18446744073709551615u", &big).ok(),
        Some(true)
    );
    assert_eq!(matches("type(item.d) == double", &big).ok(), Some(true));
    assert_eq!(matches("item.d > 1e29", &big).ok(), Some(true));
}

#[test]
fn a_number_that_does_not_parse_is_an_error() {
    let message = error("true", &item(&[("n", n("twelve"))]));
    assert_eq!(message, "attribute `n` holds a number that does not parse");
    let message = error("true", &item(&[("n", n("NaN"))]));
    assert_eq!(message, "attribute `n` holds a number that does not parse");
}

const INEXACT: &str = "attribute `n` holds a number with more digits than a CEL number holds \
                       exactly (an int, a uint, or a double that is the same decimal): the filter \
                       cannot compare it";

#[test]
fn a_number_no_cel_number_holds_exactly_is_an_error_not_a_rounded_value() {
    // As doubles, 10^37 + 1 > 10^37 would be false, and these two would be equal.
    let big = item(&[("n", n("10000000000000000000000000000000000001"))]);
    let expression = "item.n > 10000000000000000000000000000000000000.0";
    assert_eq!(error(expression, &big), INEXACT);
    let half = item(&[("n", n("9007199254740992.5"))]);
    assert_eq!(error("item.n == 9007199254740993.0", &half), INEXACT);
    let unused = item(&[("n", n("3.14159265358979323846")), ("a", n("1"))]);
    assert_eq!(error("item.a == 1", &unused), INEXACT);
}

#[test]
fn a_number_no_cel_number_holds_exactly_is_an_error_inside_lists_sets_and_maps() {
    let inexact = "12345678901234567890.5";
    let within = [
        AttributeValue::L(vec![n("1"), n(inexact)]),
        AttributeValue::Ns(vec!["1".into(), inexact.into()]),
        AttributeValue::M(HashMap::from([("deep".to_owned(), n(inexact))])),
        AttributeValue::L(vec![AttributeValue::M(HashMap::from([(
            "x".to_owned(),
            AttributeValue::Ns(vec![inexact.into()]),
        )]))]),
    ];
    for value in within {
        let message = error("size(item) > 0", &item(&[("n", value.clone())]));
        assert_eq!(message, INEXACT, "{value:?}");
    }
}

#[test]
fn numbers_a_cel_number_holds_exactly_compare_exactly() {
    let exact = item(&[
        ("tenth", n("0.1")),
        ("price", n("1.50")),
        ("hundred", n("1e2")),
        ("big", n("18446744073709551615")),
        ("huge", n("1E30")),
        ("ns", AttributeValue::Ns(vec!["0.25".into(), "7".into()])),
    ]);
    let expression = "item.tenth == 0.1 && item.price == 1.5 && type(item.hundred) == int \
                      && item.hundred == 100 && item.big == 18446744073709551615u \
                      && item.huge == 1e30 && 0.25 in item.ns && 7 in item.ns";
    assert_eq!(matches(expression, &exact).ok(), Some(true));
}

#[test]
fn a_failure_message_holds_no_value_of_the_item() {
    let secret = item(&[
        ("s", s("s3cr3t")),
        ("l", AttributeValue::L(vec![s("s3cr3t")])),
        (
            "m",
            AttributeValue::M(HashMap::from([("k".to_owned(), s("s3cr3t"))])),
        ),
    ]);
    for (expression, expected) in [
        (
            "item.m[item.s] == 1",
            "the filter failed: No such key (one the item gives)",
        ),
        (
            "item.l[item.s] == 1",
            "the filter failed: found no matching overload for '_[_]' applied to '(list, string)'",
        ),
        (
            "int(item.s) > 1",
            "the filter failed: Error executing function 'int'",
        ),
        (
            "item.s + 1 == 2",
            "the filter failed: Unsupported binary operator 'add': a string, an int",
        ),
        ("item.l[3] == 1", "the filter failed: Index out of bounds"),
        (
            "item.m.k.x == 1",
            "the filter failed: found no matching overload for '_._' applied to '(string, string)'",
        ),
    ] {
        let message = error(expression, &secret);
        assert_eq!(message, expected, "{expression}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}

#[test]
fn a_missing_attribute_is_an_error() {
    let message = error(r#"item.status == "active""#, &item(&[("pk", s("1"))]));
    assert_eq!(message, "the filter failed: No such key: status");
}

#[test]
fn has_tests_for_an_attribute() {
    let without = item(&[("pk", s("1"))]);
    let with = item(&[("pk", s("1")), ("status", s("x"))]);
    assert_eq!(matches("has(item.status)", &without).ok(), Some(false));
    assert_eq!(matches("has(item.status)", &with).ok(), Some(true));
}

#[test]
fn a_wrong_type_is_an_error() {
    let message = error("item.n > 3", &item(&[("n", s("four"))]));
    assert_eq!(
        message,
        "the filter failed: found no matching overload for '_>_' applied to '(string, int)'"
    );
}

#[test]
fn a_result_that_is_not_a_bool_is_an_error() {
    let status = item(&[("status", s("active"))]);
    assert_eq!(
        error("item.status", &status),
        "the filter gave a string, not true or false"
    );
    let list = item(&[("l", AttributeValue::L(vec![n("1")]))]);
    assert_eq!(
        error("item.l[0]", &list),
        "the filter gave an int, not true or false"
    );
    assert_eq!(
        error("true ? item.l : false", &list),
        "the filter gave a list, not true or false"
    );
}

#[test]
fn a_compile_error_gives_the_position() {
    let message = compile_error("item.a ==\n  )");
    assert!(
        message.starts_with("the filter `item.a ==   )` does not compile: line 2, column 3: "),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn an_empty_filter_is_refused() {
    assert!(matches!(Filter::compile(""), Err(FilterError::Empty)));
    assert!(matches!(Filter::compile(" \n "), Err(FilterError::Empty)));
}

#[test]
fn an_unknown_variable_is_refused() {
    let message = compile_error(r#"item.a == 1 && x == "y""#);
    assert_eq!(message, "the filter may only refer to `item`, not `x`");
    let message = compile_error("status == 1");
    assert_eq!(message, "the filter may only refer to `item`, not `status`");
}

#[test]
fn names_bound_by_a_macro_and_type_names_are_allowed() {
    let tagged = item(&[("tags", AttributeValue::Ss(vec!["a".into(), "b".into()]))]);
    let expression = r#"item.tags.exists(t, t == "b") && type(item.tags) == list"#;
    assert_eq!(matches(expression, &tagged).ok(), Some(true));
    let message = compile_error("item.tags.exists(t, t == u)");
    assert_eq!(message, "the filter may only refer to `item`, not `u`");
}

#[test]
fn nested_maps_and_lists() {
    let address = AttributeValue::M(HashMap::from([
        ("city".to_owned(), s("Oslo")),
        (
            "lines".to_owned(),
            AttributeValue::L(vec![s("Storgata 1"), n("2")]),
        ),
    ]));
    let person = item(&[("address", address)]);
    assert_eq!(
        matches(r#"item.address.city == "Oslo""#, &person).ok(),
        Some(true)
    );
    assert_eq!(
        matches(r#"item.address.city == "Bergen""#, &person).ok(),
        Some(false)
    );
    let expression = r#"item.address.lines[0] == "Storgata 1" && item.address.lines[1] == 2"#;
    assert_eq!(matches(expression, &person).ok(), Some(true));
}

#[test]
fn sets_are_lists() {
    let two = item(&[("tags", AttributeValue::Ss(vec!["a".into(), "b".into()]))]);
    let one = item(&[("tags", AttributeValue::Ss(vec!["a".into()]))]);
    assert_eq!(matches("size(item.tags) > 1", &two).ok(), Some(true));
    assert_eq!(matches("size(item.tags) > 1", &one).ok(), Some(false));
    let numbers = item(&[("ns", AttributeValue::Ns(vec!["1".into(), "2.5".into()]))]);
    assert_eq!(
        matches("2.5 in item.ns && 1 in item.ns", &numbers).ok(),
        Some(true)
    );
}

#[test]
fn bytes() {
    let blob = item(&[
        ("b", AttributeValue::B(Blob::new(b"abc".to_vec()))),
        ("bs", AttributeValue::Bs(vec![Blob::new(b"x".to_vec())])),
    ]);
    assert_eq!(matches(r#"item.b == b"abc""#, &blob).ok(), Some(true));
    assert_eq!(matches(r#"item.b == b"abd""#, &blob).ok(), Some(false));
    assert_eq!(matches("size(item.b) == 3", &blob).ok(), Some(true));
    assert_eq!(matches(r#"item.bs[0] == b"x""#, &blob).ok(), Some(true));
}

#[test]
fn null_and_bool() {
    let flags = item(&[
        ("gone", AttributeValue::Null(true)),
        ("on", AttributeValue::Bool(true)),
    ]);
    assert_eq!(matches("item.gone == null", &flags).ok(), Some(true));
    assert_eq!(matches("item.on == null", &flags).ok(), Some(false));
    assert_eq!(matches("item.on", &flags).ok(), Some(true));
    assert_eq!(matches("!item.on", &flags).ok(), Some(false));
}

#[test]
fn source_is_the_expression_as_written() {
    let filter = Filter::compile(" item.on ").expect("compiles");
    assert_eq!(filter.source(), " item.on ");
    assert_eq!(
        format!("{filter:?}"),
        r#"Filter { source: " item.on ", .. }"#
    );
}
