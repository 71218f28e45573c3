//! SHA-256 of files, and `SHA256SUMS` listings (`sha256sum` output: `<hex>  <path>` per
//! line) checked against a folder.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The lowercase hex SHA-256 of the file at `path`.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// One line of a listing: a file (relative path) and its expected SHA-256 (lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Expected SHA-256, lowercase hex.
    pub sha256: String,
    /// The file, relative to the listed folder.
    pub path: PathBuf,
}

/// Parses a `SHA256SUMS` listing: `<64 hex>  <path>` or `<64 hex> *<path>` per line; blank
/// lines and `#` comments are skipped. Paths must stay inside the folder. The error names
/// the line.
pub fn parse_sums(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}: `{line}`", i + 1);
        let (hash, rest) = line
            .split_once(' ')
            .ok_or_else(|| bad("expected `<sha256>  <path>`"))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the checksum is not 64 hex digits"));
        }
        let name = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .unwrap_or(rest);
        let path = PathBuf::from(name.strip_prefix("./").unwrap_or(name));
        if name.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad("the path must be relative and stay inside the folder"));
        }
        entries.push(Entry {
            sha256: hash.to_ascii_lowercase(),
            path,
        });
    }
    if entries.is_empty() {
        return Err("the listing names no file".into());
    }
    Ok(entries)
}

/// A listed file that is missing or differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The file, relative to the folder.
    pub path: PathBuf,
    /// The SHA-256 found, `None` when the file is missing or unreadable.
    pub actual: Option<String>,
}

/// Checks every file of `entries` under `root` (in parallel); returns those missing or
/// different.
pub fn verify_tree(root: &Path, entries: &[Entry]) -> Vec<Mismatch> {
    use rayon::prelude::*;
    entries
        .par_iter()
        .filter_map(|e| {
            let actual = sha256_file(&root.join(&e.path)).ok();
            (actual.as_deref() != Some(e.sha256.as_str())).then(|| Mismatch {
                path: e.path.clone(),
                actual,
            })
        })
        .collect()
}

/// The files under `root` that `entries` do not name (relative paths, sorted).
pub fn unlisted(root: &Path, entries: &[Entry]) -> Vec<PathBuf> {
    let listed: std::collections::BTreeSet<&Path> =
        entries.iter().map(|e| e.path.as_path()).collect();
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.path().strip_prefix(root).ok().map(Path::to_path_buf))
        .filter(|p| !listed.contains(p.as_path()))
        .collect();
    found.sort();
    found
}

/// One line saying what is wrong with a folder, naming up to three files.
pub fn describe(mismatches: &[Mismatch], total: usize) -> String {
    let named: Vec<String> = mismatches
        .iter()
        .take(3)
        .map(|m| match &m.actual {
            None => format!("{} is missing", m.path.display()),
            Some(_) => format!("{} differs", m.path.display()),
        })
        .collect();
    let more = if mismatches.len() > 3 { ", ..." } else { "" };
    format!(
        "{} of the {total} listed files do not match ({}{more})",
        mismatches.len(),
        named.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("e");
        std::fs::write(&f, b"").unwrap();
        assert_eq!(sha256_file(&f).unwrap(), EMPTY);
    }

    #[test]
    fn parses_listings_and_rejects_bad_lines() {
        let text = format!(
            "{EMPTY}  train/a.jpg\n\n# c\n{} *./b c.jpg\r\n",
            EMPTY.to_uppercase()
        );
        let e = parse_sums(&text).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].path, Path::new("train/a.jpg"));
        assert_eq!(e[1].path, Path::new("b c.jpg"));
        assert_eq!(e[1].sha256, EMPTY);
        assert!(parse_sums("abc  x").unwrap_err().contains("line 1"));
        assert!(
            parse_sums(&format!("{EMPTY}  ../x"))
                .unwrap_err()
                .contains("inside")
        );
        assert!(
            parse_sums(&format!("{EMPTY}  /etc/x"))
                .unwrap_err()
                .contains("inside")
        );
        assert!(parse_sums("\n").unwrap_err().contains("no file"));
    }

    #[test]
    fn verify_reports_missing_and_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok"), b"").unwrap();
        std::fs::write(dir.path().join("changed"), b"x").unwrap();
        let entries =
            parse_sums(&format!("{EMPTY}  ok\n{EMPTY}  changed\n{EMPTY}  gone\n")).unwrap();
        let mut bad = verify_tree(dir.path(), &entries);
        bad.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].path, Path::new("changed"));
        assert!(bad[0].actual.is_some());
        assert_eq!(bad[1].actual, None);
        let text = describe(&bad, 3);
        assert!(text.starts_with("2 of the 3 listed files"), "{text}");
    }
}
