//! Checkpoints of long work, so that a restart resumes: per shard of the local event source
//! mapping, the last sequence number processed (or that the shard was read to its end, after a
//! split or a merge); per segment of a scan (a backfill), the last key whose work is done (or
//! that the segment is done). Kept in a JSON file replaced whole on every change (written beside
//! it, then renamed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::ops::atomic_file::{self, FileError};

/// The mark of a shard read to its end, or a segment scanned to its end.
pub const END: &str = "END";

/// The format a checkpoint file declares, so that no other JSON file is taken for one.
const FORMAT: &str = "dyno-checkpoint/1";

/// What a checkpoint belongs to: the kind of work (`backfill`, `replicate`) and what it works
/// on (the table, the stream, where keys go), each named. A file of other work is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub kind: String,
    pub of: BTreeMap<String, String>,
}

impl Owner {
    /// Work of `kind`.
    pub fn new(kind: &str) -> Self {
        Owner {
            kind: kind.to_owned(),
            of: BTreeMap::new(),
        }
    }

    /// … on `value` (named `name`: `table`, `stream`, `keys to`).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.of.insert(name.to_owned(), value.into());
        self
    }
}

/// The file, as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    #[serde(flatten)]
    owner: Owner,
    positions: BTreeMap<String, String>,
}

/// Where each shard (or segment) was left.
#[derive(Debug)]
pub struct Checkpoints {
    path: Option<PathBuf>,
    owner: Owner,
    positions: Mutex<BTreeMap<String, String>>,
}

/// The checkpoint file cannot be read or written, or belongs to other work; names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint file {0}")]
    Replace(#[source] FileError),
    #[error(
        "checkpoint file {path} is not a dyno checkpoint ({reason}): it was left as it is; name \
         a new file"
    )]
    NotACheckpoint { path: String, reason: String },
    #[error(
        "checkpoint file {path} is a {found} checkpoint, not a {expected} one: name another file"
    )]
    OtherKind {
        path: String,
        found: String,
        expected: String,
    },
    #[error(
        "checkpoint file {path} belongs to another {kind} ({differs}): name another file, or \
         remove it to start over"
    )]
    OtherRun {
        path: String,
        kind: String,
        differs: String,
    },
}

impl Checkpoints {
    /// Loads `path` if it exists (`None`: positions are kept in memory only), refusing a file
    /// that is not a checkpoint of `owner`'s work.
    pub fn load(path: Option<PathBuf>, owner: Owner) -> Result<Self, CheckpointError> {
        let positions = match &path {
            Some(p) if p.exists() => read(p, &owner)?,
            _ => BTreeMap::new(),
        };
        Ok(Checkpoints {
            path,
            owner,
            positions: Mutex::new(positions),
        })
    }

    /// Positions kept in memory only.
    pub fn in_memory() -> Self {
        Checkpoints {
            path: None,
            owner: Owner::default(),
            positions: Mutex::new(BTreeMap::new()),
        }
    }

