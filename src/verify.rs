//! `runner devices --verify`: does a device compute what flex, the reference CPU backend,
//! computes? The backend parity tests (tests/backends.rs) and the check a user or a GPU
//! machine without a Rust toolchain runs (ci/gpu-check.sh) are this one code:
//! - one training step of a small graph with every layer kind (convolution, batch norm in
//!   training mode, depthwise convolution, add, max and average pooling, concatenate, global
//!   pooling, dropout, dense) by plain SGD, from the same initial weights on the device and on
//!   flex: the loss, every tensor after the step, and every update (the gradient, or the change
//!   of a batch-norm statistic) must agree;
//! - given the folder of the shared weights (`--weights`), the four pretrained bases' features
//!   of their reference input must match `reference_io.safetensors` (what TensorFlow or PyTorch
//!   computed).
//!
//! A backend that fails inside Burn (a kernel that does not compile, a lost device) panics
//! there; each check catches that and reports it as a failure of the device.

use crate::model::GraphModel;
use crate::model::save::{NamedTensor, named_tensors};
use crate::model::weights::{RawTensor, load_pretrained};
use crate::plan::{self, Plan};
use crate::train::{loss, optimizer, phase};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

/// The largest relative difference of the loss from flex's.
pub const LOSS_TOLERANCE: f32 = 1e-4;
/// The largest difference of a tensor after the step, relative to the larger magnitude of
/// flex's values (at least 1).
pub const VALUE_TOLERANCE: f32 = 1e-4;
/// The largest difference of an update, relative to the largest value of flex's update.
pub const UPDATE_TOLERANCE: f32 = 1e-3;
/// The largest absolute difference of a base's features from the reference.
pub const FEATURES_TOLERANCE: f32 = 1e-3;

/// Every layer kind a transfer-learning head or base uses, on 12x12 images. Dropout has rate 0,
/// so the step is deterministic; the convolutions before batch norm have no bias, as in Keras
/// models (batch norm cancels a bias, so its gradient would be rounding noise).
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

/// The SGD learning rate of the step: large, so that updates stand out of rounding noise.
const LEARNING_RATE: f64 = 0.5;

