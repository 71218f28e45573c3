//! One writer per run folder: an exclusive OS file lock on `<run>/.lock`, held while a run
//! trains. The OS drops the lock when the process ends, even on `kill -9`, so a stale lock
//! never blocks a resume. Uses the standard library's `File::try_lock` (no extra crate). The
//! holder writes its process id and start time into the file, so others can say who holds it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LOCK_FILE: &str = ".lock";

/// The process that holds a run folder's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// When it took the lock (seconds since the Unix epoch).
    pub since: u64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let minutes = now.saturating_sub(self.since) / 60;
        write!(f, "process {}, running for {minutes} min", self.pid)
    }
}

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
        "the run in {dir} is in progress ({}); wait for it to finish or stop it (Ctrl-C), then try again",
        holder.map_or("another runner holds its .lock".to_string(), |h| h.to_string())
    )]
    Busy {
        /// The run folder.
        dir: PathBuf,
        /// Who holds it, when it says.
        holder: Option<Holder>,
    },
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
            .open(run_dir.join(LOCK_FILE))
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {
                let since = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_secs();
                let mut file = file;
                file.set_len(0)
                    .and_then(|()| write!(file, "{} {since}", std::process::id()))
                    .map_err(io_error)?;
                Ok(Self { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy {
                dir: run_dir.to_path_buf(),
                holder: read_holder(run_dir),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(e)),
        }
    }
}

/// The process holding `run_dir`'s lock, or `None` when nobody holds it (or it cannot be read).
pub fn holder(run_dir: &Path) -> Option<Holder> {
    let file = File::open(run_dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(std::fs::TryLockError::WouldBlock) => {
            read_holder(run_dir).or(Some(Holder { pid: 0, since: 0 }))
        }
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

fn read_holder(run_dir: &Path) -> Option<Holder> {
    let mut text = String::new();
    let mut file = File::open(run_dir.join(LOCK_FILE)).ok()?;
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    let (pid, since) = text.trim().split_once(' ')?;
    Some(Holder {
        pid: pid.parse().ok()?,
        since: since.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        let holder = holder(dir.path()).expect("held");
        assert_eq!(holder.pid, std::process::id());
        assert!(
            matches!(err, LockError::Busy { holder: Some(h), .. } if h == holder),
            "{err}"
        );
        assert!(err.to_string().contains("is in progress (process"), "{err}");
        drop(first);
        assert_eq!(super::holder(dir.path()), None);
        RunLock::acquire(dir.path()).unwrap();
    }
}
