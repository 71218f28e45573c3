//! What `runner check` and `runner baseline` read: a finished run folder, or a sweep folder
//! (every trial finished; seed replicates of one configuration aggregated), with the stored
//! spec (its `checks:` and data folder) and what identifies the result (spec hash, data
//! listing hash, device).

use super::CheckError;
use super::baseline::data_listing_hash;
use super::measure::{self, Groups};
use crate::spec::LoadedSpec;
use crate::sweep::state::SweepDir;
use crate::track::records::{DeviceInfo, Summary};
use crate::track::{RunDir, RunStatus};
use std::path::{Path, PathBuf};

/// A run or sweep, read for checking.
#[derive(Debug, Clone)]
pub struct Target {
    /// The folder given.
    pub path: PathBuf,
    /// The run's stored spec (a sweep's first trial's).
    pub spec: LoadedSpec,
    /// The experiment name.
    pub experiment: String,
    /// The run's spec hash; for a sweep, its definition hash.
    pub spec_hash: String,
    /// [`data_listing_hash`] of the spec's data folder, when it is there.
    pub data_hash: Option<String>,
    /// What ran it (a sweep's first trial).
    pub device: DeviceInfo,
    /// The metrics per configuration (`""` for a single run).
    pub groups: Groups,
}

/// Reads the run or sweep folder at `path`.
pub fn load(path: &Path) -> Result<Target, CheckError> {
    let unreadable = |e: &dyn std::fmt::Display| CheckError::Unreadable(e.to_string());
    let run = RunDir::new(path);
    let (runs, spec_hash) = if run.resolved_spec_file().is_file() {
        let summary = finished(&run)?;
        let hash = summary.spec_hash.clone();
        (vec![(String::new(), run, summary)], hash)
    } else {
        let sweep = SweepDir::new(path);
        let record =
            sweep
                .read()
                .map_err(|e| unreadable(&e))?
                .ok_or_else(|| CheckError::NotARun {
                    path: path.to_path_buf(),
                })?;
        let mut runs = Vec::new();
        for trial in &record.trials {
            let dir = sweep.trial(trial);
            let summary = finished(&dir)?;
            runs.push((trial.group(), dir, summary));
        }
        (runs, record.definition_hash)
    };
    let Some((_, first_dir, first)) = runs.first() else {
        return Err(CheckError::NotARun {
            path: path.to_path_buf(),
        });
    };
    let spec = crate::train::reopen::loaded_spec(first_dir.path()).map_err(|e| unreadable(&e))?;
    let data_root = spec.resolve(&spec.spec.data.root);
    Ok(Target {
        path: path.to_path_buf(),
        experiment: first.experiment.clone(),
        spec_hash,
        data_hash: data_listing_hash(&data_root),
        device: first.device.clone(),
        groups: measure::groups(runs.iter().map(|(g, _, s)| (g.clone(), s))),
        spec,
    })
}

fn finished(run: &RunDir) -> Result<Summary, CheckError> {
    let summary = run
        .read_summary()
        .map_err(|e| CheckError::Unreadable(e.to_string()))?;
    summary.ok_or_else(|| match run.status() {
        RunStatus::Running(holder) => CheckError::StillRunning {
            path: run.path().to_path_buf(),
            holder: holder.to_string(),
        },
        _ => CheckError::Unfinished {
            path: run.path().to_path_buf(),
        },
    })
}
