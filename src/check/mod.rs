//! Regression checks: a run's (or a sweep's) final metrics against the spec's `checks:`
//! (absolute thresholds, and comparisons with a baseline file within tolerances).
//!
//! [`target`] reads what is
//! checked (a run folder, or a sweep folder whose seed replicates are aggregated by
//! [`measure`]); [`baseline`] writes and reads baseline files; [`verdict`] turns checks into
//! rows with a verdict and the process exit code; [`report`] writes the rows as a terminal
//! table, markdown and JUnit XML.

pub mod baseline;
pub mod measure;
pub mod report;
pub mod target;
pub mod verdict;

use std::path::PathBuf;

/// Why a check could not be evaluated (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The path is neither a run folder nor a sweep folder.
    #[error(
        "{} is not a run folder (no resolved_spec.json) nor a sweep folder (no sweep.json); give the folder `runner run` printed, e.g. runs/<experiment>/<run-id>",
        path.display()
    )]
    NotARun {
        /// The path.
        path: PathBuf,
    },
    /// A run has not finished.
    #[error(
        "{} has not finished (no summary.json): finish it with `runner resume {0}` (or `runner sweep` for a sweep) before checking it",
        path.display()
    )]
    Unfinished {
        /// The run folder.
        path: PathBuf,
    },
    /// A run is still training.
    #[error(
        "{} is still training ({holder}): check it once it has finished",
        path.display()
    )]
    StillRunning {
        /// The run folder.
        path: PathBuf,
        /// The process training it.
        holder: String,
    },
    /// A record or stored spec could not be read.
    #[error("{0}")]
    Unreadable(String),
    /// A baseline file could not be read or written.
    #[error("baseline {}: {reason}", path.display())]
    Baseline {
        /// The baseline file.
        path: PathBuf,
        /// What went wrong, and how to fix it.
        reason: String,
    },
}
