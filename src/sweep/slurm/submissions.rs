//! `slurm.json` in the sweep folder: every job array the sweep submitted and which trials it
//! holds, written (atomically) as soon as `sbatch` returns, before anything waits, so no
//! submitted job is ever forgotten. It records job ids only; a trial's state is read from its
//! run folder and from Slurm.

use crate::track::write_atomically;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// The `slurm.json` format version this runner writes.
pub const SUBMISSIONS_VERSION: u32 = 1;

/// What `slurm.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Submissions {
    /// Format version.
    pub version: u32,
    /// The job arrays, oldest first.
    pub arrays: Vec<Submission>,
}

/// One job array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// Slurm's job id of the array.
    pub job_id: String,
    /// When it was submitted (seconds since the Unix epoch).
    pub submitted: u64,
    /// The batch script.
    pub script: PathBuf,
    /// The trials it runs: the array task id is the trial's number.
    pub trials: Vec<String>,
}

impl Submissions {
    /// The file in `sweep_dir`.
    pub fn file(sweep_dir: &Path) -> PathBuf {
        sweep_dir.join("slurm.json")
    }

    /// The record in `sweep_dir` (empty when nothing was submitted).
    pub fn read(sweep_dir: &Path) -> Result<Self, String> {
        let path = Self::file(sweep_dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let record: Self = serde_json::from_slice(&bytes)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if record.version > SUBMISSIONS_VERSION {
            return Err(format!(
                "{} has format version {}, newer than this runner reads ({SUBMISSIONS_VERSION}); update runner",
                path.display(),
                record.version
            ));
        }
        Ok(record)
    }

    /// Writes the record into `sweep_dir` atomically.
    pub fn write(&self, sweep_dir: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        write_atomically(&Self::file(sweep_dir), &json)
    }

    /// The Slurm id (`ARRAY_TASK`) of the latest job of trial `name`.
    pub fn job_of(&self, name: &str) -> Option<String> {
        let array = self
            .arrays
            .iter()
            .rev()
            .find(|a| a.trials.iter().any(|t| t == name))?;
        Some(format!("{}_{}", array.job_id, trial_number(name)?))
    }
}

/// The number a trial's folder name starts with (`004-rate=0.2` is 4).
pub fn trial_number(name: &str) -> Option<usize> {
    name.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_array_of_a_trial_names_its_job() {
        let dir = tempfile::tempdir().unwrap();
        let mut record = Submissions {
            version: SUBMISSIONS_VERSION,
            arrays: Vec::new(),
        };
        for (job, trials) in [("10", vec!["001-a", "002-b"]), ("11", vec!["002-b"])] {
            record.arrays.push(Submission {
                job_id: job.into(),
                submitted: 0,
                script: "s.sh".into(),
                trials: trials.into_iter().map(String::from).collect(),
            });
        }
        record.write(dir.path()).unwrap();
        let back = Submissions::read(dir.path()).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.job_of("001-a").as_deref(), Some("10_1"));
        assert_eq!(back.job_of("002-b").as_deref(), Some("11_2"));
        assert_eq!(back.job_of("003-c"), None);
    }
}
