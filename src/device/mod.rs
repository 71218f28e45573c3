//! Where a run computes, chosen at run time with one scheme for the `--device` flag and the
//! spec's `device:` key:
//!
//! | name           | backend                                          | cargo feature |
//! |----------------|--------------------------------------------------|---------------|
//! | `cpu`          | Burn's embedded flex (default)                   | none          |
//! | `cuda[:N]`     | an NVIDIA GPU through Burn's CUDA backend (CubeCL) | `cuda`      |
//! | `wgpu[:N]`     | a GPU through wgpu (Vulkan, Metal, DirectX 12)   | `wgpu`        |
//! | `tch-cpu`      | libtorch's CPU kernels (PyTorch's own)           | `tch`         |
//! | `tch-cuda[:N]` | an NVIDIA GPU through libtorch                   | `tch`         |
//!
//! Burn 0.22 dispatches every tensor operation on the `Device` value, so the rest of runner is
//! backend-agnostic and this module is the only place that names a backend. `cuda` is Burn's
//! native backend (its build needs ci/setup-cuda-build.sh; [`cuda`] says what it needs at run
//! time); libtorch's CUDA, the only CUDA path before, keeps its own name. Never
//! `Device::default()`: it prefers a GPU backend when one is compiled in and panics without its
//! driver.

pub mod allocator;
mod backends;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod cubecl;
pub mod cuda;
pub mod listing;

pub use crate::spec::device::{DEVICE_NAMES, DEVICE_PATTERN, DeviceChoice, UnknownDevice};
use crate::track::records::DeviceInfo;
use burn::tensor::Device;
use std::sync::Mutex;

/// Makes Burn's `Device::default()` flex, the CPU backend, unless `BURN_DEVICE` names another.
/// runner opens every device it computes on itself ([`open`]), but Burn asks for the default
/// device in places: `ModuleOptimizer::load_record` puts a resumed or carried-over optimizer
/// state there before the next step moves it to the parameters' device. In a build with a GPU
/// backend that default is the GPU, which panics on a machine without its driver (a CPU run
/// resumed by a `cuda` build) and is a needless round trip on one with it.
///
/// # Safety
/// Sets an environment variable: call it before any other thread starts (first in `main`).
pub unsafe fn pin_default_device() {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: the caller guarantees no other thread reads or writes the environment.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
}

impl DeviceChoice {
    /// The cargo feature that compiles this device's backend in, if it needs one.
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Self::Cpu => None,
            Self::Cuda(_) => Some("cuda"),
            Self::Wgpu(_) => Some("wgpu"),
            Self::TchCpu | Self::TchCuda(_) => Some("tch"),
        }
    }

    /// The Burn backend this device runs on, as run records name it.
    pub fn backend(self) -> &'static str {
        match self {
            Self::Cpu => "flex",
            Self::Cuda(_) => "cuda",
            Self::Wgpu(_) => "wgpu",
            Self::TchCpu | Self::TchCuda(_) => "libtorch",
        }
    }

    /// Whether this runner binary was built with the device's backend.
    pub fn compiled_in(self) -> bool {
        match self {
            Self::Cpu => true,
            Self::Cuda(_) => cfg!(feature = "cuda"),
            Self::Wgpu(_) => cfg!(feature = "wgpu"),
            Self::TchCpu | Self::TchCuda(_) => cfg!(feature = "tch"),
        }
    }

    /// Whether the device is a GPU with memory of its own: there, recomputing a frozen prefix
    /// costs less than storing its outputs in host memory or on disk (`train::features`).
    pub fn is_gpu(self) -> bool {
        match self {
            Self::Cpu | Self::TchCpu => false,
            Self::Cuda(_) | Self::Wgpu(_) | Self::TchCuda(_) => true,
        }
    }
}

/// Why a device cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeviceError {
    /// The backend is not in this binary.
    #[error(
        "device `{device}` needs runner built with the `{feature}` feature; build it with `{build}` (README, \"Backends\"), or choose another device (`runner devices` lists those compiled in){}",
        instead.map(|d| format!("; libtorch's CUDA, which this binary has, is `{d}`")).unwrap_or_default()
    )]
    NotCompiled {
        /// The device asked for.
        device: DeviceChoice,
        /// The cargo feature that adds it.
        feature: &'static str,
        /// The command that builds runner with it.
        build: &'static str,
        /// A device of this binary the user may have meant: `cuda` named libtorch's CUDA before
        /// Burn's own CUDA backend took the name.
        instead: Option<DeviceChoice>,
    },
    /// The backend is compiled in but finds no usable device here.
    #[error("device `{device}` is not usable here: {reason}; {fix}")]
    Unavailable {
        /// The device asked for.
        device: DeviceChoice,
        /// What the backend said.
        reason: String,
        /// What to install or choose instead.
        fix: String,
    },
    /// The device failed while computing.
    #[error("device `{device}` failed: {reason}")]
    Failed {
        /// The device.
        device: String,
        /// What the backend said.
        reason: String,
    },
}

