//! Checkpoints of long work, so that a restart resumes: per shard of the local event source
//! mapping, the last sequence number processed (or that the shard was read to its end, after a
//! split or a merge); per segment of a scan (a backfill), the last key whose work is done (or
//! that the segment is done). Kept in a JSON file replaced whole on every change (written beside
//! it, then renamed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The mark of a shard read to its end, or a segment scanned to its end.
pub const END: &str = "END";

/// The entry that says which run a file belongs to.
const RUN: &str = "#run";

/// Where each shard was left.
#[derive(Debug)]
pub struct Checkpoints {
    path: Option<PathBuf>,
    positions: Mutex<BTreeMap<String, String>>,
}

/// The checkpoint file cannot be read or written; names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "checkpoint file {path} belongs to another run ({found}, not {expected}): name another \
         file, or remove it to start over"
    )]
    OtherRun {
        path: String,
        found: String,
        expected: String,
    },
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

    /// Ties the file to `run` (what is being done, e.g. the table and the number of segments):
    /// a file of another run is refused. Returns how many entries it already holds.
    pub fn claim(&self, run: &str) -> Result<usize, CheckpointError> {
        match self.get(RUN) {
            Some(found) if found != run => Err(CheckpointError::OtherRun {
                path: self.shown(),
                found,
                expected: run.to_owned(),
            }),
            Some(_) => Ok(self.len() - 1),
            None => {
                self.save(RUN, run)?;
                Ok(self.len() - 1)
            }
        }
    }

    fn len(&self) -> usize {
        self.positions.lock().map(|p| p.len()).unwrap_or(0)
    }

    fn shown(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "(in memory)".to_owned(), |p| p.display().to_string())
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
    CheckpointError::File {
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
        assert!(err.to_string().contains("cp.tmp:"), "{err}");
        assert!(matches!(
            again.claim("a scan"),
            Err(CheckpointError::File { .. })
        ));
        std::fs::remove_dir_all(dir.join("cp.tmp")).unwrap();
        assert_eq!(again.claim("a scan").unwrap(), 2);
        let err = again.claim("another scan").unwrap_err();
        assert!(matches!(err, CheckpointError::OtherRun { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