    /// How many shards or segments the file already holds a position for.
    pub fn len(&self) -> usize {
        self.positions.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// True when no position is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The position recorded for `id` (a shard's last sequence number, a segment's last key),
    /// if any, and if it is not read to its end.
    pub fn after(&self, shard: &str) -> Option<String> {
        self.get(shard).filter(|p| p != END)
    }

    /// True when `id` (a shard, a segment) was read to its end.
    pub fn ended(&self, shard: &str) -> bool {
        self.get(shard).as_deref() == Some(END)
    }

    fn get(&self, shard: &str) -> Option<String> {
        self.positions.lock().ok()?.get(shard).cloned()
    }

    /// Records that everything up to `sequence` on `shard` is processed.
    pub fn set(&self, shard: &str, sequence: &str) -> Result<(), CheckpointError> {
        self.save(shard, sequence)
    }

    /// Records that `shard` was read to its end.
    pub fn end(&self, shard: &str) -> Result<(), CheckpointError> {
        self.save(shard, END)
    }

    /// Records the position and replaces the file whole, under the lock, so that a later
    /// position is never overwritten by an earlier one.
    fn save(&self, shard: &str, position: &str) -> Result<(), CheckpointError> {
        let mut positions = self
            .positions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        positions.insert(shard.to_owned(), position.to_owned());
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = File {
            format: FORMAT.to_owned(),
            owner: self.owner.clone(),
            positions: positions.clone(),
        };
        // Serializing maps of strings cannot fail.
        let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        atomic_file::replace(path, &bytes).map_err(CheckpointError::Replace)
    }
}

/// The positions of `path`, once it is known to be a checkpoint of `owner`'s work.
fn read(path: &Path, owner: &Owner) -> Result<BTreeMap<String, String>, CheckpointError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::File {
        path: shown.clone(),
        source,
    })?;
    let file: File = serde_json::from_slice(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|f: File| match f.format == FORMAT {
            true => Ok(f),
            false => Err(format!("its format is {:?}, not {FORMAT:?}", f.format)),
        })
        .map_err(|reason| CheckpointError::NotACheckpoint {
            path: shown.clone(),
            reason,
        })?;
    if file.owner.kind != owner.kind {
        return Err(CheckpointError::OtherKind {
            path: shown,
            found: file.owner.kind,
            expected: owner.kind.clone(),
        });
    }
    let differs: Vec<String> = owner
        .of
        .iter()
        .filter(|(name, value)| file.owner.of.get(*name) != Some(value))
        .map(|(name, value)| {
            let found = file.owner.of.get(name).map_or("nothing", String::as_str);
            format!("{name} {found}, not {value}")
        })
        .collect();
    if !differs.is_empty() {
        return Err(CheckpointError::OtherRun {
            path: shown,
            kind: owner.kind.clone(),
            differs: differs.join("; "),
        });
    }
    Ok(file.positions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dyno-cp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn backfill(sink: &str) -> Owner {
        Owner::new("backfill")
            .with("table", "--table=t at localhost:8000")
            .with("keys to", sink)
    }

    #[test]
    fn positions_survive_a_restart_and_the_file_is_replaced_whole() {
        let d = dir("restart");
        let path = d.join("backfill.json");
        std::fs::write(d.join("backfill.tmp"), "a neighbour").unwrap();
        let first = Checkpoints::load(Some(path.clone()), backfill("stream")).unwrap();
        first.set("shard-1", "42").unwrap();
        first.end("shard-0").unwrap();
        let again = Checkpoints::load(Some(path.clone()), backfill("stream")).unwrap();
        assert_eq!(again.after("shard-1").as_deref(), Some("42"));
        assert!(again.ended("shard-0") && again.after("shard-0").is_none());
        assert_eq!(again.len(), 2);
        // The neighbour that `with_extension("tmp")` used to overwrite and delete is intact.
        assert_eq!(
            std::fs::read_to_string(d.join("backfill.tmp")).unwrap(),
            "a neighbour"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_of_other_work_or_no_checkpoint_at_all_is_refused_by_name() {
        let d = dir("refuse");
        let path = d.join("cp.json");
        Checkpoints::load(Some(path.clone()), backfill("stream"))
            .unwrap()
            .set("0", "k")
            .unwrap();
        let err = Checkpoints::load(Some(path.clone()), backfill("replica (direct)")).unwrap_err();
        assert!(
            err.to_string()
                .contains("keys to stream, not replica (direct)"),
            "{err}"
        );
        let err = Checkpoints::load(Some(path.clone()), Owner::new("replicate")).unwrap_err();
        assert!(
            err.to_string()
                .contains("is a backfill checkpoint, not a replicate one"),
            "{err}"
        );
        let package = d.join("package.json");
        let text = r#"{"name": "app", "version": "1.0.0"}"#;
        std::fs::write(&package, text).unwrap();
        let err = Checkpoints::load(Some(package.clone()), backfill("stream")).unwrap_err();
        assert!(
            err.to_string().contains("is not a dyno checkpoint"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&package).unwrap(), text);
        let _ = std::fs::remove_dir_all(&d);
    }
}
