//! The command line: one module per subcommand, each with its `Args` (clap) and its `run`;
//! flags several subcommands share are declared once in [`args`]. Only this layer turns the
//! library's errors into text and exit codes ([`Failure`]).

mod args;
mod baseline;
mod bench;
mod check;
mod compare;
mod data;
mod devices;
mod eval;
mod export;
mod fetch;
mod log_bridge;
mod model_source;
mod predict;
mod progress;
mod run;
mod schema;
mod sweep;
mod validate;

use clap::{Parser, Subcommand};
use runner::spec::diagnostic::Report;
use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Run transfer-learning experiments declared in YAML.
#[derive(Debug, Parser)]
#[command(name = "runner", version, about)]
pub struct Cli {
    /// Only print errors and final results.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check specs and print each model's summary (shapes, parameters, what trains per phase).
    Validate(validate::Args),
    /// Train a spec: every phase in order, then evaluate; writes `runs/<experiment>/<run-id>/`.
    Run(run::Args),
    /// Check a run or sweep against its spec's `checks:` (thresholds, baselines within
    /// tolerances); exit 0 when all pass, 1 when one regressed, 2 when one could not be
    /// evaluated.
    Check(check::Args),
    /// Write a baseline file for `runner check` from a finished run or sweep: its metrics,
    /// spec hash, data listing hash, runner and Burn versions, device.
    Baseline(baseline::Args),
    /// Run a sweep: many runs of one spec with values varied (grid, random or TPE), several
    /// at a time; running it again resumes it (finished trials are skipped, interrupted ones
    /// continue, failed ones run again).
    Sweep(sweep::Args),
    /// Compare runs: a table of the parameters that differ and their metrics, best first;
    /// takes run folders, sweep folders or `runs/<experiment>` folders.
    Compare(compare::Args),
    /// Continue an interrupted run (Ctrl-C, a crash, a full disk) from its last checkpoint;
    /// it ends with the same results as an uninterrupted run. With `--device`, it continues
    /// on another device (allowed, and logged: the results then differ slightly).
    Resume(run::ResumeArgs),
    /// Evaluate a run's final model (or latest checkpoint) on a split of its data.
    Eval(eval::Args),
    /// Check a spec's data: class counts per split, image sizes, files skipped and why, and a
    /// PNG contact sheet of sample images with their labels and augmented variants.
    Data(data::Args),
    /// Measure how fast the spec's model trains (each phase's step, also from stored frozen
    /// outputs) and predicts on this machine, and its peak memory.
    Bench(bench::Args),
    /// Write a run's trained model (or a spec's model with its pretrained weights) as an ONNX
    /// file or as safetensors, for inference elsewhere.
    Export(export::Args),
    /// Run a trained run's model, or a spec's model, on images and print the most likely
    /// classes.
    Predict(predict::Args),
    /// List the compute backends this runner was built with and the devices each finds here
    /// (for CUDA also the driver and libdevice); `--verify` checks that they compute right.
    Devices(devices::Args),
    /// Download the spec's data and weights from their sources (`data.source`,
    /// `weights_source`) into runner's cache, and check them and any local copies against
    /// their checksums; nothing else. The cache is `$RUNNER_CACHE`, else `runner` in the
    /// user's cache folder.
    Fetch(fetch::Args),
    /// Write the spec's JSON Schema (generated from the code) for editors and CI.
    Schema(schema::Args),
}

/// Sets up `tracing` output on stderr (colours only on a terminal) and, with timestamps, to
/// the log file of the run in progress (`run.log`, whatever `--quiet` says).
pub fn init_logging(quiet: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{EnvFilter, Layer, fmt};
    let level = if quiet { "warn" } else { "info" };
    let filter = std::env::var("RUNNER_LOG").unwrap_or_else(|_| level.to_string());
    let terminal = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .with_filter(EnvFilter::new(filter));
    let run_log = fmt::layer()
        .with_writer(runner::track::log_file::RunLogWriter)
        .with_ansi(false)
        .with_target(false)
        .with_filter(EnvFilter::new("info"));
    let subscriber = tracing_subscriber::registry().with(terminal).with(run_log);
    tracing::subscriber::set_global_default(subscriber).expect("logging is set up once, at start");
    log_bridge::install().expect("logging is set up once, at start");
}

/// Why a command failed, and how to report it.
#[derive(Debug)]
pub enum Failure {
    /// One or more specs are invalid (exit code 2).
    InvalidSpec(Vec<Report>),
    /// Ctrl-C stopped a run after writing a checkpoint in this folder (exit code 130).
    Interrupted(PathBuf),
    /// Ctrl-C stopped a sweep (its trials wrote checkpoints); the message says how to go on
    /// (exit code 130).
    SweepInterrupted(String),
    /// A check failed: a regression (exit code 1; the report is already printed).
    Regressed(String),
    /// A check could not be evaluated: missing run, metric or baseline (exit code 2).
    NotChecked(String),
    /// Anything else (exit code 1).
    Other(String),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::InvalidSpec(_) => 2,
            Failure::Interrupted(_) | Failure::SweepInterrupted(_) => 130,
            Failure::Regressed(_) | Failure::Other(_) => 1,
            Failure::NotChecked(_) => 2,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::InvalidSpec(reports) => {
                let color = std::io::stderr().is_terminal();
                let text: Vec<String> = reports.iter().map(|r| r.render(color)).collect();
                write!(f, "{}", text.join("\n"))
            }
            Failure::Interrupted(dir) => write!(
                f,
                "interrupted: the run's checkpoint is in {0}; continue it with `runner resume {0}`",
                dir.display()
            ),
            Failure::SweepInterrupted(message) => write!(f, "interrupted: {message}"),
            Failure::Regressed(message) => write!(f, "error: {message}"),
            Failure::NotChecked(message) => write!(f, "error: cannot check: {message}"),
            Failure::Other(message) => write!(f, "error: {message}"),
        }
    }
}

/// Runs one subcommand.
pub fn run(command: Command, quiet: bool) -> Result<(), Failure> {
    match command {
        Command::Validate(args) => validate::run(&args),
        Command::Run(args) => run::run(&args, quiet),
        Command::Check(args) => check::run(&args.run, &args.options),
        Command::Baseline(args) => baseline::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Resume(args) => run::resume(&args, quiet),
        Command::Eval(args) => eval::run(&args),
        Command::Data(args) => data::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Devices(args) => devices::run(&args),
        Command::Fetch(args) => fetch::run(&args),
        Command::Schema(args) => schema::run(&args),
    }
}
