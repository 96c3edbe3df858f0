//! Replacing a user's file only whole: the target must be a regular, writable file or a new
//! path (never a device, a FIFO, a symbolic link, a file with other hard links or a directory);
//! the new contents are written beside it under a name of their own, given the old file's
//! permissions, and renamed over it only once complete. A replacement dropped before [`Replacement::commit`] leaves no trace.

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// Why a file cannot be replaced; the message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path} is {what}, not a regular file: name a regular file or a new path")]
    NotRegular { path: String, what: &'static str },
    #[error(
        "{path} has other hard links, which would keep the old contents cut off from the new: \
         name another file, or remove the other links"
    )]
    HardLinked { path: String },
    #[error("{path} is read-only: make it writable, or name another file")]
    ReadOnly { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// New contents for `target`, being written.
#[derive(Debug)]
pub struct Replacement {
    temporary: NamedTempFile,
    target: PathBuf,
    permissions: Option<Permissions>,
}

/// Checks `target` and opens a temporary file beside it (so the rename stays on one file system).
pub fn begin(target: &Path) -> Result<Replacement, FileError> {
    let permissions = check(target)?;
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".dyno-tmp");
    if permissions.is_none() {
        // A new file gets the usual permissions: 0666 less the umask, as the shell's `>` gives.
        builder.permissions(new_file_permissions());
    }
    let temporary = builder.tempfile_in(dir).map_err(|e| io_error(dir, e))?;
    Ok(Replacement {
        temporary,
        target: target.to_owned(),
        permissions,
    })
}

/// Replaces `target` with `bytes` (see [`begin`]).
pub fn replace(target: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let mut replacement = begin(target)?;
    replacement
        .file()
        .write_all(bytes)
        .map_err(|e| io_error(target, e))?;
    replacement.commit()
}

/// The old file's permissions, to keep; `None` for a new path. Refuses anything else.
fn check(target: &Path) -> Result<Option<Permissions>, FileError> {
    let metadata = match std::fs::symlink_metadata(target) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(target, e)),
    };
    let kind = metadata.file_type();
    let not_regular = |what| FileError::NotRegular {
        path: target.display().to_string(),
        what,
    };
    if kind.is_symlink() {
        return Err(not_regular(
            "a symbolic link (it would be replaced, not its target)",
        ));
    }
    if kind.is_dir() {
        return Err(not_regular("a directory"));
    }
    if !kind.is_file() {
        return Err(not_regular("a device, a FIFO or a socket"));
    }
    if std::os::unix::fs::MetadataExt::nlink(&metadata) > 1 {
        return Err(FileError::HardLinked {
            path: target.display().to_string(),
        });
    }
    if metadata.permissions().readonly() {
        return Err(FileError::ReadOnly {
            path: target.display().to_string(),
        });
    }
    Ok(Some(metadata.permissions()))
}

impl Replacement {
    /// The temporary file, to write to.
    pub fn file(&mut self) -> &mut File {
        self.temporary.as_file_mut()
    }

    /// The target this replaces.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the new contents to disk, gives them the old file's permissions, and renames
    /// them over the target.
    pub fn commit(self) -> Result<(), FileError> {
        let Replacement {
            temporary,
            target,
            permissions,
        } = self;
        let file = temporary.as_file();
        file.sync_all().map_err(|e| io_error(temporary.path(), e))?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)
                .map_err(|e| io_error(temporary.path(), e))?;
        }
        temporary
            .persist(&target)
            .map(|_| ())
            .map_err(|e| io_error(&target, e.error))
    }
}

#[cfg(unix)]
fn new_file_permissions() -> Permissions {
    use std::os::unix::fs::PermissionsExt;
    Permissions::from_mode(0o666)
}

fn io_error(path: &Path, source: io::Error) -> FileError {
    FileError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dyno-af-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_whole_keeping_the_mode_and_leaves_nothing_behind() {
        let d = dir("mode");
        let target = d.join("out.json");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, Permissions::from_mode(0o600)).unwrap();
        replace(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(entries(&d), ["out.json"]);

        // Dropped before commit: the old contents stay, and no temporary file is left.
        let mut unfinished = begin(&target).unwrap();
        unfinished.file().write_all(b"half").unwrap();
        drop(unfinished);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(entries(&d), ["out.json"]);

        // A neighbour named like a temporary file of another scheme is never touched.
        std::fs::write(d.join("out.tmp"), "neighbour").unwrap();
        replace(&target, b"newer").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("out.tmp")).unwrap(),
            "neighbour"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn refuses_what_is_not_a_regular_writable_file() {
        let d = dir("refuse");
        let real = d.join("real");
        std::fs::write(&real, "kept").unwrap();
        let link = d.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = replace(&link, b"x").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );

        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = replace(&fifo, b"x").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let err = replace(&d, b"x").unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");

        let hard = d.join("hard");
        std::fs::hard_link(&real, &hard).unwrap();
        let err = replace(&hard, b"x").unwrap_err();
        assert!(err.to_string().contains("other hard links"), "{err}");
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "kept");
        std::fs::remove_file(&hard).unwrap();

        std::fs::set_permissions(&real, Permissions::from_mode(0o444)).unwrap();
        let err = replace(&real, b"x").unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "kept");
        let _ = std::fs::remove_dir_all(&d);
    }
}
