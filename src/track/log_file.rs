//! A copy of the log in the run folder (`run.log`): a `tracing` writer that goes to the file of
//! the run that holds the [`RunLog`] guard, and nowhere while no run does. `tracing`'s
//! subscriber is process-wide, so one run per process writes a log file at a time: a second
//! [`attach`] while a guard lives is refused rather than stealing the first run's log (sweeps
//! run their trials as separate processes).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

static FILE: Mutex<Option<File>> = Mutex::new(None);

/// The run's hold on the log file; the file is closed when it is dropped.
#[derive(Debug)]
pub struct RunLog(());

impl Drop for RunLog {
    fn drop(&mut self) {
        *FILE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Sends log lines to `path` (appending) while the returned guard lives.
pub fn attach(path: &Path) -> io::Result<RunLog> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut slot = FILE.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            "another run in this process is writing its log",
        ));
    }
    *slot = Some(file);
    Ok(RunLog(()))
}

/// The writer `tracing_subscriber` layers use for the run log.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunLogWriter;

impl Write for RunLogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(file) => file.flush(),
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
    fn one_run_log_at_a_time_and_dropping_the_guard_releases_it() {
        let dir = tempfile::tempdir().unwrap();
        let guard = attach(&dir.path().join("a.log")).unwrap();
        RunLogWriter.write_all(b"line\n").unwrap();
        assert!(attach(&dir.path().join("b.log")).is_err());
        drop(guard);
        RunLogWriter.write_all(b"nowhere\n").unwrap();
        let _second = attach(&dir.path().join("b.log")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.log")).unwrap(), b"line\n");
    }
}
