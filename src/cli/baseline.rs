//! `runner baseline RUN [--out FILE]`: writes a baseline file from a finished run (or sweep):
//! its metric values, spec hash, data listing hash, versions and device.

use super::Failure;
use runner::check::baseline::Baseline;
use runner::check::target;
use std::path::Path;

/// Writes the baseline of `run` to `out`, or prints it.
pub fn run(run: &Path, out: Option<&Path>) -> Result<(), Failure> {
    let target = target::load(run).map_err(|e| Failure::NotChecked(e.to_string()))?;
    let json = Baseline::of(&target).to_json();
    match out {
        None => print!("{json}"),
        Some(out) => {
            std::fs::write(out, json).map_err(|e| {
                Failure::Other(format!("cannot write the baseline {}: {e}", out.display()))
            })?;
            println!(
                "wrote {} (from {}); commit it to make it the baseline",
                out.display(),
                run.display()
            );
        }
    }
    Ok(())
}
