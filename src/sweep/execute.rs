//! Running a sweep's trials on this machine: each trial is a `runner run` child process on its
//! own folder, several at a time with the cores split between them (`RAYON_NUM_THREADS`), so a
//! trial that fails, runs out of memory or is killed takes nothing else down. Children run in
//! their own process group: a Ctrl-C reaches the sweep, which passes one interrupt to each
//! child (each writes a checkpoint and stops) and then stops itself. A trial another process
//! is already running (a sweep started twice) is waited for, never started twice.

use super::launch::{begin, io_error, record_failure, run_arguments, tail, write_record};
use super::spec::Method;
use super::state::SweepDir;
use super::trial::Trial;
use super::{Prepared, SweepError, check_trial};
use crate::track::RunStatus;
use crate::track::records::Failure;
use crate::train::Interrupter;
use std::collections::VecDeque;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to run the trials.
#[derive(Debug, Clone)]
pub struct Execution {
    /// Trials at once.
    pub jobs: usize,
    /// The `runner` executable the trials run with.
    pub runner: PathBuf,
    /// Stops the sweep (and its trials, after their current batch) when set.
    pub interrupter: Interrupter,
}

/// How a sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Trials that finished (now or before).
    pub finished: usize,
    /// Trials that failed.
    pub failed: usize,
    /// Trials the sweep's pruning stopped early (now or before).
    pub pruned: usize,
    /// True when it was interrupted.
    pub interrupted: bool,
}

struct Running {
    trial: Trial,
    child: Option<Child>,
    started: Instant,
}

