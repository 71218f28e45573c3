//! A sweep's folder, `runs/<sweep>/`: one run folder per trial, named by the trial, and
//! `sweep.json`, the list of trials (written before any of them runs, rewritten when TPE adds
//! one). A trial's state is never stored here: it is read from its run folder (summary, error,
//! checkpoint, and the OS lock a live process holds), so a killed sweep leaves nothing that
//! claims to be running.

use super::space::Config;
use super::spec::{Domain, Method};
use super::trial::Trial;
use crate::metric::Goal;
use crate::track::run_dir::RecordError;
use crate::track::{RunDir, write_atomically};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The `sweep.json` format version this runner writes.
pub const SWEEP_RECORD_VERSION: u32 = 1;

/// What `sweep.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    /// Format version.
    pub version: u32,
    /// The sweep's name.
    pub name: String,
    /// The sweep file (absolute).
    pub sweep_file: PathBuf,
    /// The experiment spec the trials start from (absolute).
    pub spec_file: PathBuf,
    /// Identity of the sweep's definition (sweep file content and `--set` overrides): a
    /// folder holding another sweep is not reused.
    pub definition_hash: String,
    /// The search method.
    pub method: Method,
    /// The ranking metric.
    pub metric: String,
    /// Higher or lower is better.
    pub goal: Goal,
    /// The parameters and their domains (for TensorBoard's HParams view and compare).
    pub parameters: BTreeMap<String, Domain>,
    /// Short name of each parameter path.
    pub short_names: BTreeMap<String, String>,
    /// The trials so far, in order.
    pub trials: Vec<Trial>,
}

impl SweepRecord {
    /// The trial whose configuration and seed are these, if any.
    pub fn find(&self, config: &Config, seed: Option<u64>) -> Option<&Trial> {
        self.trials
            .iter()
            .find(|t| &t.config == config && t.seed == seed)
    }
}

/// A sweep folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepDir {
    path: PathBuf,
}

impl SweepDir {
    /// The sweep folder at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The list of trials.
    pub fn record_file(&self) -> PathBuf {
        self.path.join("sweep.json")
    }

    /// The run folder of a trial.
    pub fn trial(&self, trial: &Trial) -> RunDir {
        RunDir::new(self.path.join(&trial.name))
    }

    /// The record, or `None` for a new sweep.
    pub fn read(&self) -> Result<Option<SweepRecord>, RecordError> {
        let path = self.record_file();
        let unreadable = |reason: String| RecordError::Unreadable {
            path: path.clone(),
            reason,
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        let record: SweepRecord =
            serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
        if record.version > SWEEP_RECORD_VERSION {
            return Err(RecordError::TooNew {
                path,
                version: record.version,
            });
        }
        Ok(Some(record))
    }

    /// Writes the record atomically (creating the folder).
    pub fn write(&self, record: &SweepRecord) -> io::Result<()> {
        std::fs::create_dir_all(&self.path)?;
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        write_atomically(&self.record_file(), &json)
    }
}
