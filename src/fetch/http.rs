//! Downloading one URL into a `.part` file, resuming what an earlier attempt left with an
//! HTTP range request, with a progress bar on a terminal.
//!
//! A connection that drops while the body arrives is retried (with a range request from the
//! bytes already written) up to [`ATTEMPTS`] times in all; the `.part` file stays, so the
//! next `runner` invocation resumes it too. A server that ignores the range (answers 200)
//! is downloaded again from the start.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Tries per download, the first included.
pub const ATTEMPTS: u32 = 4;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server answered with an error status (404...).
    #[error("the server answered HTTP {0}{hint}", hint = status_hint(*.0))]
    Status(u16),
    /// No connection could be made, or the request failed before any answer.
    #[error("cannot connect: {0} (no network, or the server is down?)")]
    Connect(String),
    /// The connection dropped while the file arrived, on every attempt.
    #[error(
        "the connection dropped after {got} of {} bytes ({attempts} attempts; last: {detail}); \
         the partial download is kept and `runner` resumes it when run again",
        total.map_or("?".to_string(), |t| t.to_string())
    )]
    Dropped {
        /// Bytes in the `.part` file.
        got: u64,
        /// The file's size, when the server said.
        total: Option<u64>,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        detail: String,
    },
    /// The server's answer made no sense (a range that does not start where asked).
    #[error("the server's answer is not usable: {0}")]
    Protocol(String),
    /// Writing the downloaded bytes failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The `.part` file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn status_hint(code: u16) -> &'static str {
    match code {
        404 | 410 => " (not found: the URL is wrong or the file was moved)",
        401 | 403 => " (access denied)",
        500..=599 => " (a server error; try again later)",
        _ => "",
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("runner/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Where a response's body starts in the file, from its status and `Content-Range`.
fn body_offset(status: u16, content_range: Option<&str>, have: u64) -> Result<u64, HttpError> {
    match status {
        200 => Ok(0),
        206 => {
            let start = content_range
                .and_then(|r| r.strip_prefix("bytes "))
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.trim().parse::<u64>().ok());
            match start {
                Some(s) if s == have => Ok(s),
                _ => Err(HttpError::Protocol(format!(
                    "asked for the bytes from {have} on, the server sent the range {}",
                    content_range.unwrap_or("(none)")
                ))),
            }
        }
        other => Err(HttpError::Status(other)),
    }
}

/// Downloads `url` into `part`, appending to what `part` already holds when the server
/// honours ranges. Returns the file's size.
///
/// Long by design: one request with its resume, status and length checks and the copy loop;
/// split, they would share the response and the file.
pub fn download(url: &str, part: &Path, label: &str) -> Result<u64, HttpError> {
    let agent = agent();
    let write_err = |source| HttpError::Write {
        path: part.to_path_buf(),
        source,
    };
    if let Some(dir) = part.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let retry = |detail: String, total: Option<u64>| -> Result<(), HttpError> {
            let got = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
            if attempt >= ATTEMPTS {
                return Err(HttpError::Dropped {
                    got,
                    total,
                    attempts: attempt,
                    detail,
                });
            }
            tracing::warn!("{url}: {detail}; resuming from byte {got}");
            std::thread::sleep(Duration::from_millis(300 * u64::from(attempt)));
            Ok(())
        };
        let mut request = agent.get(url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(r) => r,
            // Nothing was answered: on the first try that is no connection at all; after a
            // drop it is the same failing server.
            Err(e) if attempt == 1 => return Err(HttpError::Connect(e.to_string())),
            Err(e) => {
                retry(e.to_string(), None)?;
                continue;
            }
        };
        let status = response.status().as_u16();
        if status == 416 && have > 0 {
            // The range starts at or after the end: the partial file is not a prefix of this
            // one (or is all of it); start again.
            std::fs::remove_file(part).map_err(write_err)?;
            retry("the server refused the range (416)".into(), None)?;
            continue;
        }
        let content_range = response
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let start = body_offset(status, content_range.as_deref(), have)?;
        let length = response.body().content_length();
        let total = length.map(|l| start + l);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(start > 0)
            .truncate(start == 0)
            .open(part)
            .map_err(write_err)?;
        let bar = progress_bar(label, total, start);
        let mut body = response.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 16];
        let outcome = loop {
            match body.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    file.write_all(&buf[..n]).map_err(write_err)?;
                    bar.inc(n as u64);
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        bar.finish_and_clear();
        file.flush().map_err(write_err)?;
        drop(file);
        let got = std::fs::metadata(part).map_err(write_err)?.len();
        match outcome {
            Ok(()) if total.is_none_or(|t| t == got) => return Ok(got),
            Ok(()) => retry(format!("the body ended early at byte {got}"), total)?,
            Err(detail) => retry(detail, total)?,
        }
    }
}

fn progress_bar(label: &str, total: Option<u64>, start: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let template = if total.is_some() {
        "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} {spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(label.to_string());
    bar.set_position(start);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_answers_must_start_where_asked() {
        assert_eq!(body_offset(200, None, 10).unwrap(), 0);
        assert_eq!(body_offset(206, Some("bytes 10-99/100"), 10).unwrap(), 10);
        assert!(matches!(
            body_offset(206, Some("bytes 0-99/100"), 10),
            Err(HttpError::Protocol(_))
        ));
        assert!(matches!(
            body_offset(206, None, 10),
            Err(HttpError::Protocol(_))
        ));
        let e = body_offset(404, None, 0).unwrap_err().to_string();
        assert!(e.contains("404") && e.contains("not found"), "{e}");
    }
}
