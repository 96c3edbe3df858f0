//! A session saved and loaded: as a small file (replaced only whole, see
//! `crate::ops::atomic_file`) or as a string token (URL-safe base64 of the same JSON), so that a
//! web request can carry it. Both are versioned and name the primary table they belong to (its
//! name, and its ARN and `TableId` when DynamoDB gave them: a table deleted and made again under
//! its name is another table); what cannot be read is refused in one line that names the file,
//! without quoting its keys.
//!
//! ```json
//! {"kind":"dyno-session","version":1,"table":"orders","table_arn":"arn:…","table_id":"…",
//!  "keys":[{"key":{"id":{"S":"a"}},"expect":"item:3q2+7w…","at":1767225600000}]}
//! ```
//!
//! `expect` is `item:` and the item's digest (base64), `absent` or `unknown`; `at` is when the
//! key was written (milliseconds since the Unix epoch); keys are listed oldest first.
//!
//! Reading is bounded: only a regular file is opened (never a device, a FIFO or a symbolic
//! link), of at most [`max_bytes`] (derived from the loader's `max_keys`, checked before reading
//! and while reading), parsed entry by entry (`session_parse`). A key written more than
//! [`SKEW_MS`] in the future (another host's clock) is refused; one less far ahead is taken as
//! written now. [`check_saveable`] runs the checks a save will need, so that a caller can refuse
//! a file before it writes anything, and [`lock`] keeps one process at a time on a file.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::aws::identity::{Identity, Sameness};
use crate::aws::json;
use crate::ops::atomic_file::{self, FileError};
use crate::regional::digest::Digest;
use crate::regional::session::{Expect, Held, Limits, Session, now_ms};

#[path = "session_parse.rs"]
mod parse;
#[path = "session_lock.rs"]
mod session_lock;

pub use parse::{Problem, shown};
pub use session_lock::{SessionLock, lock, lock_path};

const KIND: &str = "dyno-session";
/// The format this dyno writes and reads.
pub const VERSION: u64 = 1;
/// How far ahead of this host's clock a key's time may be (clock skew between hosts).
pub const SKEW_MS: u64 = 30_000;
/// The bytes one key may take in a saved session: the largest key DynamoDB allows (2,048 and
/// 1,024 bytes), with every byte escaped as JSON, fits.
pub const ENTRY_BYTES: u64 = 20 * 1024;
/// The most bytes a saved session may have, whatever its bound.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// A session that cannot be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "session file {path} {problem}; it was not written by dyno, or was damaged: remove it \
         (the session starts afresh) or name another file"
    )]
    Garbled {
        path: String,
        #[source]
        problem: Problem,
    },
    #[error("the session token {problem}: pass a token dyno gave, or start a new session")]
    BadToken {
        #[source]
        problem: Problem,
    },
    #[error(
        "{from} was written by a newer dyno (session format version {version}; this one reads \
         version {VERSION}): upgrade dyno, or start a new session"
    )]
    Newer { from: String, version: u64 },
    #[error(
        "{from} has a key written {ahead_s} s in the future (entry {entry}), more than the {} s \
         of clock skew tolerated: this host's clock or the writing host's is wrong; set it right, \
         or remove the file (the session starts afresh)",
        SKEW_MS / 1000
    )]
    Future {
        from: String,
        entry: usize,
        ahead_s: u64,
    },
    #[error(
        "{from} belongs to table {found}, not {expected}: keep one session per primary table \
         (after a table was deleted and made again, start a new session)"
    )]
    OtherTable {
        from: String,
        found: String,
        expected: String,
    },
    #[error(
        "{from} is {bytes} bytes, more than the {limit} a session of at most {max_keys} keys can \
         take: remove it (the session starts afresh), or raise the session's maximum keys"
    )]
    TooLarge {
        from: String,
        bytes: u64,
        limit: u64,
        max_keys: usize,
    },
    #[error("session file {path} is {what}, not a regular file: name a regular file or a new path")]
    NotRegular { path: String, what: &'static str },
    #[error("session file {path} cannot be read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "session file {path} cannot be saved: its directory {dir} does not exist: create it, or \
         name a file in an existing directory"
    )]
    NoDirectory { path: String, dir: String },
    #[error("session file {path} cannot be saved: {source}")]
    Unsavable {
        path: String,
        #[source]
        source: FileError,
    },
    #[error("the session was not saved: {0}")]
    Save(#[source] FileError),
    #[error(
        "session file {path} is in use by another process (it holds {lock}; waited {waited_s} s): \
         wait for it to finish, or name another session file"
    )]
    Locked {
        path: String,
        lock: String,
        waited_s: f64,
    },
    #[error("session file {path} cannot be locked ({lock}): {source}")]
    Lock {
        path: String,
        lock: String,
        #[source]
        source: std::io::Error,
    },
}

