//! What the reading and writing subcommands share about sessions: `--session FILE` (kept in
//! FILE between calls, replaced only whole, bounded by `--session-max-keys` and
//! `--session-max-age`), `--explain` (which table served each read, and why, on standard
//! error), and `--read-from` for the reads.
//!
//! Opening a session does, before anything is written, every check its save will need (the
//! file, its directory), then locks it (`FILE.lock`: another dyno using it is waited for) and
//! loads it, refusing one of another table. A session open when the process is interrupted
//! (Ctrl-C, SIGTERM) is saved then with what was written (see `main`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dyno::aws::identity::Identity;
use dyno::aws::json::Item;
use dyno::aws::table::Table;
use dyno::regional::reader::ReadFrom;
use dyno::regional::session::{Expect, Limits, Session};
use dyno::regional::session_file::{self, SessionLock};

use crate::failure::{Failure, usage};

/// `--session`, its bounds, and `--explain`.
#[derive(clap::Args, Clone, Debug)]
pub struct SessionArgs {
    /// Keep a session in FILE (created if missing; replaced only whole; locked through
    /// FILE.lock while a command uses it): reads with `--read-from replica --session FILE` see
    /// the writes made with `--session FILE`.
    #[arg(long, value_name = "FILE")]
    pub session: Option<PathBuf>,
    /// The session keeps at most this many keys (the one written longest ago is forgotten
    /// first).
    #[arg(long, default_value_t = 1_000, requires = "session",
          value_parser = clap::value_parser!(u64).range(1..=Limits::MAX_KEYS as u64))]
    pub session_max_keys: u64,
    /// Seconds after which a key leaves the session: the longest replication lag you expect
    /// (at most 366 days).
    #[arg(long, default_value_t = 60.0, requires = "session", value_parser = seconds)]
    pub session_max_age: f64,
    /// Say on standard error which table served each read and why (and, for a write, what the
    /// session recorded).
    #[arg(long)]
    pub explain: bool,
}

/// Where a read goes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadTable {
    /// The local replica (`--replica-table`); in a session, the primary for keys the replica
    /// has not caught up with.
    Replica,
    /// The primary (`--table`), a consistent read.
    Primary,
}

impl ReadTable {
    pub fn read_from(self) -> ReadFrom {
        match self {
            ReadTable::Replica => ReadFrom::Replica,
            ReadTable::Primary => ReadFrom::Primary,
        }
    }
}

/// `--session-max-age`: a number of seconds above 0, at most 366 days.
fn seconds(text: &str) -> Result<f64, String> {
    let max = Limits::MAX_AGE.as_secs();
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= max as f64 => Ok(s),
        _ => Err(format!(
            "expected a number of seconds above 0 and at most {max} (366 days), e.g. 60 or 0.5"
        )),
    }
}

/// A session loaded from its file and locked, to save again if it changed.
#[derive(Clone)]
pub struct Kept(Arc<Open>);

struct Open {
    session: Session,
    path: PathBuf,
    loaded: u64,
    /// Saved (or given up) by the command: nothing left to save on an interruption.
    finished: AtomicBool,
    _lock: SessionLock,
}

/// The sessions this process opened, for `main` to save on an interruption.
static OPEN: Mutex<Vec<Arc<Open>>> = Mutex::new(Vec::new());

impl SessionArgs {
    fn limits(&self) -> Result<Limits, Failure> {
        let max_keys = usize::try_from(self.session_max_keys).unwrap_or(usize::MAX);
        let max_age = Duration::try_from_secs_f64(self.session_max_age)
            .map_err(|_| usage("--session-max-age: not a number of seconds"))?;
        Limits::new(max_keys, max_age).map_err(|e| usage(format!("--session-max-age: {e}")))
    }

