//! `runner devices`: the backends compiled in and the devices each finds (see
//! `runner::device::listing`); with `--verify`, whether they compute what flex computes (see
//! `runner::verify`).

use super::Failure;
use runner::device::{DeviceChoice, listing};
use runner::verify;
use std::path::{Path, PathBuf};

/// `runner devices`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the list (or the checks) as JSON.
    #[arg(long)]
    json: bool,
    /// Check that each GPU device computes what flex computes: one training step of a graph
    /// with every layer kind, and with `--weights` the four pretrained bases' features against
    /// their reference; exit code 1 when one disagrees.
    #[arg(long)]
    verify: bool,
    /// The folder of the shared weights (one folder per base, each with
    /// `reference_io.safetensors`), for `--verify`.
    #[arg(long, requires = "verify", value_name = "DIR")]
    weights: Option<PathBuf>,
    /// The device to check (repeatable; default: every GPU device this binary finds).
    #[arg(long = "device", requires = "verify", value_name = "DEVICE")]
    devices: Vec<DeviceChoice>,
}

/// Prints the listing (a table, or JSON), or with `--verify` the checks.
pub fn run(args: &Args) -> Result<(), Failure> {
    if args.verify {
        return verify(args.json, args.weights.as_deref(), args.devices.clone());
    }
    let report = listing::report();
    if args.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", listing::render(&report));
    }
    Ok(())
}

/// Checks `devices` (default: every GPU device found) against flex and prints the results;
/// fails when one disagrees or cannot be checked.
fn verify(json: bool, weights: Option<&Path>, devices: Vec<DeviceChoice>) -> Result<(), Failure> {
    if let Some(dir) = weights {
        for base in verify::BASES {
            let reference = dir.join(base.folder).join("reference_io.safetensors");
            if !reference.is_file() {
                return Err(Failure::Other(format!(
                    "--weights {}: {} does not exist (the folder of the shared weights has one folder per base: {})",
                    dir.display(),
                    reference.display(),
                    verify::BASES.map(|b| b.folder).join(", ")
                )));
            }
        }
    }
    let devices = if devices.is_empty() {
        listing::gpu_devices()
    } else {
        devices
    };
    if devices.is_empty() {
        return Err(Failure::Other(
            "this runner finds no GPU device to check (`runner devices` says why); name one with --device, e.g. --device cpu to try the checks on flex itself".into(),
        ));
    }
    let checks: Vec<verify::DeviceCheck> = devices
        .into_iter()
        .map(|device| {
            tracing::info!("checking {device} against flex");
            verify::verify(device, weights)
        })
        .collect();
    if json {
        let text =
            serde_json::to_string_pretty(&checks).map_err(|e| Failure::Other(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", verify::render(&checks, weights.is_some()));
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.device.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Other(format!(
            "not in agreement with flex, or not checked: {}",
            failed.join(", ")
        )))
    }
}