/// The most bytes a saved session of `limits` may have: [`ENTRY_BYTES`] per key, at most
/// [`MAX_BYTES`].
pub fn max_bytes(limits: &Limits) -> u64 {
    let keys = u64::try_from(limits.clamped().max_keys).unwrap_or(u64::MAX);
    (keys.saturating_mul(ENTRY_BYTES).saturating_add(64 * 1024)).min(MAX_BYTES)
}

/// The session as JSON text (one line).
pub fn to_json(session: &Session) -> String {
    let keys: Vec<Value> = session.held().iter().map(held_json).collect();
    let mut value = json!({"kind": KIND, "version": VERSION, "table": session.table()});
    if let Some(identity) = session.identity() {
        if let Some(arn) = &identity.arn {
            value["table_arn"] = json!(arn);
        }
        if let Some(id) = &identity.id {
            value["table_id"] = json!(id);
        }
    }
    value["keys"] = Value::Array(keys);
    value.to_string()
}

/// The session as a token: URL-safe base64 (no padding) of [`to_json`].
pub fn to_token(session: &Session) -> String {
    URL_SAFE_NO_PAD.encode(to_json(session))
}

/// A session of `table` (of `identity`, when known) from a token of [`to_token`], within
/// `limits` (now).
pub fn from_token(
    token: &str,
    table: &str,
    identity: Option<&Identity>,
    limits: Limits,
) -> Result<Session, SessionError> {
    let bad = |problem| SessionError::BadToken { problem };
    let token = token.trim();
    let limit = max_bytes(&limits);
    if token.len() as u64 > limit.saturating_mul(4) / 3 + 4 {
        return Err(SessionError::TooLarge {
            from: "the session token".to_owned(),
            bytes: token.len() as u64,
            limit,
            max_keys: limits.clamped().max_keys,
        });
    }
    let bytes = (URL_SAFE_NO_PAD.decode(token)).map_err(|_| bad(Problem::Base64))?;
    restore(&bytes, "the session token", table, identity, limits).map_err(|e| match e {
        Restore::Problem(problem) => bad(problem),
        Restore::Other(error) => error,
    })
}

/// Loads the session of `table` (of `identity`, when known) kept in `path`, within `limits`: a
/// new, empty session when the file does not exist yet or is empty (e.g. made by `mktemp`).
pub fn load(
    path: &Path,
    table: &str,
    identity: Option<&Identity>,
    limits: Limits,
) -> Result<Session, SessionError> {
    let shown = path.display().to_string();
    let limit = max_bytes(&limits);
    let too_large = |bytes| SessionError::TooLarge {
        from: format!("session file {shown}"),
        bytes,
        limit,
        max_keys: limits.clamped().max_keys,
    };
    let read = |source| SessionError::Read {
        path: shown.clone(),
        source,
    };
    let new = || Session::new(table, limits).with_identity(identity.cloned());
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(new()),
        Err(source) => return Err(read(source)),
    };
    regular(&metadata, &shown)?;
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let file = std::fs::File::open(path).map_err(read)?;
    regular(&file.metadata().map_err(read)?, &shown)?;
    let mut bytes = Vec::new();
    (file.take(limit + 1).read_to_end(&mut bytes)).map_err(read)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(new());
    }
    let from = format!("session file {shown}");
    restore(&bytes, &from, table, identity, limits).map_err(|e| match e {
        Restore::Problem(problem) => SessionError::Garbled {
            path: shown.clone(),
            problem,
        },
        Restore::Other(error) => error,
    })
}