    /// The session of `--session` for the primary `table` (of `identity`, asked of DynamoDB
    /// when not given), if given. Stops the command here, before anything is written, when
    /// the file cannot be read, belongs to another table, or could not be saved.
    pub async fn open(
        &self,
        table: &Table,
        identity: Option<&Identity>,
    ) -> Result<Option<Kept>, Failure> {
        let Some(path) = &self.session else {
            return Ok(None);
        };
        let limits = self.limits()?;
        session_file::check_saveable(path)?;
        let lock = session_file::lock(path, session_file::LOCK_WAIT).await?;
        let identity = match identity {
            Some(identity) => identity.clone(),
            None => table.identity().await?,
        };
        let session = session_file::load(path, &table.name, Some(&identity), limits)?;
        let open = Arc::new(Open {
            loaded: session.revision(),
            session,
            path: path.clone(),
            finished: AtomicBool::new(false),
            _lock: lock,
        });
        (OPEN.lock().unwrap_or_else(|p| p.into_inner())).push(open.clone());
        crate::on_interrupt(save_interrupted);
        Ok(Some(Kept(open)))
    }
}

/// On an interruption: saves every session not saved yet, with what its writes recorded (a
/// write cut short as unknown). One line each.
fn save_interrupted() -> Vec<String> {
    let open = std::mem::take(&mut *OPEN.lock().unwrap_or_else(|p| p.into_inner()));
    let unsaved = open
        .into_iter()
        .filter(|o| !o.finished.load(Ordering::SeqCst));
    unsaved
        .map(|open| {
            let kept = Kept(open);
            match kept.save() {
                Ok(()) => format!(
                    "session {} saved with what was written: {} keys held (a write cut short \
                     as of unknown outcome: the primary decides its reads)",
                    kept.path().display(),
                    kept.session().len()
                ),
                Err(failure) => format!("warning: {}", failure.one_line()),
            }
        })
        .collect()
}

impl Kept {
    pub fn session(&self) -> &Session {
        &self.0.session
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Writes the session back, if it changed (whole: a kill leaves the old file or the new).
    pub fn save(&self) -> Result<(), Failure> {
        self.0.finished.store(true, Ordering::SeqCst);
        if self.session().revision() == self.0.loaded && self.path().exists() {
            return Ok(());
        }
        session_file::save(self.session(), self.path())?;
        Ok(())
    }

    /// Saves the session after a write (`what`, e.g. "the put"), whatever the write's result.
    /// A session not saved after a write that was made says so: the write stands, and the
    /// session lost its record of it. After a failed write, the write's error comes first, and
    /// a session that could not be saved then is said on a line of its own.
    pub fn save_after_write<T>(
        &self,
        what: &str,
        result: Result<T, Failure>,
    ) -> Result<T, Failure> {
        match (result, self.save()) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(unsaved)) => Err(usage(format!(
                "{what} was made, but {}: session file {} does not hold this write, so a read in \
                 that session may not see it until the replica has it",
                unsaved.one_line(),
                self.path().display()
            ))),
            (Err(failure), Ok(())) => Err(failure),
            (Err(failure), Err(unsaved)) => {
                eprintln!(
                    "warning: {}: session file {} does not hold what this write may have done",
                    unsaved.one_line(),
                    self.path().display()
                );
                Err(failure)
            }
        }
    }

    /// Saves the session after a read, whatever its result (what the read learned: keys caught
    /// up, a newer item seen on the primary). A read that succeeded but whose session was not
    /// saved says what the session lost.
    pub fn save_after_read<T>(&self, result: Result<T, Failure>) -> Result<T, Failure> {
        match (result, self.save()) {
            (result, Ok(())) => result,
            (Ok(_), Err(unsaved)) => Err(usage(format!(
                "the read was served, but {}: session file {} lost what the read learned (keys \
                 caught up, newer items seen on the primary)",
                unsaved.one_line(),
                self.path().display()
            ))),
            (Err(failure), Err(unsaved)) => {
                eprintln!("warning: {}", unsaved.one_line());
                Err(failure)
            }
        }
    }

    /// `--explain` after a write of `key`: what the session now expects of it. `recorded`:
    /// whether the write recorded anything (a refused write changed nothing).
    pub fn explain_write(&self, key: &Item, recorded: bool) {
        let state = match self.session().expected(key) {
            _ if !recorded => "the refused write changed nothing, in the table or the session",
            Some(Expect::Item(_)) => "expects the item written (by its digest)",
            Some(Expect::Absent) => "expects absent (deleted)",
            Some(Expect::Unknown) => "expects an unknown outcome: the primary decides",
            None => "the session holds no record of this key",
        };
        eprintln!(
            "explain: session {}: {}: {state}; {} keys held",
            self.path().display(),
            dyno::aws::json::to_json(key),
            self.session().len()
        );
    }
}
