//! A replica in another AWS account: with `REPLICA_ROLE_ARN`, the replica's client assumes that
//! role with STS (moto answers `AssumeRole`), so every request that reaches the replica's server
//! is signed with the assumed credentials, while the primary's are signed with the function's
//! own. moto keeps each account's tables apart (by the access key's account), so the replica
//! table lives in the role's account, where the function's own credentials cannot see it. A
//! refused or unreachable role stops the replicator at init, naming `REPLICA_ROLE_ARN`. Fault
//! proxies stand in front of each server and record who signed what.

use crate::common;

use std::collections::{BTreeSet, HashMap};

use common::faults::{Fault, FaultProxy, Plan};
use common::oracle;
use common::*;
use dyno::config::Config;
use dyno::replicate::replicator::Replicator;

const ROLE: &str = "arn:aws:iam::222233334444:role/dyno-replica-writer";

struct Rig {
    _servers: (Server, Server),
    primary_proxy: FaultProxy,
    replica_proxy: FaultProxy,
    sts_proxy: FaultProxy,
    /// Straight to the primary, with our own credentials.
    primary: aws_sdk_dynamodb::Client,
    /// Straight to the replica's server, in the role's account (the role's credentials).
    replica: aws_sdk_dynamodb::Client,
}

impl Rig {
    async fn start() -> Rig {
        let primary = Server::dynalite();
        let moto = Server::moto();
        create_table(&client(&primary).await, "orders", &thread_schema()).await;
        // The replica table, created in the role's account (with the role's credentials).
        let role = dyno::aws::role::ReplicaRole {
            arn: ROLE.to_owned(),
            external_id: None,
            sts_endpoint_url: Some(moto.endpoint.clone()),
            setting: "test",
        };
        let sdk = sdk_config().await;
        let credentials = role.credentials(&sdk).await.expect("assume the role");
        let config = dyno::aws::client::dynamodb_config(
            &sdk,
            Some("us-east-1"),
            Some(&moto.endpoint),
            &tuning(),
        )
        .credentials_provider(credentials);
        let in_their_account = aws_sdk_dynamodb::Client::from_conf(config.build());
        create_table(&in_their_account, "orders", &thread_schema()).await;
        // Our own credentials do not see it.
        let ours = client(&moto).await;
        assert!(
            ours.describe_table()
                .table_name("orders")
                .send()
                .await
                .is_err()
        );
        put_items(
            &client(&primary).await,
            "orders",
            (0..20)
                .map(|i| thread_item("f", &format!("s{i}"), "v"))
                .collect(),
        )
        .await;
        Rig {
            primary_proxy: FaultProxy::start(primary.port).await,
            replica_proxy: FaultProxy::start(moto.port).await,
            sts_proxy: FaultProxy::start(moto.port).await,
            primary: client(&primary).await,
            replica: in_their_account,
            _servers: (primary, moto),
        }
    }

    /// Asserts (the oracle) that the replica, in the role's account, equals the primary.
    async fn assert_replicated(&self, items: usize) {
        oracle::assert_equal_items((&self.primary, "orders"), (&self.replica, "orders"), items)
            .await;
    }

    /// The replicator's settings, as the template sets them (plus local endpoints).
    fn settings(&self, sts: &str) -> HashMap<&'static str, String> {
        HashMap::from([
            ("PRIMARY_TABLE", "orders".to_owned()),
            ("REPLICA_TABLE", "orders".to_owned()),
            ("PRIMARY_ENDPOINT_URL", self.primary_proxy.endpoint.clone()),
            ("REPLICA_ENDPOINT_URL", self.replica_proxy.endpoint.clone()),
            ("REPLICA_ROLE_ARN", ROLE.to_owned()),
            ("REPLICA_EXTERNAL_ID", "dyno-external-id".to_owned()),
            ("STS_ENDPOINT_URL", sts.to_owned()),
        ])
    }

    async fn replicator(&self, sts: &str) -> Result<Replicator, String> {
        let settings = self.settings(sts);
        let config = Config::from_lookup(|name| settings.get(name).cloned()).expect("config");
        config
            .replicator(&sdk_config().await)
            .await
            .map_err(|e| e.to_string())
    }
}

