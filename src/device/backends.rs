//! Opening a device on each backend compiled in, turning what the lower layers report (the CUDA
//! driver's state, wgpu's adapter errors, libtorch's CUDA count) into [`DeviceError`]s instead
//! of panics.

use super::{DeviceChoice, DeviceError};
use burn::tensor::Device;

/// The opened device and, where the backend names it, the hardware (`NVIDIA H200`, `llvmpipe`).
pub(super) fn open(choice: DeviceChoice) -> Result<(Device, Option<String>), DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::flex(), None)),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(index) => {
            let adapter =
                super::cuda::check(&super::cuda::probe(), index).map_err(|(reason, fix)| {
                    DeviceError::Unavailable {
                        device: choice,
                        reason,
                        fix,
                    }
                })?;
            super::cubecl::configure();
            Ok((Device::cuda(index), Some(adapter)))
        }
        #[cfg(feature = "wgpu")]
        DeviceChoice::Wgpu(index) => {
            super::cubecl::configure();
            wgpu::open(index).map_err(|(reason, fix)| DeviceError::Unavailable {
                device: choice,
                reason,
                fix,
            })
        }
        #[cfg(feature = "tch")]
        DeviceChoice::TchCpu | DeviceChoice::TchCuda(_) => {
            tch::open(choice).map_err(|(reason, fix)| DeviceError::Unavailable {
                device: choice,
                reason,
                fix,
            })
        }
        #[allow(unreachable_patterns)] // every device is reachable in a build with all features
        _ => unreachable!("devices not compiled in are refused before opening"),
    }
}

/// wgpu: adapters as wgpu enumerates them on the machine's primary graphics APIs.
#[cfg(feature = "wgpu")]
pub(super) mod wgpu {
    use burn::tensor::wgpu::wgpu as api;
    use burn::tensor::{Device, DeviceKind};

    /// What to install when wgpu finds no adapter.
    const FIX: &str = "install a Vulkan driver (Debian/Ubuntu: `apt-get install libvulkan1 mesa-vulkan-drivers` for the software one, or the GPU vendor's), or use `--device cpu`";

    /// The adapters wgpu finds, in the order `wgpu:N` counts them.
    pub fn adapters() -> Vec<api::AdapterInfo> {
        let instance = api::Instance::new(api::InstanceDescriptor {
            backends: api::Backends::PRIMARY,
            ..api::InstanceDescriptor::new_without_display_handle()
        });
        futures_lite::future::block_on(instance.enumerate_adapters(api::Backends::PRIMARY))
            .iter()
            .map(api::Adapter::get_info)
            .collect()
    }

    /// One line about an adapter: name, type, graphics API.
    pub fn describe(info: &api::AdapterInfo) -> String {
        format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend)
    }

    /// Opens the default adapter (`None`) or the `index`th of [`adapters`].
    pub fn open(index: Option<usize>) -> Result<(Device, Option<String>), (String, String)> {
        let found = adapters();
        let kind = match index {
            None => DeviceKind::DefaultDevice,
            Some(i) => {
                let Some(chosen) = found.get(i) else {
                    return Err((
                        format!(
                            "wgpu finds {} adapter(s), so there is no wgpu:{i}",
                            found.len()
                        ),
                        "`runner devices` lists them".to_string(),
                    ));
                };
                let same_type = found[..i]
                    .iter()
                    .filter(|a| a.device_type == chosen.device_type)
                    .count();
                match chosen.device_type {
                    api::DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu(same_type),
                    api::DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu(same_type),
                    api::DeviceType::VirtualGpu => DeviceKind::VirtualGpu(same_type),
                    api::DeviceType::Cpu => DeviceKind::Cpu,
                    api::DeviceType::Other => DeviceKind::DefaultDevice,
                }
            }
        };
        if found.is_empty() {
            return Err((
                "wgpu finds no graphics adapter".to_string(),
                FIX.to_string(),
            ));
        }
        let (device, setup) = Device::wgpu_options()
            .device_kind(kind)
            .init_with_setup()
            .map_err(|e| (e.to_string(), FIX.to_string()))?;
        Ok((device, Some(describe(&setup.adapter.get_info()))))
    }
}

/// libtorch: its CPU kernels, and CUDA devices when the libtorch build has CUDA.
#[cfg(feature = "tch")]
#[allow(deprecated)] // burn-tch is deprecated upstream; kept for PyTorch's own kernels
pub(super) mod tch {
    use super::DeviceChoice;
    use burn::tensor::Device;

    /// How many CUDA devices libtorch sees.
    pub fn cuda_devices() -> usize {
        usize::try_from(::tch::Cuda::device_count()).unwrap_or(0)
    }

    /// Opens libtorch's CPU or a CUDA device.
    pub fn open(choice: DeviceChoice) -> Result<(Device, Option<String>), (String, String)> {
        match choice {
            DeviceChoice::TchCuda(index) => {
                let count = cuda_devices();
                if index >= count {
                    return Err((
                        format!("libtorch sees {count} CUDA device(s), so there is no tch-cuda:{index}"),
                        "on a machine with an NVIDIA GPU, install its driver and build runner against a CUDA build of PyTorch (README, \"Backends\"); or use `--device tch-cpu`".to_string(),
                    ));
                }
                Ok((Device::libtorch_cuda(index), None))
            }
            _ => Ok((Device::libtorch(), None)),
        }
    }
}

/// What the CUDA backend finds, or `None` when it is not compiled in.
pub(super) fn cuda_probe() -> Option<super::cuda::CudaProbe> {
    #[cfg(feature = "cuda")]
    return Some(super::cuda::probe());
    #[cfg(not(feature = "cuda"))]
    None
}

/// What the wgpu backend finds, or `None` when it is not compiled in.
pub(super) fn wgpu_adapters() -> Option<Vec<String>> {
    #[cfg(feature = "wgpu")]
    return Some(wgpu::adapters().iter().map(wgpu::describe).collect());
    #[cfg(not(feature = "wgpu"))]
    None
}

/// What libtorch finds (its CPU threads, then each CUDA device), or `None` when it is not
/// compiled in.
pub(super) fn libtorch_devices() -> Option<Vec<String>> {
    #[cfg(feature = "tch")]
    return Some(
        std::iter::once(format!("tch-cpu: {} threads", ::tch::get_num_threads()))
            .chain((0..tch::cuda_devices()).map(|i| format!("tch-cuda:{i}")))
            .collect(),
    );
    #[cfg(not(feature = "tch"))]
    None
}
