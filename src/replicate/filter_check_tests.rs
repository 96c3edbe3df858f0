//! Tests of `filter_check.rs`: each limit at its edge (at the limit compiles, one over is refused
//! with the limit in the message), filters at the limits parsed and evaluated in a debug build on
//! a thread with a 2 MB stack, macros inside macros, and results that are never a bool.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{MAX_DEPTH, MAX_NESTING, MAX_SOURCE_BYTES};
use crate::aws::table::Item;
use crate::replicate::filter::{Filter, FilterError};

fn refusal(expression: &str) -> String {
    match Filter::compile(expression) {
        Ok(filter) => panic!("`{}` compiled", filter.source()),
        Err(error) => error.to_string(),
    }
}

fn compiles(expression: &str) -> Filter {
    match Filter::compile(expression) {
        Ok(filter) => filter,
        Err(error) => panic!("`{expression}`: {error}"),
    }
}

fn item() -> Item {
    let n = |n: &str| AttributeValue::N(n.to_owned());
    Item::from([
        ("n".to_owned(), n("1")),
        ("l".to_owned(), AttributeValue::L(vec![n("1"), n("2")])),
    ])
}

/// `item.s == "x…x"`, `bytes` long.
fn long(bytes: usize) -> String {
    let frame = "item.s == \"";
    format!("{frame}{}\"", "x".repeat(bytes - frame.len() - 1))
}

#[test]
fn the_limits_are_as_documented() {
    assert_eq!((MAX_SOURCE_BYTES, MAX_NESTING, MAX_DEPTH), (1024, 8, 24));
}

#[test]
fn a_filter_at_the_length_limit_compiles_and_one_byte_more_is_refused() {
    assert_eq!(long(1024).len(), 1024);
    compiles(&long(1024));
    assert_eq!(
        refusal(&long(1025)),
        "the filter is 1025 bytes long: at most 1024 are allowed"
    );
}

