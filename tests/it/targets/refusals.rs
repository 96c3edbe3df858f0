//! Targets: bad target configurations, refused at init in one line.

use super::*;

/// The configuration `from_lookup` reads: the shared servers, `t3-orders` as the primary, and
/// `targets` as `DYNO_TARGETS`.
fn t3_config(servers: &Servers, targets: &str) -> Result<Config, String> {
    let values = HashMap::from([
        ("PRIMARY_TABLE", "t3-orders".to_owned()),
        ("PRIMARY_ENDPOINT_URL", servers.primary.endpoint.clone()),
        ("REPLICA_ENDPOINT_URL", servers.replica.endpoint.clone()),
        ("DYNO_TARGETS", targets.to_owned()),
    ]);
    Config::from_lookup(|name| values.get(name).cloned()).map_err(|e| e.to_string())
}

/// The one-line message `from_lookup` refuses `targets` with.
fn refused(servers: &Servers, targets: &str) -> String {
    let message = match t3_config(servers, targets) {
        Ok(config) => panic!("accepted {targets}: {:?}", config.targets),
        Err(message) => message,
    };
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

/// The one-line message `replicator()` (which checks the targets' real tables) refuses
/// `targets` with.
async fn refused_at_connect(servers: &Servers, targets: &str) -> String {
    let config = t3_config(servers, targets).expect("parsed");
    let message = match config.replicator(&sdk_config().await).await {
        Ok(_) => panic!("connected {targets}"),
        Err(error) => error.to_string(),
    };
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

/// `DYNO_TARGETS` of `count` targets, `t3-many-N`.
fn many_targets(count: usize) -> String {
    let targets: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            json!({"name": format!("target-{i:03}"), "table": format!("t3-many-{i:03}"),
                   "filter": "item.status == \"active\"", "exclude": ["email"]})
        })
        .collect();
    json!({ "targets": targets }).to_string()
}

/// The `replicator` binary with `DYNO_TARGETS` = `targets` on the shared servers and nothing of
/// this process's environment: its exit and stderr. It must end on its own (within 60 s).
fn run_replicator(servers: &Servers, targets: &str) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_replicator"));
    command.env_clear();
    local_aws_env(&mut command)
        .env("PRIMARY_TABLE", "t3-orders")
        .env("PRIMARY_ENDPOINT_URL", &servers.primary.endpoint)
        .env("REPLICA_ENDPOINT_URL", &servers.replica.endpoint)
        .env("DYNO_TARGETS", targets)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("start the replicator");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the replicator did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("its output");
    (out.status.code(), text(&out.stderr))
}

