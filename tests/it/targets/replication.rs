//! Targets: one stream to three targets, and a failing target failing only its keys' records.

use super::*;

const T1_TARGETS: &str = r#"{"targets": [
    {"name": "full", "table": "t1-full"},
    {"name": "active", "table": "t1-active", "filter": "item.status == \"active\""},
    {"name": "no-email", "table": "t1-no-email", "exclude": ["email"]}
]}"#;

/// Three targets of one primary, fed from one key stream by the dyno writer and `dyno replicate
/// --targets`: a full copy, the active orders only, and every order without its email. Status
/// changes both ways move items into and out of the filtered target; deletes leave every target.
/// Then `dyno diff --targets` agrees, and finds the one item put into `active` behind its back.
#[test]
fn three_targets_from_one_stream() {
    let servers = servers();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (primary, replica) = rt.block_on(clients(&servers));
    let (table, stream_name) = ("t1-orders", "t1-keys");
    let target_tables = ["t1-full", "t1-active", "t1-no-email"];
    rt.block_on(async {
        create_table(&primary, table, &schema()).await;
        for target in target_tables {
            create_table(&replica, target, &schema()).await;
        }
        create_stream(&stream(&servers.kinesis, stream_name).await, 2).await;
    });
    let dir = scratch("three");
    let file = dir.join("targets.json");
    std::fs::write(&file, T1_TARGETS).unwrap();
    let targets_file = file.to_str().unwrap();
    let checkpoint = dir.join("checkpoint.json");
    let replicate = [
        "replicate",
        "--targets",
        targets_file,
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ];
    let run = |args: &[&str]| dyno_ok(&servers, &dir, table, stream_name, args);
    let check = |active: usize, all: usize| {
        rt.block_on(async {
            let p = (&primary, table);
            assert_target(p, (&replica, "t1-full"), &whole, all).await;
            assert_target(p, (&replica, "t1-active"), &active_only, active).await;
            assert_target(p, (&replica, "t1-no-email"), &without_email, all).await;
        })
    };
    let mut model: BTreeMap<String, Order> = BTreeMap::new();
    let assert_primary = |model: &BTreeMap<String, Order>| {
        rt.block_on(async {
            let names = oracle::key_names(&primary, table).await;
            let found = oracle::scan(&primary, table, &names).await;
            let written: BTreeMap<Key, oracle::Normal> = model
                .values()
                .map(|o| (pk(&o.pk), oracle::item(&o.item())))
                .collect();
            assert_eq!(found, written, "the primary does not hold what was written");
        })
    };

    // 60 orders through the writer: 40 active, 20 inactive, 6 without an email.
    let orders: Vec<Order> = (0..60).map(Order::new).collect();
    let lines: Vec<String> = orders.iter().map(Order::line).collect();
    std::fs::write(dir.join("orders.jsonl"), lines.join("\n")).unwrap();
    run(&["import", "orders.jsonl"]);
    model.extend(orders.into_iter().map(|o| (o.pk.clone(), o)));
    assert_primary(&model);
    let (_, stderr) = run(&replicate);
    assert!(stderr.contains("replicated 60 records"), "{stderr}");
    assert!(stderr.contains("0 skipped"), "{stderr}");
    check(40, 60);

    // Twelve status changes both ways (0, 3, 6, 9 become active; the other eight inactive),
    // one new email, and three deletes (o050 and o052 active, o051 inactive).
    let mut changed: Vec<Order> = (0..12).map(|i| Order::new(i).flipped()).collect();
    changed.push(Order {
        email: Some("new20@example.com".into()),
        ..Order::new(20)
    });
    let lines: Vec<String> = changed.iter().map(Order::line).collect();
    std::fs::write(dir.join("changes.jsonl"), lines.join("\n")).unwrap();
    run(&["import", "changes.jsonl"]);
    model.extend(changed.into_iter().map(|o| (o.pk.clone(), o)));
    for gone in ["o050", "o051", "o052"] {
        run(&["delete", "--key", &json!({"pk": {"S": gone}}).to_string()]);
        model.remove(gone);
    }
    assert_primary(&model);
    let (_, stderr) = run(&replicate);
    assert!(stderr.contains("replicated 16 records"), "{stderr}");
    // 40 active, +4 -8 by the changes, -2 by the deletes.
    check(34, 57);

    let diff = ["diff", "--targets", targets_file, "--settle-ms", "0"];
    let (stdout, _) = run(&diff);
    let matching = |name: &str| {
        format!(
            "target `{name}`: the replica matches the primary: 57 items compared, 0 differences"
        )
    };
    assert_eq!(
        target_lines(&stdout),
        [matching("full"), matching("active"), matching("no-email")],
        "{stdout}"
    );

    // Behind the replicator's back: o001 (inactive since the changes) put into `active`.
    let stale = Order::new(1).flipped();
    assert_eq!(stale.status, "inactive");
    rt.block_on(put_items(&replica, "t1-active", vec![stale.item()]));
    let differ = rt.block_on(disagreeing(
        (&primary, table),
        (&replica, "t1-active"),
        &active_only,
    ));
    assert_eq!(differ, BTreeSet::from([pk("o001")]));

    let keys_out = dir.join("keys.jsonl");
    let only_active = [
        &diff[..],
        &[
            "--target",
            "active",
            "--keys-out",
            keys_out.to_str().unwrap(),
        ],
    ]
    .concat();
    let out = dyno(&servers, &dir, table, stream_name, &only_active);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        target_lines(&stdout),
        [
            "target `active`: the replica differs from the primary: 0 missing, 1 extra, 0 \
          different (57 primary items and 35 replica items compared)"
        ],
        "{stdout}"
    );
    let written = std::fs::read_to_string(&keys_out).expect("--keys-out file");
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        lines,
        [json!({"kind": "extra", "key": {"pk": {"S": "o001"}}, "target": "active"})],
        "{written}"
    );

    // All targets: the other two still match, and the run exits 1.
    let out = dyno(&servers, &dir, table, stream_name, &diff);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let lines = target_lines(&stdout);
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], matching("full"));
    assert!(
        lines[1].starts_with("target `active`: the replica differs"),
        "{stdout}"
    );
    assert_eq!(lines[2], matching("no-email"));
    let _ = std::fs::remove_dir_all(&dir);
}

