//! Training: runs a plan's phases in order on its data, evaluates, and writes the run folder
//! (TensorBoard events, `metrics.jsonl`, `summary.json`, plots, checkpoints, the final model).
//!
//! - [`fit`]: the loop over phases, epochs and batches, with checkpoints, interruption and
//!   resume; [`outputs`]: where each step and epoch is recorded (TensorBoard, `metrics.jsonl`).
//! - [`features`]: a frozen prefix's outputs, computed once and kept (in memory, and on disk
//!   for later runs); [`interrupt`]: the stop flag the caller passes in. Where runs compute is
//!   [`crate::device`]'s.
//! - [`phase`]: a phase's trainable set and batch-norm mode; [`optimizer`]: spec optimizers to
//!   Burn; [`schedule`]: learning-rate schedules; [`monitor`]: early stopping / plateau rule.
//! - [`checkpoint`]: model, optimizer and loop state on disk; [`reopen`]: a run folder's plan
//!   and model, for `resume`, `eval` and `predict --run`.
//! - [`evaluate`], [`loss`], [`metrics`]: inference over a split and what is measured;
//!   [`finish`]: the files a finished run leaves (plots, model, summary).

pub mod checkpoint;
pub mod evaluate;
pub mod features;
pub mod finish;
pub mod fit;
pub mod interrupt;
pub mod loss;
pub mod metrics;
pub mod monitor;
pub mod optimizer;
pub mod outputs;
pub mod phase;
pub mod progress;
pub mod reopen;
pub mod schedule;

use crate::model::weights;
use crate::plan::Plan;
use crate::track::lock::{LockError, RunLock};
use crate::track::records::{EpochRecord, Failure, Pruned, Summary};
use crate::track::run_dir::{self, RecordError, RunFolder};
use crate::track::{RunDir, RunStatus, atomic, write_atomically};
use checkpoint::CheckpointError;
pub use interrupt::Interrupter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Decides after each epoch whether a run stops early because other runs are ahead of it
/// (a sweep's pruning rules, `crate::sweep::prune`).
pub trait Pruner: std::fmt::Debug + Send + Sync {
    /// `Some` when the run in `run_dir`, whose epochs so far are `history` (the last one just
    /// ended), should stop now.
    fn judge(&self, run_dir: &Path, history: &[EpochRecord]) -> Option<Pruned>;
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Folder holding `<experiment>/<run-id>/` folders.
    pub runs_dir: PathBuf,
    /// Run again even when a finished run of the same spec exists.
    pub again: bool,
    /// Where the progress of each epoch's batches goes (the command line's progress bar).
    pub progress: Arc<dyn progress::ProgressObserver>,
    /// Write a histogram of every parameter to TensorBoard after each epoch.
    pub histograms: bool,
    /// Compute a phase's frozen prefix once and store its outputs (see [`features`]) instead
    /// of running it every epoch; the results are the same.
    pub frozen_cache: bool,
    /// Where stored frozen-prefix outputs are also kept on disk, for later runs (`None`: in
    /// memory only).
    pub prefix_cache: Option<features::DiskCache>,
    /// Stops the run after its current batch when set (the binary sets it on Ctrl-C).
    pub interrupter: Interrupter,
    /// Run in this folder instead of `runs_dir/<experiment>/<run-id>` (a sweep's trial):
    /// a finished or pruned run there is reported, an interrupted or failed one is continued.
    pub folder: Option<PathBuf>,
    /// Extra HParams entries for TensorBoard (a sweep's parameters).
    pub hparams: Vec<(String, crate::track::tensorboard::HParamValue)>,
    /// TensorBoard HParams group: runs with the same group (a sweep configuration's seed
    /// replicates) are aggregated.
    pub group: String,
    /// A sweep trial's pruning: after each epoch the run compares itself with the sweep's
    /// other trials and stops when it is behind.
    pub prune: Option<Arc<dyn Pruner>>,
    /// Compute on this device instead of the spec's `device:` (`runner resume --device`;
    /// `runner run --device` sets the spec's instead, so it is part of the run's spec).
    pub device: Option<crate::device::DeviceChoice>,
}

