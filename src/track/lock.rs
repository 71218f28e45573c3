//! One writer per run folder: an exclusive OS file lock on `<run>/.lock`, held while a run
//! trains. The OS drops the lock when the process ends, even on `kill -9`, so a stale lock
//! never blocks a resume. Uses the standard library's `File::try_lock` (no extra crate).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Holds the lock on a run folder until dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Why a run folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "another runner is writing the run folder {0} (it holds {0}/.lock); wait for it to finish or stop it, then try again"
    )]
    Busy(PathBuf),
    /// The lock file could not be opened.
    #[error("cannot lock the run folder {path}: {source}")]
    Io {
        /// The run folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl RunLock {
    /// Takes the lock of `run_dir`, failing at once if another process holds it.
    pub fn acquire(run_dir: &Path) -> Result<Self, LockError> {
        let io_error = |source| LockError::Io {
            path: run_dir.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(run_dir.join(".lock"))
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy(run_dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Busy(_)), "{err}");
        assert!(err.to_string().contains("another runner"));
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }
}
