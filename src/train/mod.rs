//! Training: runs a plan's phases in order on its data, evaluates, and writes the run folder
//! (TensorBoard events, `metrics.jsonl`, `summary.json`, plots, checkpoints, the final model).
//!
//! - [`fit`]: the loop over phases, epochs and batches, with checkpoints, Ctrl-C and resume.
//! - [`phase`]: a phase's trainable set and batch-norm mode; [`optimizer`]: spec optimizers to
//!   Burn; [`schedule`]: learning-rate schedules; [`monitor`]: early stopping / plateau rule.
//! - [`checkpoint`]: model, optimizer and loop state on disk; [`reopen`]: a run folder's plan
//!   and model, for `resume`, `eval` and `predict --run`.
//! - [`evaluate`], [`loss`], [`metrics`]: inference over a split and what is measured;
//!   [`report`]: the files a finished run leaves (plots, model, summary).

pub mod checkpoint;
pub mod evaluate;
pub mod fit;
pub mod interrupt;
pub mod loss;
pub mod metrics;
pub mod monitor;
pub mod optimizer;
pub mod phase;
pub mod reopen;
pub mod report;
pub mod schedule;

use crate::model::weights;
use crate::plan::Plan;
use crate::track::lock::{LockError, RunLock};
use crate::track::run::{self, RunFolder};
use crate::track::write_atomically;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Folder holding `<experiment>/<run-id>/` folders.
    pub runs_dir: PathBuf,
    /// Run again even when a finished run of the same spec exists.
    pub again: bool,
    /// Show progress bars (on a terminal, unless quiet).
    pub progress: bool,
    /// Write a histogram of every parameter to TensorBoard after each epoch.
    pub histograms: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Pretrained weights could not be loaded.
    #[error(transparent)]
    Weights(#[from] weights::WeightsError),
    /// The run folder could not be written.
    #[error("cannot write {path}: {source}{}", output_help(source))]
    Output {
        /// What was being written.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Another process is writing the run folder.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// A run folder could not be read back (resume, eval, predict).
    #[error("{0}")]
    Reopen(String),
    /// The data and the model disagree.
    #[error("{0}")]
    Mismatch(String),
    /// The loss stopped being a number.
    #[error(
        "the loss became {value} in phase `{phase}`, epoch {epoch}, batch {batch}; the run stops here and keeps its last checkpoint (lower the learning rate, or check the data)"
    )]
    NotFinite {
        /// The bad value.
        value: f64,
        /// Phase name.
        phase: String,
        /// Epoch number (1-based, across phases).
        epoch: usize,
        /// Batch number in the epoch (1-based).
        batch: usize,
    },
}

fn output_help(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            " (the disk is full: free some space, or put runs elsewhere with --runs DIR, then `runner resume` the run)"
        }
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            " (choose a writable folder with --runs DIR)"
        }
        std::io::ErrorKind::NotADirectory | std::io::ErrorKind::AlreadyExists => {
            " (a file is in the way of a folder: choose another --runs DIR)"
        }
        _ => "",
    }
}

/// The result of [`run`] or [`resume`].
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A run finished; its folder and summary.
    Finished {
        /// The run folder.
        dir: PathBuf,
        /// `summary.json` content.
        summary: Value,
    },
    /// A finished run of the same spec already exists (`again` was false), or the run being
    /// resumed had already finished.
    AlreadyDone(PathBuf),
    /// Ctrl-C stopped the run after a batch; a checkpoint was written.
    Interrupted(PathBuf),
}

pub(crate) fn output_error(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs every phase of `plan` in a new run folder under `options.runs_dir`.
pub fn run(plan: &Plan, options: &RunOptions) -> Result<Outcome, RunError> {
    let spec = &plan.spec.spec;
    let resolved = serde_json::to_string_pretty(spec).expect("a spec serializes");
    let interrupted = interrupted_run(plan, &options.runs_dir);
    let dir = match run::prepare(&options.runs_dir, &spec.name, &resolved, options.again)
        .map_err(output_error(&options.runs_dir))?
    {
        RunFolder::Finished(dir) => return Ok(Outcome::AlreadyDone(dir)),
        RunFolder::Fresh(dir) => dir,
    };
    if let Some(interrupted) = interrupted {
        tracing::warn!(
            "an interrupted run of this spec is in {0}; this starts a new one (`runner resume {0}` continues that one)",
            interrupted.display()
        );
    }
    let _lock = RunLock::acquire(&dir)?;
    write_atomically(&dir.join("spec.yaml"), plan.spec.text.as_bytes())
        .map_err(output_error(&dir))?;
    write_atomically(&dir.join(reopen::RESOLVED_SPEC_FILE), resolved.as_bytes())
        .map_err(output_error(&dir))?;
    reopen::write_origin(&dir, &plan.spec.path).map_err(output_error(&dir))?;
    fit::fit(plan, &dir, options, None)
}

/// Continues the run in `run_dir` from its last checkpoint.
pub fn resume(run_dir: &Path, options: &RunOptions) -> Result<Outcome, RunError> {
    let plan = reopen::plan(run_dir)?;
    let _lock = RunLock::acquire(run_dir)?;
    let saved = reopen::latest_checkpoint(run_dir)?;
    if saved.progress.finished {
        return Ok(Outcome::AlreadyDone(run_dir.to_path_buf()));
    }
    fit::fit(&plan, run_dir, options, Some(saved))
}

/// Continues the latest interrupted run of `plan` (same resolved spec) under
/// `options.runs_dir`.
pub fn resume_spec(plan: &Plan, options: &RunOptions) -> Result<Outcome, RunError> {
    match interrupted_run(plan, &options.runs_dir) {
        Some(dir) => resume(&dir, options),
        None => Err(RunError::Reopen(format!(
            "no interrupted run of this spec under {}; start one with `runner run {}`",
            options.runs_dir.join(&plan.spec.spec.name).display(),
            plan.spec.path.display()
        ))),
    }
}

/// The latest run folder of `plan`'s resolved spec that has a checkpoint but no summary.
fn interrupted_run(plan: &Plan, runs_dir: &Path) -> Option<PathBuf> {
    let spec = &plan.spec.spec;
    let resolved = serde_json::to_string_pretty(spec).expect("a spec serializes");
    run::folders_of(runs_dir, &spec.name, &resolved)
        .into_iter()
        .rev()
        .find(|dir| {
            dir.join(checkpoint::POINTER_FILE).is_file() && !dir.join(run::SUMMARY_FILE).is_file()
        })
}
