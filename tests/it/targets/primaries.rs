//! Targets: two primary tables in one deployment, and a filter that fails on an item.

use super::*;

const T4_TARGETS: &str = r#"{"targets": [
    {"name": "orders-copy", "table": "t4-orders-copy", "source": "t4-orders"},
    {"name": "orders-active", "table": "t4-orders-active", "source": "t4-orders",
     "filter": "item.status == \"active\""},
    {"name": "users-public", "table": "t4-users-public", "source": "t4-users",
     "exclude": ["email"]}
]}"#;

/// One deployment (from `DYNO_TARGETS`) follows two primary tables with the same key schema and
/// the same key values: one batch holds records of both, naming their table by `tableName` or
/// by `eventSourceARN`, and one record of a third table. Each primary's items reach only its
/// own targets; the third table's record is the only failed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_primary_tables_in_one_deployment() {
    let servers = servers();
    let (primary, replica) = clients(&servers).await;
    for table in ["t4-orders", "t4-users", "t4-other"] {
        create_table(&primary, table, &schema()).await;
    }
    for table in ["t4-orders-copy", "t4-orders-active", "t4-users-public"] {
        create_table(&replica, table, &schema()).await;
    }
    // Orders k00..k29 (10 inactive); users k00..k19, every fourth inactive (5), other
    // attributes than orders. The third table holds k00 as well.
    let orders: Vec<Item> = (0..30)
        .map(|i| {
            let mut item = Order::new(i).item();
            item.insert("pk".into(), s(&format!("k{i:02}")));
            item
        })
        .collect();
    let users: Vec<Item> = (0..20)
        .map(|i| {
            HashMap::from([
                ("pk".to_owned(), s(&format!("k{i:02}"))),
                (
                    "status".to_owned(),
                    s(if i % 4 == 0 { "inactive" } else { "active" }),
                ),
                ("email".to_owned(), s(&format!("person{i}@example.com"))),
                ("name".to_owned(), s(&format!("Person {i}"))),
            ])
        })
        .collect();
    put_items(&primary, "t4-orders", orders).await;
    put_items(&primary, "t4-users", users).await;
    put_items(&primary, "t4-other", vec![Order::new(0).item()]).await;
    // Stale items of keys the primaries no longer hold: k90 (orders), k91 (users).
    let stale = |key: &str| {
        let mut item = Order::new(1).item();
        item.insert("pk".into(), s(key));
        item
    };
    put_items(&replica, "t4-orders-copy", vec![stale("k90")]).await;
    put_items(&replica, "t4-orders-active", vec![stale("k90")]).await;
    put_items(&replica, "t4-users-public", vec![stale("k91")]).await;

    let values = HashMap::from([
        ("PRIMARY_TABLE", "t4-orders".to_owned()),
        ("PRIMARY_ENDPOINT_URL", servers.primary.endpoint.clone()),
        ("REPLICA_ENDPOINT_URL", servers.replica.endpoint.clone()),
        ("REPLICATOR_MAX_ATTEMPTS", "3".to_owned()),
        ("DYNO_TARGETS", T4_TARGETS.to_owned()),
    ]);
    let config = Config::from_lookup(|name| values.get(name).cloned()).expect("config");
    let replicator = config
        .replicator(&sdk_config().await)
        .await
        .expect("replicator");
    let engines: Vec<(&str, Vec<&str>)> = replicator
        .engines()
        .iter()
        .map(|e| {
            let targets = e.targets().iter().map(|t| t.name.as_str()).collect();
            (e.primary().name(), targets)
        })
        .collect();
    assert_eq!(
        engines,
        [
            ("t4-orders", vec!["orders-copy", "orders-active"]),
            ("t4-users", vec!["users-public"]),
        ]
    );

    // One batch: orders (by tableName) and users (by eventSourceARN) interleaved, the third
    // table's k00 in the middle, and k00 of both again at the end.
    let mut data = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let order_keys = (0..30)
        .map(|i| format!("k{i:02}"))
        .chain(["k90".to_owned()]);
    let user_keys: Vec<String> = (0..20)
        .map(|i| format!("k{i:02}"))
        .chain(["k91".to_owned()])
        .collect();
    for (i, key) in order_keys.enumerate() {
        data.push(named_record(Some("t4-orders"), None, &key, next()));
        if let Some(user) = user_keys.get(i) {
            data.push(named_record(None, Some("t4-users"), user, next()));
        }
        if i == 10 {
            data.push(named_record(Some("t4-other"), None, "k00", next()));
        }
    }
    let third = 10 * 2 + 2 + 1; // after 11 orders, 11 users
    data.push(named_record(
        Some("t4-orders"),
        Some("t4-orders"),
        "k00",
        next(),
    ));
    data.push(named_record(None, Some("t4-users"), "k00", next()));
    let event = kinesis_event_from(1, data);
    assert_eq!(event.records.len(), 31 + 21 + 1 + 2);
    assert!(
        text(&event.records[third - 1].kinesis.data).contains("t4-other"),
        "the third table's record is number {third}"
    );

    let (response, summary) = replicator.handle(&event, None).await;
    assert_eq!(failures(&response), [format!("{third:056}")]);
    assert_eq!(
        (summary.records, summary.keys, summary.failed_records),
        (55, 52, 1)
    );
    assert_eq!(summary.unusable_records, 1);
    assert_eq!(
        summary.targets,
        [
            counts("orders-copy", (30, 1), 0, (0, 0)),
            counts("orders-active", (20, 11), 0, (10, 0)),
            counts("users-public", (20, 1), 0, (0, 0)),
        ]
    );

    let (orders, users) = ((&primary, "t4-orders"), (&primary, "t4-users"));
    assert_target(orders, (&replica, "t4-orders-copy"), &whole, 30).await;
    assert_target(orders, (&replica, "t4-orders-active"), &active_only, 20).await;
    assert_target(users, (&replica, "t4-users-public"), &without_email, 20).await;
    // Nothing of the third table went anywhere: the targets hold only their primaries' items
    // (checked whole above), and the third table is as it was.
    let other = scan_all(&primary, "t4-other", &schema()).await;
    assert_eq!(other.len(), 1);
}

