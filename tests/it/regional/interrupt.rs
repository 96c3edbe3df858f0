//! A session command interrupted: an import of 40,000 lines stopped by a real SIGINT, then
//! another by SIGTERM, each part-way; each exits 130 or 143 and saves its session file holding
//! every key the primary got (the oracle: a plain scan of the primary, and the library's loader).

use std::process::Stdio;
use std::time::{Duration, Instant};

use dyno::regional::session::Expect;

use super::common::local::Local;
use super::common::*;
use super::session_files::{loaded, on_primary, stderr};

/// An import is interrupted part-way, by SIGINT then (another import) by SIGTERM: each exits
/// with 130 or 143, and its session file holds every key the import wrote.
#[test]
fn an_interrupted_import_saves_its_session_with_what_it_wrote() {
    let local = Local::start("regional-interrupt");
    local.ok(&["create"]);
    const LINES: usize = 40_000;
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let forum = format!("sig{code}");
        let lines: String = (0..LINES)
            .map(|i| {
                format!(
                    "{{\"ForumName\":{{\"S\":\"{forum}\"}},\"Subject\":{{\"S\":\"{i:06}\"}}}}\n"
                )
            })
            .collect();
        let input = format!("{forum}.jsonl");
        std::fs::write(local.path(&input), lines).unwrap();
        let session = format!("{forum}.json");
        let args = [
            "import",
            &input,
            "--session",
            &session,
            "--session-max-keys",
            "100000",
        ];
        let child = local
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let written = || on_primary(&local).iter().filter(|s| s.len() == 6).count();
        let mut seen = 0;
        while seen < 300 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the import wrote {seen}"
            );
            std::thread::sleep(Duration::from_millis(20));
            seen = written();
        }
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{signal}: {err}");
        assert!(err.contains("interrupted"), "{err}");
        assert!(
            err.contains(&format!("session {session} saved with what was written")),
            "{err}"
        );
        let on_primary: Vec<String> = on_primary(&local)
            .into_iter()
            .filter(|s| s.len() == 6)
            .collect();
        let count = on_primary.len();
        eprintln!("{signal}: {count} of {LINES} lines written before the signal took effect");
        assert!(
            count < LINES,
            "the import ended before the signal: make it longer"
        );
        let held = loaded(&local.path(&session));
        for subject in on_primary {
            let k = dyno::aws::json::parse_item(&format!(
                "{{\"ForumName\":{{\"S\":\"{forum}\"}},\"Subject\":{{\"S\":\"{subject}\"}}}}"
            ))
            .unwrap();
            let expect = held.expected(&k);
            assert!(
                matches!(expect, Some(Expect::Item(_) | Expect::Unknown)),
                "{signal}: {subject} was written but the session holds {expect:?}"
            );
        }
        // Clean up the lines of this round so that the next counts only its own.
        local.rt().block_on(async {
            let db = client(&local.primary).await;
            let items = scan_all(&db, PRIMARY, &thread_schema()).await;
            for item in items.values() {
                let key = thread_schema().key_of_item(item).unwrap().to_attributes();
                db.delete_item()
                    .table_name(PRIMARY)
                    .set_key(Some(key))
                    .send()
                    .await
                    .unwrap();
            }
        });
    }
}
