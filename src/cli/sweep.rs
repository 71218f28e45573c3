//! `runner sweep FILE`: check and expand the sweep, then run its trials (or, with
//! `--status`, print them and their state); ends with the comparison table.

use super::Failure;
use super::run::ctrl_c_interrupter;
use runner::compare::render::{Format, render};
use runner::compare::{self, TableOptions};
use runner::spec::overrides::Override;
use runner::sweep::execute::{self, Execution};
use runner::sweep::spec::Goal;
use runner::sweep::{self, SweepError};
use runner::track::RunStatus;
use std::path::Path;

/// What `runner sweep` was asked.
pub struct SweepArgs<'a> {
    /// The sweep file.
    pub file: &'a Path,
    /// Folder of run folders.
    pub runs: &'a Path,
    /// Trials at once.
    pub jobs: usize,
    /// Only print the state.
    pub status: bool,
    /// Allow more runs than `max_runs`.
    pub yes: bool,
    /// `--set` overrides for every trial.
    pub overrides: &'a [Override],
}

fn failure(error: SweepError) -> Failure {
    match error {
        SweepError::Invalid(reports) => Failure::InvalidSpec(reports),
        other => Failure::Other(other.to_string()),
    }
}

/// Runs (or shows) the sweep.
pub fn run(args: &SweepArgs) -> Result<(), Failure> {
    let loaded = sweep::spec::load(args.file).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    let mut prepared =
        sweep::prepare(loaded, Some(args.runs), args.overrides, args.yes).map_err(failure)?;
    if !args.status {
        let runner = std::env::current_exe()
            .map_err(|e| Failure::Other(format!("cannot find the runner executable: {e}")))?;
        let execution = Execution {
            jobs: args.jobs.max(1),
            runner,
            interrupter: ctrl_c_interrupter(),
        };
        let ended = execute::run(&mut prepared, &execution).map_err(failure)?;
        if ended.interrupted {
            return Err(Failure::SweepInterrupted(format!(
                "the trials in flight wrote checkpoints in {}; run the same `runner sweep` command again to go on",
                prepared.dir.path().display()
            )));
        }
        print_table(&prepared)?;
        if ended.failed > 0 {
            return Err(Failure::Other(format!(
                "{} trial(s) failed (their errors are in the table and in each trial's error.json); run the same command again to retry them",
                ended.failed
            )));
        }
        return Ok(());
    }
    prepared.dir.write(&prepared.record).map_err(|e| {
        Failure::Other(format!(
            "cannot write {}: {e}",
            prepared.dir.record_file().display()
        ))
    })?;
    print_table(&prepared)
}

fn print_table(prepared: &sweep::Prepared) -> Result<(), Failure> {
    let other = |e: compare::CompareError| Failure::Other(e.to_string());
    let (runs, record) = compare::collect(&[prepared.dir.path().to_path_buf()]).map_err(other)?;
    let options = TableOptions {
        metric: prepared.record.metric.clone(),
        goal_max: prepared.record.goal == Goal::Max,
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