fn signers(proxy: &FaultProxy) -> BTreeSet<String> {
    proxy.stats().signers.values().flatten().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_is_written_with_the_assumed_role_and_the_primary_read_with_our_own() {
    let rig = Rig::start().await;
    let replicator = rig
        .replicator(&rig.sts_proxy.endpoint)
        .await
        .expect("connect");
    let event = kinesis_event(
        (0..20)
            .map(|i| thread_record("f", &format!("s{i}"), i))
            .collect(),
    );
    let (response, summary) = replicator.handle(&event, None).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(summary.puts, 20);

    // STS was asked for the role, with the external id (at init to check it, then by the
    // client's credentials cache).
    let sts = rig.sts_proxy.stats();
    assert_eq!(sts.requests.get("AssumeRole"), Some(&2), "{sts:?}");
    for form in &sts.forms {
        let role = "RoleArn=arn%3Aaws%3Aiam%3A%3A222233334444%3Arole%2Fdyno-replica-writer";
        assert!(form.contains(role), "{form}");
        assert!(form.contains("ExternalId=dyno-external-id"), "{form}");
    }
    // The primary's requests are signed with the function's own credentials ("test"), every
    // replica request with the role's (temporary ones, "ASIA…").
    assert_eq!(
        signers(&rig.primary_proxy),
        BTreeSet::from(["test".to_owned()])
    );
    let replica = signers(&rig.replica_proxy);
    assert_eq!(replica.len(), 1, "{replica:?}");
    let assumed = replica.iter().next().unwrap();
    assert!(
        assumed.starts_with("ASIA") && assumed != "test",
        "{assumed}"
    );
    let replica_calls = rig.replica_proxy.stats().requests;
    assert!(
        replica_calls.get("BatchWriteItem") > Some(&0),
        "{replica_calls:?}"
    );
    assert!(replica_calls.get("DescribeTable") > Some(&0));
    rig.assert_replicated(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_unreachable_role_stops_the_replicator_at_init() {
    let rig = Rig::start().await;
    rig.sts_proxy
        .set_plan(Plan::on(&["AssumeRole"], &[Fault::AccessDenied], 1.0, 1));
    let err = rig.replicator(&rig.sts_proxy.endpoint).await.unwrap_err();
    assert!(
        err.starts_with(&format!(
            "REPLICA_ROLE_ARN={ROLE}: the replica's role could not be assumed"
        )),
        "{err}"
    );
    assert!(err.contains("trust policy"), "{err}");
    assert!(
        rig.sts_proxy
            .stats()
            .injected("AssumeRole", Fault::AccessDenied)
            > 0
    );
    assert!(
        signers(&rig.replica_proxy).is_empty(),
        "nothing reached the replica"
    );

    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let err = rig.replicator(&closed).await.unwrap_err();
    assert!(err.starts_with("REPLICA_ROLE_ARN="), "{err}");

    // The Lambda binary itself: it stops at init with the same message, and a non-zero status.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_replicator"))
        .env_clear()
        .envs(rig.settings(&closed))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("REPLICA_ROLE_ARN="), "{stderr}");
}

/// The CLI reads (`diff`) and writes (`diff --repair --direct`) the replica with the role's
/// credentials: every replica request, the writes included, is signed with the assumed role's
/// key, never our own; the items land in the role's account.
#[test]
fn the_cli_writes_the_replica_with_the_role_too() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rig = rt.block_on(Rig::start());
    let dyno = |args: &[&str]| {
        dyno_command(At {
            tables: Some(&rig.primary_proxy.endpoint),
            replica: Some(&rig.replica_proxy.endpoint),
            kinesis: None,
        })
        .args(["--table", "orders", "--replica-table", "orders"])
        .args([
            "--replica-role-arn",
            ROLE,
            "--sts-endpoint-url",
            &rig.sts_proxy.endpoint,
        ])
        .args(args)
        .output()
        .unwrap()
    };
    let said = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // The replica is still empty: 20 missing, read with the role's credentials.
    let out = dyno(&["diff"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains("20 missing"), "{}", said(&out));
    let replica = signers(&rig.replica_proxy);
    assert!(
        replica.iter().all(|k| k.starts_with("ASIA")) && !replica.is_empty(),
        "{replica:?}"
    );
    assert_eq!(
        rig.replica_proxy.stats().requests.get("BatchWriteItem"),
        None
    );

    // Repaired directly: the replica's writes are signed with the assumed role's key.
    rig.replica_proxy.reset_stats();
    rig.sts_proxy.reset_stats();
    let out = dyno(&["diff", "--repair", "--direct", "--settle-ms", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("repair: 20 keys copied to `orders`"),
        "{}",
        said(&out)
    );
    let stats = rig.replica_proxy.stats();
    let writers = stats
        .signers
        .get("BatchWriteItem")
        .cloned()
        .unwrap_or_default();
    assert_eq!(writers.len(), 1, "{stats:?}");
    let writer = writers.iter().next().unwrap();
    assert!(
        writer.starts_with("ASIA") && writer != LOCAL_ACCESS_KEY,
        "{writer}"
    );
    assert!(
        signers(&rig.replica_proxy)
            .iter()
            .all(|k| k.starts_with("ASIA")),
        "{stats:?}"
    );
    assert!(
        rig.sts_proxy.stats().requests.get("AssumeRole") > Some(&0),
        "the role was not assumed"
    );
    // The primary is read with the caller's own key.
    assert_eq!(
        signers(&rig.primary_proxy),
        BTreeSet::from([LOCAL_ACCESS_KEY.to_owned()])
    );
    rt.block_on(rig.assert_replicated(20));
    let out = dyno(&["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
}

/// A target with no `role_arn` of its own is in the deployment's replica account
/// (`REPLICA_ROLE_ARN`): before, it was written in the function's own account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_a_role_of_its_own_takes_the_replica_role() {
    let rig = Rig::start().await;
    let mut settings = rig.settings(&rig.sts_proxy.endpoint);
    settings.remove("REPLICA_TABLE");
    settings.insert(
        "DYNO_TARGETS",
        r#"{"targets":[{"name":"copy","table":"orders"}]}"#.to_owned(),
    );
    let config = Config::from_lookup(|name| settings.get(name).cloned()).expect("config");
    let replicator = config
        .replicator(&sdk_config().await)
        .await
        .expect("connect");
    let event = kinesis_event(
        (0..20)
            .map(|i| thread_record("f", &format!("s{i}"), i))
            .collect(),
    );
    let (response, summary) = replicator.handle(&event, None).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(summary.puts, 20);
    let replica = signers(&rig.replica_proxy);
    assert!(
        replica.iter().all(|s| s.starts_with("ASIA")),
        "every replica request is signed with the role's credentials: {replica:?}"
    );
    rig.assert_replicated(20).await;
}

/// Targets each where they say: `theirs` names a role of its own (with its own external id) and
/// is written with that role, in the role's account; `ours` names none and, with no
/// `REPLICA_ROLE_ARN`, is written with the function's own credentials in its own account;
/// `europe` names a region and is written there (moto keeps regions apart as it keeps accounts
/// apart). Each table is judged with a client of its own account and region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_target_is_written_with_its_own_role_and_in_its_own_region() {
    let rig = Rig::start().await;
    let moto = &rig._servers.1.endpoint;
    // In our own account: `orders-ours` in us-east-1, `orders-eu` in eu-west-1.
    let ours = client_at(moto, "us-east-1", &tuning(), None).await;
    let europe = client_at(moto, "eu-west-1", &tuning(), None).await;
    create_table(&ours, "orders-ours", &thread_schema()).await;
    create_table(&europe, "orders-eu", &thread_schema()).await;
    // Each is seen only where it was made: not in the other region, not in the role's account.
    let absent = async |client: &aws_sdk_dynamodb::Client, table: &str| {
        let described = client.describe_table().table_name(table).send().await;
        assert!(described.is_err(), "{table} is seen: {described:?}");
    };
    absent(&ours, "orders-eu").await;
    absent(&europe, "orders-ours").await;
    absent(&rig.replica, "orders-ours").await;
    absent(&rig.replica, "orders-eu").await;
    absent(&ours, "orders").await;

    let mut settings = rig.settings(&rig.sts_proxy.endpoint);
    for name in ["REPLICA_TABLE", "REPLICA_ROLE_ARN", "REPLICA_EXTERNAL_ID"] {
        settings.remove(name);
    }
    settings.insert(
        "DYNO_TARGETS",
        serde_json::json!({"targets": [
            {"name": "theirs", "table": "orders", "role_arn": ROLE,
             "external_id": "their-external-id"},
            {"name": "ours", "table": "orders-ours"},
            {"name": "europe", "table": "orders-eu", "region": "eu-west-1"},
        ]})
        .to_string(),
    );
    let config = Config::from_lookup(|name| settings.get(name).cloned()).expect("config");
    let replicator = config
        .replicator(&sdk_config().await)
        .await
        .expect("connect");
    let event = kinesis_event(
        (0..20)
            .map(|i| thread_record("f", &format!("s{i}"), i))
            .collect(),
    );
    let (response, summary) = replicator.handle(&event, None).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    // 20 puts on each of the three targets.
    assert_eq!(summary.puts, 3 * 20);

    // STS was asked only for the target's role, with the target's external id (at init to
    // check it, then by the client's credentials cache).
    let sts = rig.sts_proxy.stats();
    assert_eq!(sts.requests.get("AssumeRole"), Some(&2), "{sts:?}");
    assert_eq!(sts.requests.len(), 1, "{sts:?}");
    for form in &sts.forms {
        let role = "RoleArn=arn%3Aaws%3Aiam%3A%3A222233334444%3Arole%2Fdyno-replica-writer";
        assert!(form.contains(role), "{form}");
        assert!(form.contains("ExternalId=their-external-id"), "{form}");
    }
    // The targets' writes: signed with the assumed role's temporary key (for `theirs`) and
    // with our own key (for the two others), and no other.
    let stats = rig.replica_proxy.stats();
    let writers = stats
        .signers
        .get("BatchWriteItem")
        .cloned()
        .unwrap_or_default();
    let (assumed, own): (Vec<String>, Vec<String>) =
        writers.into_iter().partition(|k| k.starts_with("ASIA"));
    assert_eq!(
        (assumed.len(), own),
        (1, vec!["test".to_owned()]),
        "{stats:?}"
    );
    let every = BTreeSet::from([assumed[0].clone(), "test".to_owned()]);
    assert_eq!(signers(&rig.replica_proxy), every, "{stats:?}");
    assert_eq!(
        signers(&rig.primary_proxy),
        BTreeSet::from(["test".to_owned()])
    );

    // Each table holds the 20 items, judged in its own account and region.
    rig.assert_replicated(20).await;
    oracle::assert_equal_items((&rig.primary, "orders"), (&ours, "orders-ours"), 20).await;
    oracle::assert_equal_items((&rig.primary, "orders"), (&europe, "orders-eu"), 20).await;
}
