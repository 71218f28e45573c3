//! Every backend compiled into this build (`--features wgpu`, `--features tch`) computes what
//! flex computes: a training step of a graph with every kind of layer (loss, gradients,
//! updated weights and BatchNorm statistics), and the pretrained bases' reference features.
//! A backend that is compiled in but cannot open here fails these tests instead of skipping
//! them: CI installs Debian's software Vulkan driver (lavapipe) for wgpu.

mod common;

use runner::device::DeviceChoice;
use std::path::Path;

/// The device a build's end-to-end run uses: the GPU backend when compiled in, else flex.
fn device_of_this_build() -> DeviceChoice {
    if cfg!(feature = "wgpu") {
        DeviceChoice::Wgpu(None)
    } else {
        DeviceChoice::Cpu
    }
}

/// A folder with [`common::make_images`]' images and the sweep tests' tiny spec.
fn tiny_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::make_images(&dir.path().join("images"));
    std::fs::write(dir.path().join("spec.yaml"), common::SWEEP_SPEC).unwrap();
    dir
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_run_records_the_device_it_ran_on() {
    let device = device_of_this_build().to_string();
    let dir = tiny_project();
    let out = common::runner(dir.path(), &["run", "spec.yaml", "--device", &device]);
    assert!(out.status.success(), "{}", common::text(&out));
    let run = tiny_run(dir.path());
    let summary = read_json(&run.join("summary.json"));
    assert_eq!(summary["device"]["device"], device.as_str());
    assert_eq!(
        summary["device"]["backend"],
        device_of_this_build().backend()
    );
    assert_eq!(
        summary["device"]["burn_version"],
        env!("RUNNER_BURN_VERSION")
    );
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    assert!(log.contains(&format!("device: {device} (")), "{log}");
    // `--device` sets the spec's `device:`: the run folder's spec says where it ran.
    assert_eq!(
        read_json(&run.join("resolved_spec.json"))["device"],
        device.as_str()
    );
}

/// The only run folder of the tiny spec.
fn tiny_run(project: &Path) -> std::path::PathBuf {
    let mut runs: Vec<_> = std::fs::read_dir(project.join("runs/tiny"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.remove(0)
}

#[cfg(feature = "wgpu")]
#[test]
fn a_run_stopped_on_the_cpu_resumes_on_the_gpu_and_says_so() {
    let dir = tiny_project();
    let status = common::interrupt_after(dir.path(), &["run", "spec.yaml"], 1, "-INT");
    assert!(!status.success());
    let run = tiny_run(dir.path());
    let run_arg = run.to_str().unwrap();
    let out = common::runner(dir.path(), &["resume", run_arg, "--device", "wgpu"]);
    let text = common::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("resuming on wgpu; this run started on cpu"),
        "{text}"
    );
    assert_eq!(
        read_json(&run.join("summary.json"))["device"]["device"],
        "wgpu"
    );
}

#[test]
fn a_device_this_build_lacks_is_refused_before_a_run_folder_exists() {
    let Some(missing) = [
        DeviceChoice::Cuda(0),
        DeviceChoice::TchCpu,
        DeviceChoice::Wgpu(None),
    ]
    .into_iter()
    .find(|d| !d.compiled_in()) else {
        return; // a build with every backend
    };
    let dir = tiny_project();
    let out = common::runner(
        dir.path(),
        &["run", "spec.yaml", "--device", &missing.to_string()],
    );
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let feature = missing.feature().unwrap();
    assert!(
        text.contains(&format!("cargo install --path . --features {feature}")),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        !dir.path().join("runs").exists(),
        "no run folder for a run that cannot start"
    );
}

#[test]
fn an_unknown_device_is_refused_with_the_names_and_a_suggestion() {
    let dir = tiny_project();
    let out = common::runner(dir.path(), &["run", "spec.yaml", "--device", "gpu:0"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("cpu, cuda, cuda:N, wgpu, wgpu:N, tch-cpu, tch-cuda, tch-cuda:N"),
        "{text}"
    );
    assert!(text.contains("did you mean `wgpu`?"), "{text}");

    let spec = common::SWEEP_SPEC.replace("seed: 5\n", "seed: 5\ndevice: gpu\n");
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    let out = common::runner(dir.path(), &["validate", "spec.yaml"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("spec.yaml:3:9"), "{text}");
    assert!(text.contains("unknown device `gpu`"), "{text}");
}

#[test]
fn runner_devices_lists_the_backends_this_build_has() {
    let expected = [
        ("flex", true),
        ("cuda", cfg!(feature = "cuda")),
        ("wgpu", cfg!(feature = "wgpu")),
        ("libtorch", cfg!(feature = "tch")),
    ];
    let report = runner::device::listing::report();
    assert_eq!(report.len(), expected.len());
    for (backend, (name, compiled_in)) in report.iter().zip(expected) {
        assert_eq!(backend.backend, name);
        assert_eq!(backend.compiled_in, compiled_in, "{name}");
        // CUDA finds devices only on a machine with an NVIDIA GPU.
        if name != "cuda" {
            assert_eq!(!backend.found.is_empty(), compiled_in, "{backend:?}");
        }
    }
}

#[test]
fn runner_devices_verify_checks_a_device_against_flex() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::runner(
        dir.path(),
        &[
            "devices",
            "--verify",
            "--device",
            "cpu",
            "--weights",
            common::WEIGHTS,
            "--json",
        ],
    );
    let text = common::text(&out);
    assert!(out.status.success(), "{text}");
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checks[0]["device"], "cpu");
    assert_eq!(checks[0]["passed"], true, "{text}");
    assert_eq!(checks[0]["step"]["loss_diff"], 0.0);
    assert_eq!(checks[0]["bases"].as_array().unwrap().len(), 4, "{text}");

    // A weights folder without the reference files is refused before anything runs.
    let out = common::runner(
        dir.path(),
        &["devices", "--verify", "--device", "cpu", "--weights", "."],
    );
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("mobilenet_v2_1.0_224/reference_io.safetensors does not exist"),
        "{text}"
    );
}

