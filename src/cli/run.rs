//! `runner run SPEC` and `runner resume RUN`: plan, train every phase (or the rest of an
//! interrupted run), evaluate, write the run folder.

use super::Failure;
use runner::plan;
use runner::spec::{self, overrides::Override};
use runner::train::{self, Outcome, RunOptions};
use std::io::IsTerminal;
use std::path::Path;

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
    /// `--set` overrides.
    pub overrides: &'a [Override],
}

fn options(runs: &Path, again: bool, histograms: bool, quiet: bool) -> RunOptions {
    RunOptions {
        runs_dir: runs.to_path_buf(),
        again,
        progress: !quiet && std::io::stderr().is_terminal(),
        histograms,
    }
}

/// Trains the spec; a finished run of the same resolved spec is reported, not redone, unless
/// `again`.
pub fn run(args: &RunArgs, quiet: bool) -> Result<(), Failure> {
    let loaded =
        spec::load(args.spec, args.overrides).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    let plan = plan::plan(&loaded).map_err(Failure::InvalidSpec)?;
    for warning in &plan.warnings {
        eprintln!("{}", warning.render(std::io::stderr().is_terminal()));
    }
    let options = options(args.runs, args.again, args.histograms, quiet);
    let outcome = if args.resume {
        train::resume_spec(&plan, &options)
    } else {
        train::run(&plan, &options)
    };
    report(outcome.map_err(|e| Failure::Other(e.to_string()))?)
}

/// Continues the run in `run_dir` from its last checkpoint.
pub fn resume(run_dir: &Path, histograms: bool, quiet: bool) -> Result<(), Failure> {
    let runs = run_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let options = options(runs, false, histograms, quiet);
    report(train::resume(run_dir, &options).map_err(|e| Failure::Other(e.to_string()))?)
}

fn report(outcome: Outcome) -> Result<(), Failure> {
    match outcome {
        Outcome::AlreadyDone(dir) => {
            println!(
                "{} is a finished run (use `runner run --again SPEC` to run it again, `runner eval {0}` to evaluate it)",
                dir.display()
            );
            Ok(())
        }
        Outcome::Finished { dir, summary } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            );
            println!("run folder: {}", dir.display());
            Ok(())
        }
        Outcome::Interrupted(dir) => Err(Failure::Interrupted(dir)),
    }
}
