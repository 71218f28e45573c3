//! `runner baseline RUN [--out FILE]`: writes a baseline file from a finished run (or sweep):
//! its metric values, spec hash, data listing hash, versions and device.

use super::Failure;
use runner::check::baseline::Baseline;
use runner::check::target;
use std::path::PathBuf;

/// `runner baseline RUN`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run folder (or sweep folder).
    run: PathBuf,
    /// Where to write it (default: print it).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Writes the baseline of the run to `--out`, or prints it.
pub fn run(args: &Args) -> Result<(), Failure> {
    let (run, out) = (&args.run, &args.out);
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