/// On a machine without the NVIDIA driver (CI's), a CUDA build refuses `--device cuda` with
/// what is missing, before a run folder is made, and `runner devices` says why.
#[cfg(feature = "cuda")]
#[test]
fn cuda_without_a_driver_is_refused_before_a_run_folder_exists() {
    let missing = runner::device::cuda::probe();
    if !matches!(missing.driver, runner::device::cuda::Driver::Missing) {
        return; // a machine with the driver: ci/gpu-check.sh covers it
    }
    let dir = tiny_project();
    let out = common::runner(dir.path(), &["run", "spec.yaml", "--device", "cuda"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("device `cuda:0` is not usable here"),
        "{text}"
    );
    assert!(text.contains("libcuda.so.1"), "{text}");
    assert!(text.contains("install its driver"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(!dir.path().join("runs").exists(), "no run folder");

    let out = common::runner(dir.path(), &["devices"]);
    let text = common::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("driver: not installed"), "{text}");
    assert!(text.contains("libdevice: "), "{text}");
}

/// The backends besides flex, compared with flex (`runner::verify`, which
/// `runner devices --verify` runs on a user's machine).
#[cfg(any(feature = "wgpu", feature = "tch", feature = "cuda"))]
mod parity {
    use burn::tensor::Device;
    use runner::device::DeviceChoice;
    use runner::verify;
    use std::path::Path;

    #[test]
    fn a_training_step_matches_flex_on_every_backend() {
        for (choice, device) in other_devices() {
            let step = verify::check_step(&device).unwrap_or_else(|e| panic!("{choice}: {e}"));
            println!(
                "{choice}: loss {} (flex {}), relative diff {:.1e}; largest difference {:.1e} ({}), largest update difference {:.1e} ({})",
                step.loss,
                step.flex_loss,
                step.loss_diff,
                step.worst_value.1,
                step.worst_value.0,
                step.worst_update.1,
                step.worst_update.0
            );
            assert!(step.problems.is_empty(), "{choice}: {:?}", step.problems);
        }
    }

    #[test]
    fn the_pretrained_bases_give_their_reference_features_on_every_backend() {
        let weights = Path::new(super::common::WEIGHTS);
        for (choice, device) in other_devices() {
            for base in &verify::BASES {
                let check = verify::check_base(&device, weights, base)
                    .unwrap_or_else(|e| panic!("{choice}: {e}"));
                println!(
                    "{choice}: {}: features max abs diff {:.2e} ({:.1}s)",
                    check.base, check.max_abs_diff, check.seconds
                );
                assert!(check.problems.is_empty(), "{choice}: {:?}", check.problems);
            }
        }
    }

    /// The backends compiled into this build besides flex, opened (a panic names what to install
    /// when one cannot open here).
    fn other_devices() -> Vec<(DeviceChoice, Device)> {
        let mut choices = Vec::new();
        if cfg!(feature = "wgpu") {
            choices.push(DeviceChoice::Wgpu(None));
        }
        // CUDA only where there is a GPU (ci/gpu-check.sh runs `runner devices --verify`).
        if cfg!(feature = "cuda") && runner::device::open(DeviceChoice::Cuda(0)).is_ok() {
            choices.push(DeviceChoice::Cuda(0));
        }
        if cfg!(feature = "tch") {
            choices.push(DeviceChoice::TchCpu);
            if runner::device::open(DeviceChoice::TchCuda(0)).is_ok() {
                choices.push(DeviceChoice::TchCuda(0));
            }
        }
        choices
            .into_iter()
            .map(|choice| {
                let opened = runner::device::open(choice).unwrap_or_else(|e| panic!("{e}"));
                println!("{choice}: {:?}", opened.info);
                (choice, opened.device)
            })
            .collect()
    }
}