/// Saves the session to `path`, replacing it only whole (a kill leaves the old file or the new).
pub fn save(session: &Session, path: &Path) -> Result<(), SessionError> {
    let text = to_json(session) + "\n";
    atomic_file::replace(path, text.as_bytes()).map_err(SessionError::Save)
}

/// Runs the checks [`save`] will need, without changing anything: `path` is a regular,
/// writable file with no other hard link, or a new path, in an existing directory where a file
/// can be made (one is made and removed at once).
pub fn check_saveable(path: &Path) -> Result<(), SessionError> {
    let shown = path.display().to_string();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(SessionError::NoDirectory {
            path: shown,
            dir: dir.display().to_string(),
        });
    }
    atomic_file::begin(path)
        .map(drop)
        .map_err(|source| SessionError::Unsavable {
            path: shown,
            source,
        })
}

/// Waits at most this long for another process's lock, by default.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

fn regular(metadata: &std::fs::Metadata, path: &str) -> Result<(), SessionError> {
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_symlink() {
        "a symbolic link (name the file itself)"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "a device, a FIFO or a socket"
    };
    Err(SessionError::NotRegular {
        path: path.to_owned(),
        what,
    })
}

enum Restore {
    Problem(Problem),
    Other(SessionError),
}

/// The session in `bytes`, once it is found to belong to `table` (and `identity`).
fn restore(
    bytes: &[u8],
    from: &str,
    table: &str,
    identity: Option<&Identity>,
    limits: Limits,
) -> Result<Session, Restore> {
    let now = now_ms();
    let parsed = match parse::parse(bytes, limits.clamped().max_keys, now) {
        Ok(parsed) => parsed,
        Err(Problem::Newer(version)) => {
            return Err(Restore::Other(SessionError::Newer {
                from: from.to_owned(),
                version,
            }));
        }
        Err(Problem::Future { entry, ahead_s }) => {
            return Err(Restore::Other(SessionError::Future {
                from: from.to_owned(),
                entry,
                ahead_s,
            }));
        }
        Err(problem) => return Err(Restore::Problem(problem)),
    };
    let other = identity.is_some_and(|i| parsed.identity.compare(i) == Sameness::Different);
    if parsed.table != table || other {
        let named = |name: &str, identity: Option<&Identity>| match identity {
            Some(i) if i.id.is_some() || i.arn.is_some() => {
                format!("`{}` ({})", shown(name), i.shown())
            }
            _ => format!("`{}`", shown(name)),
        };
        return Err(Restore::Other(SessionError::OtherTable {
            from: from.to_owned(),
            found: named(&parsed.table, Some(&parsed.identity)),
            expected: named(table, identity),
        }));
    }
    let session = Session::restore(table, limits, parsed.held, now);
    Ok(session.with_identity(identity.cloned().or(Some(parsed.identity))))
}

fn held_json(held: &Held) -> Value {
    let expect = match held.expect {
        Expect::Item(Digest(bytes)) => format!("item:{}", STANDARD.encode(bytes)),
        Expect::Absent => "absent".to_owned(),
        Expect::Unknown => "unknown".to_owned(),
    };
    let key: Value = serde_json::from_str(&json::to_json(&held.key)).unwrap_or(Value::Null);
    json!({"key": key, "expect": expect, "at": held.at_ms})
}

#[cfg(test)]
#[path = "session_file_tests.rs"]
mod tests;
