//! `runner devices`: the backends this binary was built with and what each finds here.

use super::{DeviceChoice, backends, cuda};

/// One backend's line: the device names it answers to, and what it finds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackendReport {
    /// The Burn backend (`flex`, `cuda`, `wgpu`, `libtorch`).
    pub backend: &'static str,
    /// The `--device` names it serves.
    pub devices: &'static str,
    /// The cargo feature that compiles it in (`null` for flex).
    pub feature: Option<&'static str>,
    /// Whether this binary has it.
    pub compiled_in: bool,
    /// What it finds on this machine, one entry per usable device (empty: none).
    pub found: Vec<String>,
    /// What else it needs and finds (the CUDA driver, libdevice), with the fix when something
    /// is missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The CUDA backend's findings in full (`--json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda: Option<cuda::CudaProbe>,
}

/// Every backend runner knows, compiled in or not.
pub fn report() -> Vec<BackendReport> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut out = vec![BackendReport {
        backend: "flex",
        devices: "cpu (default)",
        feature: None,
        compiled_in: true,
        found: vec![format!("cpu: {threads} threads")],
        notes: Vec::new(),
        cuda: None,
    }];
    out.push(cuda_report(backends::cuda_probe()));
    let wgpu = DeviceChoice::Wgpu(None);
    out.push(BackendReport {
        backend: wgpu.backend(),
        devices: "wgpu[:N]",
        feature: wgpu.feature(),
        compiled_in: wgpu.compiled_in(),
        found: backends::wgpu_adapters()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, adapter)| format!("wgpu:{i}: {adapter}"))
            .collect(),
        notes: Vec::new(),
        cuda: None,
    });
    let tch = DeviceChoice::TchCpu;
    out.push(BackendReport {
        backend: tch.backend(),
        devices: "tch-cpu, tch-cuda[:N]",
        feature: tch.feature(),
        compiled_in: tch.compiled_in(),
        found: backends::libtorch_devices().unwrap_or_default(),
        notes: Vec::new(),
        cuda: None,
    });
    out
}

