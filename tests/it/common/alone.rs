//! A test that needs its process to itself (a global metrics recorder, a global log subscriber)
//! runs again, alone, in a child process of this same test binary.

use std::process::Command;

/// Set in the child: the test's body runs there.
const ALONE: &str = "DYNO_TEST_ALONE";

/// In the child, true: run the test's body. In the parent, runs the test `path` (as
/// `module_path!()` spells it, `it::metrics::name`) alone in a child process, checks that exactly
/// that one test ran and passed, and returns false.
pub fn in_own_process(path: &str) -> bool {
    if std::env::var_os(ALONE).is_some() {
        return true;
    }
    let name = path.split_once("::").map_or(path, |(_, name)| name);
    let binary = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(binary)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, "1")
        .output()
        .expect("running the test in a process of its own");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name}, alone in its own process: {}\n{stdout}\n{stderr}",
        output.status
    );
    false
}