/// Plans a spec whose model is a `size`x`size` `image` input followed by `nodes` (YAML list
/// lines), with a categorical loss and one phase trained by `optimizer` (YAML flow); relative
/// paths are relative to `dir`, which is also the (unused) data folder.
pub fn plan_graph(
    dir: &Path,
    size: usize,
    nodes: &str,
    output: &str,
    optimizer: &str,
) -> Result<Plan, String> {
    let text = format!(
        r#"name: t
data: {{root: ., image_size: [{size}, {size}]}}
model:
  nodes:
    - {{name: image, op: input, shape: [{size}, {size}, 3]}}
{nodes}
  outputs: [{output}]
loss: {{categorical_crossentropy: {{from_logits: true}}}}
phases:
  - {{name: p, epochs: 1, optimizer: {optimizer}}}
"#
    );
    let loaded =
        crate::spec::parse(&dir.join("generated.yaml"), text, &[]).map_err(|r| r.render(false))?;
    plan::plan_offline(&loaded).map_err(|reports| {
        reports
            .iter()
            .map(|r| r.render(false))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// What one training step gives: the loss, then every tensor of the model before and after.
pub struct StepResult {
    /// The loss of the batch.
    pub loss: f32,
    /// Every tensor before the step, by name.
    pub before: BTreeMap<String, NamedTensor>,
    /// Every tensor after the step, by name.
    pub after: BTreeMap<String, NamedTensor>,
}

/// One SGD step of `plan`'s model with the weights in `weights`, on `device`.
pub fn train_step(plan: &Plan, weights: &Bytes, device: &Device) -> Result<StepResult, String> {
    let train = device.clone().autodiff();
    let record = ModuleRecord::from_bytes(weights.clone()).map_err(|e| format!("{e:?}"))?;
    let model = GraphModel::new(&plan.graph, &train)
        .try_load_record(record)
        .map_err(|e| e.to_string())?;
    let model = phase::apply(model, &plan.phases[0]);
    let before = named_tensors(&model);
    let (batch, side) = (4, 12);
    let pixels: Vec<f32> = (0..batch * 3 * side * side)
        .map(|i| ((i * 37) % 256) as f32)
        .collect();
    let images = Tensor::<4>::from_data(TensorData::new(pixels, [batch, 3, side, side]), &train);
    let labels = [0, 1, 2, 1];
    let output = model.forward(images);
    let loss = loss::loss(&plan.spec.spec.loss, output, &labels, &train);
    let loss_value = loss
        .clone()
        .try_into_data()
        .map_err(|e| format!("{e:?}"))?
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?[0];
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = optimizer::build(&plan.phases[0].spec.optimizer, None);
    let model = optim.step(LEARNING_RATE, model, grads);
    Ok(StepResult {
        loss: loss_value,
        before,
        after: named_tensors(&model),
    })
}

/// How a device's training step compares with flex's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepCheck {
    /// The device's loss.
    pub loss: f32,
    /// flex's loss.
    pub flex_loss: f32,
    /// Their difference relative to flex's.
    pub loss_diff: f32,
    /// Tensors compared.
    pub tensors: usize,
    /// The tensor after the step that differs most ([`VALUE_TOLERANCE`]'s measure), and by how
    /// much.
    pub worst_value: (String, f32),
    /// The update that differs most ([`UPDATE_TOLERANCE`]'s measure), and by how much.
    pub worst_update: (String, f32),
    /// What is out of tolerance; empty when the device agrees with flex.
    pub problems: Vec<String>,
}

/// The largest difference between two slices of the same length.
pub fn max_abs_diff(found: &[f32], expected: &[f32]) -> f32 {
    found
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Compares `found` (the device's step) with `reference` (flex's).
pub fn compare_steps(found: &StepResult, reference: &StepResult) -> StepCheck {
    let mut problems = Vec::new();
    let loss_diff = (found.loss - reference.loss).abs() / reference.loss.abs();
    if loss_diff.is_nan() || loss_diff >= LOSS_TOLERANCE {
        problems.push(format!(
            "loss {} vs flex {}: {loss_diff:.1e} relative",
            found.loss, reference.loss
        ));
    }
    let mut worst_value = (String::new(), 0.0f32);
    let mut worst_update = (String::new(), 0.0f32);
    for (name, (shape, expected)) in &reference.after {
        let Some((found_shape, values)) = found.after.get(name) else {
            problems.push(format!("{name} is missing"));
            continue;
        };
        if found_shape != shape || values.len() != expected.len() {
            problems.push(format!("{name} has shape {found_shape:?}, flex {shape:?}"));
            continue;
        }
        let scale = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(values, expected) / scale;
        if diff.is_nan() || diff >= VALUE_TOLERANCE {
            problems.push(format!("{name} after the step differs by {diff:.1e}"));
        }
        if diff > worst_value.1 {
            worst_value = (name.clone(), diff);
        }
        let delta = |r: &StepResult| -> Vec<f32> {
            r.after[name]
                .1
                .iter()
                .zip(&r.before[name].1)
                .map(|(a, b)| a - b)
                .collect()
        };
        let expected_delta = delta(reference);
        let largest = expected_delta.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if largest == 0.0 {
            problems.push(format!("{name} does not change in flex's step"));
            continue;
        }
        let diff = max_abs_diff(&delta(found), &expected_delta) / largest;
        if diff.is_nan() || diff >= UPDATE_TOLERANCE {
            problems.push(format!(
                "the update of {name} differs by {diff:.1e} of its largest value"
            ));
        }
        if diff > worst_update.1 {
            worst_update = (name.clone(), diff);
        }
    }
    StepCheck {
        loss: found.loss,
        flex_loss: reference.loss,
        loss_diff,
        tensors: reference.after.len(),
        worst_value,
        worst_update,
        problems,
    }
}

/// One training step of the every-layer graph on `device` against the same step on flex.
pub fn check_step(device: &Device) -> Result<StepCheck, String> {
    let plan = plan_graph(
        &std::env::temp_dir(),
        12,
        EVERY_OP,
        "logits",
        &format!("{{sgd: {{lr: {LEARNING_RATE}}}}}"),
    )?;
    let flex = Device::flex();
    // The same initial weights in every check, so that its figures can be compared.
    flex.seed(1);
    let initial = GraphModel::new(&plan.graph, &flex.clone().autodiff())
        .into_record()
        .into_bytes()
        .map_err(|e| format!("{e:?}"))?;
    let reference = train_step(&plan, &initial, &flex)?;
    let found = caught(|| train_step(&plan, &initial, device))?;
    Ok(compare_steps(&found, &reference))
}

/// A pretrained base and where its reference features are.
#[derive(Debug, Clone, Copy)]
pub struct Base {
    /// Its folder under the shared weights folder (holds `reference_io.safetensors`).
    pub folder: &'static str,
    /// The weights file in that folder.
    pub file: &'static str,
    /// The built-in architecture.
    pub arch: &'static str,
    /// The node of its pooled features; `None` for a base without top (a global average pool
    /// is added).
    pub pool: Option<&'static str>,
}

/// The four bases of the shared weights folder, with reference features.
pub const BASES: [Base; 4] = [
    Base {
        folder: "mobilenet_v2_1.0_224",
        file: "mobilenet_v2_1.0_224.safetensors",
        arch: "mobilenet_v2_1.0",
        pool: Some("global_avg_pool"),
    },
    Base {
        folder: "mobilenet_v2_0.35_224_no_top",
        file: "mobilenet_v2_0.35_224_no_top.safetensors",
        arch: "mobilenet_v2_keras_0.35_no_top",
        pool: None,
    },
    Base {
        folder: "mobilenet_v1_0.25_224",
        file: "mobilenet_v1_0.25_224.safetensors",
        arch: "mobilenet_v1_0.25",
        pool: Some("global_average_pooling2d"),
    },
    Base {
        folder: "efficientnet_lite0",
        file: "efficientnet_lite0.safetensors",
        arch: "efficientnet_lite0",
        pool: Some("_avg_pooling"),
    },
];

/// The plan whose output is `base`'s pooled features, its weights under `weights` (the shared
/// weights folder).
pub fn features_plan(weights: &Path, base: &Base) -> Result<Plan, String> {
    let file = weights.join(base.folder).join(base.file);
    let node = format!(
        "    - {{name: base, op: pretrained, input: image, arch: {}, weights: '{}'{}}}\n",
        base.arch,
        file.display(),
        base.pool
            .map(|pool| format!(", output: {pool}"))
            .unwrap_or_default()
    );
    let (nodes, output) = match base.pool {
        Some(_) => (node, "base"),
        None => (
            node + "    - {name: pool, op: global_avg_pool, input: base}\n",
            "pool",
        ),
    };
    plan_graph(weights, 224, &nodes, output, "{adam: {lr: 1.0e-3}}")
}

/// A float tensor of a base's `reference_io.safetensors` (which also holds a U8 image).
pub fn reference_tensor(file: &Path, name: &str) -> Result<RawTensor, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let view = st
        .tensor(name)
        .map_err(|e| format!("{}: {name}: {e}", file.display()))?;
    Ok(RawTensor {
        shape: view.shape().to_vec(),
        values: view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    })
}

/// How a base's features on a device compare with the reference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeaturesCheck {
    /// The base's folder.
    pub base: String,
    /// The largest absolute difference from the reference features.
    pub max_abs_diff: f32,
    /// The same, relative to the largest reference value.
    pub relative_diff: f32,
    /// Seconds of the forward pass (a GPU's includes compiling its kernels).
    pub seconds: f64,
    /// What is out of tolerance; empty when the features match.
    pub problems: Vec<String>,
}

/// `base`'s features of its reference input on `device` against the reference.
pub fn check_base(device: &Device, weights: &Path, base: &Base) -> Result<FeaturesCheck, String> {
    let plan = features_plan(weights, base)?;
    let reference = weights.join(base.folder).join("reference_io.safetensors");
    let input = reference_tensor(&reference, "input_nchw")?;
    let expected = reference_tensor(&reference, "features")?;
    let started = Instant::now();
    let features = caught(|| {
        let mut model = GraphModel::new(&plan.graph, device);
        load_pretrained(&mut model, &plan, device).map_err(|e| e.to_string())?;
        let input = Tensor::from_data(TensorData::new(input.values, input.shape), device);
        model
            .forward(input)
            .try_into_data()
            .map_err(|e| format!("{e:?}"))?
            .try_to_vec::<f32>()
            .map_err(|e| format!("{e:?}"))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if features.len() != expected.values.len() {
        return Err(format!(
            "{}: {} features, the reference has {}",
            base.folder,
            features.len(),
            expected.values.len()
        ));
    }
    let diff = max_abs_diff(&features, &expected.values);
    let largest = expected.values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut problems = Vec::new();
    if diff.is_nan() || diff >= FEATURES_TOLERANCE {
        problems.push(format!("features differ by {diff:.1e}"));
    }
    Ok(FeaturesCheck {
        base: base.folder.to_string(),
        max_abs_diff: diff,
        relative_diff: diff / largest.max(f32::MIN_POSITIVE),
        seconds,
        problems,
    })
}

/// Runs `check`, turning a panic inside the backend into an error.
fn caught<T>(check: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(check)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into());
        Err(format!("the backend failed: {message}"))
    })
}

