//! Run folders: `runs/<experiment>/<run-id>/`, where the run id is derived from a hash of the
//! resolved spec, so the same experiment maps to the same folder and a finished run is found
//! again instead of redone.

use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file whose presence marks a run as finished.
pub const SUMMARY_FILE: &str = "summary.json";

/// What [`prepare`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunFolder {
    /// A new, empty folder to run in.
    Fresh(PathBuf),
    /// A finished run of the same resolved spec.
    Finished(PathBuf),
}

/// The run id of a resolved spec: the first 10 hex digits of its SHA-256.
pub fn run_id(resolved_spec_json: &str) -> String {
    let digest = Sha256::digest(resolved_spec_json.as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

/// Finds or makes the folder for a run of `experiment` with `resolved_spec_json`. A finished run
/// is returned as such unless `again`; an unfinished or repeated one gets a numbered suffix.
pub fn prepare(
    runs_dir: &Path,
    experiment: &str,
    resolved_spec_json: &str,
    again: bool,
) -> io::Result<RunFolder> {
    let base = runs_dir.join(experiment);
    let id = run_id(resolved_spec_json);
    let first = base.join(&id);
    if !again && first.join(SUMMARY_FILE).is_file() {
        return Ok(RunFolder::Finished(first));
    }
    std::fs::create_dir_all(&base)?;
    for attempt in 1.. {
        let dir = if attempt == 1 {
            first.clone()
        } else {
            base.join(format!("{id}-{attempt}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(RunFolder::Fresh(dir)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop only ends by returning")
}

/// The folders of runs of `experiment` with `resolved_spec_json` (the plain id and its
/// numbered repeats), oldest first.
pub fn folders_of(runs_dir: &Path, experiment: &str, resolved_spec_json: &str) -> Vec<PathBuf> {
    let base = runs_dir.join(experiment);
    let id = run_id(resolved_spec_json);
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    if base.join(&id).is_dir() {
        found.push((1, base.join(&id)));
    }
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let attempt = name
                .strip_prefix(&id)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(attempt) = attempt {
                found.push((attempt, entry.path()));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

/// Appends one JSON line to `metrics.jsonl` and syncs it, so a killed run keeps every finished epoch.
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{line}")?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_spec_same_folder_and_finished_runs_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let RunFolder::Fresh(a) = prepare(dir.path(), "exp", "{}", false).unwrap() else {
            panic!()
        };
        assert_eq!(a, dir.path().join("exp").join(run_id("{}")));
        // Unfinished: a second run gets a suffix.
        let RunFolder::Fresh(b) = prepare(dir.path(), "exp", "{}", false).unwrap() else {
            panic!()
        };
        assert!(b.to_string_lossy().ends_with("-2"));
        std::fs::write(a.join(SUMMARY_FILE), "{}").unwrap();
        assert_eq!(
            prepare(dir.path(), "exp", "{}", false).unwrap(),
            RunFolder::Finished(a.clone())
        );
        assert!(matches!(
            prepare(dir.path(), "exp", "{}", true).unwrap(),
            RunFolder::Fresh(_)
        ));
        let folders = folders_of(dir.path(), "exp", "{}");
        assert_eq!(folders.len(), 3);
        assert_eq!(folders[0], a);
        assert!(folders[2].to_string_lossy().ends_with("-3"));
    }
}
