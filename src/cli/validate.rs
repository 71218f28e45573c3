//! `runner validate`: load, plan and summarise specs. Nothing is downloaded: data and weights
//! that a spec's sources would download are reported as a warning.

use super::Failure;
use runner::fetch::Fetch;
use runner::plan::{self, summary};
use runner::spec::{self, overrides::Override};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Validates every spec (reporting all of them, not only the first bad one).
pub fn run(specs: &[PathBuf], layers: bool, overrides: &[Override]) -> Result<(), Failure> {
    let color = std::io::stderr().is_terminal();
    let mut invalid = Vec::new();
    for path in specs {
        let planned = spec::load(path, overrides)
            .map_err(|r| vec![r])
            .and_then(|loaded| plan::plan_with(&loaded, Fetch::Never));
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
