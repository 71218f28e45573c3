//! Training on tiny image folders made here: accuracy rises, frozen layers and batch-norm
//! statistics stay bit-identical, `batchnorm: inference` keeps statistics while gamma/beta
//! train, unfreezing from a layer trains exactly that layer and those after it, and the run
//! folder holds what a user reads.

use runner::train::{self, Outcome, RunOptions};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::BTreeMap;
use std::path::Path;

/// Writes `split/class/i.png`: "dark" images (pixels 0..100) and "bright" ones (150..255).
fn make_images(root: &Path) {
    let mut state = 7u32;
    let mut next = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (state >> 16) as u8
    };
    for (split, count) in [("train", 24), ("validation", 12)] {
        for (class, low) in [("bright", 150u8), ("dark", 0u8)] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count {
                let img = image::RgbImage::from_fn(16, 16, |_, _| {
                    let v = low + next() % 100;
                    image::Rgb([v, v, v])
                });
                img.save(dir.join(format!("{i}.png"))).unwrap();
            }
        }
    }
}

/// A small "pretrained" base: c1 -> c2 -> bn -> relu -> c3, with weights in a file.
fn make_base(dir: &Path) {
    std::fs::write(
        dir.join("base.yaml"),
        "nodes:
  - {name: in, op: input, shape: [null, null, 3]}
  - {name: c1, op: conv2d, input: in, filters: 4, kernel_size: 3, padding: same, activation: relu}
  - {name: c2, op: conv2d, input: c1, filters: 4, kernel_size: 3, padding: same}
  - {name: bn, op: batch_norm, input: c2}
  - {name: act, op: activation, input: bn, activation: relu}
  - {name: c3, op: conv2d, input: act, filters: 4, kernel_size: 1}
outputs: [c3]
",
    )
    .unwrap();
    let mut value = 0.37f32;
    let mut fill = |n: usize, offset: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                value = (value * 9301.0 + 0.4929).fract();
                offset + value - 0.5
            })
            .collect()
    };
    let tensors: Vec<(&str, Vec<usize>, Vec<f32>)> = vec![
        ("c1.weight", vec![4, 3, 3, 3], fill(108, 0.0)),
        ("c1.bias", vec![4], fill(4, 0.0)),
        ("c2.weight", vec![4, 4, 3, 3], fill(144, 0.0)),
        ("c2.bias", vec![4], fill(4, 0.0)),
        ("bn.weight", vec![4], fill(4, 1.0)),
        ("bn.bias", vec![4], fill(4, 0.0)),
        ("bn.running_mean", vec![4], fill(4, 0.0)),
        ("bn.running_var", vec![4], fill(4, 1.5)),
        ("c3.weight", vec![4, 4, 1, 1], fill(16, 0.0)),
        ("c3.bias", vec![4], fill(4, 0.0)),
    ];
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s, v)| {
            (
                n.to_string(),
                s,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        dir.join("base.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
}

fn spec(root: &Path, phases: &str) -> String {
    format!(
        "name: tiny
seed: 3
data: {{root: {root}, image_size: [16, 16], batch_size: 8, label_mode: binary}}
model:
  nodes:
    - {{name: image, op: input, shape: [16, 16, 3]}}
    - {{name: scale, op: rescale, input: image, scale: 0.00392156862745098}}
    - {{name: base, op: pretrained, input: scale, graph: base.yaml, weights: base.safetensors}}
    - {{name: pool, op: global_avg_pool, input: base}}
    - {{name: logits, op: dense, input: pool, units: 1}}
  outputs: [logits]
loss: {{binary_crossentropy: {{from_logits: true}}}}
phases:
{phases}",
        root = root.display()
    )
}

/// Runs a spec written into `dir`; returns the run folder and summary.
fn train(dir: &Path, phases: &str) -> (std::path::PathBuf, serde_json::Value) {
    let path = dir.join("spec.yaml");
    std::fs::write(&path, spec(&dir.join("images"), phases)).unwrap();
    let loaded = runner::spec::load(&path, &[]).unwrap_or_else(|r| panic!("{}", r.render(false)));
    let plan = runner::plan::plan(&loaded).unwrap_or_else(|r| panic!("{}", r[0].render(false)));
    let options = RunOptions {
        runs_dir: dir.join("runs"),
        again: false,
        progress: false,
    };
    match train::run(&plan, &options).unwrap() {
        Outcome::Finished { dir, summary } => (dir, summary),
        Outcome::AlreadyDone(dir) => panic!("unexpected finished run at {}", dir.display()),
    }
}

fn tensors(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_images(&dir.path().join("images"));
    make_base(dir.path());
    dir
}

#[test]
fn frozen_base_stays_bit_identical_and_accuracy_rises() {
    let dir = setup();
    let (run, summary) = train(
        dir.path(),
        "  - {name: head, epochs: 6, freeze: [base], optimizer: {adam: {lr: 0.05}}}\n",
    );
    let before = tensors(&dir.path().join("base.safetensors"));
    let after = tensors(&run.join("model.safetensors"));
    for (name, bytes) in &before {
        assert_eq!(
            &after[&format!("base.{name}")],
            bytes,
            "frozen `base.{name}` changed"
        );
    }
    assert_ne!(after["logits.weight"], vec![0u8; 4], "the head trained");
    let initial = summary["initial_validation"]["accuracy"].as_f64().unwrap();
    let last = summary["final_validation"]["accuracy"].as_f64().unwrap();
    assert!(
        last >= 0.9 && last > initial,
        "accuracy {initial} -> {last}"
    );

    // The run folder holds what a user reads; the same spec is not run twice.
    for file in [
        "spec.yaml",
        "resolved_spec.json",
        "metrics.jsonl",
        "summary.json",
        "learning_curves.png",
        "model.safetensors",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 6);
    assert!(std::fs::read_dir(&run).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents.")
    }));
    let path = dir.path().join("spec.yaml");
    let plan = runner::plan::plan(&runner::spec::load(&path, &[]).unwrap()).unwrap();
    let options = RunOptions {
        runs_dir: dir.path().join("runs"),
        again: false,
        progress: false,
    };
    assert!(matches!(train::run(&plan, &options).unwrap(), Outcome::AlreadyDone(d) if d == run));
}