/// Runs every trial that has not finished; TPE draws new trials as others finish.
///
/// Long by design: the executor's event loop (start, poll, record, draw, interrupt) shares its
/// queue and running set.
pub fn run(prepared: &mut Prepared, execution: &Execution) -> Result<Ended, SweepError> {
    let dir = prepared.dir.clone();
    begin(prepared)?;
    let total_known = prepared.record.trials.len() + prepared.to_draw * prepared.seeds().len();
    let mut queue: VecDeque<Trial> = VecDeque::new();
    let mut ended = Ended {
        finished: 0,
        failed: 0,
        pruned: 0,
        interrupted: false,
    };
    for trial in prepared.record.trials.clone() {
        match dir.trial(&trial).status() {
            RunStatus::Finished => {
                ended.finished += 1;
                let value = finished_metric(prepared, &trial);
                tell(prepared, &trial, value);
            }
            RunStatus::Pruned(_) => {
                ended.pruned += 1;
                let value = pruned_metric(prepared, &trial);
                tell(prepared, &trial, value);
            }
            _ => queue.push_back(trial),
        }
    }
    if ended.finished + ended.pruned > 0 {
        let pruned = match ended.pruned {
            0 => String::new(),
            n => format!(" ({n} of them pruned)"),
        };
        tracing::info!(
            "{} of {total_known} trials finished earlier{pruned}; running the rest",
            ended.finished + ended.pruned
        );
    }
    let threads = threads_per_trial(execution.jobs);
    let mut running: Vec<Running> = Vec::new();
    let mut forwarded = false;
    loop {
        let stopping = execution.interrupter.requested();
        while !stopping && running.len() < execution.jobs.max(1) {
            let Some(trial) = queue.pop_front().or_else(|| draw(prepared)) else {
                break;
            };
            write_record(&dir, &prepared.record)?;
            let run = dir.trial(&trial);
            if let RunStatus::Running(holder) = run.status() {
                tracing::info!(
                    "trial {} is running in another {holder}; waiting for it",
                    trial.name
                );
                running.push(Running {
                    trial,
                    child: None,
                    started: Instant::now(),
                });
                continue;
            }
            let child = spawn(prepared, execution, &trial, threads)?;
            if child.is_some() {
                tracing::info!("[{}/{total_known}] started {}", trial.index, trial.name);
            }
            running.push(Running {
                trial,
                child,
                started: Instant::now(),
            });
        }
        if running.is_empty() {
            break;
        }
        if stopping && !forwarded {
            forwarded = true;
            ended.interrupted = true;
            for r in &running {
                if let Some(child) = &r.child {
                    interrupt(child);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut index = 0;
        while index < running.len() {
            if let Some(outcome) = poll(&mut running[index], &dir) {
                let done = running.swap_remove(index);
                match outcome {
                    RunStatus::Finished => {
                        ended.finished += 1;
                        let value = finished_metric(prepared, &done.trial);
                        tell(prepared, &done.trial, value);
                        report_finished(prepared, &done, value);
                    }
                    RunStatus::Pruned(pruned) => {
                        ended.pruned += 1;
                        let value = pruned_metric(prepared, &done.trial);
                        let told = match tell(prepared, &done.trial, value) {
                            Some(v) => {
                                format!(
                                    "; TPE counts it at its last {} {v:.4}",
                                    prepared.record.metric
                                )
                            }
                            None => String::new(),
                        };
                        tracing::info!(
                            "[{}] {}: {pruned}{told}",
                            done.trial.index,
                            done.trial.name
                        );
                    }
                    RunStatus::Interrupted | RunStatus::NotStarted if stopping => {}
                    RunStatus::Failed(failure) => {
                        ended.failed += 1;
                        tracing::warn!(
                            "trial {} failed: {}",
                            done.trial.name,
                            failure.message.lines().next().unwrap_or_default()
                        );
                    }
                    other => {
                        ended.failed += 1;
                        tracing::warn!("trial {} ended {other}", done.trial.name);
                    }
                }
            } else {
                index += 1;
            }
        }
    }
    write_record(&dir, &prepared.record)?;
    Ok(ended)
}

/// Cores for each of `jobs` trials at once.
fn threads_per_trial(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / jobs.max(1)).max(1)
}

/// Draws the next TPE trial (one per seed), checking that it makes a valid spec; `None`
/// when the budget is spent.
fn draw(prepared: &mut Prepared) -> Option<Trial> {
    if prepared.sampler.is_none() || prepared.to_draw == 0 {
        return None;
    }
    prepared.to_draw -= 1;
    let configs = prepared.record.trials.len() / prepared.seeds().len().max(1);
    let config = prepared.sampler.as_mut()?.draw(configs);
    let mut first = None;
    for seed in prepared.seeds() {
        let trial = Trial::new(
            prepared.record.trials.len() + 1,
            config.clone(),
            seed,
            &prepared.record.short_names,
        );
        prepared.record.trials.push(trial.clone());
        first.get_or_insert(trial);
    }
    first
}

/// A finished trial's ranking metric, from its summary.
fn finished_metric(prepared: &Prepared, trial: &Trial) -> Option<f64> {
    prepared
        .dir
        .trial(trial)
        .read_summary()
        .ok()
        .flatten()
        .and_then(|s| s.metric(&prepared.record.metric))
}

/// A pruned trial's ranking metric at its last epoch. TPE counts a pruned trial by that
/// value, as Optuna's does: stopped for falling behind, it shows where not to look.
fn pruned_metric(prepared: &Prepared, trial: &Trial) -> Option<f64> {
    prepared
        .dir
        .trial(trial)
        .read_epochs()
        .ok()?
        .last()?
        .metric(&prepared.record.metric)
}

/// Tells TPE a finished or pruned trial's metric; the value told, when there is a TPE sampler
/// and a value.
fn tell(prepared: &mut Prepared, trial: &Trial, metric: Option<f64>) -> Option<f64> {
    let sampler = prepared.sampler.as_mut().filter(|s| s.adaptive())?;
    let value = metric?;
    sampler.tell(&trial.config, value);
    Some(value)
}

fn report_finished(prepared: &Prepared, done: &Running, value: Option<f64>) {
    let metric = &prepared.record.metric;
    tracing::info!(
        "[{}] finished {}: {metric} {} ({:.0} s)",
        done.trial.index,
        done.trial.name,
        value.map_or("-".into(), |v| format!("{v:.4}")),
        done.started.elapsed().as_secs_f64()
    );
}

/// Starts `runner run` for `trial`, its output going to the trial folder's console log;
/// `None` when a TPE draw makes an invalid spec (recorded as its failure).
fn spawn(
    prepared: &Prepared,
    execution: &Execution,
    trial: &Trial,
    threads: usize,
) -> Result<Option<Child>, SweepError> {
    let run = prepared.dir.trial(trial);
    // `prepare` planned every grid and random trial; a TPE draw is checked here.
    if prepared.record.method == Method::Tpe
        && let Err(reports) = check_trial(
            &prepared.loaded,
            &prepared.spec_path,
            &prepared.base_overrides,
            trial,
        )
    {
        // A draw outside the checked corners can still make an invalid spec.
        let message = reports
            .iter()
            .map(|r| r.render(false))
            .collect::<Vec<_>>()
            .join("\n");
        record_failure(&run, message)?;
        return Ok(None);
    }
    std::fs::create_dir_all(run.path()).map_err(io_error("create", run.path()))?;
    let console = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.console_file())
        .map_err(io_error("open", &run.console_file()))?;
    let console_err = console
        .try_clone()
        .map_err(io_error("open", &run.console_file()))?;
    let mut command = Command::new(&execution.runner);
    command
        .args(run_arguments(prepared, trial))
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(console_err)
        .process_group(0);
    command
        .spawn()
        .map(Some)
        .map_err(|source| SweepError::Start {
            runner: execution.runner.clone(),
            trial: trial.name.clone(),
            source,
        })
}

/// The trial's state once its process has ended (or, for a trial another process runs, once
/// that process let go of it); `None` while it runs.
fn poll(running: &mut Running, dir: &SweepDir) -> Option<RunStatus> {
    let run = dir.trial(&running.trial);
    match running.child.as_mut() {
        None => match run.status() {
            RunStatus::Running(_) => None,
            status => Some(status),
        },
        Some(child) => {
            let exit = child.try_wait().ok()??;
            let status = run.status();
            match status {
                RunStatus::Finished | RunStatus::Failed(_) | RunStatus::Pruned(_) => Some(status),
                _ if exit.code() == Some(130) => Some(status),
                _ => {
                    // The process died without recording why (killed, out of memory).
                    let message = format!(
                        "the trial's process ended with {exit} without a result; the end of {}:\n{}",
                        run.console_file().display(),
                        tail(&run.console_file(), 10)
                    );
                    record_failure(&run, message.clone()).ok()?;
                    Some(RunStatus::Failed(Failure { message, epochs: 0 }))
                }
            }
        }
    }
}

/// Asks a trial's process to stop after its current batch (SIGINT, as Ctrl-C would).
fn interrupt(child: &Child) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
}
