//! Flags several subcommands share, declared once: `--set` overrides and `--device`.

use super::Failure;
use runner::device::DeviceChoice;
use runner::fetch::{self, Fetch, Resolved};
use runner::spec;
use runner::spec::overrides::Override;
use std::path::Path;

/// `--set PATH=VALUE`, for every command that reads a spec.
#[derive(Debug, Clone, clap::Args)]
pub struct Overrides {
    /// Override a value of the spec, e.g. `--set data.root=/data/pets`,
    /// `--set phases.fine_tune.epochs=2` (repeatable; list items by index or by name).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub overrides: Vec<Override>,
}

/// `--device`, for the commands that compute with a spec's model.
#[derive(Debug, Clone, clap::Args)]
pub struct DeviceArg {
    /// Compute on this device: cpu (default), cuda[:N], wgpu[:N], tch-cpu, tch-cuda[:N];
    /// overrides the spec's `device:` (`runner devices` lists them).
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<DeviceChoice>,
}

impl Overrides {
    /// The overrides, then `device` as the override `device=<device>`: `--device` sets the
    /// spec's `device:`, so the run's spec (and run folder) records it.
    pub fn with_device(&self, device: &DeviceArg) -> Vec<Override> {
        let mut overrides = self.overrides.clone();
        overrides.extend(device.device.map(|d| Override {
            path: "device".to_string(),
            value: d.to_string(),
        }));
        overrides
    }
}

/// Reads the spec at `path` with `overrides`, then fetches its sources as `fetch` allows: the
/// first steps of every command that works with a spec's data or weights. The spec is the
/// fetched one (`data.root` and weights pointing into the cache where it is used).
pub fn load_and_fetch(
    path: &Path,
    overrides: &[Override],
    fetch: Fetch,
) -> Result<Resolved, Failure> {
    let loaded = spec::load(path, overrides).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    fetch::prepare(&loaded, fetch).map_err(Failure::InvalidSpec)
}
