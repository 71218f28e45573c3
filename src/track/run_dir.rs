//! Run folders: `runs/<experiment>/<run-id>/`, where the run id is derived from a hash of the
//! resolved spec, so the same experiment maps to the same folder and a finished run is found
//! again instead of redone. [`RunDir`] owns the name of every file in a run folder and reads
//! and writes its typed records ([`super::records`]); nothing else spells those names.

use super::atomic::write_atomically;
use super::lock::{self, Holder};
use super::records::{EpochRecord, Failure, Pruned, SUMMARY_VERSION, Summary};
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

/// Where a run stands, from what its folder holds.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStatus {
    /// It wrote its summary.
    Finished,
    /// A process is training it now.
    Running(Holder),
    /// It stopped with an error (`error.json`).
    Failed(Failure),
    /// Its sweep's pruning rule stopped it early (`pruned.json`); it has a checkpoint.
    Pruned(Pruned),
    /// It stopped (Ctrl-C, kill, crash) after writing a checkpoint; `runner resume` continues it.
    Interrupted,
    /// It has no checkpoint yet (it stopped, or is starting, before its first epoch ended).
    NotStarted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Finished => "finished",
            RunStatus::Running(_) => "running",
            RunStatus::Failed(_) => "failed",
            RunStatus::Pruned(_) => "pruned",
            RunStatus::Interrupted => "interrupted",
            RunStatus::NotStarted => "not started",
        })
    }
}

/// A run-folder file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Missing, unreadable or not in the expected format.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Written by a newer runner.
    #[error(
        "{path} has format version {version}, newer than this runner reads ({SUMMARY_VERSION}); update runner"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        version: u32,
    },
}

impl RunDir {
    /// The run folder at `path` (nothing is read or created).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder's name (the run id, or a sweep trial's name).
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The spec as the user wrote it.
    pub fn spec_file(&self) -> PathBuf {
        self.path.join("spec.yaml")
    }

    /// The resolved spec (overrides applied), as JSON.
    pub fn resolved_spec_file(&self) -> PathBuf {
        self.path.join("resolved_spec.json")
    }

    /// Where the spec came from (`origin.json`), for resolving its relative paths.
    pub fn origin_file(&self) -> PathBuf {
        self.path.join("origin.json")
    }

    /// One [`EpochRecord`] per line.
    pub fn metrics_file(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }

    /// The [`Summary`]; its presence marks the run as finished.
    pub fn summary_file(&self) -> PathBuf {
        self.path.join("summary.json")
    }

    /// The [`Failure`] of a run that stopped on an error.
    pub fn failure_file(&self) -> PathBuf {
        self.path.join("error.json")
    }

    /// The [`Pruned`] record of a sweep trial that stopped itself early.
    pub fn pruned_file(&self) -> PathBuf {
        self.path.join("pruned.json")
    }

    /// The run's log.
    pub fn log_file(&self) -> PathBuf {
        self.path.join("run.log")
    }

    /// What a sweep trial's process printed (its errors, when it failed before training).
    pub fn console_file(&self) -> PathBuf {
        self.path.join("console.log")
    }

    /// The final model's weights.
    pub fn model_file(&self) -> PathBuf {
        self.path.join("model.safetensors")
    }

    /// The pointer to the latest complete checkpoint.
    pub fn checkpoint_pointer_file(&self) -> PathBuf {
        self.path.join("checkpoint.json")
    }

    /// The folder of checkpoint files.
    pub fn checkpoints_folder(&self) -> PathBuf {
        self.path.join("checkpoints")
    }

    /// The learning-curves plot.
    pub fn learning_curves_file(&self) -> PathBuf {
        self.path.join("learning_curves.png")
    }

    /// The confusion-matrix plot of the evaluation on `split`.
    pub fn confusion_matrix_file(&self, split: &str) -> PathBuf {
        self.path.join(format!("confusion_matrix_{split}.png"))
    }

