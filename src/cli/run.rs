//! `runner run SPEC` and `runner resume RUN`: plan, train every phase (or the rest of an
//! interrupted run), evaluate, write the run folder.

use super::Failure;
use super::args::{DeviceArg, Overrides, load_and_fetch};
use super::check::CheckOptions;
use runner::fetch::Fetch;
use runner::plan;
use runner::spec::diagnostic::Diagnostic;
use runner::sweep::prune::Pruning;
use runner::track::tensorboard::HParamValue;
use runner::train::progress::NoProgress;
use runner::train::{self, Interrupter, Outcome, RunOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `runner run SPEC`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec file.
    spec: PathBuf,
    /// Folder of run folders.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Run again even when a finished run of the same resolved spec exists.
    #[arg(long, conflicts_with = "resume")]
    again: bool,
    /// Continue the latest interrupted run of this spec from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Write a histogram of every parameter to TensorBoard after each epoch.
    #[arg(long)]
    histograms: bool,
    /// Run a phase's frozen base on every epoch instead of storing its outputs once (the
    /// results are the same; for checking that, or to save memory).
    #[arg(long)]
    no_frozen_cache: bool,
    #[command(flatten)]
    overrides: Overrides,
    #[command(flatten)]
    device: DeviceArg,
    /// Run in this folder (a sweep's trial) instead of `<runs>/<experiment>/<run-id>`.
    #[arg(long, hide = true)]
    run_dir: Option<PathBuf>,
    /// TensorBoard HParams group of the run (a sweep configuration's seeds).
    #[arg(long, hide = true, default_value = "")]
    group: String,
    /// An extra TensorBoard HParam, `NAME=JSON` (a sweep's parameter).
    #[arg(long = "hparam", hide = true, value_name = "NAME=JSON")]
    hparams: Vec<String>,
    /// The sweep's pruning (JSON): after each epoch, compare with the sweep's other
    /// trials and stop when behind.
    #[arg(long, hide = true, requires = "run_dir", value_name = "JSON")]
    prune: Option<Pruning>,
    /// Then check the run like `runner check` (exit 1 when a check fails, 2 when one
    /// cannot be evaluated).
    #[arg(long)]
    check: bool,
    /// Options of the check (with `--check`).
    #[command(flatten)]
    check_options: CheckOptions,
}

/// `runner resume RUN`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The run folder, e.g. runs/mobilenet_ft/0ecd50e218.
    run: PathBuf,
    /// Write a histogram of every parameter to TensorBoard after each epoch.
    #[arg(long)]
    histograms: bool,
    #[command(flatten)]
    device: DeviceArg,
}

fn options(runs: &Path, again: bool, histograms: bool, quiet: bool) -> RunOptions {
    RunOptions {
        again,
        progress: if !quiet && std::io::stderr().is_terminal() {
            Arc::new(super::progress::EpochBar::default())
        } else {
            Arc::new(NoProgress)
        },
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
pub fn run(args: &Args, quiet: bool) -> Result<(), Failure> {
    let overrides = args.overrides.with_device(&args.device);
    let resolved = load_and_fetch(&args.spec, &overrides, Fetch::Missing)?;
    let loaded = &resolved.spec;
    let plan = plan::plan(&resolved).map_err(Failure::InvalidSpec)?;
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
        folder: args.run_dir.clone(),
        group: args.group.clone(),
        hparams: args
            .hparams
            .iter()
            .filter_map(|h| h.split_once('='))
            .map(|(name, value)| (name.to_string(), HParamValue::from_json(value)))
            .collect(),
        frozen_cache: !args.no_frozen_cache,
        prune: args
            .prune
            .clone()
            .map(|p| Arc::new(p) as Arc<dyn runner::train::Pruner>),
        ..options(&args.runs, args.again, args.histograms, quiet)
    };
    let outcome = if args.resume {
        train::resume_spec(&plan, &options)
    } else {
        train::run(&plan, &options)
    };
    let dir = report(outcome.map_err(|e| Failure::Other(e.to_string()))?)?;
    if args.check {
        super::check::run(&dir, &args.check_options)
    } else {
        Ok(())
    }
}

/// Continues the run from its last checkpoint, on `--device` if given.
pub fn resume(args: &ResumeArgs, quiet: bool) -> Result<(), Failure> {
    let run_dir = &args.run;
    let runs = run_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let options = RunOptions {
        device: args.device.device,
        ..options(runs, false, args.histograms, quiet)
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
