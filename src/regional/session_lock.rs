//! One process at a time on a session file: an advisory lock (`flock`) on a sibling file
//! `FILE.lock`, taken before the session is loaded and held until it is saved (the lock file
//! itself stays: removing it would let two processes lock two different files). The session
//! file cannot carry the lock itself, since each save replaces it with a new file. Another
//! process holding the lock is waited for, up to a limit, then named in one line.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::SessionError;

/// A session file locked; unlocked when dropped.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
    path: PathBuf,
}

impl SessionLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of the session file `path`: `path` with `.lock` added to its name.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Opens (or creates) the lock file, as a regular file only: a symbolic link is not followed (it
/// could make dyno create a file where it points), and a FIFO or a device is not waited on (the
/// open does not block), then refused.
fn open_regular(lock: &Path) -> io::Result<File> {
    let refused = || {
        io::Error::other(
            "it is not a regular file (a symbolic link, a FIFO, a device or a directory): \
             remove it, and dyno makes a new one",
        )
    };
    if std::fs::symlink_metadata(lock).is_ok_and(|m| !m.is_file()) {
        return Err(refused());
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(lock)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refused(),
            _ => e,
        })?;
    match file.metadata()?.is_file() {
        true => Ok(file),
        false => Err(refused()),
    }
}

/// Locks the session file `path` (see the module's docs), waiting at most `wait` for another
/// process to unlock it.
pub async fn lock(path: &Path, wait: Duration) -> Result<SessionLock, SessionError> {
    let lock = lock_path(path);
    let failed = |source| SessionError::Lock {
        path: path.display().to_string(),
        lock: lock.display().to_string(),
        source,
    };
    let file = open_regular(&lock).map_err(failed)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => {
                return Ok(SessionLock {
                    _file: file,
                    path: lock,
                });
            }
            Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(TryLockError::WouldBlock) => {
                return Err(SessionError::Locked {
                    path: path.display().to_string(),
                    lock: lock.display().to_string(),
                    waited_s: wait.as_secs_f64(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(failed(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_that_is_a_link_a_fifo_or_a_directory_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("a directory");
        let victim = dir.path().join("victim");
        let link = dir.path().join("link.json.lock");
        std::os::unix::fs::symlink(&victim, &link).expect("a link");
        let err = open_regular(&link).expect_err("a link");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(!victim.exists(), "the link was followed");

        let fifo = dir.path().join("fifo.json.lock");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let started = Instant::now();
        let err = open_regular(&fifo).expect_err("a FIFO");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "it waited on the FIFO"
        );
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let directory = dir.path().join("dir.json.lock");
        std::fs::create_dir(&directory).expect("a directory");
        assert!(open_regular(&directory).is_err());

        let plain = dir.path().join("s.json.lock");
        assert!(open_regular(&plain).is_ok(), "a new lock file is made");
        assert!(open_regular(&plain).is_ok(), "and opened again");
    }
}
