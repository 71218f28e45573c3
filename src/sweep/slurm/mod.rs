//! Running a sweep's trials on a Slurm cluster: the trials still to run go to Slurm as one job
//! array (task N runs trial number N, [`script`]), its job id is recorded in `slurm.json`
//! ([`submissions`]) before anything waits, then the queue is watched until every trial ended.
//!
//! A trial's state comes from its run folder first (summary, `error.json`, checkpoint, lock)
//! and from Slurm only for what the folder cannot say: queued or running, and how a job that
//! left no result ended. A job Slurm calls COMPLETED without a summary is a failure, not a
//! success. Running the sweep again submits only the trials that have not finished and are not
//! queued or running.

pub mod client;
pub mod script;
pub mod submissions;

use super::launch::{self, io_error, record_failure, tail};
use super::spec::{Executor, Method};
use super::trial::Trial;
use super::{Prepared, SweepError};
use crate::track::{RunDir, RunStatus};
use crate::train::Interrupter;
use client::Job;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use submissions::{SUBMISSIONS_VERSION, Submission, Submissions};

/// Where a trial stands, from its folder and its Slurm job.
#[derive(Debug, Clone, PartialEq)]
pub enum TrialState {
    /// Never submitted, or its job vanished before it started (a pending task cancelled).
    NotStarted,
    /// Its job waits in the queue (or to run again after a requeue).
    Pending,
    /// Its job runs.
    Running,
    /// It wrote its summary.
    Finished,
    /// It stopped itself early, behind the other trials (see `sweep::prune`): it has ended.
    Pruned,
    /// It failed: its recorded error, or how its job ended without a result.
    Failed(String),
    /// It stopped with a checkpoint (cancelled, preempted, out of time): it resumes next time.
    Interrupted,
}

impl std::fmt::Display for TrialState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrialState::NotStarted => "not started",
            TrialState::Pending => "pending",
            TrialState::Running => "running",
            TrialState::Finished => "finished",
            TrialState::Pruned => "pruned",
            TrialState::Failed(_) => "failed",
            TrialState::Interrupted => "interrupted",
        })
    }
}

/// One trial as `runner sweep --status` shows it.
#[derive(Debug, Clone)]
pub struct TrialView {
    /// The trial.
    pub trial: Trial,
    /// Where it stands.
    pub state: TrialState,
    /// Its latest Slurm job (`ARRAY_TASK`).
    pub job: Option<String>,
    /// Its ranking metric, once finished.
    pub metric: Option<f64>,
}

/// How to submit and whether to wait.
#[derive(Debug, Clone)]
pub struct Submit {
    /// The Slurm settings.
    pub executor: Executor,
    /// The `runner` executable the tasks run.
    pub runner: PathBuf,
    /// Watch the queue until every trial ended (else return once submitted).
    pub wait: bool,
    /// Stops the waiting (the jobs keep running) when set.
    pub interrupter: Interrupter,
}

/// What a Slurm sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The job array submitted now and how many trials it holds.
    pub submitted: Option<(String, usize)>,
    /// Trials that finished (now or before).
    pub finished: usize,
    /// Trials that failed.
    pub failed: usize,
    /// Trials stopped from outside (cancelled, preempted) that were not requeued.
    pub stopped: usize,
    /// True when it returned before every trial ended (no waiting, or Ctrl-C).
    pub detached: bool,
}