#[test]
fn fine_tuning_from_a_layer_trains_exactly_that_part_with_batchnorm_in_inference() {
    let dir = setup();
    let phases = r"  - {name: head, epochs: 1, freeze: [base], optimizer: {adam: {lr: 0.05}}}
  - {name: tune, epochs: 2, freeze: [base], unfreeze: [base.c2..], batchnorm: inference, optimizer: {sgd: {lr: 0.05, momentum: 0.9}}}
";
    let (run, summary) = train(dir.path(), phases);
    let before = tensors(&dir.path().join("base.safetensors"));
    let after = tensors(&run.join("model.safetensors"));
    let same = |name: &str| after[&format!("base.{name}")] == before[name];
    assert!(
        same("c1.weight") && same("c1.bias"),
        "c1 is before the unfreeze point and must not change"
    );
    assert!(
        same("bn.running_mean") && same("bn.running_var"),
        "batchnorm: inference keeps the statistics"
    );
    assert!(
        !same("bn.weight") && !same("bn.bias"),
        "gamma and beta train"
    );
    assert!(
        !same("c2.weight") && !same("c3.weight"),
        "layers from c2 on train"
    );
    // Epoch numbers continue across phases.
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let epochs: Vec<(u64, String)> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["epoch"].as_u64().unwrap(),
                v["phase"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        epochs,
        vec![(1, "head".into()), (2, "tune".into()), (3, "tune".into())]
    );
    assert_eq!(summary["epochs"], 3);
}
