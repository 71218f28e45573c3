//! `runner sweep FILE`: check and expand the sweep, then run its trials on this machine or
//! submit them to Slurm (or, with `--status`, print them and their state; with `--cancel`,
//! cancel its Slurm jobs); ends with the comparison table.

use super::Failure;
use super::args::{DeviceArg, Overrides};
use super::run::ctrl_c_interrupter;
use runner::compare::{self, TableOptions};
use runner::sweep::execute::{self, Execution};
use runner::sweep::launch::tail;
use runner::sweep::slurm::submissions::Submissions;
use runner::sweep::slurm::{self, Submit, TrialState, TrialView};
use runner::sweep::spec::ExecutorKind;
use runner::sweep::{self, SweepError};
use runner::table::{Format, render};
use runner::track::RunStatus;
use std::path::PathBuf;

/// `runner sweep FILE`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep file (see experiments/head_sweep.yaml).
    file: PathBuf,
    /// Folder of run folders; the sweep writes `<runs>/<sweep name>/`.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Trials to run at once (the cores are split between them).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: u32,
    /// Print the trials and their state (with Slurm: their jobs), run nothing.
    #[arg(long, conflicts_with = "cancel")]
    status: bool,
    /// Where the trials run: `local` (child processes) or `slurm` (a job array; settings
    /// in the sweep file's `executor:`). Default: the sweep file's `executor.kind`.
    #[arg(long, value_name = "local|slurm")]
    executor: Option<ExecutorKind>,
    /// Slurm: return once the trials are submitted instead of waiting for them.
    #[arg(long)]
    no_wait: bool,
    /// Slurm: cancel the sweep's queued and running jobs (running trials checkpoint).
    #[arg(long)]
    cancel: bool,
    /// Run even when the sweep has more runs than its `max_runs`.
    #[arg(long)]
    yes: bool,
    /// Values of the sweep's spec for every trial.
    #[command(flatten)]
    overrides: Overrides,
    /// The device of every trial.
    #[command(flatten)]
    device: DeviceArg,
}

fn failure(error: SweepError) -> Failure {
    match error {
        SweepError::Invalid(reports) => Failure::InvalidSpec(reports),
        other => Failure::Other(other.to_string()),
    }
}

/// Runs (or shows, or cancels) the sweep.
pub fn run(args: &Args) -> Result<(), Failure> {
    let overrides = args.overrides.with_device(&args.device);
    let loaded = sweep::spec::load(&args.file).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    let kind = args.executor.unwrap_or(loaded.sweep.executor.kind);
    if args.no_wait && kind != ExecutorKind::Slurm {
        return Err(Failure::Other(
            "--no-wait applies to Slurm sweeps: add `--executor slurm` (or `executor: {kind: slurm}` in the sweep file)".into(),
        ));
    }
    let mut prepared =
        sweep::prepare(loaded, Some(&args.runs), &overrides, args.yes).map_err(failure)?;
    let submitted = !Submissions::read(prepared.dir.path())
        .map_err(Failure::Other)?
        .arrays
        .is_empty();
    if args.cancel {
        return cancel(&prepared, submitted);
    }
    if args.status {
        prepared.dir.write(&prepared.record).map_err(|e| {
            Failure::Other(format!(
                "cannot write {}: {e}",
                prepared.dir.record_file().display()
            ))
        })?;
        if kind == ExecutorKind::Slurm || submitted {
            let views = slurm::status(&prepared).map_err(failure)?;
            print_status(&prepared, &views);
            return Ok(());
        }
        return print_table(&prepared);
    }
    if kind == ExecutorKind::Local {
        // Refused here, before any trial starts, as `runner run` refuses it (a Slurm sweep's
        // devices are on its compute nodes, not necessarily here).
        runner::device::open(prepared.device).map_err(|e| Failure::Other(e.to_string()))?;
    }
    let runner = std::env::current_exe()
        .map_err(|e| Failure::Other(format!("cannot find the runner executable: {e}")))?;
    match kind {
        ExecutorKind::Local => run_local(&mut prepared, args.jobs as usize, runner),
        ExecutorKind::Slurm => run_slurm(&mut prepared, !args.no_wait, runner),
    }
}

fn run_local(prepared: &mut sweep::Prepared, jobs: usize, runner: PathBuf) -> Result<(), Failure> {
    let execution = Execution {
        jobs: jobs.max(1),
        runner,
        interrupter: ctrl_c_interrupter(),
    };
    let ended = execute::run(prepared, &execution).map_err(failure)?;
    if ended.interrupted {
        return Err(Failure::SweepInterrupted(format!(
            "the trials in flight wrote checkpoints in {}; run the same `runner sweep` command again to go on",
            prepared.dir.path().display()
        )));
    }
    print_table(prepared)?;
    if ended.failed > 0 {
        return Err(Failure::Other(format!(
            "{} trial(s) failed (their errors are in the table and in each trial's error.json); run the same command again to retry them",
            ended.failed
        )));
    }
    Ok(())
}

