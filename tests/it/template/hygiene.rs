//! The SAM templates: logging and credentials.

use super::*;

/// The AWS SDK logs whole request and response bodies (items) at trace level; the function must
/// not run at it (`tests/it/logs.rs` shows debug and below keep item content out of the logs).
#[test]
fn function_never_logs_at_trace_level() {
    let doc = template();
    let function = get(&doc, &["Resources", "ReplicatorFunction", "Properties"]);
    let rust_log = get(function, &["Environment", "Variables", "RUST_LOG"])
        .as_str()
        .expect("RUST_LOG is a literal")
        .to_ascii_lowercase();
    assert!(!rust_log.contains("trace"), "RUST_LOG={rust_log}");
    let level = get(function, &["LoggingConfig"])
        .get("ApplicationLogLevel")
        .and_then(Value::as_str)
        .unwrap_or("INFO");
    assert_ne!(level.to_ascii_uppercase(), "TRACE");
}

/// No access key, secret or session token in the templates, the sample events or the sources.
#[test]
fn no_credentials_in_template_events_or_sources() {
    let root = common::project_root();
    let mut files = vec![
        root.join("template.yaml"),
        root.join("replica-account.yaml"),
    ];
    for dir in ["events", "src", "src/bin"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    assert!(files.len() > 5);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let where_ = format!("{}:{}", file.display(), n + 1);
            // A secret access key: exactly 40 base64 characters, mixed case and digits.
            for run in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '+')) {
                let secret_like = run.len() == 40
                    && run.chars().any(|c| c.is_ascii_uppercase())
                    && run.chars().any(|c| c.is_ascii_lowercase())
                    && run.chars().any(|c| c.is_ascii_digit());
                assert!(!secret_like, "{where_}: looks like a secret access key");
            }
            let bytes = line.as_bytes();
            for i in 0..bytes.len().saturating_sub(19) {
                let id = &bytes[i..i + 20];
                let looks_like_key = (id.starts_with(b"AKIA") || id.starts_with(b"ASIA"))
                    && id[4..]
                        .iter()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                assert!(!looks_like_key, "{where_}: an access key id");
            }
        }
    }
}