const T2_TARGETS: &str = r#"{"targets": [
    {"name": "full", "table": "t2-full"},
    {"name": "active", "table": "t2-active", "filter": "item.status == \"active\""},
    {"name": "no-email", "table": "t2-no-email", "exclude": ["email"]}
]}"#;

/// One of three targets (`no-email`, behind the fault proxy) answers its first `BatchWriteItem`
/// call with 500s until the SDK gives up: exactly the records of the keys of that call fail, the
/// other targets converge, and only `no-email` counts failed keys. With the fault gone, the
/// failed records, handled again, make all three converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_target_fails_only_the_records_of_its_keys() {
    let servers = servers();
    let (primary, replica) = clients(&servers).await;
    let table = "t2-orders";
    create_table(&primary, table, &schema()).await;
    for target in ["t2-full", "t2-active", "t2-no-email"] {
        create_table(&replica, target, &schema()).await;
    }
    // The primary: 80 orders (27 inactive). Each target: stale copies of ten deleted keys
    // d000..d009; `active`, a stale copy of two inactive orders too.
    let orders: Vec<Order> = (0..80).map(Order::new).collect();
    put_items(&primary, table, orders.iter().map(Order::item).collect()).await;
    let deleted: Vec<Order> = (0..10)
        .map(|i| Order {
            pk: format!("d{i:03}"),
            ..Order::new(i + 1)
        })
        .collect();
    for target in ["t2-full", "t2-active", "t2-no-email"] {
        put_items(&replica, target, deleted.iter().map(Order::item).collect()).await;
    }
    let stale = [
        Order::new(0).flipped().item(),
        Order::new(3).flipped().item(),
    ];
    put_items(&replica, "t2-active", stale.to_vec()).await;

    let proxy = FaultProxy::start(servers.replica.port).await;
    // One worker, one call at a time: the SDK's three attempts of the failing call are the
    // proxy's first three BatchWriteItem requests (and a slow machine does not time out others).
    let tuning = Tuning {
        concurrency: 1,
        write_attempt_timeout: Duration::from_secs(5),
        ..tuning()
    };
    let specs = targets::parse(T2_TARGETS, "T2_TARGETS").expect("targets");
    let mut tables = Vec::new();
    for spec in specs {
        let endpoint = match spec.name.as_str() {
            "no-email" => proxy.endpoint.clone(),
            _ => servers.replica.endpoint.clone(),
        };
        let table = table_at(&endpoint, "us-east-1", &spec.table, &tuning, None).await;
        tables.push(TargetTable { spec, table });
    }
    let primary_table =
        table_at(&servers.primary.endpoint, "us-east-1", table, &tuning, None).await;
    let engines = deployment::connect(primary_table, tables, &[], &tuning)
        .await
        .expect("connect");
    assert_eq!(engines.len(), 1);
    let replicator = Replicator::new(engines, tuning.clone());

    // 110 records: the 80 orders, the 10 deleted keys, and the first 20 orders again.
    let mut data: Vec<Vec<u8>> = Vec::new();
    let keys = orders.iter().chain(&deleted).map(|o| o.pk.clone());
    let keys: Vec<String> = keys.chain((0..20).map(|i| format!("o{i:03}"))).collect();
    for (n, key) in keys.iter().enumerate() {
        data.push(pk_record(key, n as u64 + 1));
    }
    let event = kinesis_event_from(1, data);

    proxy.reset_stats();
    let attempts = tuning.max_attempts as usize;
    let script = vec![Some(Fault::InternalServerError); attempts];
    proxy.set_plan(Plan::script(&["BatchWriteItem"], &script));
    let (response, summary) = replicator.handle(&event, None).await;
    let stats = proxy.stats();
    proxy.set_plan(Plan::off());

    // The keys of the failing call: those on which `no-email` does not hold what its rule
    // makes of the primary (every key differed before the batch).
    let p = (&primary, table);
    let failing = disagreeing(p, (&replica, "t2-no-email"), &without_email).await;
    assert!(
        !failing.is_empty() && failing.len() <= 25,
        "one call of at most 25 writes failed, not {} keys",
        failing.len()
    );
    let failed_records: Vec<&KinesisEventRecord> = event
        .records
        .iter()
        .filter(|r| failing.contains(&pk(&record_pk(r))))
        .collect();
    let expected: Vec<String> = failed_records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    assert_eq!(failures(&response), expected);
    // One worker reads the 90 keys at once and writes them in calls of 25 in the records'
    // order: the failing call is the first, o000..o024, whose records are 1..=25 and 91..=110.
    let first_call: Vec<String> = (1..=25)
        .chain(91..=110)
        .map(|n| format!("{n:056}"))
        .collect();
    assert_eq!(expected, first_call);
    assert_eq!(
        stats.injected("BatchWriteItem", Fault::InternalServerError),
        attempts as u64
    );
    assert_eq!(stats.total(), attempts as u64);
    // The failing call's attempts, then one call for each 25 of the other 65 keys.
    assert_eq!(
        stats.requests.get("BatchWriteItem"),
        Some(&(attempts as u64 + 3))
    );

    // The other two targets converged.
    assert_target(p, (&replica, "t2-full"), &whole, 80).await;
    assert_target(p, (&replica, "t2-active"), &active_only, 53).await;
    let failed_orders = orders
        .iter()
        .filter(|o| failing.contains(&pk(&o.pk)))
        .count();
    let failed_deletes = failing.len() - failed_orders;
    assert_eq!((failed_orders, failed_deletes), (25, 0));
    assert_eq!(
        summary.targets,
        [
            counts("full", (80, 10), 0, (0, 0)),
            counts("active", (53, 10 + 27), 0, (27, 0)),
            counts(
                "no-email",
                (80 - failed_orders, 10 - failed_deletes),
                25,
                (0, 0)
            ),
        ]
    );
    assert_eq!(
        (summary.records, summary.keys, summary.failed_records),
        (110, 90, 45)
    );
    assert_eq!(
        (summary.unusable_records, summary.deadline_failures),
        (0, 0)
    );

    // The fault is gone: the failed records, handled again, complete every target.
    proxy.reset_stats();
    let mut again = KinesisEvent::default();
    again.records = failed_records.into_iter().cloned().collect();
    let (response, summary) = replicator.handle(&again, None).await;
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(proxy.stats().total(), 0);
    assert!(proxy.stats().requests.get("BatchWriteItem") >= Some(&1));
    assert_target(p, (&replica, "t2-full"), &whole, 80).await;
    assert_target(p, (&replica, "t2-active"), &active_only, 53).await;
    assert_target(p, (&replica, "t2-no-email"), &without_email, 80).await;
    // o000..o024: 9 inactive (0, 3, …, 24).
    assert_eq!(
        summary.targets,
        [
            counts("full", (25, 0), 0, (0, 0)),
            counts("active", (16, 9), 0, (9, 0)),
            counts("no-email", (25, 0), 0, (0, 0)),
        ]
    );
}
