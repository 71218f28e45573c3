//! A copy of the log in the run folder (`run.log`): a `tracing` writer that goes to the file of
//! the run that holds the latest [`RunLog`] guard, and nowhere once it is dropped. `tracing`'s
//! subscriber is process-wide, so one log file is written at a time: runs started together in
//! one process (tests do that) share the latest one's file; sweeps run trials as processes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The log file and the id of the guard that attached it.
static FILE: Mutex<Option<(u64, File)>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The run's hold on the log file; the file is closed when it is dropped (unless a later run
/// attached its own since).
#[derive(Debug)]
pub struct RunLog(u64);

impl Drop for RunLog {
    fn drop(&mut self) {
        let mut slot = FILE.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|(id, _)| *id == self.0) {
            *slot = None;
        }
    }
}

/// Sends log lines to `path` (appending) while the returned guard lives.
pub fn attach(path: &Path) -> io::Result<RunLog> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    *FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, file));
    Ok(RunLog(id))
}

/// The writer `tracing_subscriber` layers use for the run log.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunLogWriter;

impl Write for RunLogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some((_, file)) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some((_, file)) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RunLogWriter {
    type Writer = RunLogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RunLogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_guard_owns_the_log_and_an_older_guard_does_not_close_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = attach(&dir.path().join("a.log")).unwrap();
        RunLogWriter.write_all(b"one\n").unwrap();
        let second = attach(&dir.path().join("b.log")).unwrap();
        drop(first);
        RunLogWriter.write_all(b"two\n").unwrap();
        drop(second);
        RunLogWriter.write_all(b"nowhere\n").unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.log")).unwrap(), b"one\n");
        assert_eq!(std::fs::read(dir.path().join("b.log")).unwrap(), b"two\n");
    }
}
