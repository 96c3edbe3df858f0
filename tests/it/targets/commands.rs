//! Targets: `backfill --direct`, the writer's table ARN, `--target`, and each target's own primary.

use super::*;

fn inactive_without_email(item: &Item) -> Option<Item> {
    (item.get("status") == Some(&s("inactive")))
        .then(|| item.clone())
        .and_then(|item| without_email(&item))
}

fn active_without_email(item: &Item) -> Option<Item> {
    active_only(item).and_then(|item| without_email(&item))
}

/// The targets of `t7-orders`: a full copy, and `active` with `filter`, without email.
fn t7_targets(filter: &str) -> String {
    json!({"targets": [
        {"name": "all", "table": "t7-all"},
        {"name": "active", "table": "t7-active", "filter": filter, "exclude": ["email"]}
    ]})
    .to_string()
}

/// `dyno backfill --direct --targets` copies every item of the primary to each target as its
/// rule says (no stream, no replicator); after the filter changes, a second backfill applies the
/// new filter to the old items: what no longer matches leaves the target.
#[test]
fn backfill_direct_fills_each_target_and_applies_a_changed_filter() {
    let cli = Cli::new("backfill");
    let (rt, primary, replica, dir) = (&cli.rt, &cli.primary, &cli.replica, &cli.dir);
    let table = "t7-orders";
    // 100 orders: 34 inactive (0, 3, …, 99), 10 without an email.
    let orders: Vec<Order> = (0..100).map(Order::new).collect();
    rt.block_on(async {
        create_table(primary, table, &schema()).await;
        for target in ["t7-all", "t7-active"] {
            create_table(replica, target, &schema()).await;
        }
        put_items(primary, table, orders.iter().map(Order::item).collect()).await;
        // A stale item in `all`, of a key the primary does not hold, is left alone: a
        // backfill copies the primary's keys only.
        let stale = Order {
            pk: "z999".into(),
            ..Order::new(1)
        };
        put_items(replica, "t7-all", vec![stale.item()]).await;
    });
    let file = dir.join("targets.json");
    std::fs::write(&file, t7_targets("item.status == \"active\"")).unwrap();
    let backfill = ["backfill", "--direct", "--targets", file.to_str().unwrap()];
    let run = || dyno_ok(&cli.servers, dir, table, "t7-none", &backfill);

    let (_, stderr) = run();
    assert!(
        stderr.starts_with("backfill: 100 keys of `t7-orders` "),
        "{stderr}"
    );
    rt.block_on(async {
        let p = (primary, table);
        // `all`: the 100 orders, and the stale z999 (the only key the oracle sees extra).
        let extra = disagreeing(p, (replica, "t7-all"), &whole).await;
        assert_eq!(extra, BTreeSet::from([pk("z999")]));
        let names = oracle::key_names(replica, "t7-all").await;
        assert_eq!(oracle::scan(replica, "t7-all", &names).await.len(), 101);
        assert_target(p, (replica, "t7-active"), &active_without_email, 66).await;
    });

    // The filter changes: the next backfill puts the inactive orders and deletes the active.
    std::fs::write(&file, t7_targets("item.status == \"inactive\"")).unwrap();
    let (_, stderr) = run();
    assert!(
        stderr.starts_with("backfill: 100 keys of `t7-orders` "),
        "{stderr}"
    );
    rt.block_on(async {
        let p = (primary, table);
        assert_target(p, (replica, "t7-active"), &inactive_without_email, 34).await;
        let extra = disagreeing(p, (replica, "t7-all"), &whole).await;
        assert_eq!(extra, BTreeSet::from([pk("z999")]));
    });
    // Exactly the inactive orders, by the test's own list, none with an email.
    let held = rt.block_on(scan_all(replica, "t7-active", &schema()));
    let mut keys: Vec<String> = held
        .values()
        .map(|item| match item.get("pk") {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)) => pk.clone(),
            other => panic!("pk {other:?}"),
        })
        .collect();
    keys.sort();
    let inactive: Vec<String> = orders
        .iter()
        .filter(|o| o.status == "inactive")
        .map(|o| o.pk.clone())
        .collect();
    assert_eq!(keys, inactive);
    assert!(held.values().all(|item| !item.contains_key("email")));
}

