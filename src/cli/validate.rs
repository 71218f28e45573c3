//! `runner validate`: load, plan and summarise specs; sweep files (those with `parameters:`)
//! are checked as `runner sweep` would before running anything. Nothing is downloaded: data
//! and weights that a spec's sources would download are reported as a warning.

use super::Failure;
use super::args::Overrides;
use runner::plan::{self, summary};
use runner::spec::{self, overrides::Override};
use runner::sweep::{self, SweepError};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// `runner validate SPEC...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Spec files.
    #[arg(required = true)]
    specs: Vec<PathBuf>,
    /// List every layer of pretrained bases instead of one row per base.
    #[arg(long)]
    layers: bool,
    #[command(flatten)]
    overrides: Overrides,
}

/// Validates every spec (reporting all of them, not only the first bad one).
pub fn run(args: &Args) -> Result<(), Failure> {
    let (specs, layers, overrides) = (&args.specs, args.layers, &args.overrides.overrides);
    let color = std::io::stderr().is_terminal();
    let mut invalid = Vec::new();
    for path in specs {
        if sweep::spec::is_sweep_file(path) {
            match validate_sweep(path, overrides) {
                Ok(trials) => println!("{}: valid sweep, {trials}\n", path.display()),
                Err(reports) => invalid.extend(reports),
            }
            continue;
        }
        let planned = spec::load(path, overrides)
            .map_err(|r| vec![r])
            .and_then(|loaded| plan::plan_offline(&loaded));
        match planned {
            Ok(plan) => {
                for warning in &plan.warnings {
                    eprintln!("{}", warning.render(color));
                }
                println!("{}", summary::render(&plan, layers));
                println!("{}: valid\n", path.display());
            }
            Err(reports) => invalid.extend(reports),
        }
    }
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(Failure::InvalidSpec(invalid))
    }
}

/// True for a YAML file whose top level has a `parameters` key (a sweep, not a spec).
/// Checks a sweep and every trial it makes; how many trials it has.
fn validate_sweep(
    path: &Path,
    overrides: &[Override],
) -> Result<String, Vec<runner::spec::diagnostic::Report>> {
    let loaded = sweep::spec::load(path).map_err(|r| vec![r])?;
    match sweep::prepare(loaded, None, overrides, true) {
        Ok(prepared) => Ok(format!(
            "{} trial(s) ({})",
            prepared.record.trials.len() + prepared.to_draw * prepared.seeds().len(),
            prepared.record.method
        )),
        Err(SweepError::Invalid(reports)) => Err(reports),
        Err(other) => Err(vec![runner::spec::diagnostic::Report {
            file: path.to_path_buf(),
            text: String::new(),
            diagnostics: vec![runner::spec::diagnostic::Diagnostic::error(
                other.to_string(),
                None,
            )],
        }]),
    }
}