impl RunOptions {
    /// Options for runs under `runs_dir`, everything else off but the frozen-prefix cache,
    /// configured from the environment ([`features::DiskCache::from_environment`]).
    pub fn new(runs_dir: impl Into<PathBuf>) -> Self {
        Self {
            runs_dir: runs_dir.into(),
            again: false,
            progress: Arc::new(progress::NoProgress),
            histograms: false,
            frozen_cache: true,
            prefix_cache: features::DiskCache::from_environment()
                .inspect_err(|e| tracing::warn!("frozen-prefix disk cache off: {e}"))
                .ok(),
            interrupter: Interrupter::new(),
            folder: None,
            hparams: Vec::new(),
            group: String::new(),
            prune: None,
            device: None,
        }
    }
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
    /// The device to compute on is not compiled in or not usable here.
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
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
    /// A folder given as a run folder is not one.
    #[error(
        "{} is not a run folder of runner ({reason}); give a folder like runs/<experiment>/<run-id>",
        dir.display()
    )]
    NotARun {
        /// The folder.
        dir: PathBuf,
        /// What is missing or damaged.
        reason: String,
    },
    /// The spec a run was started with no longer plans (its data or weights moved, say).
    #[error(
        "the run in {} cannot be reopened: its stored spec no longer checks out:\n{rendered}\n(move the files back, or start a new run from the spec with `runner run`)",
        dir.display()
    )]
    StoredSpec {
        /// The run folder.
        dir: PathBuf,
        /// The spec errors, rendered against the stored spec.
        rendered: String,
    },
    /// The run has no checkpoint to continue from or to evaluate.
    #[error(
        "{} has no checkpoint yet: the run stopped before its first epoch ended; start it again with `runner run --again`",
        dir.display()
    )]
    NoCheckpoint {
        /// The run folder.
        dir: PathBuf,
    },
    /// A checkpoint file could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A checkpoint does not fit the run's model or optimizer.
    #[error("the checkpoint in {} does not fit the run's {what}: {reason}", dir.display())]
    CheckpointMismatch {
        /// The run folder.
        dir: PathBuf,
        /// `model` or `optimizer`.
        what: &'static str,
        /// Burn's reason.
        reason: String,
    },
    /// `runner run --resume` found nothing to resume.
    #[error(
        "no interrupted run of this spec under {}; start one with `runner run {}`",
        runs.display(),
        spec.display()
    )]
    NoInterruptedRun {
        /// Where runs of the spec live.
        runs: PathBuf,
        /// The spec file.
        spec: PathBuf,
    },
    /// A run record (`metrics.jsonl`, `summary.json`) could not be read.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The data's classes do not fit the model's output.
    #[error(
        "the data has {classes} classes ({label_mode} labels), so the model must output {expected} value(s), but it outputs {found}; set the last dense layer's `units`"
    )]
    OutputsDoNotFitData {
        /// Number of classes in the data.
        classes: usize,
        /// The label mode.
        label_mode: String,
        /// Outputs the data needs.
        expected: String,
        /// Outputs the model has.
        found: String,
    },
    /// The model could not be serialised.
    #[error("cannot serialise the model to {}: {reason}", path.display())]
    SaveModel {
        /// The destination.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A tensor's values could not be read back from the device.
    #[error("cannot read a tensor back from the device: {0}")]
    TensorRead(String),
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

/// The device a run of `plan` computes on: `options.device`, else the spec's, else `cpu`.
fn device_choice(plan: &Plan, options: &RunOptions) -> crate::device::DeviceChoice {
    options.device.or(plan.spec.spec.device).unwrap_or_default()
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
        summary: Box<Summary>,
    },
    /// A finished run of the same spec already exists (`again` was false), or the run being
    /// resumed had already finished.
    AlreadyDone(PathBuf),
    /// Ctrl-C stopped the run after a batch; a checkpoint was written.
    Interrupted(PathBuf),
    /// The sweep's pruning stopped the run after an epoch (now, or in an earlier process);
    /// a checkpoint was written.
    Pruned {
        /// The run folder.
        dir: PathBuf,
        /// Why.
        pruned: Pruned,
    },
}

