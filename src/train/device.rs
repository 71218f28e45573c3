//! The device a run computes on, and how it is described in run records. Runner uses Burn's
//! embedded flex CPU backend; never `Device::default()`, which prefers a GPU backend when one is
//! compiled in and fails without its driver.

use crate::track::records::DeviceInfo;
use burn::tensor::Device;

/// The device runs compute on: Burn's flex CPU backend.
pub fn compute_device() -> Device {
    Device::flex()
}

/// What [`compute_device`] is, for summaries, baselines and TensorBoard.
pub fn describe() -> DeviceInfo {
    DeviceInfo {
        backend: "flex".to_string(),
        device: "cpu".to_string(),
        burn_version: env!("RUNNER_BURN_VERSION").to_string(),
        runner_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_burn_version_comes_from_cargo_lock() {
        let lock = include_str!("../../Cargo.lock");
        let expected = format!(
            "name = \"burn\"\nversion = \"{}\"",
            super::describe().burn_version
        );
        assert!(lock.contains(&expected), "{expected}");
    }
}