/// Submits every trial that has not finished and is not queued or running, then (with
/// `submit.wait`) watches them until they end.
pub fn run(prepared: &mut Prepared, submit: &Submit) -> Result<Outcome, SweepError> {
    if prepared.record.method == Method::Tpe {
        return Err(SweepError::Invalid(vec![prepared.loaded.report(vec![
            prepared
                .loaded
                .key_error(
                    "method",
                    "`method: tpe` learns from finished trials one after another, which a job array cannot do",
                )
                .with_help("use `method: random` (or grid) on Slurm, or run TPE with `--executor local`"),
        ])]));
    }
    launch::begin(prepared)?;
    let dir = prepared.dir.path().to_path_buf();
    let mut record = Submissions::read(&dir).map_err(SweepError::Submissions)?;
    let jobs = if record.arrays.is_empty() {
        Vec::new()
    } else {
        client::jobs()?
    };
    let mut outcome = Outcome::default();
    let mut to_submit = Vec::new();
    for trial in &prepared.record.trials {
        match state(prepared, &record, &jobs, trial) {
            TrialState::Finished | TrialState::Pruned => outcome.finished += 1,
            TrialState::Pending | TrialState::Running => {}
            _ => to_submit.push(trial.clone()),
        }
    }
    if outcome.finished > 0 {
        tracing::info!(
            "{} of {} trials finished earlier",
            outcome.finished,
            prepared.record.trials.len()
        );
    }
    if !to_submit.is_empty() {
        let job = submit_array(prepared, submit, &mut record, &to_submit)?;
        tracing::info!(
            "submitted {} trial(s) as Slurm job array {job} (`runner sweep {} --status` shows them, `--cancel` cancels them)",
            to_submit.len(),
            prepared.loaded.path.display()
        );
        outcome.submitted = Some((job, to_submit.len()));
    }
    if !submit.wait {
        outcome.detached = true;
        return Ok(outcome);
    }
    watch(prepared, submit, &record, outcome)
}

/// Writes the batch script, submits it, and records the job id at once.
fn submit_array(
    prepared: &Prepared,
    submit: &Submit,
    record: &mut Submissions,
    trials: &[Trial],
) -> Result<String, SweepError> {
    let dir = prepared.dir.path();
    let logs = std::path::absolute(dir.join("slurm")).map_err(io_error("find", dir))?;
    std::fs::create_dir_all(&logs).map_err(io_error("create", &logs))?;
    let tasks: Vec<script::Task> = trials
        .iter()
        .map(|trial| {
            let mut command: Vec<OsString> = vec![submit.runner.clone().into()];
            command.extend(launch::run_arguments(prepared, trial));
            script::Task {
                index: trial.index,
                folder: prepared.dir.trial(trial).path().into(),
                command,
            }
        })
        .collect();
    let script_file = logs.join(format!("array-{}.sh", record.arrays.len() + 1));
    let text = script::batch_script(&prepared.record.name, &tasks);
    crate::track::write_atomically(&script_file, text.as_bytes())
        .map_err(io_error("write", &script_file))?;
    let workdir =
        std::env::current_dir().map_err(io_error("find the current folder", Path::new(".")))?;
    let indices: Vec<usize> = trials.iter().map(|t| t.index).collect();
    let args = script::sbatch_args(
        &prepared.record.name,
        &submit.executor,
        &indices,
        &logs,
        &workdir,
    );
    let job = match client::submit(&script_file, &args) {
        Ok(job) => job,
        Err(e) => {
            let _ = std::fs::remove_file(&script_file);
            return Err(e.into());
        }
    };
    record.version = SUBMISSIONS_VERSION;
    record.arrays.push(Submission {
        job_id: job.clone(),
        submitted: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        script: script_file,
        trials: trials.iter().map(|t| t.name.clone()).collect(),
    });
    record.write(dir).map_err(|source| SweepError::Unrecorded {
        job: job.clone(),
        file: Submissions::file(dir),
        source,
    })?;
    Ok(job)
}

