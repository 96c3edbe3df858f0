//! The CLI's session files under attack: a file that could not be saved refused before the write
//! (and a save that still fails after it says the write was made); files too large, devices and
//! FIFOs refused at once; a session of a table deleted and made again refused; eight processes
//! sharing one file, none losing its key; and the messages a session gives.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::client::Waiters;
use dyno::regional::session::{Limits, Session};
use dyno::regional::session_file;

use super::common::faults::FaultProxy;
use super::common::local::Local;
use super::common::*;

fn item(subject: &str) -> String {
    format!(r#"{{"ForumName":{{"S":"files"}},"Subject":{{"S":"{subject}"}},"Body":{{"S":"b"}}}}"#)
}

fn key(subject: &str) -> String {
    format!(r#"{{"ForumName":{{"S":"files"}},"Subject":{{"S":"{subject}"}}}}"#)
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn one_line(err: &str) -> bool {
    err.trim_end().lines().count() == 1 && err.starts_with("error: ")
}

/// The session a file holds, read with the library's loader (the oracle of what was saved).
pub(super) fn loaded(path: &Path) -> Session {
    let limits = Limits::new(Limits::MAX_KEYS, Duration::from_secs(3600)).unwrap();
    session_file::load(path, PRIMARY, None, limits).unwrap()
}

/// The subjects of the items on the primary, by a plain SDK scan.
pub(super) fn on_primary(local: &Local) -> Vec<String> {
    local.rt().block_on(async {
        let db = client(&local.primary).await;
        let items = scan_all(&db, PRIMARY, &thread_schema()).await;
        let subject = |i: &Item| match i.get("Subject") {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
            _ => String::new(),
        };
        items.values().map(subject).collect()
    })
}

#[test]
fn a_session_file_that_could_not_be_saved_is_refused_before_the_write() {
    let local = Local::start("regional-unsavable");
    local.ok(&["create"]);
    let dir = &local.dir;
    std::fs::write(dir.join("real.json"), "").unwrap();
    std::os::unix::fs::symlink(dir.join("real.json"), dir.join("link.json")).unwrap();
    std::fs::write(dir.join("hard.json"), "").unwrap();
    std::fs::hard_link(dir.join("hard.json"), dir.join("other")).unwrap();
    std::fs::write(dir.join("ro.json"), "").unwrap();
    let read_only = std::os::unix::fs::PermissionsExt::from_mode(0o444);
    std::fs::set_permissions(dir.join("ro.json"), read_only).unwrap();
    for (i, (file, what)) in [
        ("link.json", "symbolic link"),
        ("ro.json", "read-only"),
        ("hard.json", "other hard links"),
        ("/dev/null", "not a regular file"),
        ("nowhere/s.json", "does not exist"),
    ]
    .into_iter()
    .enumerate()
    {
        let subject = format!("u{i}");
        let err = local.fails_with(1, &["put", "--item", &item(&subject), "--session", file]);
        assert!(one_line(&err), "{file}: {err}");
        assert!(err.contains(file) && err.contains(what), "{file}: {err}");
        assert!(err.contains("cannot be saved"), "{file}: {err}");
    }
    assert_eq!(
        on_primary(&local),
        Vec::<String>::new(),
        "nothing was written"
    );
    assert!(!Path::new("/dev/null.lock").exists());
}

/// The put is made; its key record is held by a proxy in front of kinesalite while the test
/// puts a directory where the session file was: the save fails after the write, and says so.
#[test]
fn a_save_that_fails_after_the_write_says_the_write_was_made() {
    let local = Local::start("regional-save-fails");
    local.ok(&["create"]);
    let kinesis = local.rt().block_on(FaultProxy::start(local.kinesis.port));
    kinesis.hold("PutRecords", "", 1);
    let child = local
        .command(&["put", "--item", &item("late"), "--session", "s.json"])
        .args([
            "--kinesis-endpoint-url",
            &kinesis.endpoint,
            "--read-timeout",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while kinesis.holding() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no key record held"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(on_primary(&local), ["late"], "the put was made");
    let _ = std::fs::remove_file(local.path("s.json"));
    std::fs::create_dir(local.path("s.json")).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(one_line(&err), "{err}");
    assert!(
        err.contains("the put was made, but the session was not saved"),
        "{err}"
    );
    assert!(err.contains("s.json is a directory"), "{err}");
    assert!(err.contains("does not hold this write"), "{err}");
}

#[test]
fn a_file_too_large_a_device_or_a_fifo_is_refused_at_once() {
    let local = Local::start("regional-large");
    local.ok(&["create"]);
    // 100 MB (sparse), far past what 1,000 keys take.
    let large = std::fs::File::create(local.path("large.json")).unwrap();
    large.set_len(100 << 20).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(local.path("fifo"))
            .status()
            .unwrap()
            .success()
    );
    for (file, what) in [
        ("large.json", "104857600 bytes, more than the"),
        ("/dev/zero", "a device, a FIFO or a socket"),
        ("fifo", "a device, a FIFO or a socket"),
    ] {
        for command in [
            &["put", "--item", &item("x")][..],
            &["get", "--key", &key("x"), "--read-from", "replica"],
        ] {
            let started = Instant::now();
            let err = local.fails_with(1, &[command, &["--session", file]].concat());
            assert!(started.elapsed() < Duration::from_secs(10), "{file}: {err}");
            assert!(one_line(&err), "{file}: {err}");
            assert!(err.contains(file) && err.contains(what), "{file}: {err}");
        }
    }
    assert_eq!(
        on_primary(&local),
        Vec::<String>::new(),
        "nothing was written"
    );
}

#[test]
fn a_session_of_a_table_deleted_and_made_again_is_refused_naming_both() {
    let local = Local::start("regional-recreated");
    local.ok(&["create"]);
    local.ok(&["put", "--item", &item("a"), "--session", "s.json"]);
    let before = std::fs::read_to_string(local.path("s.json")).unwrap();
    assert!(before.contains("\"table_id\""), "{before}");
    local.rt().block_on(async {
        let db = client(&local.primary).await;
        db.delete_table().table_name(PRIMARY).send().await.unwrap();
        // dynalite deletes a moment later: made again before, the table would be the old one,
        // still DELETING (seen under load).
        (db.wait_until_table_not_exists().table_name(PRIMARY))
            .wait(Duration::from_secs(30))
            .await
            .unwrap();
        create_table(&db, PRIMARY, &thread_schema()).await;
    });
    for command in [
        &["put", "--item", &item("b")][..],
        &["get", "--key", &key("a"), "--read-from", "replica"],
    ] {
        let err = local.fails_with(1, &[command, &["--session", "s.json"]].concat());
        assert!(one_line(&err), "{err}");
        assert!(
            err.contains("session file s.json belongs to table `dyno-primary` ("),
            "{err}"
        );
        assert_eq!(
            err.matches("TableId").count(),
            2,
            "both tables named: {err}"
        );
    }
    assert_eq!(
        on_primary(&local),
        Vec::<String>::new(),
        "nothing was written"
    );
    assert_eq!(
        std::fs::read_to_string(local.path("s.json")).unwrap(),
        before
    );
}

/// Eight processes put eight keys in one session file at once: the lock makes each load, write
/// and save one step, so no save drops another's key.
#[test]
fn eight_processes_sharing_one_session_file_lose_no_key() {
    let local = Local::start("regional-shared");
    local.ok(&["create"]);
    for round in 0..2 {
        let children: Vec<_> = (0..8)
            .map(|i| {
                let subject = format!("r{round}p{i}");
                local
                    .command(&["put", "--item", &item(&subject), "--session", "s.json"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let held = loaded(&local.path("s.json")).held_keys().len();
        assert_eq!(held, 8 * (round + 1), "every process's key is in the file");
    }
    let mut names = local.entries();
    names.retain(|n| n != "s.json" && n != "s.json.lock");
    assert_eq!(names, Vec::<String>::new());
}

#[test]
fn the_session_messages_say_what_happened() {
    let local = Local::start("regional-messages");
    local.ok(&["create"]);
    let s = ["--session", "s.json", "--explain"];
    local.ok(&[&["put", "--item", &item("m")][..], &s].concat());
    // A refused conditional update: it changed nothing, and the explanation says so.
    let refused = [
        "update",
        "--key",
        &key("m"),
        "--update-expression",
        "SET Body = :b",
        "--condition",
        "attribute_not_exists(ForumName)",
        "--values",
        r#"{":b":{"S":"c"}}"#,
    ];
    let out = local.dyno(&[&refused[..], &s].concat());
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("the refused write changed nothing"), "{err}");
    assert!(!err.contains("expects the item written"), "{err}");
    // A key the session holds no record of.
    let out = local.dyno(
        &[
            &["get", "--key", &key("never"), "--read-from", "replica"][..],
            &s,
        ]
        .concat(),
    );
    assert!(
        stderr(&out).contains("holds no record of this key (never written, caught up"),
        "{}",
        stderr(&out)
    );
    // An import over the bound warns once how many keys the session forgot.
    let lines: String = (0..5).map(|i| item(&format!("i{i}")) + "\n").collect();
    std::fs::write(local.path("five.jsonl"), lines).unwrap();
    let out = local.dyno(&[
        "import",
        "five.jsonl",
        "--session",
        "b.json",
        "--session-max-keys",
        "2",
    ]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("forgot 3 keys").count(), 1, "{err}");
    // --session-max-age past its maximum names it.
    let err = local.fails(&[
        "get",
        "--key",
        &key("m"),
        "--session",
        "s.json",
        "--session-max-age",
        "31622401",
    ]);
    assert!(err.contains("31622400 (366 days)"), "{err}");
    // A failing query is neither counted nor explained as served.
    let query = [
        "query",
        "--key-condition",
        "ForumName = :nope",
        "--read-from",
        "replica",
    ];
    let out = local.dyno(&[&query[..], &s].concat());
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("served by"), "{err}");
}
