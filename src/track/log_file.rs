//! A copy of the log in the run folder (`run.log`): a `tracing` writer that goes to the file
//! attached with [`attach`] (one run at a time per process), and nowhere before that.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

static FILE: Mutex<Option<File>> = Mutex::new(None);

/// Sends log lines to `path` (appending) from now on, until [`detach`].
pub fn attach(path: &Path) -> io::Result<()> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    *FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

/// Stops writing to the run's log file.
pub fn detach() {
    *FILE.lock().unwrap_or_else(|e| e.into_inner()) = None;
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