/// Watches the queue until every trial that has not finished has ended.
fn watch(
    prepared: &Prepared,
    submit: &Submit,
    record: &Submissions,
    mut outcome: Outcome,
) -> Result<Outcome, SweepError> {
    let poll = Duration::from_secs(submit.executor.poll_seconds.into());
    let mut waiting: Vec<Trial> = prepared
        .record
        .trials
        .iter()
        .filter(|t| prepared.dir.trial(t).status() != RunStatus::Finished)
        .cloned()
        .collect();
    while !waiting.is_empty() {
        if sleep_unless_interrupted(poll, &submit.interrupter) {
            outcome.detached = true;
            return Ok(outcome);
        }
        let jobs = client::jobs()?;
        let mut still = Vec::new();
        for trial in waiting {
            let run = prepared.dir.trial(&trial);
            match state(prepared, record, &jobs, &trial) {
                TrialState::Pending | TrialState::Running => still.push(trial),
                TrialState::Finished => {
                    outcome.finished += 1;
                    let metric = metric_of(prepared, &run);
                    tracing::info!(
                        "[{}] finished {}: {} {}",
                        trial.index,
                        trial.name,
                        prepared.record.metric,
                        metric.map_or("-".into(), |v| format!("{v:.4}"))
                    );
                }
                TrialState::Pruned => {
                    outcome.finished += 1;
                    tracing::info!("[{}] pruned {}", trial.index, trial.name);
                }
                TrialState::Failed(message) => {
                    outcome.failed += 1;
                    if !run.failure_file().is_file() {
                        record_failure(&run, message.clone())?;
                    }
                    tracing::warn!(
                        "trial {} failed: {}",
                        trial.name,
                        message.lines().next().unwrap_or_default()
                    );
                }
                stopped @ (TrialState::Interrupted | TrialState::NotStarted) => {
                    outcome.stopped += 1;
                    tracing::warn!(
                        "trial {} was stopped ({stopped}) and not requeued",
                        trial.name
                    );
                }
            }
        }
        waiting = still;
    }
    Ok(outcome)
}

/// Sleeps `total`, waking early when a stop is asked for; true when it was.
fn sleep_unless_interrupted(total: Duration, interrupter: &Interrupter) -> bool {
    let step = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    while slept < total {
        if interrupter.requested() {
            return true;
        }
        std::thread::sleep(step);
        slept += step;
    }
    interrupter.requested()
}

/// Every trial with its state and Slurm job (asks Slurm when the sweep submitted jobs).
pub fn status(prepared: &Prepared) -> Result<Vec<TrialView>, SweepError> {
    let record = Submissions::read(prepared.dir.path()).map_err(SweepError::Submissions)?;
    let jobs = if record.arrays.is_empty() {
        Vec::new()
    } else {
        client::jobs()?
    };
    Ok(prepared
        .record
        .trials
        .iter()
        .map(|trial| {
            let run = prepared.dir.trial(trial);
            TrialView {
                trial: trial.clone(),
                state: state(prepared, &record, &jobs, trial),
                job: record.job_of(&trial.name),
                metric: metric_of(prepared, &run),
            }
        })
        .collect())
}

/// Cancels the sweep's queued and running jobs; their ids.
pub fn cancel(prepared: &Prepared) -> Result<Vec<String>, SweepError> {
    let record = Submissions::read(prepared.dir.path()).map_err(SweepError::Submissions)?;
    if record.arrays.is_empty() {
        return Ok(Vec::new());
    }
    let jobs = client::jobs()?;
    let live: Vec<String> = prepared
        .record
        .trials
        .iter()
        .filter_map(|trial| record.job_of(&trial.name))
        .filter(|id| {
            jobs.iter()
                .any(|j| &j.id == id && (j.is_queued() || j.is_running()))
        })
        .collect();
    if !live.is_empty() {
        client::cancel(&live)?;
    }
    Ok(live)
}

/// The trial's state: its folder, then its latest job.
fn state(prepared: &Prepared, record: &Submissions, jobs: &[Job], trial: &Trial) -> TrialState {
    let run = prepared.dir.trial(trial);
    let job = record
        .job_of(&trial.name)
        .and_then(|id| jobs.iter().find(|j| j.id == id));
    classify(&run, job, &prepared.dir.path().join("slurm"))
}

