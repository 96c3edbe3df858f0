//! The CLI's sessions: `--session FILE` on the writes and the reads, `--read-from replica`,
//! `query`, `--explain`; each read's table judged by the requests a faithful proxy counted in
//! front of each server; a session file that survives a kill of the process writing it, and one
//! that cannot be read refused in one line that names it, before anything is written.

use std::path::Path;
use std::process::Output;

use dyno::regional::session::Limits;
use dyno::regional::session_file;

use super::common::faults::FaultProxy;
use super::common::local::Local;
use super::common::*;

const KEY: &str = r#"{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"}}"#;
const ITEM: &str = r#"{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"Thread 1"},"Body":{"S":"b"},"Hits":{"N":"1"}}"#;

/// `local`'s servers, each behind a faithful proxy that counts what reaches it.
struct Counted<'a> {
    local: &'a Local,
    primary: FaultProxy,
    replica: FaultProxy,
}

impl Counted<'_> {
    fn run(&self, args: &[&str]) -> Output {
        let endpoints = [
            "--endpoint-url",
            &self.primary.endpoint,
            "--replica-endpoint-url",
            &self.replica.endpoint,
        ];
        self.local.dyno(&[&endpoints[..], args].concat())
    }

    /// Runs dyno, asserts success; (stdout, stderr, `GetItem`s on the primary and the replica).
    fn ok(&self, args: &[&str]) -> (String, String, (u64, u64)) {
        self.primary.reset_stats();
        self.replica.reset_stats();
        let out = self.run(args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "dyno {args:?}: {stderr}");
        let gets = |p: &FaultProxy| p.stats().requests.get("GetItem").copied().unwrap_or(0);
        (stdout, stderr, (gets(&self.primary), gets(&self.replica)))
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn one_line(err: &str) -> bool {
    err.trim_end().lines().count() == 1 && err.starts_with("error: ")
}

/// The keys a session file holds (the oracle reads the file with the library's loader).
fn held(path: &Path) -> usize {
    let limits = Limits {
        max_keys: 1_000_000,
        max_age: std::time::Duration::from_secs(3600),
    };
    session_file::load(path, PRIMARY, None, limits)
        .unwrap()
        .len()
}

#[test]
fn the_cli_reads_its_own_writes_through_a_session_file() {
    let local = Local::start("regional-session");
    let (primary, replica) = local.rt().block_on(async {
        (
            FaultProxy::start(local.primary.port).await,
            FaultProxy::start(local.replica.port).await,
        )
    });
    let c = Counted {
        local: &local,
        primary,
        replica,
    };
    local.ok(&["create"]);
    let session = ["--session", "s.json", "--explain"];
    let read = [
        &["get", "--key", KEY, "--read-from", "replica"][..],
        &session[..],
    ]
    .concat();

    let (_, err, _) = c.ok(&[&["put", "--item", ITEM][..], &session[..]].concat());
    assert!(err.contains("expects the item written"), "{err}");
    assert_eq!(held(&local.path("s.json")), 1);
    // A plain replica read has nothing; the session read is the primary's item.
    let (out, err, gets) = c.ok(&["get", "--key", KEY, "--read-from", "replica", "--explain"]);
    assert_eq!((out.as_str(), gets), ("", (0, 1)), "{err}");
    assert!(
        err.contains("served by the replica: the table asked for"),
        "{err}"
    );
    let (out, err, gets) = c.ok(&read);
    assert!(out.contains(r#""Body":{"S":"b"}"#), "{out}");
    assert!(
        err.contains("served by the primary: the replica has not caught up"),
        "{err}"
    );
    assert!(err.contains("(--table=dyno-primary)"), "{err}");
    assert_eq!(gets, (1, 1));
    // Replicated: the replica serves it, and the key leaves the session file.
    local.ok(&["replicate"]);
    let (out, err, gets) = c.ok(&read);
    assert!(out.contains(r#""Body":{"S":"b"}"#), "{out}");
    assert!(
        err.contains("served by the replica: the replica holds this session's write"),
        "{err}"
    );
    assert_eq!(gets, (0, 1));
    assert_eq!(held(&local.path("s.json")), 0);

    // An update: the whole new item; a delete: nothing, while the replica still has it.
    let update = [
        "update",
        "--key",
        KEY,
        "--update-expression",
        "SET Hits = :h",
        "--values",
        r#"{":h":{"N":"2"}}"#,
    ];
    c.ok(&[&update[..], &session[..]].concat());
    let (out, err, gets) = c.ok(&read);
    assert!(
        out.contains(r#""Hits":{"N":"2"}"#) && out.contains("Body"),
        "{out}"
    );
    assert!(err.contains("served by the primary"), "{err}");
    assert_eq!(gets, (1, 1));
    local.ok(&["replicate"]);
    c.ok(&[&["delete", "--key", KEY][..], &session[..]].concat());
    let (out, err, gets) = c.ok(&read);
    assert_eq!(out, "");
    assert!(
        err.contains("this session deleted the key: the replica's absence cannot show"),
        "{err}"
    );
    // The primary alone: the replica's answer could not take the key out of the session.
    assert_eq!(gets, (1, 0));
    let on_replica = local.rt().block_on(async {
        let replica = client(&local.replica).await;
        let key = dyno::aws::json::parse_item(KEY).unwrap();
        let read = replica.get_item().table_name(REPLICA).set_key(Some(key));
        read.consistent_read(true).send().await.unwrap().item
    });
    assert!(on_replica.is_some(), "the replica still has it");

    // An import in the session: its keys are held; a query of their partition goes to the
    // primary and prints them as export does.
    let lines: String = (0..3)
        .map(|i| {
            format!(
                "{{\"Item\":{{\"ForumName\":{{\"S\":\"bulk\"}},\"Subject\":{{\"S\":\"t{i}\"}}}}}}\n"
            )
        })
        .collect();
    std::fs::write(local.path("items.jsonl"), lines).unwrap();
    let (_, err, _) = c.ok(&[&["import", "items.jsonl"][..], &session[..]].concat());
    assert!(err.contains("4 keys held"), "{err}");
    let query = [
        "query",
        "--key-condition",
        "ForumName = :f",
        "--values",
        r#"{":f":{"S":"bulk"}}"#,
        "--read-from",
        "replica",
    ];
    let (out, err, _) = c.ok(&[&query[..], &session[..]].concat());
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.lines()
            .all(|l| l.starts_with(r#"{"Item":{"ForumName":{"S":"bulk"}"#)),
        "{out}"
    );
    assert!(
        err.contains("served by the primary: the query's range may hold a key"),
        "{err}"
    );
    let (out, _, _) = c.ok(&query);
    assert_eq!(out, "", "the replica has none of them yet");
    // Replicated: the query checks its three held keys on the replica (three GetItems), which
    // has caught up with them: they leave the session, and the replica answers.
    local.ok(&["replicate"]);
    let (out, err, gets) = c.ok(&[&query[..], &["--limit", "2"], &session[..]].concat());
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        err.contains("served by the replica: the query's range holds no key this session"),
        "{err}"
    );
    assert!(err.contains("; 2 items"), "{err}");
    assert_eq!(gets, (0, 3));
    assert_eq!(held(&local.path("s.json")), 1, "the deleted key alone");

    // Bad input: one line naming the flag, never a panic.
    for (args, flag) in [
        (
            vec!["get", "--key", KEY, "--read-from", "elsewhere"],
            "--read-from",
        ),
        (
            vec![
                "query",
                "--key-condition",
                "ForumName = :f",
                "--values",
                "{bad",
            ],
            "--values",
        ),
        (
            vec!["query", "--key-condition", "ForumName = :f", "--limit", "0"],
            "--limit",
        ),
        (vec!["query", "--key-condition", " "], "--key-condition"),
        (
            vec!["get", "--key", KEY, "--session-max-keys", "5"],
            "--session",
        ),
        (
            vec![
                "get",
                "--key",
                KEY,
                "--session",
                "s.json",
                "--session-max-age",
                "0",
            ],
            "--session-max-age",
        ),
    ] {
        let out = c.run(&args);
        let (_, err) = text(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = c.run(&[
        "query",
        "--key-condition",
        "ForumName = :f",
        "--values",
        r#"{":f":{"S":"bulk"}}"#,
        "--index",
        "nope",
        "--read-from",
        "replica",
    ]);
    let (_, err) = text(&out);
    assert!(one_line(&err) && err.contains("no index `nope`"), "{err}");
    let out = c.run(&[
        "get",
        "--key",
        r#"{"ForumName":{"S":"x"}}"#,
        "--read-from",
        "replica",
    ]);
    let (_, err) = text(&out);
    assert!(
        one_line(&err) && err.contains("key attribute `Subject` is missing"),
        "{err}"
    );
}

#[test]
fn a_session_file_survives_a_kill_and_a_garbled_one_is_refused_by_name() {
    let local = Local::start("regional-kill");
    local.ok(&["create"]);
    let path = local.path("k.json");
    let item = |i: usize| {
        format!(r#"{{"ForumName":{{"S":"kill"}},"Subject":{{"S":"t{i}"}},"Body":{{"S":"b"}}}}"#)
    };
    local.ok(&["put", "--item", &item(0), "--session", "k.json"]);
    let primary = local.rt().block_on(client(&local.primary));
    let on_primary = |i: usize| {
        local.rt().block_on(async {
            let key = dyno::aws::json::parse_item(&item(i)).unwrap();
            let key = [
                ("ForumName", &key["ForumName"]),
                ("Subject", &key["Subject"]),
            ]
            .map(|(n, v)| (n.to_owned(), v.clone()));
            primary
                .get_item()
                .table_name(PRIMARY)
                .set_key(Some(key.into()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .is_some()
        })
    };
    // Each put is killed (SIGKILL): the first ten the moment their write is on the primary
    // (before or while the session is saved), then others the moment the new session's
    // temporary file appears beside the old one (during the save; until three such kills, at
    // most 30 tries). The file is always whole: the old session or the new one.
    let temporary = || {
        local
            .entries()
            .into_iter()
            .filter(|n| n.starts_with(".k.json.") && n.ends_with(".dyno-tmp"))
            .collect::<Vec<_>>()
    };
    let (mut old, mut new, mut mid_save, mut left) = (0, 0, 0, 0);
    let mut i = 0;
    while i < 10 || (mid_save < 3 && i < 40) {
        i += 1;
        for name in temporary() {
            std::fs::remove_file(local.path(&name)).unwrap();
            left += 1;
        }
        let before = held(&path);
        let mut child = local
            .command(&["put", "--item", &item(i), "--session", "k.json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if i <= 10 && on_primary(i) {
                break;
            }
            if i > 10 && !temporary().is_empty() {
                mid_save += 1;
                break;
            }
            std::thread::yield_now();
        }
        let _ = child.kill();
        let _ = child.wait();
        match held(&path) as i64 - before as i64 {
            0 => old += 1,
            1 => new += 1,
            d => panic!("{d} keys more after one put"),
        }
    }
    eprintln!(
        "after {i} kills: {old} old session files, {new} new ones; {mid_save} kills during a \
         save, {left} temporary files left by them"
    );
    assert_eq!(old + new, i);
    assert!(old >= 1, "a kill before the save keeps the old session");
    assert!(mid_save >= 1, "no kill landed during a save in {i} tries");
    // Whatever a kill left beside it is a temporary file of its own, never the session.
    for name in local.entries() {
        assert!(
            name == "k.json"
                || name == "k.json.lock"
                || (name.starts_with(".k.json.") && name.ends_with(".dyno-tmp")),
            "{name}"
        );
    }

    // A garbled file: one line naming it, before anything is written; the file is left alone.
    let garbled = "{\"kind\":\"dyno-session\",\"version\":1,\"keys\":[";
    std::fs::write(&path, garbled).unwrap();
    let fresh = item(99);
    for args in [
        vec!["put", "--item", &fresh, "--session", "k.json"],
        vec![
            "get",
            "--key",
            &fresh,
            "--read-from",
            "replica",
            "--session",
            "k.json",
        ],
        vec!["import", "--session", "k.json"],
    ] {
        let out = local.dyno(&args);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(one_line(&err), "{err}");
        assert!(err.contains("session file k.json "), "{err}");
        assert!(
            err.contains("is not JSON") && err.contains("remove it"),
            "{err}"
        );
    }
    assert!(!on_primary(99), "nothing was written");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), garbled);
}