/// Bad target configurations are refused when the replicator starts, each with one line that
/// names what to fix: through `Config::from_lookup`, `Config::replicator` (what needs the real
/// target table), and the `replicator` binary, which exits before the Lambda runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configurations_are_refused_at_init_in_one_line() {
    let servers = servers();
    let (primary, replica) = clients(&servers).await;
    create_table(&primary, "t3-orders", &schema()).await;
    create_table(&replica, "t3-copy", &schema()).await;
    create_with_indexes(&replica, "t3-indexed", &[("by-status", keys_only())]).await;

    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy", "colour": "red"}]}"#,
    );
    assert!(
        message.starts_with("DYNO_TARGETS: unknown field `colour`, expected one of `name`, ")
            && message.ends_with("`exclude`, `ttl` at line 1 column 55"),
        "{message}"
    );
    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy"}], "target": []}"#,
    );
    assert_eq!(
        message,
        "DYNO_TARGETS: unknown field `target`, expected `targets` at line 1 column 57"
    );

    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy", "filter": "item.status =="}]}"#,
    );
    assert!(
        message.starts_with(
            "DYNO_TARGETS: target `a`: the filter `item.status ==` does not compile: line 1, \
             column 15: Syntax error: "
        ),
        "{message}"
    );

    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy"}, {"name": "a", "table": "t3-other"}]}"#,
    );
    assert_eq!(
        message,
        "DYNO_TARGETS: two targets are named `a`: give each its own name"
    );
    let message = refused(
        &servers,
        r#"{"targets": [{"name": "a", "table": "t3-copy"}, {"name": "b", "table": "t3-copy"}]}"#,
    );
    assert_eq!(
        message,
        "DYNO_TARGETS: targets `a` and `b` both write to table `t3-copy`: give each target its \
         own table"
    );

    // 4096 bytes pass; 4097 are refused before they are parsed.
    let one = r#"{"targets": [{"name": "a", "table": "t3-copy"}]}"#;
    let padded = |len: usize| format!("{one}{}", " ".repeat(len - one.len()));
    let config = t3_config(&servers, &padded(4096)).expect("4096 bytes");
    assert_eq!(config.targets.map(|t| t.len()), Some(1));
    let message = refused(&servers, &padded(4097));
    assert!(
        message.starts_with(
            "DYNO_TARGETS is 4097 bytes, over 4096: Lambda's environment variables together \
             may hold at most 4 KB"
        ),
        "{message}"
    );
    let many = many_targets(45);
    assert!(many.len() > 4096, "{}", many.len());
    let message = refused(&servers, &many);
    let over = format!("DYNO_TARGETS is {} bytes, over 4096: ", many.len());
    assert!(message.starts_with(&over), "{message}");

    // `exclude` naming a key attribute of the table, or of one of its indexes: known only
    // from the real table.
    let key_message = |name: &str| {
        format!(
            "target `x`: `exclude` names `{name}`, which a target always keeps (a key attribute \
             of its table or of one of its indexes, or the primary's TTL attribute): remove it \
             from the list"
        )
    };
    let exclude = |table: &str, names: &[&str]| {
        json!({"targets": [{"name": "x", "table": table, "exclude": names}]}).to_string()
    };
    let message = refused_at_connect(&servers, &exclude("t3-copy", &["email", "pk"])).await;
    assert_eq!(message, key_message("pk"));
    let message = refused_at_connect(&servers, &exclude("t3-indexed", &["status"])).await;
    assert_eq!(message, key_message("status"));
    let config = t3_config(&servers, &exclude("t3-indexed", &["email"])).expect("parsed");
    let replicator = config.replicator(&sdk_config().await).await;
    assert!(replicator.is_ok(), "{:?}", replicator.err());

    // The binary: the same messages, as `replicator: <one line>` on stderr, and a non-zero exit
    // before the Lambda runtime starts.
    let servers_ref = servers.clone();
    let many_for_binary = many.clone();
    let runs = tokio::task::spawn_blocking(move || {
        let s = &servers_ref;
        [
            run_replicator(s, &many_for_binary),
            run_replicator(s, &exclude("t3-copy", &["pk"])),
            run_replicator(s, &exclude("t3-copy", &["email"])),
        ]
    })
    .await
    .expect("the replicator runs");
    let [(too_big, too_big_err), (key, key_err), (good, good_err)] = runs;
    let init_lines = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.starts_with("replicator: "))
            .map(str::to_owned)
            .collect()
    };
    // Each says one thing on stderr: its one line.
    assert!(
        too_big.is_some_and(|c| c != 0),
        "{too_big:?}: {too_big_err}"
    );
    assert_eq!(too_big_err.lines().count(), 1, "{too_big_err}");
    assert!(
        too_big_err.starts_with(&format!("replicator: {over}")),
        "{too_big_err}"
    );
    assert_eq!(init_lines(&too_big_err).len(), 1, "{too_big_err}");
    assert!(key.is_some_and(|c| c != 0), "{key:?}: {key_err}");
    assert_eq!(key_err, format!("replicator: {}\n", key_message("pk")));
    // The Lambda runtime, started with none of its environment, stops at once, saying so.
    let runtime_started = |stderr: &str| stderr.contains("lambda_runtime");
    for stderr in [&too_big_err, &key_err] {
        assert!(!runtime_started(stderr), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A good configuration gets past init, to the Lambda runtime.
    assert!(init_lines(&good_err).is_empty(), "{good:?}: {good_err}");
    assert!(
        runtime_started(&good_err) && good_err.contains("Missing AWS_LAMBDA_"),
        "{good:?}: {good_err}"
    );
}