fn run_slurm(prepared: &mut sweep::Prepared, wait: bool, runner: PathBuf) -> Result<(), Failure> {
    let executor = prepared.loaded.sweep.executor.clone();
    let submit = Submit {
        runner: executor.runner.clone().unwrap_or(runner),
        executor,
        wait,
        interrupter: ctrl_c_interrupter(),
    };
    let outcome = slurm::run(prepared, &submit).map_err(failure)?;
    let file = prepared.loaded.path.display();
    if outcome.detached {
        match &outcome.submitted {
            Some((job, trials)) => println!("submitted {trials} trial(s) as Slurm job array {job}"),
            None => println!("nothing to submit: every trial has finished or is queued or running"),
        }
        println!(
            "the jobs run on without this command: `runner sweep {file} --status` shows them, `runner sweep {file} --cancel` cancels them"
        );
        return Ok(());
    }
    print_table(prepared)?;
    let mut problems = Vec::new();
    if outcome.failed > 0 {
        problems.push(format!("{} trial(s) failed", outcome.failed));
    }
    if outcome.stopped > 0 {
        problems.push(format!(
            "{} trial(s) were stopped from outside (cancelled or preempted)",
            outcome.stopped
        ));
    }
    if !problems.is_empty() {
        return Err(Failure::Other(format!(
            "{}; `runner sweep {file} --status` shows why, and the same command submits them again",
            problems.join(" and ")
        )));
    }
    Ok(())
}

fn cancel(prepared: &sweep::Prepared, submitted: bool) -> Result<(), Failure> {
    if !submitted {
        return Err(Failure::Other(format!(
            "the sweep in {} has no Slurm jobs to cancel (it was never submitted with `--executor slurm`)",
            prepared.dir.path().display()
        )));
    }
    let cancelled = slurm::cancel(prepared).map_err(failure)?;
    if cancelled.is_empty() {
        println!("no job of this sweep is queued or running");
    } else {
        println!(
            "cancelled {} Slurm job(s): {} (running trials write a checkpoint; the same `runner sweep` command goes on from there)",
            cancelled.len(),
            cancelled.join(" ")
        );
    }
    Ok(())
}

/// The trials, their state and Slurm job, and for failures the end of their log.
fn print_status(prepared: &sweep::Prepared, views: &[TrialView]) {
    let metric = &prepared.record.metric;
    let mut counts: Vec<(String, usize)> = Vec::new();
    for view in views {
        let state = view.state.to_string();
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!(
        "sweep {} ({}): {} trials: {}",
        prepared.record.name,
        prepared.dir.path().display(),
        views.len(),
        counts.join(", ")
    );
    let width = views
        .iter()
        .map(|v| v.trial.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:width$}  {:11}  {:12}  {metric}",
        "trial", "state", "slurm job"
    );
    for view in views {
        println!(
            "{:width$}  {:11}  {:12}  {}",
            view.trial.name,
            view.state.to_string(),
            view.job.as_deref().unwrap_or("-"),
            view.metric.map_or("-".into(), |v| format!("{v:.4}"))
        );
    }
    for view in views {
        if let TrialState::Failed(message) = &view.state {
            let console = prepared.dir.trial(&view.trial).console_file();
            println!(
                "\n{} failed: {}\nthe end of {}:",
                view.trial.name,
                message.lines().next().unwrap_or_default(),
                console.display()
            );
            for line in tail(&console, 8).lines() {
                println!("  | {line}");
            }
        }
    }
}

fn print_table(prepared: &sweep::Prepared) -> Result<(), Failure> {
    let other = |e: compare::CompareError| Failure::Other(e.to_string());
    let (runs, record) = compare::collect(&[prepared.dir.path().to_path_buf()]).map_err(other)?;
    let options = TableOptions {
        metric: prepared.record.metric.clone(),
        goal: prepared.record.goal,
        sort: None,
    };
    let table = compare::table(&runs, record.as_ref(), &options).map_err(other)?;
    println!(
        "sweep {} ({})",
        prepared.record.name,
        prepared.dir.path().display()
    );
    print!("{}", render(&table, Format::Table));
    for run in &runs {
        match &run.status {
            RunStatus::Failed(f) => println!(
                "{} failed: {}",
                run.dir.name(),
                f.message.lines().next().unwrap_or_default()
            ),
            RunStatus::Pruned(p) => println!("{} {p}", run.dir.name()),
            _ => {}
        }
    }
    Ok(())
}