/// A plain Kinesis client for the shared kinesalite.
async fn kinesis(servers: &Servers) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::config::Builder::from(&sdk_config().await)
        .endpoint_url(&servers.kinesis.endpoint)
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

/// The JSON of every record on the stream, from the trim horizon of each shard.
async fn records_on(servers: &Servers, stream: &str) -> Vec<serde_json::Value> {
    let client = kinesis(servers).await;
    stream_records(&client, stream)
        .await
        .iter()
        .map(|r| serde_json::from_slice(r.data().as_ref()).expect("a JSON record"))
        .collect()
}

/// `--table-arn` (and `DYNO_TABLE_ARN`): the writer names the table in each key record by
/// `eventSourceARN`; an ARN of another table is refused before anything is written.
#[test]
fn the_writer_names_its_table_by_the_table_arn() {
    let cli = Cli::new("arn");
    let (rt, primary, dir, servers) = (&cli.rt, &cli.primary, &cli.dir, &cli.servers);
    let (table, stream_name) = ("t8-orders", "t8-keys");
    rt.block_on(async {
        create_table(primary, table, &schema()).await;
        create_stream(&stream(&servers.kinesis, stream_name).await, 2).await;
    });
    let arn = format!("arn:aws:dynamodb:us-east-1:000000000000:table/{table}");
    let item = |pk: &str| Order::new(1).item_json(pk);

    dyno_ok(
        servers,
        dir,
        table,
        stream_name,
        &["put", "--item", &item("a1"), "--table-arn", &arn],
    );
    let records = rt.block_on(records_on(servers, stream_name));
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["eventSourceARN"], json!(arn), "{}", records[0]);
    assert_eq!(records[0]["dynamodb"]["Keys"], json!({"pk": {"S": "a1"}}));

    // The same from the environment.
    let out = dyno_command(At {
        tables: Some(&servers.primary.endpoint),
        replica: Some(&servers.replica.endpoint),
        kinesis: Some(&servers.kinesis.endpoint),
    })
    .env("DYNO_TABLE_ARN", &arn)
    .args(["--table", table, "--stream", stream_name])
    .args(["put", "--item", &item("a2")])
    .current_dir(dir)
    .output()
    .expect("run dyno");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Without it, no `eventSourceARN`.
    dyno_ok(
        servers,
        dir,
        table,
        stream_name,
        &["put", "--item", &item("a3")],
    );
    let records = rt.block_on(records_on(servers, stream_name));
    let by_key: BTreeMap<String, Option<String>> = records
        .iter()
        .map(|r| {
            let pk = r["dynamodb"]["Keys"]["pk"]["S"]
                .as_str()
                .expect("pk")
                .to_owned();
            (pk, r["eventSourceARN"].as_str().map(str::to_owned))
        })
        .collect();
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(
        by_key,
        BTreeMap::from([
            ("a1".to_owned(), Some(arn.clone())),
            ("a2".to_owned(), Some(arn.clone())),
            ("a3".to_owned(), None),
        ])
    );

    // An ARN of another table: refused in one line naming the flag; nothing written.
    let other = "arn:aws:dynamodb:us-east-1:000000000000:table/t8-other";
    let out = dyno(
        servers,
        dir,
        table,
        stream_name,
        &["put", "--item", &item("b1"), "--table-arn", other],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("error: --table-arn {other} names table `t8-other`, not --table `{table}`\n")
    );
    // Not an ARN of a table at all.
    let out = dyno(
        servers,
        dir,
        table,
        stream_name,
        &["put", "--item", &item("b2"), "--table-arn", table],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!(
        "error: --table-arn {table} is not a DynamoDB table ARN"
    )));
    rt.block_on(async {
        for key in ["b1", "b2"] {
            let got = primary
                .get_item()
                .table_name(table)
                .key("pk", s(key))
                .consistent_read(true)
                .send()
                .await
                .expect("GetItem");
            assert_eq!(got.item, None, "{key} was written");
        }
        let found = scan_all(primary, table, &schema()).await;
        assert_eq!(found.len(), 3);
    });
    assert_eq!(rt.block_on(records_on(servers, stream_name)).len(), 3);
}

