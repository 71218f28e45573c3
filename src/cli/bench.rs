//! `runner bench SPEC`: the speed of the spec's own model on this machine (see
//! `runner::bench`).

use super::Failure;
use super::args::{DeviceArg, Overrides, load_and_fetch};
use runner::fetch::Fetch;
use runner::plan;
use std::path::PathBuf;

/// `runner bench SPEC`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec file.
    spec: PathBuf,
    /// Timed steps per measurement (after 2 warm-up steps).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
    /// CPU threads to compute with (default: all cores, or `RAYON_NUM_THREADS`), to measure
    /// how the CPU backend scales.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    #[command(flatten)]
    overrides: Overrides,
    #[command(flatten)]
    device: DeviceArg,
}

/// Plans the spec, measures it and prints the figures (a table, or JSON).
pub fn run(args: &Args) -> Result<(), Failure> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .map_err(|e| Failure::Other(format!("cannot start {threads} threads: {e}")))?;
    }
    let overrides = args.overrides.with_device(&args.device);
    let resolved = load_and_fetch(&args.spec, &overrides, Fetch::Missing)?;
    let plan = plan::plan(&resolved).map_err(Failure::InvalidSpec)?;
    let report = runner::bench::run(&plan, args.steps as usize)
        .map_err(|e| Failure::Other(e.to_string()))?;
    if args.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.to_string()))?;
        println!("{text}");
    } else {
        println!("{report}");
    }
    Ok(())
}