/// The CUDA backend's entry: `probe` is `None` when it is not compiled in.
fn cuda_report(probe: Option<cuda::CudaProbe>) -> BackendReport {
    let choice = DeviceChoice::Cuda(0);
    let mut report = BackendReport {
        backend: choice.backend(),
        devices: "cuda[:N]",
        feature: choice.feature(),
        compiled_in: choice.compiled_in(),
        found: Vec::new(),
        notes: Vec::new(),
        cuda: None,
    };
    let Some(probe) = probe else {
        return report;
    };
    let built_for = cuda::version_text(probe.built_for);
    match &probe.driver {
        cuda::Driver::Missing => report.notes.push(format!(
            "driver: not installed (libcuda.so.1 cannot be loaded); runner is built for CUDA {built_for} and newer"
        )),
        cuda::Driver::Failed { error, .. } => {
            report.notes.push(format!("driver: does not start: {error}"));
        }
        cuda::Driver::Ready {
            cuda_version,
            release,
            devices,
        } => {
            report.notes.push(format!(
                "driver: {}CUDA {}; runner is built for CUDA {built_for} and newer",
                release.as_ref().map(|r| format!("{r}, ")).unwrap_or_default(),
                cuda::version_text(*cuda_version),
            ));
            report.found = devices
                .iter()
                .map(|d| format!("cuda:{}: {}", d.index, d.describe()))
                .collect();
        }
    }
    report.notes.push(match &probe.libdevice.found {
        Some(file) => format!("libdevice: {}", file.display()),
        None => format!(
            "libdevice: not found ({}); {}",
            match &probe.libdevice.cuda_path {
                Some(path) => format!("CUDA_PATH is {}", path.display()),
                None => format!(
                    "looked in {}",
                    probe
                        .libdevice
                        .searched
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            cuda::LIBDEVICE_FIX
        ),
    });
    // A GPU that cannot run for another reason than libdevice (whose line says so already).
    if let Err((reason, fix)) = cuda::check(&probe, 0)
        && !report.found.is_empty()
        && probe.libdevice.found.is_some()
    {
        report.notes.push(format!("cannot run: {reason}; {fix}"));
    }
    report.cuda = Some(probe);
    report
}

/// The GPU devices this binary finds here: every CUDA device, wgpu's preferred adapter and
/// libtorch's CUDA devices (what `runner devices --verify` checks by default).
pub fn gpu_devices() -> Vec<DeviceChoice> {
    let mut out = Vec::new();
    if let Some(cuda::CudaProbe {
        driver: cuda::Driver::Ready { devices, .. },
        ..
    }) = backends::cuda_probe()
    {
        out.extend(devices.iter().map(|d| DeviceChoice::Cuda(d.index)));
    }
    if backends::wgpu_adapters().is_some_and(|a| !a.is_empty()) {
        out.push(DeviceChoice::Wgpu(None));
    }
    let libtorch = backends::libtorch_devices().unwrap_or_default();
    out.extend((0..libtorch.len().saturating_sub(1)).map(DeviceChoice::TchCuda));
    out
}

/// The report as the terminal shows it.
pub fn render(report: &[BackendReport]) -> String {
    let mut out = String::new();
    for backend in report {
        let feature = backend
            .feature
            .map_or("built in".to_string(), |f| format!("feature `{f}`"));
        out.push_str(&format!(
            "{:<9} {:<22} {feature}\n",
            backend.backend, backend.devices
        ));
        if !backend.compiled_in {
            out.push_str(&format!(
                "          not in this binary: {}\n",
                super::build_command(backend.feature.unwrap_or_default())
            ));
        } else if backend.found.is_empty() {
            out.push_str("          finds no device here\n");
        }
        for line in backend.found.iter().chain(&backend.notes) {
            out.push_str(&format!("          {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_says_which_backends_are_compiled_in() {
        let report = report();
        let names: Vec<_> = report.iter().map(|b| b.backend).collect();
        assert_eq!(names, ["flex", "cuda", "wgpu", "libtorch"]);
        assert_eq!(report[1].compiled_in, cfg!(feature = "cuda"));
        assert_eq!(report[2].compiled_in, cfg!(feature = "wgpu"));
        let text = render(&report);
        assert!(text.contains("cpu: "), "{text}");
        if !cfg!(feature = "tch") {
            assert!(text.contains("--features tch"), "{text}");
        }
        if !cfg!(feature = "cuda") {
            assert!(
                text.contains("ci/setup-cuda-build.sh && cargo install --path . --features cuda"),
                "{text}"
            );
        }
    }

    fn probe(driver: cuda::Driver, libdevice: Option<&str>) -> cuda::CudaProbe {
        cuda::CudaProbe {
            built_for: 12090,
            driver,
            libdevice: cuda::Libdevice {
                found: libdevice.map(Into::into),
                cuda_path: None,
                searched: vec!["/usr/local/cuda".into(), "/opt/cuda".into()],
            },
        }
    }

    /// The CUDA entry of a binary with the feature, whatever this test build has.
    fn cuda_entry(probe: cuda::CudaProbe) -> BackendReport {
        BackendReport {
            compiled_in: true,
            ..cuda_report(Some(probe))
        }
    }

    #[test]
    fn the_cuda_entry_says_what_is_missing_and_how_to_fix_it() {
        let missing = cuda_entry(probe(cuda::Driver::Missing, None));
        assert!(missing.found.is_empty());
        let text = render(std::slice::from_ref(&missing));
        assert!(text.contains("finds no device here"), "{text}");
        assert!(text.contains("driver: not installed"), "{text}");
        assert!(text.contains("built for CUDA 12.9"), "{text}");
        assert!(
            text.contains("libdevice: not found (looked in /usr/local/cuda, /opt/cuda)"),
            "{text}"
        );
        assert!(text.contains("pip install nvidia-cuda-nvcc-cu12"), "{text}");

        let gpu = cuda::CudaDevice {
            index: 0,
            name: "NVIDIA H200".into(),
            memory_bytes: 1 << 37,
            architecture: "sm_90".into(),
        };
        let ready = cuda::Driver::Ready {
            cuda_version: 13000,
            release: Some("580.65.06".into()),
            devices: vec![gpu.clone()],
        };
        let found = cuda_entry(probe(
            ready.clone(),
            Some("/usr/local/cuda/nvvm/libdevice/libdevice.10.bc"),
        ));
        assert_eq!(found.found, ["cuda:0: NVIDIA H200 (128.0 GiB, sm_90)"]);
        let text = render(std::slice::from_ref(&found));
        assert!(text.contains("driver: 580.65.06, CUDA 13.0"), "{text}");
        assert!(!text.contains("cannot run"), "{text}");
        let json = serde_json::to_value(&found).unwrap();
        assert_eq!(json["cuda"]["driver"]["state"], "ready");
        assert_eq!(
            json["cuda"]["driver"]["devices"][0]["memory_bytes"],
            1u64 << 37
        );

        // A GPU without libdevice: listed, with what is missing.
        let text = render(&[cuda_entry(probe(ready, None))]);
        assert!(text.contains("cuda:0: NVIDIA H200"), "{text}");
        assert!(text.contains("libdevice: not found"), "{text}");
        // A driver older than the bindings: listed, with why it cannot run.
        let old = cuda::Driver::Ready {
            cuda_version: 12040,
            release: None,
            devices: vec![gpu],
        };
        let text = render(&[cuda_entry(probe(old, Some("/x/libdevice.10.bc")))]);
        assert!(
            text.contains("cannot run: the NVIDIA driver supports CUDA 12.4"),
            "{text}"
        );
    }
}