/// Everything `--verify` found on one device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceCheck {
    /// The device as `--device` names it.
    pub device: String,
    /// Its Burn backend.
    pub backend: String,
    /// The hardware, where the backend names it.
    pub adapter: Option<String>,
    /// Why the device could not be checked (it does not open, or a check failed to run).
    pub error: Option<String>,
    /// The training step against flex.
    pub step: Option<StepCheck>,
    /// Each base's features against the reference (none without `--weights`).
    pub bases: Vec<FeaturesCheck>,
    /// Seconds of all the checks.
    pub seconds: f64,
    /// Whether everything ran and agreed.
    pub passed: bool,
}

/// Checks `choice`: opens it, then the training step and, with `weights`, the four bases.
pub fn verify(choice: crate::device::DeviceChoice, weights: Option<&Path>) -> DeviceCheck {
    let started = Instant::now();
    let mut check = DeviceCheck {
        device: choice.to_string(),
        backend: choice.backend().to_string(),
        adapter: None,
        error: None,
        step: None,
        bases: Vec::new(),
        seconds: 0.0,
        passed: false,
    };
    let run = |check: &mut DeviceCheck| -> Result<(), String> {
        let opened = crate::device::open(choice).map_err(|e| e.to_string())?;
        check.adapter = opened.info.adapter.clone();
        check.step = Some(check_step(&opened.device)?);
        for base in weights.iter().flat_map(|w| BASES.map(|b| (*w, b))) {
            check
                .bases
                .push(check_base(&opened.device, base.0, &base.1)?);
        }
        Ok(())
    };
    if let Err(e) = run(&mut check) {
        check.error = Some(e);
    }
    check.passed = check.error.is_none()
        && check.step.as_ref().is_some_and(|s| s.problems.is_empty())
        && check.bases.iter().all(|b| b.problems.is_empty());
    check.seconds = started.elapsed().as_secs_f64();
    check
}

