//! Burn's native CUDA backend (`--device cuda[:N]`, feature `cuda`): what this machine offers
//! it, and the checks that turn a missing driver, device or libdevice into a clear error before
//! a run folder is made.
//!
//! The backend is CubeCL's: kernels are compiled LLVM -> PTX inside runner (no NVRTC, no CUDA
//! toolkit at build time) and launched through the driver API, which cudarc binds. At run time
//! it needs two things runner's binary does not carry:
//! - the NVIDIA driver's `libcuda.so.1`, which cudarc opens with dlopen (nothing is linked at
//!   build time). cudarc panics on any driver call when the library is missing, and cubecl-cuda
//!   opens a device with `unwrap`s, so [`probe`] asks `is_culib_present` before anything else
//!   and [`check`] makes sure the device exists before Burn touches it;
//! - CUDA's libdevice (`nvvm/libdevice/libdevice.10.bc`), the bitcode of the math functions
//!   NVPTX has no instruction for (exp, log, tanh, erf...: every loss uses one). CubeCL links it
//!   into kernels that call them, from `$CUDA_PATH`, else the first of [`CUDA_ROOTS`] that has
//!   `nvvm/libdevice` (cubecl-llvm's `nvptx/libdevice.rs`); [`find_libdevice`] looks the same
//!   way. Without it a kernel fails only when its result is read, as a panic inside Burn.
//!   A CUDA toolkit has it, and so does PyPI's `nvidia-cuda-nvcc-cu12` wheel.
//!
//! cudarc binds the driver API of one CUDA version, chosen at build time (`CUDARC_CUDA_VERSION`,
//! 12.9 by default: .cargo/config.toml). As CUDA's runtime does (`cudaErrorInsufficientDriver`),
//! a driver older than that is refused: a function it lacks would panic inside cudarc.
//!
//! The checks are plain functions of a [`CudaProbe`], so their messages are tested on machines
//! without a GPU and in builds without the feature; only [`probe`] needs the driver.

use std::path::{Path, PathBuf};

/// Where CubeCL looks for a CUDA toolkit when `CUDA_PATH` is not set, in order.
pub const CUDA_ROOTS: [&str; 4] = ["/usr/local/cuda", "/opt/cuda", "/usr/lib/cuda", "/usr"];

/// libdevice inside a CUDA toolkit.
const LIBDEVICE: &str = "nvvm/libdevice/libdevice.10.bc";

/// What the CUDA backend finds on this machine.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CudaProbe {
    /// The CUDA version whose driver API this binary binds (`12090` is 12.9).
    pub built_for: i32,
    /// The driver and its devices.
    pub driver: Driver,
    /// CUDA's libdevice.
    pub libdevice: Libdevice,
}

/// The NVIDIA driver, as far as it answers.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Driver {
    /// `libcuda.so.1` cannot be loaded: no NVIDIA driver here.
    Missing,
    /// The driver loaded but failed to start or to answer.
    Failed {
        /// The CUDA version it supports, when it said.
        cuda_version: Option<i32>,
        /// The driver release (`580.65.06`), from /proc/driver/nvidia/version.
        release: Option<String>,
        /// What it said.
        error: String,
    },
    /// The driver answers.
    Ready {
        /// The newest CUDA version it supports (`13000` is 13.0).
        cuda_version: i32,
        /// The driver release (`580.65.06`), from /proc/driver/nvidia/version.
        release: Option<String>,
        /// Its devices, as `cuda:N` counts them.
        devices: Vec<CudaDevice>,
    },
}

/// One device the driver lists.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CudaDevice {
    /// N of `cuda:N`.
    pub index: usize,
    /// The product name (`NVIDIA H200`).
    pub name: String,
    /// Its memory in bytes.
    pub memory_bytes: u64,
    /// `sm_90` for compute capability 9.0.
    pub architecture: String,
}

impl CudaDevice {
    /// One line: name, memory and architecture.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:.1} GiB, {})",
            self.name,
            self.memory_bytes as f64 / f64::from(1u32 << 30),
            self.architecture
        )
    }
}

/// Where libdevice was looked for, and what was found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Libdevice {
    /// The file CubeCL will link, when it exists.
    pub found: Option<PathBuf>,
    /// `CUDA_PATH`, when set: then the only place CubeCL looks.
    pub cuda_path: Option<PathBuf>,
    /// The toolkit folders looked in, in order.
    pub searched: Vec<PathBuf>,
}

