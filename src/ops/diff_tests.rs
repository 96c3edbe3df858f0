//! Tests of `diff.rs`: comparisons on in-memory tables, and the summaries.

use super::*;
use crate::aws::key::ScalarType;
use crate::aws::memory::MemoryStore;
use crate::replicate::targets::parse;
use aws_sdk_dynamodb::types::AttributeValue;

fn item(id: usize, status: &str, email: &str) -> Item {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    Item::from([
        ("id".to_owned(), s(&format!("k{id}"))),
        ("status".to_owned(), s(status)),
        ("email".to_owned(), s(email)),
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
        let original = item(i, status, "a@example.com");
        if let Verdict::Put(copy) = shape.apply(Some(&original)).verdict {
            target.put(copy);
        }
        primary.put(original);
    }
    assert_eq!(target.items().len(), 20);
    let options = DiffOptions {
        segments: Segments::all(2),
        settle: Duration::ZERO,
        ..DiffOptions::default()
    };
    let counts = Counts::default();
    let ok = |_| async { Ok(()) };
    let report = diff_stores(&primary, (&target, &shape), &schema, &options, &counts, ok)
        .await
        .expect("a comparison");
    assert_eq!((report.missing, report.extra, report.different), (0, 0, 0));
    // Missing: an active item not copied; extra: an inactive one copied; different: one
    // copied with its email.
    let key = |i: usize| {
        schema
            .key_of_item(&item(i, "", ""))
            .expect("a key")
            .to_attributes()
    };
    assert!(target.get(&key(0)).is_some());
    let damaged = MemoryStore::new("t", schema.clone());
    for copy in target.items() {
        if copy.get("id") != Some(&AttributeValue::S("k0".to_owned())) {
            damaged.put(copy);
        }
    }
    damaged.put(item(1, "inactive", "a@example.com"));
    damaged.put(item(2, "active", "a@example.com"));
    let counts = Counts::default();
    let report = diff_stores(&primary, (&damaged, &shape), &schema, &options, &counts, ok)
        .await
        .expect("a comparison");
    assert_eq!((report.missing, report.extra, report.different), (1, 1, 1));
    assert_eq!(report.primary_items, 40);
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
