//! `dyno import` and `dyno export`: an export that fails never touches the file it would
//! replace; an import that fails names the failing line and says how to resume.

use crate::common;

use common::faults::{Fault, FaultProxy, Plan};
use common::local::Local;
use common::*;

use super::{KEY, one_line, thread_line};

#[test]
fn export_never_touches_the_file_when_it_fails() {
    let local = Local::start("export");
    local.ok(&["create"]);
    local.ok(&["put", "--item", KEY]);
    let backup = local.dir.join("backup.jsonl");
    std::fs::write(&backup, "precious\n").unwrap();
    let target = backup.to_str().unwrap();

    // A missing table, then a refused connection: the backup stays as it was.
    let err = local.fails(&["--table", "no-such-table", "export", target]);
    assert!(one_line(&err), "{err}");
    assert!(err.contains("--table=no-such-table"), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
    assert!(err.contains("was not touched"), "{err}");
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let err = local.fails(&["--endpoint-url", &closed, "export", target]);
    assert!(one_line(&err), "{err}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "precious\n");

    // A successful export replaces it, and leaves no temporary file behind.
    local.ok(&["export", target]);
    let exported = std::fs::read_to_string(&backup).unwrap();
    assert!(
        exported.starts_with(r#"{"Item":{"ForumName""#),
        "{exported}"
    );
    let files: Vec<_> = std::fs::read_dir(&local.dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

/// An export that fails on its second `Scan` page, after the first page's items were written
/// out: the target file keeps its old bytes and no temporary file is left beside it.
#[test]
fn export_failing_after_its_first_page_leaves_the_file_as_it_was() {
    let local = Local::start("export-pages");
    local.ok(&["create"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    // 40 items of 60 KB: more than one 1 MB page.
    let big = |i: usize| thread_item("big", &format!("t{i:03}"), &"x".repeat(60_000));
    let (proxy, pages) = rt.block_on(async {
        let c = client(&local.primary).await;
        put_items(&c, PRIMARY, (0..40).map(big).collect()).await;
        let mut pages = 0;
        let mut scan = c.scan().table_name(PRIMARY).into_paginator().send();
        while let Some(page) = scan.next().await {
            page.expect("Scan");
            pages += 1;
        }
        (FaultProxy::start(local.primary.port).await, pages)
    });
    assert!(pages > 1, "{pages} page(s)");
    let backup = local.dir.join("backup.jsonl");
    std::fs::write(&backup, "precious\n").unwrap();
    let target = backup.to_str().unwrap();
    let through = ["--endpoint-url", &proxy.endpoint, "--max-attempts", "3"];

    // The first page is answered; every attempt at the second fails.
    let fault = Some(Fault::InternalServerError);
    proxy.set_plan(Plan::script(&["Scan"], &[None, fault, fault, fault]));
    let err = local.fails(&[&through[..], &["export", target]].concat());
    assert!(one_line(&err), "{err}");
    assert!(err.contains("was not touched"), "{err}");
    let stats = proxy.stats();
    assert_eq!(
        stats.injected("Scan", Fault::InternalServerError),
        3,
        "{stats:?}"
    );
    assert_eq!(stats.requests.get("Scan"), Some(&4), "{stats:?}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "precious\n");
    let files: Vec<_> = std::fs::read_dir(&local.dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");

    // Answered in full, it replaces the file with every item, and leaves nothing else.
    proxy.set_plan(Plan::off());
    local.ok(&[&through[..], &["export", target]].concat());
    let exported = std::fs::read_to_string(&backup).unwrap();
    assert_eq!(exported.lines().count(), 40);
    let files: Vec<_> = std::fs::read_dir(&local.dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn import_names_the_failing_line_and_says_how_to_resume() {
    let local = Local::start("import");
    local.ok(&["create"]);
    let file = local.dir.join("items.jsonl");
    let path = file.to_str().unwrap();
    let mut lines: Vec<String> = (1..=1200).map(|i| thread_line(i, "v")).collect();

    // A line that is not JSON: everything before it is in, and the message says so.
    lines[699] = "{not json".into();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err = local.fails(&["import", path]);
    assert!(one_line(&err), "{err}");
    assert!(err.contains("line 700"), "{err}");
    assert!(err.contains("699 items written"), "{err}");
    assert!(err.contains("--skip-lines 699"), "{err}");
    assert_eq!(local.count(&[]), 699);

    // A line the server refuses (an item over 400 KB): named, with the service's code, and
    // quoting no value of it.
    lines[699] = thread_line(700, &format!("s3cr3t{}", "x".repeat(410 * 1024)));
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err = local.fails(&["import", "--skip-lines", "600", path]);
    assert!(one_line(&err), "{err}");
    assert!(
        err.contains("line 700") && err.contains("ValidationException"),
        "{err}"
    );
    assert!(err.contains("every line up to 699 is in"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");

    // Fixed, and resumed after line 699: every line is in.
    lines[699] = thread_line(700, "v");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err =
        String::from_utf8(local.dyno(&["import", "--skip-lines", "699", path]).stderr).unwrap();
    assert!(
        err.contains("imported 501 items") && err.contains("every line up to 1200 is in"),
        "{err}"
    );
    assert_eq!(local.count(&[]), 1200);

    // The same key on two lines of one batch: the batch is split there, the later line wins.
    let twice = [
        thread_line(1, "first"),
        thread_line(5000, "x"),
        thread_line(1, "later"),
    ];
    std::fs::write(&file, twice.join("\n")).unwrap();
    let err = String::from_utf8(local.dyno(&["import", path]).stderr).unwrap();
    assert!(err.contains("imported 3 items"), "{err}");
    let key = r#"{"ForumName":{"S":"bulk"},"Subject":{"S":"t0001"}}"#;
    assert!(local.ok(&["get", "--key", key]).contains("later"));
}
