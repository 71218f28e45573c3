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
    let Some(missing) = [DeviceChoice::TchCpu, DeviceChoice::Wgpu(None)]
        .into_iter()
        .find(|d| !d.compiled_in())
    else {
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
        text.contains("cpu, tch-cpu, wgpu, wgpu:N, cuda, cuda:N"),
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
        ("libtorch", cfg!(feature = "tch")),
        ("wgpu", cfg!(feature = "wgpu")),
    ];
    let report = runner::device::listing::report();
    assert_eq!(report.len(), expected.len());
    for (backend, (name, compiled_in)) in report.iter().zip(expected) {
        assert_eq!(backend.backend, name);
        assert_eq!(backend.compiled_in, compiled_in, "{name}");
        assert_eq!(!backend.found.is_empty(), compiled_in, "{backend:?}");
    }
}

/// The backends besides flex, compared with flex.
#[cfg(any(feature = "wgpu", feature = "tch"))]
mod parity {
    use super::common::*;
    use burn::module::Module;
    use burn::optim::GradientsParams;
    use burn::store::ModuleRecord;
    use burn::tensor::{Bytes, Device, Tensor, TensorData};
    use runner::device::DeviceChoice;
    use runner::model::GraphModel;
    use runner::model::save::{NamedTensor, named_tensors};
    use runner::model::weights::load_pretrained;
    use runner::plan::Plan;
    use runner::train::{loss, optimizer, phase};
    use std::collections::BTreeMap;

    /// Every layer kind a transfer-learning head or base uses, on 12x12 images: convolution,
    /// batch norm (training mode: batch statistics, running statistics updated), depthwise
    /// convolution, add, max and average pooling, concatenate, global pooling, dropout (rate 0,
    /// so the result is deterministic) and dense; trained by plain SGD, so the update is the
    /// gradient itself. The convolutions before batch norm have no bias, as in Keras models:
    /// batch norm cancels a bias, so its gradient is rounding noise.
    const EVERY_OP: &str = "
    - {name: scale, op: rescale, input: image, scale: 0.0078431, offset: -1.0}
    - {name: conv, op: conv2d, input: scale, filters: 8, kernel_size: 3, strides: 2, padding: same, use_bias: false}
    - {name: bn, op: batch_norm, input: conv}
    - {name: relu, op: activation, input: bn, activation: relu6}
    - {name: dw, op: depthwise_conv2d, input: relu, kernel_size: 3, padding: same, use_bias: false}
    - {name: dw_bn, op: batch_norm, input: dw}
    - {name: sum, op: add, inputs: [relu, dw_bn]}
    - {name: max, op: max_pool, input: sum, pool_size: 2}
    - {name: avg, op: avg_pool, input: sum, pool_size: 2}
    - {name: both, op: concatenate, inputs: [max, avg]}
    - {name: gap, op: global_avg_pool, input: both}
    - {name: drop, op: dropout, input: gap, rate: 0.0}
    - {name: logits, op: dense, input: drop, units: 3}";

    const LEARNING_RATE: f64 = 0.5;

