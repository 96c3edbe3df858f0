//! Checkpoints of the local event source mapping: per shard, the last sequence number processed,
//! or that the shard was read to its end (after a split or a merge), kept in a JSON file that is
//! replaced whole on every change (written beside it, then renamed), so a restart resumes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The mark of a shard read to its end.
pub const SHARD_END: &str = "SHARD_END";

/// Where each shard was left.
#[derive(Debug)]
pub struct Checkpoints {
    path: Option<PathBuf>,
    positions: Mutex<BTreeMap<String, String>>,
}

/// The checkpoint file cannot be read or written; names the file at fault.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint file {path}: {source}")]
pub struct CheckpointError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

impl Checkpoints {
    /// Loads `path` if it exists (`None`: positions are kept in memory only).
    pub fn load(path: Option<PathBuf>) -> Result<Self, CheckpointError> {
        let positions = match &path {
            Some(p) if p.exists() => {
                let bytes = std::fs::read(p).map_err(|e| error(p, e))?;
                serde_json::from_slice(&bytes).map_err(|e| error(p, e.into()))?
            }
            _ => BTreeMap::new(),
        };
        Ok(Checkpoints {
            path,
            positions: Mutex::new(positions),
        })
    }

    /// The last sequence number processed on `shard`, if any (not for a shard read to its end).
    pub fn after(&self, shard: &str) -> Option<String> {
        self.get(shard).filter(|p| p != SHARD_END)
    }

    /// True when `shard` was read to its end.
    pub fn ended(&self, shard: &str) -> bool {
        self.get(shard).as_deref() == Some(SHARD_END)
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
        self.save(shard, SHARD_END)
    }

    fn save(&self, shard: &str, position: &str) -> Result<(), CheckpointError> {
        let snapshot = {
            let mut positions = self
                .positions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            positions.insert(shard.to_owned(), position.to_owned());
            positions.clone()
        };
        let Some(path) = &self.path else {
            return Ok(());
        };
        let tmp = path.with_extension("tmp");
        // Serializing a map of strings cannot fail.
        let bytes = serde_json::to_vec_pretty(&snapshot).unwrap_or_default();
        std::fs::write(&tmp, bytes).map_err(|e| error(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| error(path, e))
    }
}

fn error(path: &Path, source: std::io::Error) -> CheckpointError {
    CheckpointError {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_a_restart_and_errors_name_the_file_at_fault() {
        let dir = std::env::temp_dir().join(format!("dyno-cp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cp.json");
        let first = Checkpoints::load(Some(path.clone())).unwrap();
        first.set("shard-1", "42").unwrap();
        first.end("shard-0").unwrap();
        let again = Checkpoints::load(Some(path.clone())).unwrap();
        assert_eq!(again.after("shard-1").as_deref(), Some("42"));
        assert!(again.ended("shard-0") && again.after("shard-0").is_none());

        // The temporary file cannot be written: the message names it, not the checkpoint.
        std::fs::create_dir_all(dir.join("cp.tmp")).unwrap();
        let err = again.set("shard-1", "43").unwrap_err();
        assert!(err.path.ends_with("cp.tmp"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