pub(crate) fn output_error(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs every phase of `plan` in a new run folder under `options.runs_dir` (or in
/// `options.folder`).
pub fn run(plan: &Plan, options: &RunOptions) -> Result<Outcome, RunError> {
    let spec = &plan.spec.spec;
    // Refuse a device that is not usable here before a run folder exists.
    crate::device::open(device_choice(plan, options))?;
    let resolved = resolved_json(plan);
    if let Some(folder) = &options.folder {
        return run_in_folder(plan, folder, &resolved, options);
    }
    // A live run of this spec, even one that has not written its first checkpoint yet.
    let folders = run_dir::folders_of(&options.runs_dir, &spec.name, &resolved);
    for dir in folders.iter().rev() {
        if let RunStatus::Running(holder) = RunDir::new(dir).status() {
            return Err(LockError::Busy {
                dir: dir.clone(),
                holder: Some(holder),
            }
            .into());
        }
    }
    let interrupted = interrupted_run(plan, &options.runs_dir);
    let dir = match run_dir::prepare(&options.runs_dir, &spec.name, &resolved, options.again)
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
    start(plan, &dir, &resolved, options)
}

/// Runs `plan` in the given folder: reports a finished run of the same spec, continues an
/// interrupted or failed one from its checkpoint, starts in an empty one (`again` does not
/// apply here).
fn run_in_folder(
    plan: &Plan,
    folder: &Path,
    resolved: &str,
    options: &RunOptions,
) -> Result<Outcome, RunError> {
    let dir = RunDir::new(folder);
    let stored = std::fs::read_to_string(dir.resolved_spec_file()).ok();
    if stored.as_deref().is_some_and(|s| s != resolved) {
        return Err(RunError::NotARun {
            dir: folder.to_path_buf(),
            reason: "it holds a run of a different spec".into(),
        });
    }
    match dir.status() {
        RunStatus::Finished => Ok(Outcome::AlreadyDone(folder.to_path_buf())),
        RunStatus::Pruned(pruned) => Ok(Outcome::Pruned {
            dir: folder.to_path_buf(),
            pruned,
        }),
        RunStatus::Running(holder) => Err(LockError::Busy {
            dir: folder.to_path_buf(),
            holder: Some(holder),
        }
        .into()),
        _ if dir.checkpoint_pointer_file().is_file() => resume(folder, options),
        _ => {
            std::fs::create_dir_all(folder).map_err(output_error(folder))?;
            start(plan, folder, resolved, options)
        }
    }
}

/// Writes the spec files of a new run into `dir` and trains.
fn start(
    plan: &Plan,
    dir: &Path,
    resolved: &str,
    options: &RunOptions,
) -> Result<Outcome, RunError> {
    let _lock = RunLock::acquire(dir)?;
    let run = RunDir::new(dir);
    write_atomically(&run.spec_file(), plan.spec.text.as_bytes()).map_err(output_error(dir))?;
    write_atomically(&run.resolved_spec_file(), resolved.as_bytes()).map_err(output_error(dir))?;
    reopen::write_origin(&run, &plan.spec.path).map_err(output_error(dir))?;
    run.clear_failure().map_err(output_error(dir))?;
    recording_failure(&run, fit::fit(plan, dir, options, None))
}

/// Continues the run in `run_dir` from its last checkpoint.
pub fn resume(run_dir: &Path, options: &RunOptions) -> Result<Outcome, RunError> {
    let plan = reopen::plan(run_dir)?;
    crate::device::open(device_choice(&plan, options))?;
    let _lock = RunLock::acquire(run_dir)?;
    let run = RunDir::new(run_dir);
    let removed = atomic::remove_stale_temp_files(run_dir)
        + atomic::remove_stale_temp_files(&run.checkpoints_folder());
    if removed > 0 {
        tracing::info!("removed {removed} unfinished temporary file(s) of the interrupted run");
    }
    let saved = reopen::latest_checkpoint(run_dir)?;
    if saved.progress.finished {
        return Ok(Outcome::AlreadyDone(run_dir.to_path_buf()));
    }
    run.clear_failure().map_err(output_error(run_dir))?;
    // A pruned trial resumed by hand is trained to its end.
    run.clear_pruned().map_err(output_error(run_dir))?;
    recording_failure(&run, fit::fit(&plan, run_dir, options, Some(saved)))
}

/// Leaves `error.json` in the run folder when training failed, so compare and sweeps can
/// show the error and a sweep runs the trial again.
fn recording_failure(run: &RunDir, result: Result<Outcome, RunError>) -> Result<Outcome, RunError> {
    if let Err(error) = &result {
        let epochs = checkpoint::load(run.path())
            .ok()
            .flatten()
            .map_or(0, |c| c.progress.epoch);
        let failure = Failure {
            message: error.to_string(),
            epochs,
        };
        if let Err(e) = run.write_failure(&failure) {
            tracing::warn!("cannot record the failure in {}: {e}", run.path().display());
        }
    }
    result
}

/// Continues the latest interrupted run of `plan` (same resolved spec) under
/// `options.runs_dir`.
pub fn resume_spec(plan: &Plan, options: &RunOptions) -> Result<Outcome, RunError> {
    match interrupted_run(plan, &options.runs_dir) {
        Some(dir) => resume(&dir, options),
        None => Err(RunError::NoInterruptedRun {
            runs: options.runs_dir.join(&plan.spec.spec.name),
            spec: plan.spec.path.clone(),
        }),
    }
}

/// The resolved spec of `plan` as the JSON its run id is hashed from.
pub fn resolved_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(&plan.spec.spec).expect("a spec serializes")
}

/// The latest run folder of `plan`'s resolved spec that has a checkpoint but no summary.
fn interrupted_run(plan: &Plan, runs_dir: &Path) -> Option<PathBuf> {
    let resolved = resolved_json(plan);
    run_dir::folders_of(runs_dir, &plan.spec.spec.name, &resolved)
        .into_iter()
        .rev()
        .find(|dir| {
            let run = RunDir::new(dir);
            run.checkpoint_pointer_file().is_file() && !run.summary_file().is_file()
        })
}
