//! `runner export`: ONNX files that ONNX Runtime (tests/python/run_onnx.py, installed by
//! ci/setup-python.sh) runs to runner's own outputs on real photos, for the four pretrained
//! bases and for a trained run of the tutorial's model; safetensors that load back.

mod common;

use common::*;
use runner::model::GraphModel;
use std::path::{Path, PathBuf};

/// Two cats and two dogs of the shared validation photos.
fn photos() -> Vec<PathBuf> {
    let mut photos = Vec::new();
    for class in ["cats", "dogs"] {
        let dir = shared_data().join("validation").join(class);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        photos.extend(files.into_iter().take(2));
    }
    photos
}

fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cats_and_dogs")
}

/// `model`'s outputs for `pixels` (images of `[3, h, w]`, one after the other).
fn runner_outputs(model: &GraphModel, pixels: &[f32], [h, w]: [usize; 2]) -> Vec<f32> {
    let n = pixels.len() / (3 * h * w);
    let input = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(pixels.to_vec(), [n, 3, h, w]),
        &device(),
    );
    model
        .forward(input)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

/// ONNX Runtime's outputs of the ONNX file `onnx` for `pixels`.
fn onnx_runtime_outputs(onnx: &Path, pixels: &[f32], [h, w]: [usize; 2]) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images.f32");
    let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&images, bytes).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/run_onnx.py");
    let n = pixels.len() / (3 * h * w);
    let mut args = vec![script, onnx.to_path_buf(), images];
    args.extend([n, h, w].map(|v| PathBuf::from(v.to_string())));
    let stdout = tensorboard::python_ok(args);
    let json: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    json["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
        })
        .collect()
}

/// Asserts ONNX Runtime and runner agree within 1e-4, relative to the outputs' scale.
fn assert_same_outputs(what: &str, ours: &[f32], theirs: &[f32]) {
    let scale = ours.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let diff = max_abs_diff(ours, theirs);
    println!(
        "{what}: {} outputs, max abs diff {diff:.2e} (scale {scale:.1})",
        ours.len()
    );
    assert!(diff <= 1e-4 * scale, "{what}: outputs differ by {diff}");
}

#[rstest::rstest]
#[case::mobilenet_v2_folded("mobilenet_v2_1.0_224", "mobilenet_v2_1.0")]
#[case::mobilenet_v2_keras("mobilenet_v2_0.35_224_no_top", "mobilenet_v2_keras_0.35_no_top")]
#[case::mobilenet_v1("mobilenet_v1_0.25_224", "mobilenet_v1_0.25")]
#[case::efficientnet_lite0("efficientnet_lite0", "efficientnet_lite0")]
fn onnx_of_a_pretrained_base_gives_runners_outputs(#[case] folder: &str, #[case] arch: &str) {
    let file = if folder == "efficientnet_lite0" {
        "efficientnet_lite0.safetensors".to_string()
    } else {
        format!("{folder}.safetensors")
    };
    let (model, _) = pretrained_model(arch, &shared(&format!("{folder}/{file}")));
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("base.onnx");
    std::fs::write(&onnx, runner::export::onnx::to_onnx(&model, arch)).unwrap();

    let size = [224, 224];
    let pixels: Vec<f32> = photos()
        .iter()
        .flat_map(|p| runner::data::single::center_crop(p, size).unwrap())
        .collect();
    assert_same_outputs(
        arch,
        &runner_outputs(&model, &pixels, size),
        &onnx_runtime_outputs(&onnx, &pixels, size),
    );
}

/// The tutorial's model (MobileNetV2 base, pooling, dropout, one logit), trained for a
/// feature-extraction and a fine-tuning epoch on a few shared photos, exported with
/// `runner export RUN` in both formats.
#[test]
fn onnx_of_a_trained_run_gives_runners_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (split, count) in [("train", 6), ("validation", 4)] {
        for class in ["cats", "dogs"] {
            let from = shared_data().join(split).join(class);
            let to = data.join(split).join(class);
            std::fs::create_dir_all(&to).unwrap();
            let mut files: Vec<PathBuf> = std::fs::read_dir(&from)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for file in files.into_iter().take(count) {
                std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
            }
        }
    }
    let weights = shared("mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors");
    let spec = format!(
        "name: tutorial
data: {{root: data, image_size: [160, 160], label_mode: binary, batch_size: 4, augment: [{{flip: horizontal}}]}}
model:
  nodes:
    - {{name: image, op: input, shape: [160, 160, 3]}}
    - {{name: scale, op: preprocess, input: image, preset: mobilenet_v2}}
    - {{name: base, op: pretrained, input: scale, arch: mobilenet_v2_1.0, weights: {}, output: Conv2d_18_1}}
    - {{name: pool, op: global_avg_pool, input: base}}
    - {{name: drop, op: dropout, input: pool, rate: 0.2}}
    - {{name: logits, op: dense, input: drop, units: 1}}
  outputs: [logits]
loss: {{binary_crossentropy: {{from_logits: true}}}}
phases:
  - {{name: head, epochs: 1, freeze: [base], optimizer: {{adam: {{lr: 1.0e-3}}}}}}
  - {{name: tune, epochs: 1, freeze: [base], unfreeze: [base.expanded_conv_12.depthwise..], batchnorm: inference, optimizer: {{rmsprop: {{lr: 1.0e-4}}}}}}
",
        weights.display()
    );
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    let out = runner(dir.path(), &["run", "spec.yaml", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    let run = std::fs::read_dir(dir.path().join("runs/tutorial"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    let out = runner(
        dir.path(),
        &["export", run.to_str().unwrap(), "--out", "model.onnx"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .contains("input `image` [N, 3, 160, 160] float32 RGB pixels 0..255, output [N, 1]"),
        "{}",
        text(&out)
    );
    let plan = runner::train::reopen::plan(&run).unwrap();
    let (model, _) = runner::train::reopen::model(&run, &plan, &device()).unwrap();
    let size = [160, 160];
    let pixels: Vec<f32> = photos()
        .iter()
        .flat_map(|p| {
            runner::data::single::like_training(
                p,
                size,
                plan.spec.spec.data.interpolation,
                plan.spec.spec.data.fast_decode,
            )
            .unwrap()
        })
        .collect();
    assert_same_outputs(
        "trained run",
        &runner_outputs(&model, &pixels, size),
        &onnx_runtime_outputs(&dir.path().join("model.onnx"), &pixels, size),
    );

    // safetensors: the trained parameters, readable as weights again.
    let out = runner(
        dir.path(),
        &["export", run.to_str().unwrap(), "--format", "safetensors"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let tensors =
        runner::model::weights::read_tensors(&dir.path().join("tutorial.safetensors")).unwrap();
    let trained = runner::model::save::named_tensors(&model);
    assert_eq!(tensors.len(), trained.len());
    for (name, (shape, values)) in trained {
        assert_eq!(tensors[&name].shape, shape, "{name}");
        assert_eq!(tensors[&name].values, values, "{name}");
    }
}

#[test]
fn export_without_a_run_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let out = runner(dir.path(), &["export", "runs/none"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("runs/none"), "{}", text(&out));
}
