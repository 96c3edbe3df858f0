//! A target's shape on items, from its configuration: projections keep the key attributes,
//! filters that do not match delete, filters that fail write nothing and say why, a missing item
//! deletes; and what init refuses of a shape (a list naming a key attribute).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::table::Item;
use crate::replicate::filter::FilterRunError;
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
        filter_error: None,
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
fn an_exclude_naming_a_kept_attribute_is_refused_an_include_may_name_one() {
    let target = TargetSpec {
        exclude: Some(vec!["email".into(), "pk".into()]),
        ..spec("x", "t")
    };
    assert_eq!(
        shape_refusal(&target, &["pk", "sk"]),
        "target `x`: `exclude` names `pk`, which a target always keeps (a key attribute of its \
         table or of one of its indexes, or the primary's TTL attribute): remove it from the list"
    );
    // `create` knows only the primary's keys, the replicator the target's indexes' too: an
    // include that names an index key (as `create` keeps that index for it) is the same shape.
    let target = TargetSpec {
        include: Some(vec!["gsi_pk".into()]),
        ..spec("x", "t")
    };
    let keys: BTreeSet<String> = ["pk", "gsi_pk"].map(String::from).into();
    let shape = Shape::new(&target, &keys).expect("an include may name a kept attribute");
    assert!(shape.keeps("gsi_pk") && shape.keeps("pk") && !shape.keeps("other"));
    let keys: BTreeSet<String> = ["pk"].map(String::from).into();
    let as_create = Shape::new(&target, &keys).expect("create's view");
    assert!(as_create.keeps("gsi_pk") && !as_create.keeps("other"));
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
        filter_error: None,
        filtered_out: true,
    };
    assert_eq!(shape.apply(Some(&gone)), expected);
    assert_eq!(shape.apply(Some(&gone)).into_write(), Ok(Verdict::Delete));
}

#[test]
fn a_filter_that_fails_writes_nothing_and_says_why() {
    let target = TargetSpec {
        filter: Some(r#"item.stauts == "active""#.into()),
        ..spec("x", "t")
    };
    let shape = shape(&target, &["pk"]);
    let typo = FilterRunError::Eval("No such key: stauts".to_owned());
    for shaped in [
        shape.apply(Some(&item(&[("pk", "1"), ("status", "active")]))),
        shape.apply_owned(Some(item(&[("pk", "1"), ("status", "active")]))),
    ] {
        assert_eq!(shaped.filter_error.as_ref(), Some(&typo));
        assert!(!shaped.filtered_out, "a failure is not a filtered-out item");
        assert_eq!(shaped.into_write(), Err(typo.clone()));
    }
}

#[test]
fn a_filter_that_fails_at_run_time_in_any_way_writes_nothing() {
    let on = |filter: &str, attributes: Item| {
        let target = TargetSpec {
            filter: Some(filter.into()),
            ..spec("x", "t")
        };
        shape(&target, &["pk"])
            .apply_owned(Some(attributes))
            .into_write()
    };
    let with = |name: &str, value: AttributeValue| {
        let mut item = item(&[("pk", "1")]);
        item.insert(name.to_owned(), value);
        item
    };
    let number = |n: &str| AttributeValue::N(n.to_owned());
    let failures = [
        on("item.score > 3", item(&[("pk", "1")])),
        on("item.score > 3", with("score", s("high"))),
        on("item.pk.frobnicate()", item(&[("pk", "1")])),
        on("item.l[0]", with("l", AttributeValue::L(vec![number("1")]))),
        on("item.n > 1.0", with("n", number("9007199254740992.5"))),
        on("item.n > 1", with("n", number("not a number"))),
    ];
    for (at, failure) in failures.iter().enumerate() {
        assert!(failure.is_err(), "case {at}: {failure:?}");
    }
    assert_eq!(
        on("item.score > 3", with("score", number("4"))).map(|v| matches!(v, Verdict::Put(_))),
        Ok(true)
    );
    assert_eq!(
        on("item.score > 3", with("score", number("2"))),
        Ok(Verdict::Delete)
    );
}

#[test]
fn a_missing_item_deletes() {
    let target = TargetSpec {
        filter: Some("item.n > 1".into()),
        ..spec("x", "t")
    };
    let expected = Shaped {
        verdict: Verdict::Delete,
        filter_error: None,
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
    let filtered = Shaped::delete(true);
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
