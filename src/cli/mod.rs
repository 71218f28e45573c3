//! Subcommands and their arguments; each subcommand lives in its own module.

mod baseline;
mod bench;
mod check;
mod compare;
mod data;
mod devices;
mod eval;
mod export;
mod fetch;
mod model_source;
mod predict;
mod run;
mod schema;
mod sweep;
mod validate;

use clap::{Parser, Subcommand};
use runner::data::SplitKind;
use runner::device::DeviceChoice;
use runner::spec::diagnostic::Report;
use runner::spec::overrides::Override;
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

/// `--device`, for the commands that compute with a spec's model.
#[derive(Debug, clap::Args)]
pub struct DeviceArg {
    /// Compute on this device: cpu (default), cuda[:N], wgpu[:N], tch-cpu, tch-cuda[:N];
    /// overrides the spec's `device:` (`runner devices` lists them).
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<DeviceChoice>,
}

/// File formats of `runner export`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// ONNX (opset 17): the graph and its parameters.
    Onnx,
    /// The parameters, named and laid out like runner's weight files.
    Safetensors,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check specs and print each model's summary (shapes, parameters, what trains per phase).
    Validate {
        /// Spec files.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// List every layer of pretrained bases instead of one row per base.
        #[arg(long)]
        layers: bool,
        /// Override a spec value, e.g. `--set data.root=/data/pets` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<Override>,
    },
    /// Train a spec: every phase in order, then evaluate; writes `runs/<experiment>/<run-id>/`.
    Run {
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
        /// Override a spec value, e.g. `--set phases.fine_tune.epochs=2` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<Override>,
        /// Where to compute.
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
        prune: Option<runner::sweep::prune::Pruning>,
        /// Then check the run like `runner check` (exit 1 when a check fails, 2 when one
        /// cannot be evaluated).
        #[arg(long)]
        check: bool,
        /// Options of the check (with `--check`).
        #[command(flatten)]
        check_args: check::CheckArgs,
    },
    /// Check a run or sweep against its spec's `checks:` (thresholds, baselines within
    /// tolerances); exit 0 when all pass, 1 when one regressed, 2 when one could not be
    /// evaluated.
    Check {
        /// The run folder (or sweep folder: seed replicates are compared by their mean).
        run: PathBuf,
        /// Options of the check.
        #[command(flatten)]
        args: check::CheckArgs,
    },
    /// Write a baseline file for `runner check` from a finished run or sweep: its metrics,
    /// spec hash, data listing hash, runner and Burn versions, device.
    Baseline {
        /// The run folder (or sweep folder).
        run: PathBuf,
        /// Where to write it (default: print it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a sweep: many runs of one spec with values varied (grid, random or TPE), several
    /// at a time; running it again resumes it (finished trials are skipped, interrupted ones
    /// continue, failed ones run again).
    Sweep {
        /// The sweep file (see experiments/head_sweep.yaml).
        file: PathBuf,
        /// Folder of run folders; the sweep writes `<runs>/<sweep name>/`.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Trials to run at once (the cores are split between them).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Print the trials and their state (with Slurm: their jobs), run nothing.
        #[arg(long, conflicts_with = "cancel")]
        status: bool,
        /// Where the trials run: `local` (child processes) or `slurm` (a job array; settings
        /// in the sweep file's `executor:`). Default: the sweep file's `executor.kind`.
        #[arg(long, value_name = "local|slurm")]
        executor: Option<runner::sweep::spec::ExecutorKind>,
        /// Slurm: return once the trials are submitted instead of waiting for them.
        #[arg(long)]
        no_wait: bool,
        /// Slurm: cancel the sweep's queued and running jobs (running trials checkpoint).
        #[arg(long)]
        cancel: bool,
        /// Run even when the sweep has more runs than its `max_runs`.
        #[arg(long)]
        yes: bool,
        /// Override a value of the sweep's spec for every trial (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<Override>,
        /// Compute on this device: cpu (default), cuda[:N], wgpu[:N], tch-cpu, tch-cuda[:N];
        /// for every trial, overriding the spec's `device:` (`runner devices` lists them).
        #[arg(long, value_name = "DEVICE")]
        device: Option<DeviceChoice>,
    },
    /// Compare runs: a table of the parameters that differ and their metrics, best first;
    /// takes run folders, sweep folders or `runs/<experiment>` folders.
    Compare {
        /// Run folders, sweep folders, or folders of runs.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The metric to rank by (default: the sweep's, else validation/accuracy).
        #[arg(long)]
        metric: Option<String>,
        /// Lower is better for the ranking metric (default: higher, or the sweep's goal).
        #[arg(long)]
        min: bool,
        /// Sort by this column instead of the ranking metric.
        #[arg(long)]
        sort: Option<String>,
        /// Output format.
        #[arg(long, default_value = "table", value_parser = ["table", "markdown", "csv", "json"])]
        format: String,
        /// Also draw validation curves and the metric against each parameter into this PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Continue an interrupted run (Ctrl-C, a crash, a full disk) from its last checkpoint;
    /// it ends with the same results as an uninterrupted run.
    Resume {
        /// The run folder, e.g. runs/mobilenet_ft/0ecd50e218.
        run: PathBuf,
        /// Write a histogram of every parameter to TensorBoard after each epoch.
        #[arg(long)]
        histograms: bool,
        /// Continue on this device instead of the one the run started on (allowed, and
        /// logged: the results then differ slightly from an uninterrupted run).
        #[arg(long, value_name = "DEVICE")]
        device: Option<DeviceChoice>,
    },
    /// Evaluate a run's final model (or latest checkpoint) on a split of its data.
    Eval {
        /// The run folder, e.g. runs/mobilenet_ft/0ecd50e218.
        run: PathBuf,
        /// The split: test or validation.
        #[arg(long, default_value = "test", value_parser = parse_split)]
        split: SplitKind,
        /// Where to compute.
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Check a spec's data: class counts per split, image sizes, files skipped and why, and a
    /// PNG contact sheet of sample images with their labels and augmented variants.
    Data {
        /// The spec file.
        spec: PathBuf,
        /// Where to write the contact sheet (default: `<spec name>-data.png` here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a spec value, e.g. `--set data.root=/data/pets` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<Override>,
    },
    /// Measure how fast the spec's model trains (each phase's step, also from stored frozen
    /// outputs) and predicts on this machine, and its peak memory.
    Bench {
        /// The spec file.
        spec: PathBuf,
        /// Timed steps per measurement (after 2 warm-up steps).
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
        /// Override a spec value, e.g. `--set data.batch_size=64` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<Override>,
        /// Where to compute.
        #[command(flatten)]
        device: DeviceArg,
    },
    /// Write a run's trained model (or a spec's model with its pretrained weights) as an ONNX
    /// file or as safetensors, for inference elsewhere.
    Export {
        /// The run folder whose final model to write.
        #[arg(required_unless_present = "spec", conflicts_with_all = ["spec", "weights"])]
        run: Option<PathBuf>,
        /// The spec whose model to write, with its pretrained weights (no training).
        #[arg(long)]
        spec: Option<PathBuf>,
        /// Weights file for the spec's pretrained node, instead of its `weights:`.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// File format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Onnx)]
        format: ExportFormat,
        /// The file to write [default: `<experiment name>.onnx` or `.safetensors` here].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a trained run's model, or a spec's model, on images and print the most likely
    /// classes.
    Predict {
        /// A run folder whose final model to use (class names come from its data).
        #[arg(long, required_unless_present = "spec", conflicts_with_all = ["spec", "weights"])]
        run: Option<PathBuf>,
        /// The spec whose model to run (e.g. experiments/imagenet_predict.yaml).
        #[arg(long)]
        spec: Option<PathBuf>,
        /// Weights file for the spec's pretrained node, instead of its `weights:`.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Class names, one per line (line i = output i; a 1001-line file starting with
        /// `background` also fits 1000-way models).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Classes to print per image.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Image files (JPEG or PNG).
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Where to compute.
        #[command(flatten)]
        device: DeviceArg,
    },
    /// List the compute backends this runner was built with and the devices each finds here
    /// (for CUDA also the driver and libdevice); `--verify` checks that they compute right.
    Devices {
        /// Print the list (or the checks) as JSON.
        #[arg(long)]
        json: bool,
        /// Check that each GPU device computes what flex computes: one training step of a
        /// graph with every layer kind, and with `--weights` the four pretrained bases'
        /// features against their reference; exit code 1 when one disagrees.
        #[arg(long)]
        verify: bool,
        /// The folder of the shared weights (one folder per base, each with
        /// `reference_io.safetensors`), for `--verify`.
        #[arg(long, requires = "verify", value_name = "DIR")]
        weights: Option<PathBuf>,
        /// The device to check (repeatable; default: every GPU device this binary finds).
        #[arg(long = "device", requires = "verify", value_name = "DEVICE")]
        devices: Vec<DeviceChoice>,
    },
    /// Download the spec's data and weights from their sources (`data.source`,
    /// `weights_source`) into runner's cache, and check them and any local copies against
    /// their checksums; nothing else. The cache is `$RUNNER_CACHE`, else `runner` in the
    /// user's cache folder.
    Fetch {
        /// The spec file.
        spec: PathBuf,
        /// Override a spec value, e.g. `--set data.root=/data/pets` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        overrides: Vec<Override>,
    },
    /// Write the spec's JSON Schema (generated from the code) for editors and CI.
    Schema {
        /// Where to write it.
        #[arg(long, default_value = "schemas/experiment.schema.json")]
        out: PathBuf,
        /// Fail instead of writing when the file differs from the code's schema.
        #[arg(long)]
        check: bool,
    },
}

fn parse_split(text: &str) -> Result<SplitKind, String> {
    [SplitKind::Test, SplitKind::Validation]
        .into_iter()
        .find(|s| s.to_string() == text)
        .ok_or_else(|| format!("unknown split `{text}`: use test or validation"))
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
    runner::track::log_bridge::install().expect("logging is set up once, at start");
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
        Command::Run {
            spec,
            runs,
            again,
            resume,
            histograms,
            no_frozen_cache,
            overrides,
            device,
            run_dir,
            group,
            hparams,
            prune,
            check,
            check_args,
        } => run::run(
            &run::RunArgs {
                spec: &spec,
                runs: &runs,
                again,
                resume,
                histograms,
                frozen_cache: !no_frozen_cache,
                overrides: &with_device(overrides, device.device),
                run_dir: run_dir.as_deref(),
                group,
                hparams: &hparams,
                prune,
                check: check.then_some(&check_args),
            },
            quiet,
        ),
        Command::Check { run, args } => check::run(&run, &args),
        Command::Baseline { run, out } => baseline::run(&run, out.as_deref()),
        Command::Sweep {
            file,
            runs,
            jobs,
            status,
            executor,
            no_wait,
            cancel,
            yes,
            overrides,
            device,
        } => sweep::run(&sweep::SweepArgs {
            file: &file,
            runs: &runs,
            jobs,
            status,
            executor,
            no_wait,
            cancel,
            yes,
            overrides: &with_device(overrides, device),
        }),
        Command::Compare {
            paths,
            metric,
            min,
            sort,
            format,
            plot,
        } => compare::run(&compare::CompareArgs {
            paths: &paths,
            metric: metric.as_deref(),
            min,
            sort: sort.as_deref(),
            format: &format,
            plot: plot.as_deref(),
        }),
        Command::Resume {
            run,
            histograms,
            device,
        } => run::resume(&run, histograms, device, quiet),
        Command::Eval { run, split, device } => eval::run(&run, split, device.device),
        Command::Validate {
            specs,
            layers,
            overrides,
        } => validate::run(&specs, layers, &overrides),
        Command::Schema { out, check } => schema::run(&out, check),
        Command::Fetch { spec, overrides } => fetch::run(&spec, &overrides),
        Command::Data {
            spec,
            out,
            overrides,
        } => data::run(&spec, out.as_deref(), &overrides),
        Command::Bench {
            spec,
            steps,
            json,
            overrides,
            device,
        } => bench::run(
            &spec,
            steps as usize,
            json,
            &with_device(overrides, device.device),
        ),
        Command::Export {
            run,
            spec,
            weights,
            format,
            out,
        } => export::run(&export::Options {
            run: run.as_deref(),
            spec: spec.as_deref(),
            weights: weights.as_deref(),
            format: match format {
                ExportFormat::Onnx => runner::export::Format::Onnx,
                ExportFormat::Safetensors => runner::export::Format::Safetensors,
            },
            out: out.as_deref(),
        }),
        Command::Predict {
            run,
            spec,
            weights,
            labels,
            top,
            images,
            device,
        } => predict::run(&predict::Options {
            run: run.as_deref(),
            spec: spec.as_deref(),
            weights: weights.as_deref(),
            labels: labels.as_deref(),
            top,
            images: &images,
            device: device.device,
        }),
        Command::Devices {
            json,
            verify,
            weights,
            devices,
        } => {
            if verify {
                devices::verify(json, weights.as_deref(), devices)
            } else {
                devices::run(json)
            }
        }
    }
}

/// `overrides`, then `device` as the override `device=<device>`: `--device` sets the spec's
/// `device:`, so the run's spec (and run folder) records it.
fn with_device(mut overrides: Vec<Override>, device: Option<DeviceChoice>) -> Vec<Override> {
    overrides.extend(device.map(|d| Override {
        path: "device".to_string(),
        value: d.to_string(),
    }));
    overrides
}