/// `depth` levels of `open`…`close` around `inner`.
fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn nesting_at_the_limit_compiles_and_one_more_level_is_refused() {
    compiles(&nested("(", "true", ")", 8));
    compiles(&nested("[", "", "]", 8).replacen('[', "true in [", 1));
    compiles(r#"((((((item.s == "((((((((((((")))))) && ['[[[', "]]"] == []"#);
    let expected = "the filter nests parentheses, brackets, braces and conditionals (`?`) 9 deep: \
                    at most 8 levels are allowed (parsing costs stack on each)";
    assert_eq!(refusal(&nested("(", "true", ")", 9)), expected);
    assert_eq!(refusal(&nested("[", "", "]", 9)), expected);
    assert_eq!(refusal(&nested("{1:", "1", "}", 9)), expected);
    assert_eq!(
        refusal(&nested("(", "true ? true : true", ")", 8)),
        expected
    );
    assert_eq!(
        refusal(&format!("{}true", "true ? true : ".repeat(9))),
        expected
    );
    compiles(&format!("{}true", "true ? true : ".repeat(8)));
}

/// Runs `work` on a new thread with a 2 MB stack (a test thread's, and a tokio worker's): a
/// stack overflow aborts the whole test binary.
fn on_a_2_mb_stack(work: impl FnOnce() + Send + 'static) {
    let thread = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(work)
        .expect("a thread");
    thread.join().expect("no panic");
}

#[test]
fn filters_at_the_nesting_limit_parse_and_run_on_a_2_mb_stack() {
    on_a_2_mb_stack(|| {
        let item = item();
        for expression in [
            nested("(", "true", ")", 8),
            nested("(", "true", ")", 7).replacen('(', "true ? true : (", 1),
            format!("{} != []", nested("[", "", "]", 8)),
            format!("{}[1] != null", nested("{1:", "true", "}", 8)),
            nested("(", "item.l[0] + 1 > 0 && item.l.exists(x, x == 2)", ")", 7),
        ] {
            let filter = compiles(&expression);
            assert_eq!(filter.matches(&item).ok(), Some(true), "{expression}");
        }
        let broken = nested("(", "1 +", ")", 8);
        assert!(refusal(&broken).contains("does not compile"), "{broken}");
    });
}

#[test]
fn an_expression_at_the_depth_limit_compiles_and_one_level_deeper_is_refused() {
    // `1 + 1 + … > 0`, n terms: n + 1 levels.
    let sum = |terms: usize| format!("1{} > 0", " + 1".repeat(terms - 1));
    compiles(&sum(23));
    assert_eq!(
        refusal(&sum(24)),
        "the filter's expression is 25 levels deep: at most 24 are allowed (evaluating costs \
         stack on each; a chain such as `a + b + c` is one level per term)"
    );
    let index = |levels: usize| format!("item{} == 1", "[0]".repeat(levels));
    compiles(&index(22));
    assert!(refusal(&index(23)).contains("25 levels deep"));
}

#[test]
fn expressions_at_the_depth_limit_run_on_a_2_mb_stack() {
    on_a_2_mb_stack(|| {
        let item = item();
        let step = |terms: usize| "x".to_owned() + &" + 1".repeat(terms - 1);
        for (expression, expected) in [
            (format!("1{} > 0", " + 1".repeat(22)), Ok(true)),
            (format!("-1{} < 0", " - 1".repeat(22)), Ok(true)),
            (format!("item.l.exists(x, {} > 20)", step(21)), Ok(true)),
            (
                format!("item.l.map(x, {}).exists(y, y > 21)", step(20)),
                Ok(false),
            ),
            (format!("item{} == 1", "[0]".repeat(22)), Err(())),
            (format!("item.n{} == 1", ".a".repeat(21)), Err(())),
        ] {
            let filter = compiles(&expression);
            let depth = super::depth(filter.program.expression());
            assert_eq!(depth, MAX_DEPTH, "{expression}");
            assert_eq!(
                filter.matches(&item).map_err(|_| ()),
                expected,
                "{expression}"
            );
        }
    });
}

#[test]
fn a_macro_inside_another_macro_is_refused() {
    let expected = "the filter uses a macro (`all`, `exists`, `exists_one`, `map`, `filter`) \
                    inside another's per-element expression: that would cost the product of two \
                    lists' lengths on each item; use at most one level";
    for expression in [
        "item.l.exists(x, item.l.exists(y, y == x))",
        "item.l.all(x, [1, 2].exists_one(y, y == x))",
        "item.l.filter(x, item.m.all(k, k != x)).size() > 0",
        "item.l.map(x, item.l.filter(y, y > x)) == []",
        "item.l.map(x, x > 0, item.l.map(y, y)) == []",
    ] {
        assert_eq!(refusal(expression), expected, "{expression}");
    }
    // One macro's list walked by another: each runs once.
    compiles("item.l.filter(x, x > 0).exists(y, y > 5)");
    compiles("item.l.map(x, x * 2).all(y, y > 0) && item.m.exists(k, k == 'a')");
    let filter = compiles("item.l.filter(x, x > 1).exists(y, y == 2)");
    assert_eq!(filter.matches(&item()).ok(), Some(true));
}

#[test]
fn a_result_that_is_never_a_bool_is_refused() {
    let refused = |expression: &str, gives: &str| {
        let expected = format!(
            "the filter is never true or false: it gives {gives}; write a condition, e.g. \
             `item.status == \"active\"`"
        );
        assert_eq!(refusal(expression), expected, "{expression}");
    };
    refused("\"1\"", "a string");
    refused("1", "an int");
    refused("1u", "a uint");
    refused("1.5", "a double");
    refused("b'x'", "bytes");
    refused("null", "null");
    refused("[true]", "a list");
    refused("{'a': true}", "a map");
    refused("item", "`item` itself, a map");
    refused(
        "1 + 2",
        "the result of `+`, a number, string, bytes or list",
    );
    refused(
        "item.n % 2",
        "the result of `%`, a number, string, bytes or list",
    );
    refused(
        "-item.n",
        "the result of `-`, a number, string, bytes or list",
    );
    refused("size(item.l)", "an int (`size`)");
    refused("item.l.size()", "an int (`size`)");
    refused("string(item.n)", "a string (`string`)");
    refused("type(item.n)", "a type (`type`)");
    refused("item.l.map(x, x > 1)", "a list (`map` or `filter`)");
    refused("item.on ? 1 : 'x'", "an int");
    refused("item.on ? (item.a ? 1 : 2) : 3.0", "an int");
}

#[test]
fn a_result_that_could_be_a_bool_compiles() {
    for expression in [
        "item.on",
        "item.l[0]",
        "item.m['a']",
        "item.on ? item.a : 1",
        "item.on ? 1 : item.a",
        "dyn(item.a)",
        "bool('true')",
        "has(item.a)",
        "!item.on",
        "item.l.exists(x, x)",
        "item.l.exists_one(x, x == 1)",
        "true",
    ] {
        compiles(expression);
    }
}

#[test]
fn only_item_may_be_referred_to() {
    assert!(matches!(
        Filter::compile("items.a == 1"),
        Err(FilterError::UnknownVariable { name }) if name == "items"
    ));
    compiles("item.l.exists(x, x == 1) && type(item.a) == int");
}
