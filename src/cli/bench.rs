//! `runner bench SPEC`: the speed of the spec's own model on this machine (see
//! `runner::bench`).

use super::Failure;
use runner::plan;
use runner::spec::{self, overrides::Override};
use std::path::Path;

/// Plans the spec, measures it and prints the figures (a table, or JSON).
pub fn run(
    spec_path: &Path,
    steps: usize,
    json: bool,
    overrides: &[Override],
) -> Result<(), Failure> {
    let loaded = spec::load(spec_path, overrides).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    let plan = plan::plan(&loaded).map_err(Failure::InvalidSpec)?;
    let report = runner::bench::run(&plan, steps).map_err(|e| Failure::Other(e.to_string()))?;
    if json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.to_string()))?;
        println!("{text}");
    } else {
        println!("{report}");
    }
    Ok(())
}
