//! `runner run SPEC`: plan, train every phase, evaluate, write the run folder.

use super::Failure;
use runner::plan;
use runner::spec::{self, overrides::Override};
use runner::train::{self, Outcome, RunOptions};
use std::io::IsTerminal;
use std::path::Path;

/// Trains the spec; a finished run of the same resolved spec is reported, not redone, unless `again`.
pub fn run(
    spec_path: &Path,
    runs: &Path,
    again: bool,
    overrides: &[Override],
    quiet: bool,
) -> Result<(), Failure> {
    let loaded = spec::load(spec_path, overrides).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    let plan = plan::plan(&loaded).map_err(Failure::InvalidSpec)?;
    for warning in &plan.warnings {
        eprintln!("{}", warning.render(std::io::stderr().is_terminal()));
    }
    let options = RunOptions {
        runs_dir: runs.to_path_buf(),
        again,
        progress: !quiet && std::io::stderr().is_terminal(),
    };
    match train::run(&plan, &options).map_err(|e| Failure::Other(e.to_string()))? {
        Outcome::AlreadyDone(dir) => {
            println!(
                "{} already has a finished run of this spec: {} (use --again to run it again)",
                spec_path.display(),
                dir.display()
            );
        }
        Outcome::Finished { dir, summary } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            );
            println!("run folder: {}", dir.display());
        }
    }
    Ok(())
}