/// A device opened for computing, with how run records describe it.
#[derive(Debug, Clone)]
pub struct OpenDevice {
    /// The Burn device (without autodiff).
    pub device: Device,
    /// What summaries, baselines, TensorBoard and run.log say ran the run.
    pub info: DeviceInfo,
}

impl OpenDevice {
    /// Waits for the work queued on the device (a GPU computes asynchronously).
    pub fn sync(&self) -> Result<(), DeviceError> {
        self.device.sync().map_err(|e| DeviceError::Failed {
            device: self.info.device.clone(),
            reason: format!("{e:?}"),
        })
    }
}

/// Where the GPU backends keep their autotune results, once a GPU device was opened
/// (`cubecl/` in runner's cache folder).
pub fn autotune_folder() -> Option<std::path::PathBuf> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    return cubecl::folder();
    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    None
}

/// The command that installs runner with the cargo `feature` of a backend.
pub fn build_command(feature: &str) -> &'static str {
    match feature {
        "cuda" => "ci/setup-cuda-build.sh && cargo install --path . --features cuda",
        "wgpu" => "cargo install --path . --features wgpu",
        _ => "source ci/tch-env.sh && cargo install --path . --features tch",
    }
}

/// The error for a device whose backend this binary lacks.
fn not_compiled(choice: DeviceChoice) -> DeviceError {
    let feature = choice.feature().unwrap_or_default();
    DeviceError::NotCompiled {
        device: choice,
        feature,
        build: build_command(feature),
        instead: match choice {
            DeviceChoice::Cuda(n) if DeviceChoice::TchCuda(n).compiled_in() => {
                Some(DeviceChoice::TchCuda(n))
            }
            _ => None,
        },
    }
}

/// Devices this process has opened: a backend's runtime initialises once per process.
static OPENED: Mutex<Vec<(DeviceChoice, OpenDevice)>> = Mutex::new(Vec::new());

/// Opens `choice`, or says why it cannot be used here (never panics on a missing driver).
pub fn open(choice: DeviceChoice) -> Result<OpenDevice, DeviceError> {
    let mut opened = OPENED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, device)) = opened.iter().find(|(c, _)| *c == choice) {
        return Ok(device.clone());
    }
    if !choice.compiled_in() {
        return Err(not_compiled(choice));
    }
    let (device, adapter) = backends::open(choice)?;
    let device = OpenDevice {
        device,
        info: DeviceInfo {
            backend: choice.backend().to_string(),
            device: choice.to_string(),
            adapter,
            burn_version: env!("RUNNER_BURN_VERSION").to_string(),
            runner_version: env!("CARGO_PKG_VERSION").to_string(),
        },
    };
    opened.push((choice, device.clone()));
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_device_is_flex_on_the_cpu() {
        let info = open(DeviceChoice::Cpu).unwrap().info;
        assert_eq!(
            (info.backend.as_str(), info.device.as_str()),
            ("flex", "cpu")
        );
    }

    #[test]
    fn a_device_not_compiled_in_names_the_feature_to_build() {
        let missing = [
            DeviceChoice::Cuda(0),
            DeviceChoice::Wgpu(None),
            DeviceChoice::TchCpu,
            DeviceChoice::TchCuda(0),
        ]
        .into_iter()
        .filter(|d| !d.compiled_in());
        for device in missing {
            let error = open(device).unwrap_err().to_string();
            let feature = device.feature().unwrap();
            assert!(error.contains(&format!("--features {feature}")), "{error}");
        }
    }

    #[test]
    fn cuda_in_a_libtorch_build_points_to_libtorch_s_name() {
        let error = not_compiled(DeviceChoice::Cuda(1)).to_string();
        assert!(
            error.contains("ci/setup-cuda-build.sh && cargo install"),
            "{error}"
        );
        if DeviceChoice::TchCuda(1).compiled_in() {
            assert!(
                error.contains("libtorch's CUDA, which this binary has, is `tch-cuda:1`"),
                "{error}"
            );
        } else {
            assert!(!error.contains("libtorch"), "{error}");
        }
    }

    #[test]
    fn gpus_are_the_devices_with_memory_of_their_own() {
        let gpus: Vec<bool> = ["cpu", "cuda", "wgpu", "tch-cpu", "tch-cuda"]
            .map(|d| d.parse::<DeviceChoice>().unwrap().is_gpu())
            .to_vec();
        assert_eq!(gpus, [false, true, true, false, true]);
    }

    #[test]
    fn the_burn_version_comes_from_cargo_lock() {
        let lock = include_str!("../../Cargo.lock");
        let expected = format!(
            "name = \"burn\"\nversion = \"{}\"",
            open(DeviceChoice::Cpu).unwrap().info.burn_version
        );
        assert!(lock.contains(&expected), "{expected}");
    }
}
