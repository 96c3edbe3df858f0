//! A target's shape on items, from its configuration: projections keep the key attributes,
//! filters that do not match or fail delete, a missing item deletes; and what init refuses of a
//! shape (a list naming a key attribute).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::table::Item;
use crate::replicate::shape::{Projection, Shape, Shaped, Verdict};
use crate::replicate::targets::{TargetSpec, TargetsError, parse};

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn item(attributes: &[(&str, &str)]) -> Item {
    attributes
        .iter()
        .map(|(name, value)| ((*name).to_owned(), s(value)))
        .collect()
}

fn names(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn spec(name: &str, table: &str) -> TargetSpec {
    TargetSpec::new(name, table)
}

fn shape(spec: &TargetSpec, keys: &[&str]) -> Shape {
    match Shape::new(spec, &names(keys)) {
        Ok(shape) => shape,
        Err(error) => panic!("{error}"),
    }
}

fn shape_refusal(spec: &TargetSpec, keys: &[&str]) -> String {
    match Shape::new(spec, &names(keys)) {
        Ok(shape) => panic!("accepted {shape:?}"),
        Err(error) => error.to_string(),
    }
}

fn put(attributes: &[(&str, &str)]) -> Shaped {
    Shaped {
        verdict: Verdict::Put(item(attributes)),
        filter_error: false,
        filtered_out: false,
    }
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn a_shape_is_send_and_sync() {
    assert_send_sync::<Shape>();
    assert_send_sync::<TargetsError>();
}

#[test]
fn a_list_naming_a_key_attribute_is_refused() {
    let target = TargetSpec {
        exclude: Some(vec!["email".into(), "pk".into()]),
        ..spec("x", "t")
    };
    assert_eq!(
        shape_refusal(&target, &["pk", "sk"]),
        "target `x`: `exclude` names `pk`, a key attribute of the table or one of its \
         indexes; key attributes are always kept: remove it from the list"
    );
    let target = TargetSpec {
        include: Some(vec!["gsi_pk".into()]),
        ..spec("x", "t")
    };
    assert!(shape_refusal(&target, &["pk", "gsi_pk"]).contains("`include` names `gsi_pk`"));
}

#[test]
fn shape_new_checks_the_target() {
    let target = TargetSpec {
        include: Some(vec!["a".into()]),
        exclude: Some(vec!["b".into()]),
        ..spec("x", "t")
    };
    assert_eq!(
        shape_refusal(&target, &["pk"]),
        "target `x`: both `include` and `exclude` are set: keep one"
    );
}

#[test]
fn include_keeps_the_listed_and_the_key_attributes() {
    let target = TargetSpec {
        include: Some(vec!["name".into(), "absent".into()]),
        ..spec("x", "t")
    };
    let shape = shape(&target, &["pk", "sk", "gsi_pk"]);
    let full = item(&[("pk", "1"), ("sk", "2"), ("name", "n"), ("email", "e")]);
    let expected = put(&[("pk", "1"), ("sk", "2"), ("name", "n")]);
    assert_eq!(shape.apply(Some(&full)), expected);
    assert!(shape.keeps("gsi_pk") && shape.keeps("name") && !shape.keeps("email"));
    assert!(!shape.is_everything());
}

#[test]
fn exclude_drops_the_listed_attributes() {
    let target = TargetSpec {
        exclude: Some(vec!["email".into()]),
        ..spec("x", "t")
    };
    let shape = shape(&target, &["pk"]);
    let full = item(&[("pk", "1"), ("name", "n"), ("email", "e")]);
    assert_eq!(shape.apply(Some(&full)), put(&[("pk", "1"), ("name", "n")]));
    assert!(shape.keeps("pk") && shape.keeps("name") && !shape.keeps("email"));
}

#[test]
fn a_filter_that_does_not_match_deletes() {
    let target = TargetSpec {
        filter: Some(r#"item.status == "active""#.into()),
        ..spec("x", "t")
    };
    let shape = shape(&target, &["pk"]);
    let active = item(&[("pk", "1"), ("status", "active")]);
    let gone = item(&[("pk", "1"), ("status", "gone")]);
    assert_eq!(
        shape.apply(Some(&active)),
        put(&[("pk", "1"), ("status", "active")])
    );
    let expected = Shaped {
        verdict: Verdict::Delete,
        filter_error: false,
        filtered_out: true,
    };
    assert_eq!(shape.apply(Some(&gone)), expected);
}

#[test]
fn a_filter_that_fails_deletes_and_says_so() {
    let target = TargetSpec {
        filter: Some(r#"item.status == "active""#.into()),
        ..spec("x", "t")
    };
    let shaped = shape(&target, &["pk"]).apply(Some(&item(&[("pk", "1")])));
    let expected = Shaped {
        verdict: Verdict::Delete,
        filter_error: true,
        filtered_out: true,
    };
    assert_eq!(shaped, expected);
}

#[test]
fn a_missing_item_deletes() {
    let target = TargetSpec {
        filter: Some("item.n > 1".into()),
        ..spec("x", "t")
    };
    let expected = Shaped {
        verdict: Verdict::Delete,
        filter_error: false,
        filtered_out: false,
    };
    assert_eq!(shape(&target, &["pk"]).apply(None), expected);
    assert_eq!(Shape::everything().apply(None), expected);
}

#[test]
fn everything_copies_the_item() {
    let shape = Shape::everything();
    let full = item(&[("pk", "1"), ("email", "e")]);
    assert_eq!(
        shape.apply(Some(&full)),
        put(&[("pk", "1"), ("email", "e")])
    );
    assert!(shape.is_everything() && shape.keeps("anything"));
    assert!(shape.filter().is_none());
}

#[test]
fn three_targets() {
    let text = r#"{"targets": [
        {"name": "copy", "table": "orders-copy"},
        {"name": "active", "table": "orders-active", "filter": "item.status == \"active\""},
        {"name": "no-email", "table": "orders-public", "region": "eu-west-1",
         "exclude": ["email"]}
    ]}"#;
    let targets = match parse(text, "targets.json") {
        Ok(targets) => targets,
        Err(error) => panic!("{error}"),
    };
    let shapes: Vec<Shape> = targets.iter().map(|t| shape(t, &["pk"])).collect();
    let active = item(&[("pk", "1"), ("status", "active"), ("email", "e")]);
    let closed = item(&[("pk", "2"), ("status", "closed"), ("email", "f")]);
    let on = |item: &Item| -> Vec<Shaped> { shapes.iter().map(|s| s.apply(Some(item))).collect() };
    let filtered = Shaped::delete(true, false);
    assert_eq!(
        on(&active),
        vec![
            put(&[("pk", "1"), ("status", "active"), ("email", "e")]),
            put(&[("pk", "1"), ("status", "active"), ("email", "e")]),
            put(&[("pk", "1"), ("status", "active")]),
        ]
    );
    assert_eq!(
        on(&closed),
        vec![
            put(&[("pk", "2"), ("status", "closed"), ("email", "f")]),
            filtered,
            put(&[("pk", "2"), ("status", "closed")]),
        ]
    );
    assert!(shapes[0].is_everything() && !shapes[1].is_everything());
    assert_eq!(
        shapes[2].projection(),
        &Projection::Exclude(names(&["email"]))
    );
}

#[test]
fn a_shape_does_the_same_to_an_item_given_away_as_to_one_lent() {
    let included = TargetSpec {
        include: Some(vec!["n".to_owned()]),
        ..spec("i", "t")
    };
    let excluded = TargetSpec {
        exclude: Some(vec!["email".to_owned()]),
        ..spec("e", "t")
    };
    let filtered = TargetSpec {
        filter: Some("item.status == \"active\"".to_owned()),
        ..spec("f", "t")
    };
    let failing = TargetSpec {
        filter: Some("item.missing == 1".to_owned()),
        ..spec("x", "t")
    };
    let active = item(&[
        ("pk", "1"),
        ("status", "active"),
        ("email", "a@b"),
        ("n", "2"),
    ]);
    let inactive = item(&[("pk", "2"), ("status", "gone"), ("email", "c@d")]);
    for spec in [spec("all", "t"), included, excluded, filtered, failing] {
        let shape = shape(&spec, &["pk"]);
        for original in [Some(&active), Some(&inactive), None] {
            assert_eq!(
                shape.apply_owned(original.cloned()),
                shape.apply(original),
                "{spec:?} on {original:?}"
            );
        }
    }
}
