//! Tests of `diff.rs`: comparisons on in-memory tables, and the summaries.

use super::*;
use crate::aws::key::ScalarType;
use crate::aws::memory::MemoryStore;
use crate::replicate::targets::parse;
use aws_sdk_dynamodb::types::AttributeValue;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn item(id: usize, status: &str, email: &str) -> Item {
    Item::from([
        ("id".to_owned(), s(&format!("k{id}"))),
        ("status".to_owned(), s(status)),
        ("email".to_owned(), s(email)),
    ])
}

/// What the target should hold of an active item, written out by hand: its key and status,
/// no email (built without the shape or filter code the diff uses).
fn copy(id: usize) -> Item {
    Item::from([
        ("id".to_owned(), s(&format!("k{id}"))),
        ("status".to_owned(), s("active")),
    ])
}

/// A target of the active items without their email, damaged one key of each kind: the
/// diff names exactly those, on in-memory tables.
#[tokio::test]
async fn a_shaped_target_is_compared_with_what_its_shape_makes_of_the_primary() {
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let (primary, target) = (
        MemoryStore::new("p", schema.clone()),
        MemoryStore::new("t", schema.clone()),
    );
    let specs = parse(
        r#"{"targets":[{"name":"t","table":"t","filter":"item.status == \"active\"","exclude":["email"]}]}"#,
        "test",
    )
    .expect("a valid configuration");
    let shape = Shape::new(&specs[0], &["id".to_owned()].into()).expect("a shape");
    for i in 0..40 {
        let status = if i % 2 == 0 { "active" } else { "inactive" };
        primary.put(item(i, status, "a@example.com"));
    }
    // The target by hand: the 20 even (active) keys, each as `copy` spells it.
    for i in (0..40).step_by(2) {
        target.put(copy(i));
    }
    assert_eq!(target.items().len(), 20);
    let options = DiffOptions {
        segments: Segments::all(2),
        settle: Duration::ZERO,
        ..DiffOptions::default()
    };
    let found = Mutex::new(Vec::new());
    let collect = |differences: Vec<Difference>| {
        let mut found = found.lock().expect("not poisoned");
        found.extend(differences.iter().map(|d| (d.kind, d.key.to_string())));
        async { Ok(()) }
    };
    let counts = Counts::default();
    let report = diff_stores(
        &primary,
        (&target, &shape),
        &schema,
        &options,
        &counts,
        collect,
    )
    .await
    .expect("a comparison");
    assert_eq!((report.missing, report.extra, report.different), (0, 0, 0));
    assert_eq!((report.primary_items, report.replica_items), (40, 20));
    assert!(found.lock().expect("not poisoned").is_empty());
    // Missing: an active item not copied; extra: an inactive one copied; different: one
    // copied with its email.
    let damaged = MemoryStore::new("t", schema.clone());
    for i in (2..40).step_by(2) {
        damaged.put(copy(i));
    }
    damaged.put(item(1, "inactive", "a@example.com"));
    damaged.put(item(2, "active", "a@example.com"));
    let counts = Counts::default();
    let report = diff_stores(
        &primary,
        (&damaged, &shape),
        &schema,
        &options,
        &counts,
        collect,
    )
    .await
    .expect("a comparison");
    assert_eq!((report.missing, report.extra, report.different), (1, 1, 1));
    assert_eq!((report.primary_items, report.replica_items), (40, 20));
    let mut found = found.into_inner().expect("not poisoned");
    found.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        found,
        [
            (Kind::Missing, r#"id=S:"k0""#.to_owned()),
            (Kind::Extra, r#"id=S:"k1""#.to_owned()),
            (Kind::Different, r#"id=S:"k2""#.to_owned()),
        ]
    );
}

#[test]
fn summaries_say_what_they_found() {
    let equal = DiffReport {
        primary_items: 3000,
        replica_items: 3000,
        ..DiffReport::default()
    };
    assert_eq!(
        equal.summary(),
        "the replica matches the primary: 3000 items compared, 0 differences"
    );
    let off = DiffReport {
        missing: 20,
        pages_skipped: 3,
        ..equal
    };
    assert!(
        off.summary()
            .starts_with("the replica differs from the primary: 20 missing")
    );
    assert!(off.summary().ends_with("(a sample: 3 pages left out)"));
}