const T9_TARGETS: &str = r#"{"targets": [
    {"name": "copy", "table": "t9-copy"},
    {"name": "active", "table": "t9-active", "filter": "item.status == \"active\""}
]}"#;

/// `--target NAME` must name a target of `--targets FILE` (the message lists them), and is a
/// usage error without `--targets`; nothing is created.
#[test]
fn target_names_a_target_of_the_file() {
    let cli = Cli::new("names");
    let (rt, primary, replica) = (&cli.rt, &cli.primary, &cli.replica);
    let table = "t9-orders";
    rt.block_on(create_table(primary, table, &schema()));
    let targets_file = &cli.file("targets.json", T9_TARGETS);
    let run = |args: &[&str]| cli.run(table, "t9-none", args);
    let unknown = format!(
        "error: --target NOPE: {targets_file} has no target of that name (it has: copy, active)\n"
    );
    // `check` and `diff` exit 2 (could not compare); `create` and `backfill`, 1.
    let with_nope = ["--targets", targets_file, "--target", "NOPE"];
    let commands: [(&[&str], i32); 4] = [
        (&["check"], 2),
        (&["diff"], 2),
        (&["create", "--no-stream"], 1),
        (&["backfill", "--direct"], 1),
    ];
    for (command, code) in commands {
        let out = run(&[command, &with_nope[..]].concat());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{command:?}: {stderr}");
        assert_eq!(stderr, unknown, "{command:?}");
        assert_eq!(text(&out.stdout), "", "{command:?}");
    }
    // Without --targets: clap's usage error, naming the flag it needs.
    for command in ["check", "diff", "create", "backfill", "replicate"] {
        let out = run(&[command, "--target", "copy"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.starts_with("error: the following required arguments were not provided:")
                && stderr.contains("--targets <FILE>"),
            "{command}: {stderr}"
        );
    }
    rt.block_on(async {
        for target in ["t9-copy", "t9-active"] {
            assert!(!exists(replica, target).await, "{target} was created");
        }
    });
}

/// `create` and `check` give a target the definition of the primary it follows (its
/// `source`), not --table's: a copy of `users` (keyed `id`) made while --table is `orders`
/// (keyed `pk`) is keyed `id`, and checks as matching; a copy keyed `pk` does not.
#[test]
fn create_and_check_follow_each_targets_own_primary() {
    let cli = Cli::new("sources");
    let (rt, primary, replica) = (&cli.rt, &cli.primary, &cli.replica);
    let users_schema = KeySchema::hash_only("id", ScalarType::S);
    rt.block_on(create_table(primary, "t10-orders", &schema()));
    rt.block_on(create_table(primary, "t10-users", &users_schema));
    let targets = json!({"targets": [
        {"name": "orders-copy", "table": "t10-orders-copy"},
        {"name": "users-copy", "table": "t10-users-copy", "source": "t10-users"}
    ]});
    let targets_file = &cli.file("targets.json", &targets.to_string());
    let run = |args: &[&str]| cli.run("t10-orders", "t10-none", args);
    let out = run(&["create", "--no-stream", "--targets", targets_file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let key_of = |table: &str| {
        let described = rt
            .block_on(replica.describe_table().table_name(table).send())
            .expect("DescribeTable");
        let table = described.table.expect("a table");
        let keys: Vec<String> = table
            .key_schema()
            .iter()
            .map(|k| k.attribute_name().to_owned())
            .collect();
        keys
    };
    assert_eq!(key_of("t10-orders-copy"), ["pk"]);
    assert_eq!(key_of("t10-users-copy"), ["id"]);
    let out = run(&["check", "--targets", targets_file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // A copy of `users` keyed like `orders` is unusable, and `check` says so.
    rt.block_on(create_table(replica, "t10-wrong", &schema()));
    let targets = json!({"targets": [
        {"name": "wrong", "table": "t10-wrong", "source": "t10-users"}
    ]});
    let wrong = cli.file("wrong.json", &targets.to_string());
    let out = run(&["check", "--targets", &wrong]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("key schema"), "{stdout}");
}
