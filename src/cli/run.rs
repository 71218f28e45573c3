//! `runner run SPEC` and `runner resume RUN`: plan, train every phase (or the rest of an
//! interrupted run), evaluate, write the run folder.

use super::Failure;
use runner::plan;
use runner::spec::diagnostic::Diagnostic;
use runner::spec::{self, overrides::Override};
use runner::sweep::prune::Pruning;
use runner::track::tensorboard::HParamValue;
use runner::train::{self, Interrupter, Outcome, RunOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// What `runner run` was asked.
pub struct RunArgs<'a> {
    /// The spec file.
    pub spec: &'a Path,
    /// Folder of run folders.
    pub runs: &'a Path,
    /// Run again even when a finished run exists.
    pub again: bool,
    /// Continue the latest interrupted run of this spec instead of starting one.
    pub resume: bool,
    /// Weight histograms in TensorBoard.
    pub histograms: bool,
    /// Store frozen-prefix outputs once per phase (off: `--no-frozen-cache`).
    pub frozen_cache: bool,
    /// `--set` overrides.
    pub overrides: &'a [Override],
    /// Run in this folder (a sweep's trial).
    pub run_dir: Option<&'a Path>,
    /// TensorBoard HParams group.
    pub group: String,
    /// Extra TensorBoard HParams, `NAME=JSON`.
    pub hparams: &'a [String],
    /// A sweep trial's pruning.
    pub prune: Option<Pruning>,
    /// Check the run afterwards (`--check`) with these options.
    pub check: Option<&'a super::check::CheckArgs>,
}

fn options(runs: &Path, again: bool, histograms: bool, quiet: bool) -> RunOptions {
    RunOptions {
        again,
        progress: !quiet && std::io::stderr().is_terminal(),
        histograms,
        interrupter: ctrl_c_interrupter(),
        ..RunOptions::new(runs)
    }
}

/// An interrupter set by Ctrl-C (SIGINT) or SIGTERM (`kill`, `scancel`, a Slurm time limit or
/// preemption): the first asks the run to stop after the current batch and write a checkpoint;
/// a second ends the process at once (the last checkpoint stays). Failing to install the
/// handler only loses the graceful stop.
pub fn ctrl_c_interrupter() -> Interrupter {
    let interrupter = Interrupter::new();
    let flag = interrupter.clone();
    let installed = ctrlc::set_handler(move || {
        if flag.request() {
            eprintln!("\nsecond stop request: stopping now; the last checkpoint is kept");
            std::process::exit(130);
        }
        eprintln!(
            "\nstop requested (Ctrl-C or SIGTERM): stopping after this batch and writing a checkpoint (press Ctrl-C again to stop at once)"
        );
    });
    if let Err(e) = installed {
        tracing::warn!("Ctrl-C will stop the run without a checkpoint: {e}");
    }
    interrupter
}

/// Trains the spec; a finished run of the same resolved spec is reported, not redone, unless
/// `again`.
pub fn run(args: &RunArgs, quiet: bool) -> Result<(), Failure> {
    let loaded =
        spec::load(args.spec, args.overrides).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    let plan = plan::plan(&loaded).map_err(Failure::InvalidSpec)?;
    if plan.phases.is_empty() {
        let span = loaded.source.key_span("/model");
        return Err(Failure::InvalidSpec(vec![loaded.report(vec![
            Diagnostic::error("the spec has no `phases`: there is nothing to train", span)
                .with_help("add a phase, e.g. `phases: [{name: train, epochs: 5, optimizer: {adam: {lr: 1.0e-3}}}]`"),
        ])]));
    }
    for warning in &plan.warnings {
        eprintln!("{}", warning.render(std::io::stderr().is_terminal()));
    }
    let options = RunOptions {
        folder: args.run_dir.map(Path::to_path_buf),
        group: args.group.clone(),
        hparams: args
            .hparams
            .iter()
            .filter_map(|h| h.split_once('='))
            .map(|(name, value)| (name.to_string(), HParamValue::from_json(value)))
            .collect(),
        frozen_cache: args.frozen_cache,
        prune: args.prune.clone(),
        ..options(args.runs, args.again, args.histograms, quiet)
    };
    let outcome = if args.resume {
        train::resume_spec(&plan, &options)
    } else {
        train::run(&plan, &options)
    };
    let dir = report(outcome.map_err(|e| Failure::Other(e.to_string()))?)?;
    match args.check {
        Some(check) => super::check::run(&dir, check),
        None => Ok(()),
    }
}

/// Continues the run in `run_dir` from its last checkpoint, on `device` if given.
pub fn resume(
    run_dir: &Path,
    histograms: bool,
    device: Option<runner::device::DeviceChoice>,
    quiet: bool,
) -> Result<(), Failure> {
    let runs = run_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let options = RunOptions {
        device,
        ..options(runs, false, histograms, quiet)
    };
    report(train::resume(run_dir, &options).map_err(|e| Failure::Other(e.to_string()))?)?;
    Ok(())
}

/// Prints the outcome; the run folder of a finished run.
fn report(outcome: Outcome) -> Result<PathBuf, Failure> {
    match outcome {
        Outcome::AlreadyDone(dir) => {
            println!(
                "{} is a finished run (use `runner run --again SPEC` to run it again, `runner eval {0}` to evaluate it)",
                dir.display()
            );
            Ok(dir)
        }
        Outcome::Finished { dir, summary } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            );
            println!("run folder: {}", dir.display());
            Ok(dir)
        }
        Outcome::Interrupted(dir) => Err(Failure::Interrupted(dir)),
        Outcome::Pruned { dir, pruned } => {
            println!(
                "{}: {pruned} (`runner resume {0}` trains it to its end)",
                dir.display()
            );
            Ok(dir)
        }
    }
}