const T10_TARGETS: &str = r#"{"targets": [
    {"name": "full", "table": "t10-full"},
    {"name": "scored", "table": "t10-scored", "filter": "item.score > 3"}
]}"#;

/// A filter that fails on an item leaves the target's copy as it was: `item.score > 3` on
/// twelve orders, o008 and o009 without a score, o010's a string, o011's a number with more
/// digits than a CEL number holds exactly. Exactly those four keys' records fail (the filter
/// errors counted), the target keeps their stale copies (a plain scan), and `full` gets every
/// write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_that_fails_on_an_item_leaves_the_target_s_copy_and_fails_its_records() {
    let servers = servers();
    let (primary, replica) = clients(&servers).await;
    create_table(&primary, "t10-orders", &schema()).await;
    for table in ["t10-full", "t10-scored"] {
        create_table(&replica, table, &schema()).await;
    }
    let number = |n: &str| aws_sdk_dynamodb::types::AttributeValue::N(n.to_owned());
    let orders: Vec<Item> = (0..12)
        .map(|i| {
            let mut item = Order::new(i).item();
            match i {
                0..8 => item.insert("score".into(), number(&i.to_string())),
                8 | 9 => None,
                10 => item.insert("score".into(), s("high")),
                _ => item.insert("score".into(), number("12345678901234567890.5")),
            };
            item
        })
        .collect();
    put_items(&primary, "t10-orders", orders.clone()).await;
    // Stale copies on `scored`: o000 (now filtered out: deleted) and the four it fails on.
    let stale: Vec<Item> = [0, 8, 9, 10, 11]
        .map(|i| Order::new(i).flipped().item())
        .to_vec();
    put_items(&replica, "t10-scored", stale.clone()).await;

    let values = HashMap::from([
        ("PRIMARY_TABLE", "t10-orders".to_owned()),
        ("PRIMARY_ENDPOINT_URL", servers.primary.endpoint.clone()),
        ("REPLICA_ENDPOINT_URL", servers.replica.endpoint.clone()),
        ("REPLICATOR_MAX_ATTEMPTS", "3".to_owned()),
        ("DYNO_TARGETS", T10_TARGETS.to_owned()),
    ]);
    let config = Config::from_lookup(|name| values.get(name).cloned()).expect("config");
    let replicator = config
        .replicator(&sdk_config().await)
        .await
        .expect("replicator");
    let data = (0..12)
        .map(|i| pk_record(&format!("o{i:03}"), i + 1))
        .collect();
    let (response, summary) = replicator.handle(&kinesis_event_from(1, data), None).await;

    let failing: Vec<String> = (9..=12).map(|n| format!("{n:056}")).collect();
    assert_eq!(failures(&response), failing, "the records of o008..o011");
    assert_eq!((summary.keys, summary.failed_records), (12, 4));
    assert_eq!(
        summary.targets,
        [
            counts("full", (12, 0), 0, (0, 0)),
            counts("scored", (4, 4), 4, (4, 4)),
        ]
    );
    let p = (&primary, "t10-orders");
    assert_target(p, (&replica, "t10-full"), &whole, 12).await;
    let names = oracle::key_names(&replica, "t10-scored").await;
    let held = oracle::scan(&replica, "t10-scored", &names).await;
    let kept = orders[4..8].iter().chain(&stale[1..]);
    let expected: BTreeMap<Key, oracle::Normal> = kept
        .map(|item| (Key::of(&names, item), oracle::item(item)))
        .collect();
    assert_eq!(
        held, expected,
        "o004..o007 put, o000 deleted, o008..o011 as they were"
    );
}
