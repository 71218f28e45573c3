//! Baseline files (`runner baseline RUN --out FILE`): a run's or sweep's metric values with
//! what produced them, so that updating a baseline is one reviewed commit and `runner check`
//! can warn when the baseline came from a different spec, data or device.
//!
//! The data listing hash is the SHA-256 of the sorted lines `relative/path\tsize` of every file
//! under the spec's `data.root`: it changes when an image is added, removed, renamed or
//! resized, not when only a file's date changes, and needs no image to be decoded.

use super::CheckError;
use super::measure::{Groups, Values};
use super::target::Target;
use crate::track::records::DeviceInfo;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The baseline format version this runner writes.
pub const BASELINE_VERSION: u32 = 1;

/// A baseline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Format version ([`BASELINE_VERSION`]).
    pub version: u32,
    /// The run or sweep folder it was made from.
    pub source: String,
    /// The experiment name.
    pub experiment: String,
    /// The run's spec hash (a sweep's definition hash).
    pub spec_hash: String,
    /// Hash of the data folder's listing (see the module docs); `None` when it was missing.
    pub data_hash: Option<String>,
    /// Backend, device and runner and Burn versions of the run.
    pub device: DeviceInfo,
    /// Metric values per configuration (`""` for a single run).
    pub groups: Groups,
}

impl Baseline {
    /// The baseline of `target`.
    pub fn of(target: &Target) -> Self {
        Self {
            version: BASELINE_VERSION,
            source: target.path.display().to_string(),
            experiment: target.experiment.clone(),
            spec_hash: target.spec_hash.clone(),
            data_hash: target.data_hash.clone(),
            device: target.device.clone(),
            groups: target.groups.clone(),
        }
    }

    /// Reads a baseline file, or makes the baseline of a run or sweep folder.
    pub fn load(path: &Path) -> Result<Self, CheckError> {
        if path.is_dir() {
            return Ok(Self::of(&super::target::load(path)?));
        }
        let fail = |reason: String| CheckError::Baseline {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| {
            fail(format!(
                "cannot read it: {e} (write one with `runner baseline RUN --out {}`)",
                path.display()
            ))
        })?;
        let baseline: Baseline = serde_json::from_slice(&bytes).map_err(|e| {
            fail(format!(
                "not a baseline file: {e} (write one with `runner baseline RUN`)"
            ))
        })?;
        if baseline.version > BASELINE_VERSION {
            return Err(fail(format!(
                "written by a newer runner (format {}, this one reads up to {BASELINE_VERSION}); update runner",
                baseline.version
            )));
        }
        Ok(baseline)
    }

    /// The baseline file's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a baseline serializes") + "\n"
    }

    /// The values to compare configuration `group` with: its own, or a single run's when the
    /// baseline has one configuration (a run checked against a sweep, or the reverse).
    pub fn values(&self, group: &str) -> Option<&Values> {
        self.groups.get(group).or_else(|| {
            (self.groups.len() == 1)
                .then(|| self.groups.values().next())
                .flatten()
        })
    }

    /// Warnings about how `target` differs from what made this baseline: spec, data, device.
    pub fn differences(&self, target: &Target) -> Vec<String> {
        let mut out = Vec::new();
        if self.spec_hash != target.spec_hash {
            out.push(format!(
                "the baseline came from a different spec (hash {} here, {} in the baseline from {})",
                short(&target.spec_hash),
                short(&self.spec_hash),
                self.source
            ));
        }
        if self.data_hash != target.data_hash {
            out.push(format!(
                "the baseline came from different data (listing hash {} here, {} in the baseline)",
                target.data_hash.as_deref().map_or("unknown", short),
                self.data_hash.as_deref().map_or("unknown", short)
            ));
        }
        let (b, t) = (&self.device, &target.device);
        if (&b.backend, &b.device) != (&t.backend, &t.device) {
            out.push(format!(
                "the baseline came from another device ({} {} here, {} {} in the baseline)",
                t.backend, t.device, b.backend, b.device
            ));
        }
        out
    }
}

fn short(hash: &str) -> &str {
    hash.get(..10).unwrap_or(hash)
}

/// SHA-256 of the sorted `relative/path\tsize` lines of every file under `root`; `None`
/// when `root` is not a readable folder.
pub fn data_listing_hash(root: &Path) -> Option<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let meta = std::fs::metadata(&path)?;
            if meta.is_dir() {
                walk(&path, root, out)?;
            } else if let Ok(relative) = path.strip_prefix(root) {
                out.push(format!("{}\t{}", relative.display(), meta.len()));
            }
        }
        Ok(())
    }
    let mut lines = Vec::new();
    walk(root, root, &mut lines).ok()?;
    lines.sort();
    let mut hasher = Sha256::new();
    for line in &lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    Some(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_hash_follows_names_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("train/cat")).unwrap();
        std::fs::write(dir.path().join("train/cat/a.jpg"), b"abc").unwrap();
        let first = data_listing_hash(dir.path()).unwrap();
        assert_eq!(data_listing_hash(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("train/cat/a.jpg"), b"abcd").unwrap();
        let resized = data_listing_hash(dir.path()).unwrap();
        assert_ne!(resized, first);
        std::fs::rename(
            dir.path().join("train/cat/a.jpg"),
            dir.path().join("train/cat/b.jpg"),
        )
        .unwrap();
        assert_ne!(data_listing_hash(dir.path()).unwrap(), resized);
        assert!(data_listing_hash(&dir.path().join("missing")).is_none());
    }
}
