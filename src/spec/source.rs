//! Where data and weights can be downloaded from when they are not on this machine:
//! `data.source` (an archive of the image folders) and a pretrained node's `weights_source`
//! (one file). Each names a URL and a SHA-256 checksum; `runner` downloads into its cache only
//! when the local path (`data.root`, `weights`) does not exist. The downloading is done by
//! [`crate::fetch`].

use super::schema::PatternHelp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The form of a download URL: runner downloads over HTTP(S) only.
pub const URL_PATTERN: &str = r"^https?://[^\s]+$";
/// The form of a SHA-256 checksum.
pub const SHA256_PATTERN: &str = r"^[0-9a-fA-F]{64}$";

/// What URLs and checksums must look like, for schema errors.
pub fn pattern_helps() -> [PatternHelp; 2] {
    [
        PatternHelp {
            pattern: URL_PATTERN,
            what: "an http:// or https:// URL",
            form: "runner downloads over HTTP(S) only: for another protocol, download the file \
                   yourself and point `data.root` or `weights` at it",
            hint: |url| {
                let scheme = url.split_once("://")?.0;
                Some(format!("`{scheme}://` is not downloaded by runner"))
            },
        },
        PatternHelp {
            pattern: SHA256_PATTERN,
            what: "a SHA-256 checksum (64 hexadecimal digits)",
            form: "`sha256sum FILE` prints it",
            hint: |text| {
                let n = text.chars().count();
                if n != 64 {
                    Some(format!("it has {n} characters"))
                } else {
                    Some("it has characters that are not hexadecimal digits".into())
                }
            },
        },
    ]
}

/// A `.zip` or `.tar.gz` archive holding the data folder, downloaded and extracted into the
/// cache (`$RUNNER_CACHE`, by default `runner` in the user's cache folder) when `data.root`
/// does not exist. At least one checksum is required: `sha256` (of the archive) or
/// `sha256sums` (of the extracted files), or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// `http://` or `https://` URL of the archive (zip or gzip-compressed tar, told apart by
    /// their first bytes, not by the name).
    #[schemars(regex(pattern = URL_PATTERN))]
    pub url: String,
    /// SHA-256 of the archive file, 64 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SHA256_PATTERN))]
    pub sha256: Option<String>,
    /// A `SHA256SUMS` listing of the extracted files (lines `<sha256>  <path>`, paths relative
    /// to the data folder, i.e. below `subdir`): a file (relative to the spec's folder) or an
    /// `http(s)://` URL. Every listed file must be extracted with that checksum; files the
    /// listing does not name are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub sha256sums: Option<String>,
    /// The folder inside the archive that holds the data (`train/`, `validation/`...), e.g.
    /// `cats_and_dogs_filtered`; default: the archive's top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdir: Option<PathBuf>,
}

/// One file (weights), downloaded into the cache when the local path does not exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// `http://` or `https://` URL of the file.
    #[schemars(regex(pattern = URL_PATTERN))]
    pub url: String,
    /// SHA-256 of the file, 64 hex digits.
    #[schemars(regex(pattern = SHA256_PATTERN))]
    pub sha256: String,
}

impl DataSource {
    /// Checks what the schema does not: a checksum is given and `subdir` stays inside the
    /// archive. Returns a message saying what to change.
    pub fn check(&self) -> Result<(), String> {
        if self.sha256.is_none() && self.sha256sums.is_none() {
            return Err(
                "data.source has no checksum: add `sha256` (of the archive) or \
                 `sha256sums` (a SHA256SUMS listing of the extracted files), so that a \
                 damaged or changed download is caught"
                    .into(),
            );
        }
        if let Some(subdir) = &self.subdir
            && !subdir
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!(
                "data.source.subdir `{}` must be a relative path inside the archive, \
                 without `..`",
                subdir.display()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(sha256: Option<&str>, sums: Option<&str>, subdir: Option<&str>) -> DataSource {
        DataSource {
            url: "https://example.org/d.zip".into(),
            sha256: sha256.map(Into::into),
            sha256sums: sums.map(Into::into),
            subdir: subdir.map(Into::into),
        }
    }

    #[test]
    fn a_checksum_is_required_and_subdir_stays_inside() {
        assert!(
            source(None, None, None)
                .check()
                .unwrap_err()
                .contains("no checksum")
        );
        assert!(
            source(Some(&"a".repeat(64)), None, Some("x/y"))
                .check()
                .is_ok()
        );
        assert!(source(None, Some("SUMS"), None).check().is_ok());
        for bad in ["../x", "/abs", "x/../.."] {
            let e = source(None, Some("SUMS"), Some(bad)).check().unwrap_err();
            assert!(e.contains("subdir"), "{e}");
        }
    }

    #[test]
    fn schema_rejects_unknown_keys_and_bad_checksums() {
        let schema = serde_json::to_value(schemars::schema_for!(FileSource)).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["sha256"]["pattern"],
            "^[0-9a-fA-F]{64}$"
        );
        let required = schema["required"].as_array().unwrap();
        assert!(required.iter().any(|r| r == "sha256"), "{schema}");
    }
}