/// The report of [`verify`] as the terminal shows it.
/// `bases` says whether the bases were asked for (`--weights`).
pub fn render(checks: &[DeviceCheck], bases: bool) -> String {
    let mut out = String::new();
    for check in checks {
        out.push_str(&format!(
            "{}{}: {} ({:.1}s)\n",
            check.device,
            check
                .adapter
                .as_ref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default(),
            if check.passed {
                "agrees with flex"
            } else {
                "FAILED"
            },
            check.seconds
        ));
        if let Some(step) = &check.step {
            let worst = |(name, diff): &(String, f32)| match name.as_str() {
                "" => "0".to_string(),
                name => format!("{diff:.1e} ({name})"),
            };
            out.push_str(&format!(
                "  training step: loss {:.6} (flex {:.6}, {:.1e} relative); {} tensors, largest difference {}, largest update difference {}\n",
                step.loss,
                step.flex_loss,
                step.loss_diff,
                step.tensors,
                worst(&step.worst_value),
                worst(&step.worst_update),
            ));
            for problem in &step.problems {
                out.push_str(&format!("    {problem}\n"));
            }
        }
        for base in &check.bases {
            out.push_str(&format!(
                "  {}: features max abs diff {:.1e} ({:.1e} relative), {:.1}s\n",
                base.base, base.max_abs_diff, base.relative_diff, base.seconds
            ));
            for problem in &base.problems {
                out.push_str(&format!("    {problem}\n"));
            }
        }
        if let Some(error) = &check.error {
            out.push_str(&format!("  {error}\n"));
        }
    }
    if !bases {
        out.push_str(
            "(the pretrained bases were not checked: --weights DIR names the folder of their weights and reference_io.safetensors)\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_agrees_with_itself_and_a_changed_update_is_caught() {
        let flex = Device::flex();
        let step = check_step(&flex).unwrap();
        assert!(step.problems.is_empty(), "{:?}", step.problems);
        assert_eq!(step.loss_diff, 0.0);
        assert!(step.tensors > 10, "{}", step.tensors);

        let plan = plan_graph(
            &std::env::temp_dir(),
            12,
            EVERY_OP,
            "logits",
            "{sgd: {lr: 0.5}}",
        )
        .unwrap();
        let initial = GraphModel::new(&plan.graph, &flex.clone().autodiff())
            .into_record()
            .into_bytes()
            .unwrap();
        let reference = train_step(&plan, &initial, &flex).unwrap();
        let mut wrong = train_step(&plan, &initial, &flex).unwrap();
        let (_, values) = wrong.after.get_mut("logits.weight").unwrap();
        values[0] += 0.01;
        let check = compare_steps(&wrong, &reference);
        assert_eq!(check.worst_update.0, "logits.weight");
        assert!(
            check
                .problems
                .iter()
                .any(|p| p.contains("update of logits.weight")),
            "{:?}",
            check.problems
        );
    }

    #[test]
    fn a_device_that_cannot_open_is_a_failed_check_not_a_panic() {
        let missing = [
            crate::device::DeviceChoice::Cuda(0),
            crate::device::DeviceChoice::TchCpu,
        ]
        .into_iter()
        .find(|d| !d.compiled_in());
        if let Some(device) = missing {
            let check = verify(device, None);
            assert!(!check.passed);
            assert!(check.error.unwrap().contains("--features"));
            let text = render(&[verify(device, None)], false);
            assert!(text.contains("FAILED"), "{text}");
        }
    }
}
