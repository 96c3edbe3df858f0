//! A table is known by what DynamoDB says it is (`TableId`, `TableArn`), not by how it is
//! spelled: the primary reached through another spelling of its endpoint, or by its ARN, is
//! refused as a replica or target by every command, before anything is written; repairs go to the
//! primary a target follows; a checkpoint knows the targets it was made with. Each table is
//! judged by a plain SDK scan or describe call.

use aws_sdk_dynamodb::types::AttributeValue;

use super::common::local::Local;
use super::common::*;
use super::one_line;

/// Items with an `email`, which an `exclude` target would strip.
fn put_people(local: &Local, table: &str, count: usize) {
    for i in 0..count {
        let item = format!(
            r#"{{"ForumName":{{"S":"f"}},"Subject":{{"S":"s{i}"}},"email":{{"S":"p{i}@example.com"}}}}"#
        );
        local.ok(&["--table", table, "put", "--item", &item]);
    }
}

/// How many items of `table` on `server` still have their `email` (a plain scan).
fn with_email(local: &Local, server: &Server, table: &str) -> usize {
    local.rt().block_on(async {
        let db = client(server).await;
        let items = scan_all(&db, table, &thread_schema()).await;
        items.values().filter(|i| i.contains_key("email")).count()
    })
}

#[test]
fn the_primary_is_never_a_target_or_replica_however_its_endpoint_is_spelled() {
    let local = Local::start("identity-endpoint");
    local.ok(&["create"]);
    put_people(&local, PRIMARY, 4);
    let port = local.primary.port;
    let host = std::process::Command::new("hostname").output().unwrap();
    let host = String::from_utf8(host.stdout).unwrap().trim().to_owned();
    let targets = local.path("targets.json");
    let exclude =
        format!(r#"{{"targets":[{{"name":"slim","table":"{PRIMARY}","exclude":["email"]}}]}}"#);
    std::fs::write(&targets, exclude).unwrap();
    let targets = targets.to_str().unwrap();
    for spelled in [
        format!("http://0.0.0.0:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://{host}:{port}"),
    ] {
        let at = ["--replica-endpoint-url", spelled.as_str()];
        let commands: [(&[&str], i32); 7] = [
            (&["backfill", "--direct", "--targets", targets], 1),
            (&["diff", "--targets", targets, "--repair", "--direct"], 2),
            (&["check", "--apply", "--targets", targets], 2),
            (&["create", "--targets", targets], 1),
            (&["check", "--apply", "--replica-table", PRIMARY], 2),
            (
                &["diff", "--replica-table", PRIMARY, "--repair", "--direct"],
                2,
            ),
            (&["replicate", "--replica-table", PRIMARY], 1),
        ];
        for (command, code) in commands {
            let err = local.fails_with(code, &[&at[..], command].concat());
            assert!(
                one_line(&err) && err.contains("is the primary table itself"),
                "{spelled} {command:?}: {err}"
            );
            assert!(
                err.contains("TableId"),
                "the message names the identity: {err}"
            );
        }
    }
    assert_eq!(
        with_email(&local, &local.primary, PRIMARY),
        4,
        "the primary kept every email"
    );
}

/// moto takes a table's ARN where a name goes, as AWS does: the primary's ARN as a target (or
/// as `REPLICA_TABLE`) is the primary.
#[test]
fn the_primary_spelled_as_its_arn_is_refused_by_the_cli_and_the_lambda() {
    let moto = Server::moto();
    let local = Local::start("identity-arn");
    let at = [
        "--endpoint-url",
        &moto.endpoint,
        "--replica-endpoint-url",
        &moto.endpoint,
    ];
    local.ok(&[&at[..], &["create", "--no-stream"]].concat());
    local.rt().block_on(async {
        let db = client(&moto).await;
        let items = (0..3)
            .map(|i| {
                let mut item = thread_item("f", &format!("s{i}"), "v");
                item.insert(
                    "email".into(),
                    AttributeValue::S(format!("p{i}@example.com")),
                );
                item
            })
            .collect();
        put_items(&db, PRIMARY, items).await;
    });
    let arn = format!("arn:aws:dynamodb:us-east-1:123456789012:table/{PRIMARY}");
    let targets = local.path("targets.json");
    let exclude =
        format!(r#"{{"targets":[{{"name":"slim","table":"{arn}","exclude":["email"]}}]}}"#);
    std::fs::write(&targets, exclude).unwrap();
    let targets = targets.to_str().unwrap();
    for (command, code) in [
        (&["backfill", "--direct", "--targets", targets][..], 1),
        (&["check", "--apply", "--replica-table", &arn], 2),
        (&["check", "--apply", "--replica-table", PRIMARY], 2),
        (
            &["diff", "--replica-table", &arn, "--repair", "--direct"],
            2,
        ),
    ] {
        let err = local.fails_with(code, &[&at[..], command].concat());
        assert!(
            one_line(&err) && err.contains("is the primary table itself") && err.contains(&arn),
            "{command:?}: {err}"
        );
    }
    local.rt().block_on(async {
        let db = client(&moto).await;
        let items = scan_all(&db, PRIMARY, &thread_schema()).await;
        assert_eq!(
            items.values().filter(|i| i.contains_key("email")).count(),
            3
        );
        // check --apply turned nothing on on the primary.
        let backups = db
            .describe_continuous_backups()
            .table_name(PRIMARY)
            .send()
            .await
            .unwrap();
        let pitr = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str().to_owned());
        assert_ne!(
            pitr.as_deref(),
            Some("ENABLED"),
            "PITR was turned on on the primary"
        );
        let described = db
            .describe_table()
            .table_name(PRIMARY)
            .send()
            .await
            .unwrap();
        let table = described.table().unwrap();
        assert_ne!(table.deletion_protection_enabled(), Some(true));
        // The Lambda's init, with the same settings.
        for (name, value) in [
            ("REPLICA_TABLE", arn.clone()),
            (
                "DYNO_TARGETS",
                format!(r#"{{"targets":[{{"name":"slim","table":"{arn}"}}]}}"#),
            ),
        ] {
            let settings = std::collections::HashMap::from([
                ("PRIMARY_TABLE", PRIMARY.to_owned()),
                ("PRIMARY_ENDPOINT_URL", moto.endpoint.clone()),
                ("REPLICA_ENDPOINT_URL", moto.endpoint.clone()),
                (name, value),
            ]);
            let config = dyno::config::Config::from_lookup(|n| settings.get(n).cloned()).unwrap();
            let Err(err) = config.replicator(&sdk_config().await).await else {
                panic!("{name}: the primary was accepted as a replica");
            };
            assert!(
                err.to_string().contains("is the primary table itself"),
                "{name}: {err}"
            );
        }
    });
}

/// `uc` follows `users`, not --table: its repairs are announced for `users` (by the ARN
/// DynamoDB gives it), from `diff --repair` and from `announce --keys-file --targets`.
#[test]
fn repairs_go_to_the_primary_the_target_follows() {
    let local = Local::start("identity-repair");
    local.ok(&["create"]);
    local.ok(&["--table", "users", "create", "--no-stream"]);
    let targets = local.path("targets.json");
    let spec = r#"{"targets":[{"name":"uc","table":"users-copy","source":"users"}]}"#;
    std::fs::write(&targets, spec).unwrap();
    let targets = targets.to_str().unwrap();
    local.ok(&["create", "--no-stream", "--targets", targets]);
    put_people(&local, "users", 3);
    local.ok(&["replicate", "--targets", targets]);
    let copy = |local: &Local| {
        local.rt().block_on(async {
            let db = client(&local.replica).await;
            scan_all(&db, "users-copy", &thread_schema()).await.len()
        })
    };
    assert_eq!(copy(&local), 3);
    let delete_one = |local: &Local, subject: &str| {
        local.rt().block_on(async {
            let db = client(&local.replica).await;
            let key = thread_item("f", subject, "")
                .into_iter()
                .filter(|(k, _)| k != "Body");
            db.delete_item()
                .table_name("users-copy")
                .set_key(Some(key.collect()))
                .send()
                .await
                .unwrap();
        })
    };
    delete_one(&local, "s1");
    assert_eq!(copy(&local), 2);
    let out = local.fails_with(
        1,
        &["diff", "--targets", targets, "--target", "uc", "--repair"],
    );
    let _ = out;
    local.ok(&["replicate", "--targets", targets]);
    assert_eq!(copy(&local), 3, "the repair reached the target of `users`");

    delete_one(&local, "s2");
    let keys = local.path("keys.jsonl");
    let keys = keys.to_str().unwrap();
    local.fails_with(1, &["diff", "--targets", targets, "--keys-out", keys]);
    let err = local.fails_with(1, &["announce", "--keys-file", keys]);
    assert!(
        one_line(&err) && err.contains("names target `uc`") && err.contains("--targets"),
        "{err}"
    );
    local.ok(&["announce", "--keys-file", keys, "--targets", targets]);
    local.ok(&["replicate", "--targets", targets]);
    assert_eq!(
        copy(&local),
        3,
        "the announced key reached the target of `users`"
    );
}

#[test]
fn a_backfill_checkpoint_knows_its_targets_and_their_filters() {
    let local = Local::start("identity-checkpoint");
    local.ok(&["create"]);
    put_people(&local, PRIMARY, 3);
    let targets = local.path("targets.json");
    let with = |filter: &str| {
        let spec =
            format!(r#"{{"targets":[{{"name":"some","table":"{REPLICA}","filter":"{filter}"}}]}}"#);
        std::fs::write(&targets, spec).unwrap();
    };
    with(r#"item.Subject == \"s1\""#);
    let targets = targets.to_str().unwrap();
    let run = [
        "backfill",
        "--direct",
        "--targets",
        targets,
        "--checkpoint",
        "cp.json",
    ];
    local.ok(&run);
    assert_eq!(local.items(&local.replica, REPLICA), 1);
    let saved = std::fs::read_to_string(local.path("cp.json")).unwrap();
    with(r#"item.Subject != \"s1\""#);
    let err = local.fails_with(1, &run);
    assert!(
        one_line(&err) && err.contains("belongs to another backfill"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(local.path("cp.json")).unwrap(),
        saved
    );
    assert_eq!(
        local.items(&local.replica, REPLICA),
        1,
        "nothing was written"
    );
}

/// A target whose table is a primary that the chosen targets do not follow (--table's, another
/// target's `source`, one that `--target` left out) is refused too: found by a hostile
/// operator, who emptied the primary through each of these.
#[test]
fn no_target_is_any_primary_the_file_or_the_flags_name() {
    let local = Local::start("identity-sources");
    local.ok(&["create"]);
    put_people(&local, PRIMARY, 4);
    let here = ["--replica-endpoint-url", local.primary.endpoint.as_str()];
    local.ok(&[&here[..], &["--table", "other", "create", "--no-stream"]].concat());
    let file = |name: &str, text: String| {
        let path = local.path(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    // `b` writes --table's primary, following `other`.
    let t8 = file(
        "t8.json",
        format!(
            r#"{{"targets":[{{"name":"b","table":"{PRIMARY}","source":"other","filter":"false"}}]}}"#
        ),
    );
    // `a` follows the primary; `b` writes it, following `other`.
    let t7 = file(
        "t7.json",
        format!(
            r#"{{"targets":[{{"name":"a","table":"other","source":"{PRIMARY}"}},
               {{"name":"b","table":"{PRIMARY}","source":"other","filter":"false"}}]}}"#
        ),
    );
    let commands: Vec<(Vec<&str>, i32)> = vec![
        (vec!["diff", "--repair", "--direct", "--targets", &t8], 2),
        (vec!["replicate", "--targets", &t8], 1),
        (vec!["check", "--apply", "--targets", &t8], 2),
        (
            vec![
                "diff",
                "--repair",
                "--direct",
                "--targets",
                &t7,
                "--target",
                "b",
            ],
            2,
        ),
        (
            vec!["check", "--apply", "--targets", &t7, "--target", "b"],
            2,
        ),
        (
            vec!["--table", "other", "backfill", "--direct", "--targets", &t7],
            1,
        ),
        (
            vec![
                "--table",
                "other",
                "backfill",
                "--direct",
                "--targets",
                &t7,
                "--target",
                "b",
            ],
            1,
        ),
    ];
    for (command, code) in commands {
        let err = local.fails_with(code, &[&here[..], &command].concat());
        assert!(
            one_line(&err) && err.contains("is the primary table itself"),
            "{command:?}: {err}"
        );
    }
    assert_eq!(
        local.items(&local.primary, PRIMARY),
        4,
        "the primary kept every item"
    );
    assert_eq!(with_email(&local, &local.primary, PRIMARY), 4);
}

/// A `--local` run never reaches AWS: a role (the replica's, or a target's own) with no local STS
/// is refused in one line, before any call.
#[test]
fn a_local_run_never_assumes_a_role_at_aws() {
    let local = Local::start("identity-local-role");
    local.ok(&["create"]);
    let role = "arn:aws:iam::222233334444:role/dyno";
    let err = local.fails_with(2, &["--local", "--replica-role-arn", role, "diff"]);
    assert!(
        one_line(&err) && err.contains("a --local run never reaches AWS") && err.contains(role),
        "{err}"
    );
    let targets = local.path("role.json");
    let spec = format!(r#"{{"targets":[{{"name":"b","table":"{REPLICA}","role_arn":"{role}"}}]}}"#);
    std::fs::write(&targets, spec).unwrap();
    let args = [
        "--local",
        "backfill",
        "--direct",
        "--targets",
        targets.to_str().unwrap(),
    ];
    let err = local.fails_with(1, &args);
    assert!(one_line(&err) && err.contains("--targets: role"), "{err}");
}
