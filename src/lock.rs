//! Single-instance lock: an OS file lock (std's `File::try_lock`), so a lock file left behind
//! by a process that died never blocks the next run: the OS releases the lock with the process.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the second instance prints, as Lumu's script did.
pub const ANOTHER_INSTANCE: &str = "Another instance is running. Quitting.";

/// A held lock; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{ANOTHER_INSTANCE}")]
    Held { path: PathBuf },
    /// The cause is in the message, not a `source` (a field of that name would be one): the
    /// program prints a failure with its whole chain (`{:#}`), which would say it twice.
    #[error("cannot open lock file {path}: {error} (choose another place with --lock-file)")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl InstanceLock {
    /// Takes the lock at `path` without waiting.
    pub fn acquire(path: &Path) -> Result<Self, LockError> {
        let io_err = |error| LockError::Io {
            path: path.to_owned(),
            error,
        };
        // Not truncated on open: the file may be another instance's, still locked. Only its
        // owner reads it, and a symbolic link at its path is refused (see `files`).
        let mut file = crate::files::open_private(
            path,
            OpenOptions::new().create(true).truncate(false).write(true),
        )
        .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    path: path.to_owned(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        // The pid is for people reading the file; the lock itself is what counts.
        file.set_len(0).map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(InstanceLock {
            _file: file,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = InstanceLock::acquire(&path).unwrap();
        let err = InstanceLock::acquire(&path).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }));
        assert_eq!(err.to_string(), ANOTHER_INSTANCE);
        drop(first);
        InstanceLock::acquire(&path).unwrap();
    }

    #[test]
    fn a_stale_lock_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        std::fs::write(&path, "999999\n").unwrap();
        let lock = InstanceLock::acquire(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(lock.path()).unwrap().trim(),
            std::process::id().to_string()
        );
    }

    #[test]
    fn unwritable_place_names_the_path() {
        let err = InstanceLock::acquire(Path::new("/nonexistent-dir/x.lock")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x.lock"), "{err}");
        // The program prints a failure with its whole chain (`{:#}`): the message already
        // names the cause, so nothing is appended to it again.
        let message = err.to_string();
        assert_eq!(format!("{:#}", anyhow::Error::new(err)), message);
    }
}
