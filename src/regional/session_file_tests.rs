//! Sessions saved and loaded, as files and tokens; what cannot be read is refused by name.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;
use crate::aws::identity::Identity;
use crate::aws::json::Item;

fn key(id: &str) -> Item {
    HashMap::from([
        ("ForumName".to_owned(), AttributeValue::S("f".to_owned())),
        ("n".to_owned(), AttributeValue::N(id.to_owned())),
    ])
}

fn session() -> Session {
    let session = Session::new("orders", Limits::default());
    let mut item = key("1");
    item.insert("body".into(), AttributeValue::S("x".into()));
    session.record(key("1"), Expect::of(Some(&item)));
    session.record(key("2"), Expect::Absent);
    session.record(key("3"), Expect::Unknown);
    session
}

fn dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dyno-session-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_token_and_a_file_give_the_session_back() {
    let original = session();
    let token = to_token(&original);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let again = from_token(&token, "orders", None, Limits::default()).unwrap();
    assert_eq!(again.held(), original.held());

    let d = dir("file");
    let path = d.join("s.json");
    save(&original, &path).unwrap();
    let loaded = load(&path, "orders", None, Limits::default()).unwrap();
    assert_eq!(loaded.held(), original.held());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\"kind\":\"dyno-session\""), "{text}");
    // No item content is kept: only keys and digests.
    assert!(!text.contains("\"body\""), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_missing_or_empty_file_is_a_new_session() {
    let d = dir("new");
    let path = d.join("none.json");
    assert!(
        load(&path, "orders", None, Limits::default())
            .unwrap()
            .is_empty()
    );
    std::fs::write(&path, "\n").unwrap();
    assert!(
        load(&path, "orders", None, Limits::default())
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_loaded_session_keeps_the_loaders_bounds() {
    let token = to_token(&session());
    let two = Limits {
        max_keys: 2,
        max_age: Duration::from_secs(60),
    };
    let loaded = from_token(&token, "orders", None, two).unwrap();
    assert_eq!(loaded.held_keys(), [key("2"), key("3")]);
}

#[test]
fn what_cannot_be_read_is_refused_in_one_line_naming_the_file() {
    let d = dir("garbled");
    let path = d.join("s.json");
    let good = to_json(&session());
    let cases: Vec<(String, &str)> = vec![
        ("{\"kind\":\"dyno-sess".into(), "is not JSON"),
        ("\u{0}\u{1}binary".into(), "is not JSON"),
        ("[1,2]".into(), "is not a dyno session"),
        (
            "{\"name\":\"dyno\",\"version\":\"1.0.0\"}".into(),
            "is not a dyno session",
        ),
        (good.replace("\"version\":1", "\"version\":0"), "version 0"),
        (good.replace("\"table\":\"orders\",", ""), "has no table"),
        (good.replace("\"absent\"", "\"gone\""), "entry 2"),
        (good.replace("\"item:", "\"item:!!"), "not base64"),
        (
            good.replace("{\"N\":\"2\"}", "{\"Q\":\"2\"}"),
            "not DynamoDB JSON",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&path, &text).unwrap();
        let message = load(&path, "orders", None, Limits::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(expected), "{expected}: {message}");
        assert!(!message.contains('\n'), "{message}");
        // The file is left as it was.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn another_tables_session_or_a_bad_token_is_refused() {
    let token = to_token(&session());
    let message = from_token(&token, "users", None, Limits::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("`orders`, not `users`"), "{message}");
    let message = from_token("not a token!", "orders", None, Limits::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("is not base64"), "{message}");
    let message = from_token(
        &URL_SAFE_NO_PAD.encode("{}"),
        "orders",
        None,
        Limits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("not a dyno session"), "{message}");
}

#[test]
fn a_save_replaces_the_file_whole_and_leaves_nothing_beside_it() {
    let d = dir("save");
    let path = d.join("s.json");
    std::fs::write(&path, "old").unwrap();
    save(&session(), &path).unwrap();
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["s.json"]);
    assert_eq!(
        load(&path, "orders", None, Limits::default())
            .unwrap()
            .len(),
        3
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn refused(text: &str) -> String {
    let d = dir(&format!("refused-{}", text.len()));
    let path = d.join("s.json");
    std::fs::write(&path, text).unwrap();
    let message = load(&path, "orders", None, Limits::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("s.json"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    let _ = std::fs::remove_dir_all(&d);
    message
}

#[test]
fn a_newer_version_a_fractional_one_a_duplicate_or_an_odd_name_is_told_as_such() {
    let good = to_json(&session());
    let message = refused(&good.replace("\"version\":1", "\"version\":2"));
    assert!(message.contains("written by a newer dyno"), "{message}");
    assert!(message.contains("upgrade dyno"), "{message}");
    assert!(!message.contains("not written by dyno"), "{message}");
    let message = refused(&good.replace("\"version\":1", "\"version\":1.0"));
    assert!(message.contains("not a whole number"), "{message}");
    // A field given twice, at the top, in an entry, or in a key.
    let twice = [
        good.replacen("{\"kind\"", "{\"table\":\"x\",\"kind\"", 1),
        good.replacen("\"at\":", "\"at\":1,\"at\":", 1),
        good.replacen("{\"ForumName\"", "{\"n\":{\"N\":\"1\"},\"ForumName\"", 1),
    ];
    for text in twice {
        let message = refused(&text);
        assert!(message.contains("twice"), "{message}");
    }
    let message = refused(&good.replacen("{\"kind\"", "{\"extra\":1,\"kind\"", 1));
    assert!(message.contains("does not know (extra)"), "{message}");
    // A table name with control characters and an escape sequence is shown escaped, on one line.
    let message = refused(&good.replace("\"orders\"", "\"ord\\u001b[31m\\nrs\""));
    assert!(message.contains("ord\\u{1b}[31m\\u{a}rs"), "{message}");
    assert!(!message.contains('\u{1b}'), "{message}");
    // A readable name of another table is named too.
    let message = refused(&good.replace("\"orders\"", "\"users\""));
    assert!(message.contains("`users`, not `orders`"), "{message}");
    // A key number DynamoDB cannot store names its attribute.
    let message = refused(&good.replace("{\"N\":\"2\"}", "{\"N\":\"10e9223372036854775807\"}"));
    assert!(message.contains("key attribute `n`"), "{message}");
}

#[test]
fn a_file_or_token_too_large_for_the_bound_is_refused_before_it_is_read() {
    let d = dir("large");
    let path = d.join("s.json");
    let one = Limits::new(1, Duration::from_secs(60)).unwrap();
    assert_eq!(max_bytes(&one), ENTRY_BYTES + 64 * 1024);
    assert_eq!(
        max_bytes(&Limits::new(Limits::MAX_KEYS, Duration::from_secs(1)).unwrap()),
        MAX_BYTES
    );
    // A sparse file of 1 GB: refused by its length, at once, without reading it.
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(1 << 30).unwrap();
    let started = std::time::Instant::now();
    let message = load(&path, "orders", None, one).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        message.contains("1073741824 bytes, more than the 86016"),
        "{message}"
    );
    // A session file of many keys, loaded with a small bound: only the newest are kept.
    let big = Session::new("orders", Limits::default());
    for i in 0..200 {
        big.record(key(&i.to_string()), Expect::Absent);
    }
    save(&big, &path).unwrap();
    let ten = Limits::new(10, Duration::from_secs(60)).unwrap();
    assert_eq!(
        load(&path, "orders", None, ten).unwrap().held_keys()[9],
        key("199")
    );
    let token = to_token(&big);
    let message = from_token(&"A".repeat(200_000), "orders", None, one)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("the session token is 200000 bytes"),
        "{message}"
    );
    assert_eq!(from_token(&token, "orders", None, ten).unwrap().len(), 10);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_device_a_fifo_or_a_symbolic_link_is_refused_without_being_opened() {
    let d = dir("special");
    let fifo = d.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let link = d.join("link");
    std::fs::write(d.join("real"), "").unwrap();
    std::os::unix::fs::symlink(d.join("real"), &link).unwrap();
    for (path, what) in [
        (Path::new("/dev/zero"), "a device, a FIFO or a socket"),
        (fifo.as_path(), "a device, a FIFO or a socket"),
        (link.as_path(), "a symbolic link"),
        (d.as_path(), "a directory"),
    ] {
        let started = std::time::Instant::now();
        let message = load(path, "orders", None, Limits::default())
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < Duration::from_secs(1), "{message}");
        assert!(message.contains(what), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_key_written_in_the_future_is_refused_beyond_the_skew_and_taken_as_now_within_it() {
    let good = to_json(&session());
    let at = |text: &str, at: u64| {
        let start = text.find("\"at\":").unwrap() + 5;
        let end = start + text[start..].find('}').unwrap();
        format!("{}{at}{}", &text[..start], &text[end..])
    };
    let message = refused(&at(&good, u64::MAX));
    assert!(message.contains("in the future (entry 1)"), "{message}");
    assert!(message.contains("clock"), "{message}");
    let token = URL_SAFE_NO_PAD.encode(at(&good, now_ms() + SKEW_MS / 2));
    let loaded = from_token(&token, "orders", None, Limits::default()).unwrap();
    assert!(loaded.held().iter().all(|h| h.at_ms <= now_ms()));
}

#[test]
fn a_session_of_a_table_made_again_under_its_name_is_refused_naming_both() {
    let identity = |id: &str| Identity {
        id: Some(id.to_owned()),
        arn: Some("arn:aws:dynamodb:us-east-1:1:table/orders".to_owned()),
    };
    let original = session().with_identity(Some(identity("old-id")));
    let token = to_token(&original);
    let same = from_token(
        &token,
        "orders",
        Some(&identity("old-id")),
        Limits::default(),
    );
    assert_eq!(same.unwrap().identity(), Some(&identity("old-id")));
    let message = from_token(
        &token,
        "orders",
        Some(&identity("new-id")),
        Limits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("TableId old-id"), "{message}");
    assert!(message.contains("TableId new-id"), "{message}");
    // Without an identity on either side, the name decides.
    assert!(
        from_token(
            &to_token(&session()),
            "orders",
            Some(&identity("x")),
            Limits::default()
        )
        .is_ok()
    );
}

#[test]
fn what_a_save_will_need_is_checked_before_anything_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let d = dir("saveable");
    let real = d.join("real.json");
    std::fs::write(&real, "").unwrap();
    let link = d.join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let hard = d.join("hard.json");
    std::fs::write(&hard, "").unwrap();
    std::fs::hard_link(&hard, d.join("other")).unwrap();
    let read_only = d.join("ro.json");
    std::fs::write(&read_only, "").unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
    let missing = d.join("nowhere").join("s.json");
    for (path, what) in [
        (link.as_path(), "symbolic link"),
        (hard.as_path(), "other hard links"),
        (read_only.as_path(), "read-only"),
        (Path::new("/dev/null"), "not a regular file"),
        (missing.as_path(), "does not exist"),
    ] {
        let message = check_saveable(path).unwrap_err().to_string();
        assert!(message.contains(what), "{what}: {message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
    check_saveable(&real).unwrap();
    check_saveable(&d.join("new.json")).unwrap();
    assert!(!d.join("new.json").exists());
    let mut names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["hard.json", "link.json", "other", "real.json", "ro.json"]
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_locked_session_file_is_waited_for_then_named() {
    let d = dir("lock");
    let path = d.join("s.json");
    let held = lock(&path, Duration::ZERO).await.unwrap();
    assert_eq!(held.path(), d.join("s.json.lock"));
    let started = std::time::Instant::now();
    let message = lock(&path, Duration::from_millis(200))
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(message.contains("in use by another process"), "{message}");
    assert!(message.contains("s.json.lock"), "{message}");
    drop(held);
    lock(&path, Duration::ZERO).await.unwrap();
    let _ = std::fs::remove_dir_all(&d);
}