    fn every_op_plan() -> Plan {
        plan_graph(
            12,
            EVERY_OP,
            "logits",
            &format!("{{sgd: {{lr: {LEARNING_RATE}}}}}"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// What one training step gives: the loss, then every tensor of the model before and after.
    struct StepResult {
        loss: f32,
        before: BTreeMap<String, NamedTensor>,
        after: BTreeMap<String, NamedTensor>,
    }

    /// One SGD step of `plan`'s model with the weights in `weights`, on `device`.
    fn train_step(plan: &Plan, weights: &Bytes, device: &Device) -> StepResult {
        let train = device.clone().autodiff();
        let record = ModuleRecord::from_bytes(weights.clone()).unwrap();
        let model = GraphModel::new(&plan.graph, &train)
            .try_load_record(record)
            .unwrap();
        let model = phase::apply(model, &plan.phases[0]);
        let before = named_tensors(&model);
        let (batch, side) = (4, 12);
        let pixels: Vec<f32> = (0..batch * 3 * side * side)
            .map(|i| ((i * 37) % 256) as f32)
            .collect();
        let images =
            Tensor::<4>::from_data(TensorData::new(pixels, [batch, 3, side, side]), &train);
        let labels = [0, 1, 2, 1];
        let output = model.forward(images);
        let loss = loss::loss(&plan.spec.spec.loss, output, &labels, &train);
        let loss_value = loss.clone().into_data().try_to_vec::<f32>().unwrap()[0];
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let mut optim = optimizer::build(&plan.phases[0].spec.optimizer, None);
        let model = optim.step(LEARNING_RATE, model, grads);
        StepResult {
            loss: loss_value,
            before,
            after: named_tensors(&model),
        }
    }

    /// The largest difference between two tensors, relative to the larger magnitude of the
    /// reference (at least 1).
    fn relative_diff(found: &[f32], expected: &[f32]) -> f32 {
        let scale = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        max_abs_diff(found, expected) / scale
    }

    #[test]
    fn a_training_step_matches_flex_on_every_backend() {
        let plan = every_op_plan();
        let flex = Device::flex();
        let initial = GraphModel::new(&plan.graph, &flex.clone().autodiff())
            .into_record()
            .into_bytes()
            .unwrap();
        let reference = train_step(&plan, &initial, &flex);
        for (choice, device) in other_devices() {
            let found = train_step(&plan, &initial, &device);
            let loss_diff = (found.loss - reference.loss).abs() / reference.loss.abs();
            println!(
                "{choice}: loss {} (flex {}), relative diff {loss_diff:.1e}",
                found.loss, reference.loss
            );
            assert!(
                loss_diff < 1e-4,
                "{choice}: loss {} vs flex {}",
                found.loss,
                reference.loss
            );
            assert_eq!(
                found.after.keys().collect::<Vec<_>>(),
                reference.after.keys().collect::<Vec<_>>()
            );
            let mut updated = 0;
            for (name, (shape, expected)) in &reference.after {
                let (found_shape, values) = &found.after[name];
                assert_eq!(found_shape, shape, "{choice}: {name}");
                let diff = relative_diff(values, expected);
                assert!(
                    diff < 1e-4,
                    "{choice}: {name} after the step differs from flex by {diff:.1e}"
                );
                // The update (the gradient times the learning rate, or the change of a BatchNorm
                // statistic), compared on its own scale.
                let delta = |r: &StepResult| -> Vec<f32> {
                    r.after[name]
                        .1
                        .iter()
                        .zip(&r.before[name].1)
                        .map(|(a, b)| a - b)
                        .collect()
                };
                let (found_delta, expected_delta) = (delta(&found), delta(&reference));
                if expected_delta.iter().any(|d| *d != 0.0) {
                    updated += 1;
                    let diff = max_abs_diff(&found_delta, &expected_delta)
                        / expected_delta.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    println!("{choice}: {name}: update differs by {diff:.1e} of its largest value");
                    assert!(
                        diff < 1e-3,
                        "{choice}: the update of {name} differs from flex by {diff:.1e}"
                    );
                }
            }
            assert_eq!(
                updated,
                reference.after.len(),
                "{choice}: every tensor changes in the step"
            );
        }
    }

    /// `(folder, weights file, arch, node to stop at)`: each base's reference features.
    const BASES: [(&str, &str, &str, Option<&str>); 4] = [
        (
            "mobilenet_v2_1.0_224",
            "mobilenet_v2_1.0_224.safetensors",
            "mobilenet_v2_1.0",
            Some("global_avg_pool"),
        ),
        (
            "mobilenet_v2_0.35_224_no_top",
            "mobilenet_v2_0.35_224_no_top.safetensors",
            "mobilenet_v2_keras_0.35_no_top",
            None,
        ),
        (
            "mobilenet_v1_0.25_224",
            "mobilenet_v1_0.25_224.safetensors",
            "mobilenet_v1_0.25",
            Some("global_average_pooling2d"),
        ),
        (
            "efficientnet_lite0",
            "efficientnet_lite0.safetensors",
            "efficientnet_lite0",
            Some("_avg_pooling"),
        ),
    ];

    #[test]
    fn the_pretrained_bases_give_their_reference_features_on_every_backend() {
        for (choice, device) in other_devices() {
            for (folder, file, arch, pool) in BASES {
                let plan = features_plan(folder, file, arch, pool);
                let mut model = GraphModel::new(&plan.graph, &device);
                load_pretrained(&mut model, &plan, &device).expect("loads");
                let started = std::time::Instant::now();
                let input = reference_tensor(folder, "input_nchw");
                let features = model
                    .forward(Tensor::from_data(
                        TensorData::new(input.values, input.shape),
                        &device,
                    ))
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap();
                let diff = max_abs_diff(&features, &reference_tensor(folder, "features").values);
                println!(
                    "{choice}: {folder}: features max abs diff {diff:.2e} ({:?})",
                    started.elapsed()
                );
                assert!(diff < 1e-3, "{choice}: {folder}: features differ by {diff}");
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
        if cfg!(feature = "tch") {
            choices.push(DeviceChoice::TchCpu);
            // CUDA only where libtorch sees a GPU (ci/gpu-check.sh).
            if runner::device::open(DeviceChoice::Cuda(0)).is_ok() {
                choices.push(DeviceChoice::Cuda(0));
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