/// Looks for libdevice as CubeCL does: in `cuda_path` when given (`$CUDA_PATH`), else in the
/// first of `roots` that has `nvvm/libdevice`.
pub fn find_libdevice(cuda_path: Option<&Path>, roots: &[&Path]) -> Libdevice {
    let (root, searched) = match cuda_path {
        Some(path) => (Some(path.to_path_buf()), vec![path.to_path_buf()]),
        None => (
            roots
                .iter()
                .find(|root| root.join("nvvm/libdevice").is_dir())
                .map(|root| root.to_path_buf()),
            roots.iter().map(|root| root.to_path_buf()).collect(),
        ),
    };
    Libdevice {
        found: root
            .map(|root| root.join(LIBDEVICE))
            .filter(|file| file.is_file()),
        cuda_path: cuda_path.map(Path::to_path_buf),
        searched,
    }
}

/// libdevice on this machine, found as CubeCL will find it.
pub fn libdevice_here() -> Libdevice {
    let cuda_path = std::env::var_os("CUDA_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let roots: Vec<&Path> = CUDA_ROOTS.iter().map(Path::new).collect();
    find_libdevice(cuda_path.as_deref(), &roots)
}

/// The CUDA versions cudarc 0.19 can bind (`CUDARC_CUDA_VERSION`), newest first.
const BINDABLE: [i32; 19] = [
    13040, 13030, 13020, 13010, 13000, 12090, 12080, 12060, 12050, 12040, 12030, 12020, 12010,
    12000, 11080, 11070, 11060, 11050, 11040,
];

/// The newest CUDA version cudarc can bind that a driver of `cuda_version` runs.
fn bindable(cuda_version: i32) -> Option<i32> {
    BINDABLE.into_iter().find(|&v| v <= cuda_version)
}

/// `13000` as `13.0`.
pub fn version_text(version: i32) -> String {
    format!("{}.{}", version / 1000, (version % 1000) / 10)
}

/// The driver release in the text of /proc/driver/nvidia/version (`NVRM version: NVIDIA UNIX
/// x86_64 Kernel Module  580.65.06  Sun Jul 27 ...`).
pub fn driver_release(proc_version: &str) -> Option<String> {
    let line = proc_version.lines().next()?;
    line.split_whitespace()
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() >= 2
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// How to get libdevice, for error messages and `runner devices`.
pub const LIBDEVICE_FIX: &str = "install a CUDA toolkit (it has nvvm/libdevice/libdevice.10.bc) and set CUDA_PATH to it, or `pip install nvidia-cuda-nvcc-cu12` and set CUDA_PATH to its folder: `export CUDA_PATH=$(python3 -c 'import nvidia.cuda_nvcc as m; print(m.__path__[0])')`";

/// Whether `cuda:index` can run here: the description of the device (name, memory,
/// architecture), or why not and what to do, `(reason, fix)`.
pub fn check(probe: &CudaProbe, index: usize) -> Result<String, (String, String)> {
    let devices = match &probe.driver {
        Driver::Missing => {
            return Err((
                "the NVIDIA driver is not installed here (libcuda.so.1 cannot be loaded)".into(),
                "on a machine with an NVIDIA GPU, install its driver (`nvidia-smi` then lists the GPU); elsewhere use `--device wgpu` or `--device cpu`".into(),
            ));
        }
        Driver::Failed { error, .. } => {
            return Err((
                format!("the NVIDIA driver does not start: {error}"),
                "`nvidia-smi` shows whether the driver sees a GPU; `runner devices` shows what runner finds".into(),
            ));
        }
        Driver::Ready {
            cuda_version,
            devices,
            ..
        } => {
            if *cuda_version < probe.built_for {
                return Err((
                    format!(
                        "the NVIDIA driver supports CUDA {}, older than the CUDA {} this runner was built for",
                        version_text(*cuda_version),
                        version_text(probe.built_for)
                    ),
                    match bindable(*cuda_version) {
                        Some(version) => format!(
                            "update the driver, or rebuild runner with `CUDARC_CUDA_VERSION={version}` (README, \"Backends\")"
                        ),
                        None => "update the driver".into(),
                    },
                ));
            }
            devices
        }
    };
    let Some(device) = devices.get(index) else {
        return Err(if devices.is_empty() {
            (
                "the NVIDIA driver finds no GPU".into(),
                "`nvidia-smi` lists the GPUs the driver sees; check CUDA_VISIBLE_DEVICES".into(),
            )
        } else {
            (
                format!(
                    "the NVIDIA driver finds {} GPU(s), so there is no cuda:{index}",
                    devices.len()
                ),
                "`runner devices` lists them".into(),
            )
        });
    };
    if probe.libdevice.found.is_none() {
        let reason = match &probe.libdevice.cuda_path {
            Some(path) => format!(
                "CUDA_PATH is {}, which has no {LIBDEVICE} (CUDA's libdevice, which CubeCL links into kernels that call exp, log or tanh)",
                path.display()
            ),
            None => format!(
                "CUDA's libdevice ({LIBDEVICE}, which CubeCL links into kernels that call exp, log or tanh) is in none of {}",
                join_paths(&probe.libdevice.searched)
            ),
        };
        return Err((reason, LIBDEVICE_FIX.into()));
    }
    Ok(device.describe())
}

/// `a, b, c`.
fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Asks the driver what it has (never panics: a missing driver is [`Driver::Missing`]).
#[cfg(feature = "cuda")]
pub fn probe() -> CudaProbe {
    CudaProbe {
        built_for: cudarc::driver::sys::CUDA_VERSION as i32,
        driver: driver_here(),
        libdevice: libdevice_here(),
    }
}

/// The driver's state, from cudarc's raw calls.
#[cfg(feature = "cuda")]
fn driver_here() -> Driver {
    use cudarc::driver::{result, sys};
    // SAFETY: only tries to dlopen the library; every other call below needs it loaded.
    if !unsafe { sys::is_culib_present() } {
        return Driver::Missing;
    }
    let release = std::fs::read_to_string("/proc/driver/nvidia/version")
        .ok()
        .and_then(|text| driver_release(&text));
    let mut version = 0;
    // SAFETY: writes the version into `version`, which outlives the call; needs no cuInit.
    let cuda_version = unsafe { sys::cuDriverGetVersion(&mut version) }
        .result()
        .ok()
        .map(|()| version);
    let devices = || -> Result<Vec<CudaDevice>, cudarc::driver::DriverError> {
        result::init()?;
        let count = result::device::get_count()?;
        (0..count)
            .map(|i| {
                let device = result::device::get(i)?;
                let attribute = |a| {
                    // SAFETY: `device` is a handle the driver just returned.
                    unsafe { result::device::get_attribute(device, a) }
                };
                let major = attribute(
                    sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                )?;
                let minor = attribute(
                    sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                )?;
                Ok(CudaDevice {
                    index: i as usize,
                    name: result::device::get_name(device)?,
                    // SAFETY: as above.
                    memory_bytes: unsafe { result::device::total_mem(device) }? as u64,
                    architecture: format!("sm_{major}{minor}"),
                })
            })
            .collect()
    };
    match (cuda_version, devices()) {
        (Some(cuda_version), Ok(devices)) => Driver::Ready {
            cuda_version,
            release,
            devices,
        },
        (cuda_version, Err(e)) => Driver::Failed {
            cuda_version,
            release,
            error: e.to_string(),
        },
        (None, Ok(_)) => Driver::Failed {
            cuda_version: None,
            release,
            error: "cuDriverGetVersion failed".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(driver: Driver, libdevice: Option<&str>) -> CudaProbe {
        CudaProbe {
            built_for: 12090,
            driver,
            libdevice: Libdevice {
                found: libdevice.map(PathBuf::from),
                cuda_path: None,
                searched: CUDA_ROOTS.iter().map(PathBuf::from).collect(),
            },
        }
    }

    fn h200(index: usize) -> CudaDevice {
        CudaDevice {
            index,
            name: "NVIDIA H200".into(),
            memory_bytes: 150_754_820_096,
            architecture: "sm_90".into(),
        }
    }

    fn ready(cuda_version: i32, devices: Vec<CudaDevice>) -> Driver {
        Driver::Ready {
            cuda_version,
            release: Some("580.65.06".into()),
            devices,
        }
    }

    const LIBDEVICE_FILE: &str = "/usr/local/cuda/nvvm/libdevice/libdevice.10.bc";

    #[test]
    fn a_machine_without_the_driver_is_told_to_install_it() {
        let (reason, fix) = check(&probe(Driver::Missing, None), 0).unwrap_err();
        assert!(reason.contains("libcuda.so.1"), "{reason}");
        assert!(fix.contains("install its driver"), "{fix}");
        assert!(fix.contains("--device cpu"), "{fix}");
    }

    #[test]
    fn a_driver_that_fails_says_what_it_said() {
        let driver = Driver::Failed {
            cuda_version: Some(13000),
            release: None,
            error: "CUDA_ERROR_NO_DEVICE".into(),
        };
        let (reason, fix) = check(&probe(driver, Some(LIBDEVICE_FILE)), 0).unwrap_err();
        assert!(reason.contains("CUDA_ERROR_NO_DEVICE"), "{reason}");
        assert!(fix.contains("nvidia-smi"), "{fix}");
    }

    #[test]
    fn a_driver_older_than_the_bindings_is_refused_with_the_version_to_build_for() {
        let older = probe(ready(12040, vec![h200(0)]), Some(LIBDEVICE_FILE));
        let (reason, fix) = check(&older, 0).unwrap_err();
        assert!(reason.contains("CUDA 12.4"), "{reason}");
        assert!(reason.contains("CUDA 12.9"), "{reason}");
        assert!(fix.contains("CUDARC_CUDA_VERSION=12040"), "{fix}");
        // CUDA 12.7 has no bindings of its own: 12.6's run on its driver.
        let (_, fix) =
            check(&probe(ready(12070, vec![h200(0)]), Some(LIBDEVICE_FILE)), 0).unwrap_err();
        assert!(fix.contains("CUDARC_CUDA_VERSION=12060"), "{fix}");
        // Newer drivers run code built for older CUDA versions.
        let newer = probe(ready(13000, vec![h200(0)]), Some(LIBDEVICE_FILE));
        assert_eq!(check(&newer, 0).unwrap(), "NVIDIA H200 (140.4 GiB, sm_90)");
    }

    #[test]
    fn a_device_index_past_the_last_gpu_is_refused() {
        let two = probe(ready(13000, vec![h200(0), h200(1)]), Some(LIBDEVICE_FILE));
        assert!(check(&two, 1).is_ok());
        let (reason, fix) = check(&two, 2).unwrap_err();
        assert!(
            reason.contains("finds 2 GPU(s), so there is no cuda:2"),
            "{reason}"
        );
        assert!(fix.contains("runner devices"), "{fix}");
        let none = probe(ready(13000, vec![]), Some(LIBDEVICE_FILE));
        let (reason, fix) = check(&none, 0).unwrap_err();
        assert!(reason.contains("finds no GPU"), "{reason}");
        assert!(fix.contains("CUDA_VISIBLE_DEVICES"), "{fix}");
    }

    #[test]
    fn missing_libdevice_names_where_it_looked_and_how_to_get_it() {
        let (reason, fix) = check(&probe(ready(13000, vec![h200(0)]), None), 0).unwrap_err();
        assert!(reason.contains("libdevice.10.bc"), "{reason}");
        assert!(reason.contains("/usr/local/cuda, /opt/cuda"), "{reason}");
        assert!(fix.contains("CUDA_PATH"), "{fix}");
        assert!(fix.contains("pip install nvidia-cuda-nvcc-cu12"), "{fix}");

        let mut with_path = probe(ready(13000, vec![h200(0)]), None);
        with_path.libdevice.cuda_path = Some("/opt/wrong".into());
        let (reason, _) = check(&with_path, 0).unwrap_err();
        assert!(reason.contains("CUDA_PATH is /opt/wrong"), "{reason}");
    }

    #[test]
    fn libdevice_is_found_where_cubecl_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let toolkit = dir.path().join("cuda");
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(toolkit.join("nvvm/libdevice")).unwrap();
        std::fs::create_dir_all(&empty).unwrap();
        let file = toolkit.join(LIBDEVICE);
        // The first root with nvvm/libdevice is CubeCL's, even when the file is not there.
        let found = find_libdevice(None, &[&empty, &toolkit]);
        assert_eq!(found.found, None);
        assert_eq!(found.searched, [empty.clone(), toolkit.clone()]);
        std::fs::write(&file, b"BC").unwrap();
        assert_eq!(
            find_libdevice(None, &[&empty, &toolkit]).found,
            Some(file.clone())
        );
        // CUDA_PATH is the only place looked at when set.
        let by_path = find_libdevice(Some(&empty), &[&toolkit]);
        assert_eq!((by_path.found, by_path.searched), (None, vec![empty]));
        assert_eq!(find_libdevice(Some(&toolkit), &[]).found, Some(file));
    }

    #[test]
    fn the_driver_release_is_read_from_the_kernel_module_line() {
        let proprietary = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:29 UTC 2025\nGCC version:  gcc version 12.2.0";
        assert_eq!(driver_release(proprietary).as_deref(), Some("580.65.06"));
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.133.20  Release Build  (dvs-builder@U16-I3-B13-4-3)";
        assert_eq!(driver_release(open).as_deref(), Some("570.133.20"));
        assert_eq!(driver_release(""), None);
        assert_eq!(version_text(12090), "12.9");
        assert_eq!(version_text(13000), "13.0");
    }
}