/// Where a trial stands from its folder's `status` and its job as Slurm last saw it (its
/// Slurm log is in `slurm_logs`).
fn classify(run: &RunDir, job: Option<&Job>, slurm_logs: &Path) -> TrialState {
    let folder = run.status();
    match folder {
        RunStatus::Finished => return TrialState::Finished,
        RunStatus::Pruned(_) => return TrialState::Pruned,
        _ => {}
    }
    match job {
        Some(job) if job.is_queued() => return TrialState::Pending,
        Some(job) if job.is_running() => return TrialState::Running,
        _ => {}
    }
    match folder {
        RunStatus::Running(_) => TrialState::Running,
        RunStatus::Failed(failure) => TrialState::Failed(failure.message),
        RunStatus::Finished => TrialState::Finished,
        RunStatus::Pruned(_) => TrialState::Pruned,
        RunStatus::Interrupted | RunStatus::NotStarted => match job {
            Some(job) if !job.was_stopped() && job.exit_code != Some(130) => {
                TrialState::Failed(ended_without_result(run, job, slurm_logs))
            }
            _ if folder == RunStatus::Interrupted => TrialState::Interrupted,
            _ => TrialState::NotStarted,
        },
    }
}

/// The failure of a job that ended without a summary or a recorded error: how it ended and
/// the end of its logs.
fn ended_without_result(run: &RunDir, job: &Job, slurm_logs: &Path) -> String {
    let slurm_log = slurm_logs.join(format!("{}.out", job.id));
    let mut message = format!(
        "Slurm job {} ended {} ({}, exit code {}) without a result; the end of {}:\n{}",
        job.id,
        job.state,
        job.reason,
        job.exit_code.map_or("unknown".into(), |c| c.to_string()),
        run.console_file().display(),
        tail(&run.console_file(), 10)
    );
    let slurm = tail(&slurm_log, 5);
    if !slurm.trim().is_empty() {
        message.push_str(&format!("\nthe end of {}:\n{slurm}", slurm_log.display()));
    }
    message
}

fn metric_of(prepared: &Prepared, run: &RunDir) -> Option<f64> {
    run.read_summary()
        .ok()
        .flatten()
        .and_then(|s| s.metric(&prepared.record.metric))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::records::Failure;

    fn job(state: &str, exit_code: i32) -> Job {
        Job {
            id: "7_1".into(),
            state: state.into(),
            reason: "None".into(),
            exit_code: Some(exit_code),
        }
    }

    #[test]
    fn the_folder_decides_and_slurm_fills_in_what_it_cannot_say() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let log = dir.path().join("slurm");
        assert_eq!(classify(&run, None, &log), TrialState::NotStarted);
        assert_eq!(
            classify(&run, Some(&job("PENDING", 0)), &log),
            TrialState::Pending
        );
        assert_eq!(
            classify(&run, Some(&job("RUNNING", 0)), &log),
            TrialState::Running
        );
        // COMPLETED without a summary is a failure (hydra#1928), with how it ended.
        let TrialState::Failed(message) = classify(&run, Some(&job("COMPLETED", 0)), &log) else {
            panic!("a job without a result failed");
        };
        assert!(message.contains("ended COMPLETED"), "{message}");
        // Cancelled, or interrupted by a signal (exit 130): not a failure.
        assert_eq!(
            classify(&run, Some(&job("CANCELLED", 0)), &log),
            TrialState::NotStarted
        );
        std::fs::write(run.checkpoint_pointer_file(), "{}").unwrap();
        assert_eq!(
            classify(&run, Some(&job("FAILED", 130)), &log),
            TrialState::Interrupted
        );
        run.write_failure(&Failure {
            message: "the loss became NaN".into(),
            epochs: 1,
        })
        .unwrap();
        assert_eq!(
            classify(&run, Some(&job("FAILED", 1)), &log),
            TrialState::Failed("the loss became NaN".into())
        );
        // A failed trial submitted again is pending, whatever its folder says.
        assert_eq!(
            classify(&run, Some(&job("PENDING", 0)), &log),
            TrialState::Pending
        );
        std::fs::write(run.summary_file(), "{}").unwrap();
        assert_eq!(
            classify(&run, Some(&job("FAILED", 1)), &log),
            TrialState::Finished
        );
    }
}
