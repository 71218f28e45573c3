//! Atomic file replacement: write to a temporary file in the destination's
//! folder, flush it to disk, then rename it over the destination.
//!
//! A reader (or a run that is killed half-way) sees either the old complete
//! file or the new complete file, never a truncated one. The temporary file
//! lives in the same folder so the rename never crosses file systems.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Adds the path to an I/O error's message, keeping its kind.
pub(crate) fn with_path(err: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{what} {}: {err}", path.display()))
}

/// A unique, hidden sibling of `path` to write into before renaming.
fn temp_sibling(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot write {}: path has no file name", path.display()),
        )
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!(
        ".{}.tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        n
    );
    Ok(path.with_file_name(tmp_name))
}

/// Writes `bytes` to `path` atomically (temp file in the same folder, fsync,
/// rename). The parent folder must exist. Errors name the path.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with(path, |tmp| {
        let mut f = File::create(tmp).map_err(|e| with_path(e, "cannot create", tmp))?;
        f.write_all(bytes)
            .map_err(|e| with_path(e, "cannot write", tmp))
    })
}

/// Like [`write_atomically`], for producers that want to write a file
/// themselves (an image encoder, a plotting backend, a checkpoint saver).
///
/// `write` receives a temporary path in the destination's folder and must
/// create and fill the file there. If it succeeds, the file is synced and
/// renamed to `path`; if it fails, the temporary file is removed and the
/// error is returned (any previous file at `path` is left untouched).
pub fn write_atomically_with<T, E, F>(path: &Path, write: F) -> Result<T, E>
where
    F: FnOnce(&Path) -> Result<T, E>,
    E: From<io::Error>,
{
    let tmp = temp_sibling(path)?;
    let result = write(&tmp).and_then(|value| {
        finish(&tmp, path)?;
        Ok(value)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporary files that writes interrupted by `kill -9` left in `dir` (not in its
/// subfolders); returns how many. Only call it while no other process writes into `dir`.
pub fn remove_stale_temp_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| is_temp_name(&entry.file_name().to_string_lossy()))
        .filter(|entry| fs::remove_file(entry.path()).is_ok())
        .count()
}

/// True for names made by [`temp_sibling`]: `.NAME.tmp.PID.N`.
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let mut parts = rest.rsplitn(3, '.');
    let (Some(n), Some(pid), Some(head)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(n) && digits(pid) && head.ends_with(".tmp")
}

fn finish(tmp: &Path, path: &Path) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(tmp)
        .map_err(|e| with_path(e, "cannot reopen temporary file", tmp))?;
    f.sync_all().map_err(|e| with_path(e, "cannot sync", tmp))?;
    drop(f);
    fs::rename(tmp, path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot rename {} to {}: {e}", tmp.display(), path.display()),
        )
    })?;
    // Make the rename itself durable; not all platforms allow opening a
    // directory, so a failure here is not an error.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomically(&p, b"one").unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        // No temporary files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_writer_keeps_old_file_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomically(&p, b"old").unwrap();
        let r: io::Result<()> = write_atomically_with(&p, |tmp| {
            fs::write(tmp, b"half")?;
            Err(io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temp_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let keep = dir.path().join("summary.json");
        fs::write(&keep, b"{}").unwrap();
        let stale = temp_sibling(&keep).unwrap();
        fs::write(&stale, b"half").unwrap();
        fs::write(dir.path().join(".lock"), b"").unwrap();
        assert_eq!(remove_stale_temp_files(dir.path()), 1);
        assert!(!stale.exists());
        assert!(keep.exists() && dir.path().join(".lock").exists());
    }

    #[test]
    fn error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir").join("a.txt");
        let err = write_atomically(&p, b"x").unwrap_err();
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }
}