    /// The epochs recorded so far (an empty list when there are none).
    pub fn read_epochs(&self) -> Result<Vec<EpochRecord>, RecordError> {
        let path = self.metrics_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(unreadable(&path, e)),
        };
        // A last line without its newline is still being written by the run's process (a
        // sweep's trials read each other's files): it is not an epoch yet.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map_err(|e| unreadable(&path, format!("line {}: {e}", i + 1)))
            })
            .collect()
    }

    /// Appends one epoch (its line and newline in one write) and syncs the file, so a killed
    /// run keeps every finished epoch.
    pub fn append_epoch(&self, record: &EpochRecord) -> io::Result<()> {
        let mut line = serde_json::to_string(record).map_err(io::Error::other)?;
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.metrics_file())?;
        file.write_all(line.as_bytes())?;
        file.sync_data()
    }

    /// Replaces the epochs file with `records` (a resumed run rewinds it to its checkpoint).
    pub fn write_epochs(&self, records: &[EpochRecord]) -> io::Result<()> {
        let mut text = String::new();
        for record in records {
            text.push_str(&serde_json::to_string(record).map_err(io::Error::other)?);
            text.push('\n');
        }
        write_atomically(&self.metrics_file(), text.as_bytes())
    }

    /// The summary, or `None` when the run has not finished.
    pub fn read_summary(&self) -> Result<Option<Summary>, RecordError> {
        let path = self.summary_file();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(&path, e)),
        };
        #[derive(serde::Deserialize)]
        struct Versioned {
            #[serde(default)]
            version: u32,
        }
        let versioned: Versioned =
            serde_json::from_slice(&bytes).map_err(|e| unreadable(&path, e))?;
        match versioned.version {
            SUMMARY_VERSION => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| unreadable(&path, e)),
            version if version > SUMMARY_VERSION => Err(RecordError::TooNew { path, version }),
            version => Err(unreadable(
                &path,
                format!(
                    "it has format version {version}, from an older runner; run it again with `runner run --again`"
                ),
            )),
        }
    }

    /// Writes the summary (atomically): the run is finished from then on.
    pub fn write_summary(&self, summary: &Summary) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(summary).map_err(io::Error::other)?;
        write_atomically(&self.summary_file(), &json)
    }

    /// Records why the run failed.
    pub fn write_failure(&self, failure: &Failure) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(failure).map_err(io::Error::other)?;
        write_atomically(&self.failure_file(), &json)
    }

    /// Forgets an earlier failure (the run is being tried again).
    pub fn clear_failure(&self) -> io::Result<()> {
        remove_if_present(&self.failure_file())
    }

    /// Records that the run's sweep stopped it early.
    pub fn write_pruned(&self, pruned: &Pruned) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(pruned).map_err(io::Error::other)?;
        write_atomically(&self.pruned_file(), &json)
    }

    /// Forgets that the run was pruned (it is being trained to its end).
    pub fn clear_pruned(&self) -> io::Result<()> {
        remove_if_present(&self.pruned_file())
    }

    /// Where the run stands.
    pub fn status(&self) -> RunStatus {
        if self.summary_file().is_file() {
            return RunStatus::Finished;
        }
        if let Some(holder) = lock::holder(&self.path) {
            return RunStatus::Running(holder);
        }
        if let Some(failure) = read_record(&self.failure_file()) {
            return RunStatus::Failed(failure);
        }
        if let Some(pruned) = read_record(&self.pruned_file()) {
            return RunStatus::Pruned(pruned);
        }
        if self.checkpoint_pointer_file().is_file() {
            RunStatus::Interrupted
        } else {
            RunStatus::NotStarted
        }
    }
}

/// A small JSON record, `None` when it is missing or damaged.
fn read_record<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn unreadable(path: &Path, reason: impl ToString) -> RecordError {
    RecordError::Unreadable {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The SHA-256 of a resolved spec, in hex.
pub fn spec_hash(resolved_spec_json: &str) -> String {
    Sha256::digest(resolved_spec_json.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

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
    spec_hash(resolved_spec_json)[..10].to_string()
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
    if !again && RunDir::new(&first).summary_file().is_file() {
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
        std::fs::write(RunDir::new(&a).summary_file(), "{}").unwrap();
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

    fn record(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            phase: "p".into(),
            learning_rate: 0.1,
            seconds: 1.0,
            images_per_second: 2.0,
            train: [("loss".to_string(), 0.5)].into(),
            validation: [("accuracy".to_string(), 0.75)].into(),
        }
    }

    #[test]
    fn epochs_round_trip_and_a_damaged_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert!(run.read_epochs().unwrap().is_empty());
        run.append_epoch(&record(1)).unwrap();
        run.append_epoch(&record(2)).unwrap();
        assert_eq!(run.read_epochs().unwrap(), vec![record(1), record(2)]);
        run.write_epochs(&[record(1)]).unwrap();
        assert_eq!(run.read_epochs().unwrap(), vec![record(1)]);
        // A line another process is still writing is not an epoch yet.
        let mut text = std::fs::read_to_string(run.metrics_file()).unwrap();
        text.push_str("{\"epoch\": 2, \"pha");
        std::fs::write(run.metrics_file(), text).unwrap();
        assert_eq!(run.read_epochs().unwrap(), vec![record(1)]);
        std::fs::write(run.metrics_file(), "{\"epoch\": 1}\n").unwrap();
        let err = run.read_epochs().unwrap_err().to_string();
        assert!(err.contains("metrics.jsonl: line 1"), "{err}");
    }

    #[test]
    fn summaries_of_other_versions_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert!(run.read_summary().unwrap().is_none());
        std::fs::write(run.summary_file(), r#"{"version": 99}"#).unwrap();
        let err = run.read_summary().unwrap_err().to_string();
        assert!(err.contains("newer than this runner reads"), "{err}");
        std::fs::write(run.summary_file(), r#"{"experiment": "old"}"#).unwrap();
        let err = run.read_summary().unwrap_err().to_string();
        assert!(err.contains("from an older runner"), "{err}");
    }

    #[test]
    fn status_follows_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert_eq!(run.status(), RunStatus::NotStarted);
        std::fs::write(run.checkpoint_pointer_file(), "{}").unwrap();
        assert_eq!(run.status(), RunStatus::Interrupted);
        let failure = Failure {
            message: "boom".into(),
            epochs: 1,
        };
        run.write_failure(&failure).unwrap();
        assert_eq!(run.status(), RunStatus::Failed(failure));
        let lock = crate::track::lock::RunLock::acquire(dir.path()).unwrap();
        assert!(matches!(run.status(), RunStatus::Running(_)));
        drop(lock);
        run.clear_failure().unwrap();
        let pruned = Pruned {
            rule: "median".into(),
            epoch: 2,
            phase: "p".into(),
            metric: "validation/loss".into(),
            value: 0.7,
            threshold: 0.4,
            compared: 3,
        };
        run.write_pruned(&pruned).unwrap();
        assert_eq!(run.status(), RunStatus::Pruned(pruned));
        run.clear_pruned().unwrap();
        assert_eq!(run.status(), RunStatus::Interrupted);
        std::fs::write(run.summary_file(), "{}").unwrap();
        assert_eq!(run.status(), RunStatus::Finished);
    }
}
