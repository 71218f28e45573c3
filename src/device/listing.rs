//! `runner devices`: the backends this binary was built with and what each finds here.

use super::{DeviceChoice, backends};

/// One backend's line: the device names it answers to, and what it finds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackendReport {
    /// The Burn backend (`flex`, `libtorch`, `wgpu`).
    pub backend: &'static str,
    /// The `--device` names it serves.
    pub devices: &'static str,
    /// The cargo feature that compiles it in (`null` for flex).
    pub feature: Option<&'static str>,
    /// Whether this binary has it.
    pub compiled_in: bool,
    /// What it finds on this machine, one entry per usable device (empty: none).
    pub found: Vec<String>,
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
    }];
    let tch = DeviceChoice::TchCpu;
    out.push(BackendReport {
        backend: tch.backend(),
        devices: "tch-cpu, cuda[:N]",
        feature: tch.feature(),
        compiled_in: tch.compiled_in(),
        found: backends::libtorch_devices().unwrap_or_default(),
    });
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
    });
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
            "{:<9} {:<18} {feature}\n",
            backend.backend, backend.devices
        ));
        if !backend.compiled_in {
            out.push_str(&format!(
                "          not in this binary: cargo install --path . --features {}\n",
                backend.feature.unwrap_or_default()
            ));
        } else if backend.found.is_empty() {
            out.push_str("          finds no device here\n");
        }
        for found in &backend.found {
            out.push_str(&format!("          {found}\n"));
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
        assert_eq!(names, ["flex", "libtorch", "wgpu"]);
        assert_eq!(report[2].compiled_in, cfg!(feature = "wgpu"));
        let text = render(&report);
        assert!(text.contains("cpu: "), "{text}");
        if !cfg!(feature = "tch") {
            assert!(text.contains("--features tch"), "{text}");
        }
    }
}
