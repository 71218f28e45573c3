//! The download cache: where fetched files and extracted archives live, and how a folder is
//! put in place atomically.
//!
//! Layout under the cache root (`$RUNNER_CACHE`, else `runner` in the user's cache folder,
//! e.g. `~/.cache/runner` on Linux):
//!
//! - `files/<key>/<name>`: a downloaded file, there only once its checksum was verified
//!   (while downloading it is `<name>.part`, which a later download resumes);
//! - `data/<key>/`: an extracted archive, there only once complete and verified (it is
//!   extracted into a temporary folder next to it, then renamed).
//!
//! `<key>` is the first 16 hex digits of the file's SHA-256 when the spec gives it, else of
//! the SHA-256 of the URL, so two specs naming the same file share it.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The cache root: `$RUNNER_CACHE`, else `runner` in the user's cache folder.
pub fn root() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("RUNNER_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("runner")).ok_or_else(|| {
        "this system has no user cache folder: set RUNNER_CACHE to a folder for downloads".into()
    })
}

/// The cache key of a download: from its checksum when known, else from its URL.
pub fn key(url: &str, sha256: Option<&str>) -> String {
    match sha256 {
        Some(sum) => sum[..16].to_ascii_lowercase(),
        None => format!("{:x}", Sha256::digest(url.as_bytes()))[..16].to_string(),
    }
}

/// A file name for what `url` points at: its last path segment, with anything but ASCII
/// letters, digits, `.`, `-` and `_` replaced by `_` (`download` when there is none).
pub fn file_name(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme
        .split_once('/')
        .map_or("", |(_host, path)| path);
    let last = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .unwrap_or("download");
    last.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where a downloaded file of `url` is kept.
pub fn file_path(root: &Path, url: &str, sha256: Option<&str>) -> PathBuf {
    root.join("files")
        .join(key(url, sha256))
        .join(file_name(url))
}

/// Where the extracted archive of `url` is kept.
pub fn data_path(root: &Path, url: &str, sha256: Option<&str>) -> PathBuf {
    root.join("data").join(key(url, sha256))
}

/// A folder being filled next to its final place, removed on drop unless [`Staging::finish`]
/// renamed it into place: a reader never sees a half-filled final folder.
pub struct Staging {
    temp: PathBuf,
    target: PathBuf,
}

impl Staging {
    /// Makes an empty temporary folder next to `target` (same file system, so the final
    /// rename is atomic).
    pub fn new(target: &Path) -> std::io::Result<Staging> {
        let parent = target.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if temp.exists() {
            std::fs::remove_dir_all(&temp)?;
        }
        std::fs::create_dir(&temp)?;
        Ok(Staging {
            temp,
            target: target.to_path_buf(),
        })
    }

    /// The temporary folder to fill.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Renames the temporary folder to the target. When another process put the target in
    /// place first, keeps theirs and removes this one.
    pub fn finish(self) -> std::io::Result<()> {
        match std::fs::rename(&self.temp, &self.target) {
            Ok(()) => Ok(()),
            Err(_) if self.target.is_dir() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.temp.exists() {
            let _ = std::fs::remove_dir_all(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_url_and_stay_plain() {
        assert_eq!(
            file_name("https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"),
            "cats_and_dogs_filtered.zip"
        );
        assert_eq!(file_name("http://h/a/w.safetensors?x=1#y"), "w.safetensors");
        assert_eq!(file_name("http://h/a b/c%20d.bin"), "c_20d.bin");
        assert_eq!(file_name("http://h/"), "download");
        assert_eq!(file_name("http://h"), "download");
        assert_eq!(file_name("http://h/.."), "download");
    }

    #[test]
    fn keys_prefer_the_checksum() {
        let sum = "ABCDEF0123456789".repeat(4);
        assert_eq!(key("http://h/x", Some(&sum)), "abcdef0123456789");
        assert_eq!(key("http://h/x", None).len(), 16);
        assert_ne!(key("http://h/x", None), key("http://h/y", None));
    }

    #[test]
    fn staging_is_renamed_into_place_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data").join("k");
        let staging = Staging::new(&target).unwrap();
        std::fs::write(staging.path().join("f"), b"x").unwrap();
        let temp = staging.path().to_path_buf();
        staging.finish().unwrap();
        assert!(target.join("f").is_file() && !temp.exists());

        let other = dir.path().join("data").join("other");
        let staging = Staging::new(&other).unwrap();
        let temp = staging.path().to_path_buf();
        drop(staging);
        assert!(!temp.exists() && !other.exists());
    }
}
