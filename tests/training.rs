//! Training on tiny image folders made here: accuracy rises, frozen layers and batch-norm
//! statistics stay bit-identical, `batchnorm: inference` keeps statistics while gamma/beta
//! train, unfreezing from a layer trains exactly that layer and those after it, the run
//! folder holds what a user reads, early stopping restores the best epoch, and a run stopped
//! by Ctrl-C or `kill -9` and resumed ends exactly like an uninterrupted one.

mod common;

use common::{interrupt_after, runner_command};

use runner::track::records::Summary;
use runner::train::features::DiskCache;
use runner::train::{self, Outcome, RunOptions};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::BTreeMap;
use std::path::Path;

/// Writes `split/class/i.png`: "dark" images (pixels 0..100) and "bright" ones (150..255),
/// `per_class` training images per class and half as many for validation.
fn make_images(root: &Path, per_class: usize) {
    let mut state = 7u32;
    let mut next = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (state >> 16) as u8
    };
    for (split, count) in [("train", per_class), ("validation", per_class / 2)] {
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
fn train(dir: &Path, phases: &str) -> (std::path::PathBuf, Summary) {
    train_with(dir, phases, &options(&dir.join("runs")))
}

fn train_with(dir: &Path, phases: &str, options: &RunOptions) -> (std::path::PathBuf, Summary) {
    let path = dir.join("spec.yaml");
    std::fs::write(&path, spec(&dir.join("images"), phases)).unwrap();
    let loaded = runner::spec::load(&path, &[]).unwrap_or_else(|r| panic!("{}", r.render(false)));
    let plan =
        runner::plan::plan_offline(&loaded).unwrap_or_else(|r| panic!("{}", r[0].render(false)));
    match train::run(&plan, options).unwrap() {
        Outcome::Finished { dir, summary } => (dir, *summary),
        other => panic!("the run did not finish: {other:?}"),
    }
}

/// Runs under `runs_dir`, with the frozen-prefix cache next to it (not in the user's cache).
fn options(runs_dir: &Path) -> RunOptions {
    RunOptions {
        prefix_cache: Some(disk_cache(runs_dir, env!("RUNNER_BUILD_ID"))),
        ..RunOptions::new(runs_dir)
    }
}

fn disk_cache(runs_dir: &Path, build: &str) -> DiskCache {
    DiskCache {
        dir: runs_dir.with_file_name("frozen-cache"),
        limit_bytes: u64::MAX,
        build: build.to_string(),
    }
}

#[test]
fn stored_prefix_tables_of_another_build_are_never_read() {
    let dir = setup();
    let phases = "  - {name: head, epochs: 1, freeze: [base], optimizer: {adam: {lr: 0.05}}}\n";
    let runs = dir.path().join("runs");
    let entries =
        || std::fs::read_dir(runs.with_file_name("frozen-cache")).map_or(0, |d| d.count());
    let run_with = |build: &str| {
        let options = RunOptions {
            prefix_cache: Some(disk_cache(&runs, build)),
            again: true,
            ..options(&runs)
        };
        train_with(dir.path(), phases, &options)
    };
    let (_, first) = run_with("build-a");
    assert_eq!(entries(), 1, "the first run stores its table");
    let (_, same) = run_with("build-a");
    assert_eq!(entries(), 1, "the same build reads it");
    assert_eq!(first.final_validation, same.final_validation);
    run_with("build-b");
    assert_eq!(entries(), 2, "another build computes its own");
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
    setup_with(24)
}

fn setup_with(per_class: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_images(&dir.path().join("images"), per_class);
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
    // The head trained: validation accuracy rose from its value before training.
    let initial = summary.metric("initial/validation/accuracy").unwrap();
    let last = summary.metric("validation/accuracy").unwrap();
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
    let plan = runner::plan::plan_offline(&runner::spec::load(&path, &[]).unwrap()).unwrap();
    let again = train::run(&plan, &options(&dir.path().join("runs"))).unwrap();
    assert!(matches!(again, Outcome::AlreadyDone(d) if d == run));
}

/// Runs the two phases of a feature-extraction-then-fine-tuning spec with the frozen-prefix
/// cache on or off (its disk part in `dir/cache`), into the runs folder `runs`; the metrics
/// without timings, the final weights and the run log.
fn two_phase_run(
    dir: &Path,
    runs: &str,
    augment: bool,
    frozen_cache: bool,
    extra: &[&str],
) -> (Vec<serde_json::Value>, BTreeMap<String, Vec<u8>>, String) {
    let mut spec = spec(
        &dir.join("images"),
        "  - {name: head, epochs: 2, freeze: [base], optimizer: {adam: {lr: 0.05}}}
  - {name: tune, epochs: 2, freeze: [base], unfreeze: [base.c2..], batchnorm: inference, optimizer: {sgd: {lr: 0.01}}}
",
    );
    if augment {
        spec = spec.replace(
            "label_mode: binary}",
            "label_mode: binary, augment: [{flip: horizontal}, {rotate: 0.1}]}",
        );
    }
    std::fs::write(dir.join("spec.yaml"), spec).unwrap();
    let mut args = vec!["run", "spec.yaml", "--runs", runs];
    if !frozen_cache {
        args.push("--no-frozen-cache");
    }
    args.extend(extra);
    let out = runner_command(dir)
        .env("RUNNER_CACHE", dir.join("cache"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::fs::read_dir(dir.join(runs).join("tiny"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    (
        without_timings(metrics_lines(&run)),
        tensors(&run.join("model.safetensors")),
        std::fs::read_to_string(run.join("run.log")).unwrap(),
    )
}

#[test]
fn storing_the_frozen_prefix_changes_no_number() {
    let dir = setup();
    // A test split drawn from the validation images: which images it takes depends on the seed.
    let split = ["--set", "data.test_from_validation=0.5"];
    let (metrics, weights, log) = two_phase_run(dir.path(), "stored", false, true, &split);
    let (metrics_recomputed, weights_recomputed, log_recomputed) =
        two_phase_run(dir.path(), "recomputed", false, false, &split);
    assert_eq!(metrics, metrics_recomputed);
    assert!(weights == weights_recomputed);
    for phase in [
        "`head`: frozen prefix stored for 48 train, 12 validation, 12 test image(s) (4 value(s) of `pool` per image",
        "`tune`: frozen prefix stored for 48 train, 12 validation, 12 test image(s) (1024 value(s) of `base.c1` per image",
    ] {
        assert!(log.contains(&format!("phase {phase}")), "{log}");
    }
    assert_eq!(
        log.matches("0 table(s) read from the disk cache, 1 computed and stored")
            .count(),
        2,
        "{log}"
    );
    assert!(
        !log_recomputed.contains("frozen prefix"),
        "{log_recomputed}"
    );
    // A second run (a sweep's next trial) reads the table of each phase from the disk; so
    // does a run with another seed (other batches, another test split), since a table of
    // images no augmentation changes does not depend on it.
    let (metrics_read, weights_read, log_read) =
        two_phase_run(dir.path(), "read", false, true, &split);
    assert_eq!(metrics, metrics_read);
    assert!(weights == weights_read);
    let seed = [&split[..], &["--set", "seed=9"]].concat();
    let (metrics_seed, _, log_seed) = two_phase_run(dir.path(), "seed", false, true, &seed);
    assert_ne!(metrics, metrics_seed, "another seed trains differently");
    for log in [log_read, log_seed] {
        assert_eq!(
            log.matches("1 table(s) read from the disk cache, 0 computed and stored")
                .count(),
            2,
            "{log}"
        );
    }
}

#[test]
fn augmented_epochs_come_from_the_disk_cache_in_the_next_run_with_the_same_numbers() {
    let dir = setup();
    let (metrics, weights, _) = two_phase_run(dir.path(), "recomputed", true, false, &[]);
    let (metrics_stored, weights_stored, log) = two_phase_run(dir.path(), "first", true, true, &[]);
    assert!(
        log.contains("phase `head`: frozen prefix of augmented training images: 0 epoch(s) from the cache, 2 computed"),
        "{log}"
    );
    let (metrics_read, weights_read, log) = two_phase_run(dir.path(), "second", true, true, &[]);
    assert!(
        log.contains("phase `head`: frozen prefix of augmented training images: 2 epoch(s) from the cache, 0 computed"),
        "{log}"
    );
    assert!(
        log.contains("phase `tune`: frozen prefix of augmented training images: 2 epoch(s) from the cache, 0 computed"),
        "{log}"
    );
    assert_eq!(metrics, metrics_stored);
    assert_eq!(metrics, metrics_read);
    assert!(weights == weights_stored && weights == weights_read);

    // Other weights in the base file: no entry of the old weights is used.
    let base = dir.path().join("base.safetensors");
    let mut bytes = std::fs::read(&base).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&base, bytes).unwrap();
    let (_, _, log) = two_phase_run(dir.path(), "new-weights", true, true, &[]);
    assert!(
        log.contains("phase `head`: frozen prefix of augmented training images: 0 epoch(s) from the cache, 2 computed"),
        "{log}"
    );
    // Another image: likewise.
    let image = dir.path().join("images/train/dark/0.png");
    image::RgbImage::from_pixel(16, 16, image::Rgb([1, 2, 3]))
        .save(&image)
        .unwrap();
    let (_, _, log) = two_phase_run(dir.path(), "new-image", true, true, &[]);
    assert!(
        log.contains("phase `head`: frozen prefix of augmented training images: 0 epoch(s) from the cache, 2 computed"),
        "{log}"
    );
}

#[test]
fn bench_measures_each_phase_of_the_specs_own_model() {
    let dir = setup();
    two_phase_run(dir.path(), "runs", false, true, &[]);
    let out = run_ok(
        dir.path(),
        &["bench", "spec.yaml", "--steps", "1", "--json"],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["batch_size"], 8);
    assert_eq!(report["image_size"], serde_json::json!([16, 16]));
    let phases = report["phases"].as_array().unwrap();
    let names: Vec<&str> = phases
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["head", "tune"]);
    for phase in phases {
        assert!(
            phase["images_per_second"].as_f64().unwrap() > 0.0,
            "{phase}"
        );
        assert!(
            phase["stored_prefix_images_per_second"].as_f64().unwrap() > 0.0,
            "both phases have a frozen prefix: {phase}"
        );
    }
    assert!(report["inference_images_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["peak_memory_bytes"].as_u64().unwrap() > 1 << 20);
    let table = run_ok(dir.path(), &["bench", "spec.yaml", "--steps", "1"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("train `head`") && table.contains("inference"),
        "{table}"
    );
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
    assert_eq!(summary.epochs, 3);
}

fn metrics_lines(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn early_stopping_ends_the_phase_and_restores_its_best_epoch() {
    let dir = setup();
    // No later epoch can beat the first by 1.0, so the phase stops after 1 + patience epochs
    // and goes back to epoch 1's weights.
    let phases = r"  - name: head
    epochs: 6
    freeze: [base]
    optimizer: {adam: {lr: 0.05}}
    early_stopping: {monitor: validation/accuracy, patience: 2, min_delta: 1.0, restore_best: true}
";
    let (run, summary) = train(dir.path(), phases);
    let lines = metrics_lines(&run);
    assert_eq!(lines.len(), 3, "stopped after 3 of 6 epochs");
    assert_eq!(summary.epochs, 3);
    // No test split: the final evaluation is on validation, with epoch 1's weights.
    assert_eq!(summary.final_epoch, 1);
    assert_eq!(
        summary.metric("validation/loss"),
        lines[0]["validation"]["loss"].as_f64(),
        "the final model is the best (first) epoch's"
    );
    assert_ne!(
        lines[2]["validation"]["loss"],
        lines[0]["validation"]["loss"]
    );
}

/// A spec whose run has dropout, augmentation, two phases, a step schedule and carried
/// optimizer state: everything a resumed run must restore exactly.
const RESUMABLE: &str = r"name: resumable
seed: 11
data:
  root: images
  image_size: [16, 16]
  batch_size: 8
  label_mode: binary
  augment: [{flip: horizontal}]
model:
  nodes:
    - {name: image, op: input, shape: [16, 16, 3]}
    - {name: scale, op: rescale, input: image, scale: 0.00392156862745098}
    - {name: base, op: pretrained, input: scale, graph: base.yaml, weights: base.safetensors}
    - {name: pool, op: global_avg_pool, input: base}
    - {name: drop, op: dropout, input: pool, rate: 0.3}
    - {name: logits, op: dense, input: drop, units: 1}
  outputs: [logits]
loss: {binary_crossentropy: {from_logits: true}}
metrics: [accuracy, auc]
phases:
  - name: head
    epochs: 4
    freeze: [base]
    optimizer: {adam: {lr: 0.05}}
    schedule: {step: {every_epochs: 1, factor: 0.5}}
  - name: tune
    epochs: 4
    unfreeze: [base.c2..]
    batchnorm: inference
    optimizer: {adam: {lr: 0.01}}
    optimizer_state: carry
";

/// Runs `runner ARGS` in `dir` and checks that it succeeds.
fn run_ok(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = runner_command(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "runner {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Metrics lines without the timing fields, which differ between runs.
fn without_timings(lines: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    lines
        .into_iter()
        .map(|mut l| {
            let o = l.as_object_mut().unwrap();
            o.remove("seconds");
            o.remove("images_per_second");
            l
        })
        .collect()
}

fn only_run(runs: &Path) -> std::path::PathBuf {
    let folders: Vec<_> = std::fs::read_dir(runs.join("resumable"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    folders[0].clone()
}

#[test]
fn a_run_stopped_by_ctrl_c_or_kill_resumes_to_exactly_the_uninterrupted_result() {
    let dir = setup_with(40);
    std::fs::write(dir.path().join("spec.yaml"), RESUMABLE).unwrap();
    run_ok(
        dir.path(),
        &["run", "spec.yaml", "--runs", "straight", "--quiet"],
    );
    let straight = only_run(&dir.path().join("straight"));
    let lines = metrics_lines(&straight);
    let rates: Vec<f64> = lines
        .iter()
        .map(|l| l["learning_rate"].as_f64().unwrap())
        .collect();
    assert_eq!(
        rates,
        [0.05, 0.025, 0.0125, 0.00625, 0.01, 0.01, 0.01, 0.01]
    );

    // Ctrl-C in epoch 2 (stops after a batch inside an epoch), then kill -9 in epoch 6
    // (loses the epoch in flight), resuming after each.
    for (epoch, signal) in [(1, "-INT"), (5, "-KILL")] {
        let status = run_and_interrupt_or_resume(dir.path(), epoch, signal);
        if signal == "-INT" {
            assert_eq!(status.code(), Some(130), "Ctrl-C exits with 130");
        } else {
            assert!(!status.success());
        }
    }
    let stopped = only_run(&dir.path().join("stopped"));
    assert!(!stopped.join("summary.json").exists());
    run_ok(
        dir.path(),
        &["resume", stopped.to_str().unwrap(), "--quiet"],
    );

    assert_eq!(
        without_timings(metrics_lines(&stopped)),
        without_timings(lines),
        "every epoch's metrics equal the uninterrupted run's"
    );
    assert_eq!(
        std::fs::read(stopped.join("model.safetensors")).unwrap(),
        std::fs::read(straight.join("model.safetensors")).unwrap(),
        "the final model is bit-identical"
    );
    let summary = |run: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap()
    };
    assert_eq!(
        summary(&stopped)["final_validation"],
        summary(&straight)["final_validation"]
    );
    assert!(
        std::fs::read_to_string(stopped.join("run.log"))
            .unwrap()
            .contains("resuming")
    );

    // A finished run is not resumed again; `runner eval` re-evaluates it.
    let again = run_ok(dir.path(), &["resume", stopped.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("is a finished run"));
    let eval = run_ok(
        dir.path(),
        &["eval", stopped.to_str().unwrap(), "--split", "validation"],
    );
    let text = String::from_utf8_lossy(&eval.stdout);
    let accuracy = summary(&straight)["final_validation"]["accuracy"]
        .as_f64()
        .unwrap();
    assert!(text.contains(&format!("accuracy {accuracy:.4}")), "{text}");
    assert!(text.contains("confusion matrix"), "{text}");
    let no_test = runner_command(dir.path())
        .args(["eval", stopped.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(no_test.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_test.stderr).contains("no test split"));

    // `runner predict --run` names the classes.
    let image = dir.path().join("images/validation/bright/0.png");
    let predict = run_ok(
        dir.path(),
        &[
            "predict",
            "--run",
            stopped.to_str().unwrap(),
            image.to_str().unwrap(),
        ],
    );
    // Output: the image's path, then `  <probability>  <class>  (p(<class 1>) = <p>)`.
    let text = String::from_utf8_lossy(&predict.stdout);
    let predicted = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(1));
    assert_eq!(predicted, Some("bright"), "{text}");
}

/// The first interruption starts the run; later ones resume it.
fn run_and_interrupt_or_resume(
    dir: &Path,
    after_epoch: usize,
    signal: &str,
) -> std::process::ExitStatus {
    if dir.join("stopped").is_dir() {
        let run = only_run(&dir.join("stopped"));
        interrupt_after(dir, &["resume", run.to_str().unwrap()], after_epoch, signal)
    } else {
        interrupt_after(
            dir,
            &["run", "spec.yaml", "--runs", "stopped"],
            after_epoch,
            signal,
        )
    }
}

#[test]
fn tensorboard_reads_a_runs_scalars_images_text_histograms_and_hparams() {
    let dir = setup();
    let options = RunOptions {
        histograms: true,
        ..options(&dir.path().join("runs"))
    };
    let phases = r"  - {name: head, epochs: 2, freeze: [base], optimizer: {adam: {lr: 0.05}}}
  - {name: tune, epochs: 1, optimizer: {sgd: {lr: 0.01}}}
";
    let (run, summary) = train_with(dir.path(), phases, &options);
    let events = common::tensorboard::read_back(&run);
    let lines = metrics_lines(&run);
    let scalars = &events["scalars"];
    let validation: Vec<(u64, f64)> = scalars["validation/accuracy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    // One point per epoch with the metrics.jsonl value (f32 in the event file), plus the
    // HParams view's final value at the last epoch.
    for (epoch, line) in lines.iter().enumerate() {
        let expected = line["validation"]["accuracy"].as_f64().unwrap();
        let point = validation
            .iter()
            .find(|(s, _)| *s == epoch as u64 + 1)
            .unwrap();
        assert!((point.1 - expected).abs() < 1e-6, "{point:?} vs {expected}");
    }
    let steps = scalars["step/loss"].as_array().unwrap().len();
    assert_eq!(steps, 3 * 48 / 8, "one loss point per batch");
    for tag in [
        "train/loss",
        "train/accuracy",
        "validation/loss",
        "learning_rate",
        "images_per_second",
        "step/learning_rate",
    ] {
        assert!(scalars.get(tag).is_some(), "no scalar `{tag}`");
    }
    let image = &events["images"]["train/augmented_samples"][0];
    assert!(
        image["width"].as_u64().unwrap() > 4 * 16,
        "a grid of 16x16 samples"
    );
    let text = events["text"]["spec"][0]["value"].as_str().unwrap();
    assert!(text.contains("name: tiny"), "{text}");
    assert!(
        events["histograms"]["weights/logits.weight"]
            .as_array()
            .unwrap()
            .len()
            == 3
    );
    let start = &events["hparams"]["_hparams_/session_start_info"]["hparams"];
    assert_eq!(start["head/optimizer"], "adam");
    assert_eq!(start["tune/optimizer"], "sgd");
    assert_eq!(start["tune/learning_rate"], 0.01);
    assert_eq!(
        events["hparams"]["_hparams_/session_end_info"]["status"],
        "STATUS_SUCCESS"
    );
    assert_eq!(summary.epochs, 3);
}

#[test]
fn an_unwritable_runs_folder_is_a_clear_error() {
    let dir = setup();
    std::fs::write(dir.path().join("spec.yaml"), RESUMABLE).unwrap();
    std::fs::write(dir.path().join("not-a-folder"), "").unwrap();
    let out = runner_command(dir.path())
        .args(["run", "spec.yaml", "--runs", "not-a-folder"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: cannot write not-a-folder"),
        "{stderr}"
    );
    assert!(stderr.contains("choose another --runs DIR"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `runner run` of [`RESUMABLE`] with more epochs than any machine finishes during a test.
const LONG_RUN: [&str; 6] = [
    "run",
    "spec.yaml",
    "--runs",
    "runs",
    "--set",
    "phases.tune.epochs=1000000",
];

/// Starts `runner run spec.yaml` in `dir` with many epochs and waits until it has a
/// checkpoint: an epoch's log line comes before its checkpoint is written, so the line of
/// epoch 2 is the first that guarantees epoch 1's. Its log goes on being read in the
/// background, so the run never writes to a closed pipe.
fn start_long_run(dir: &Path) -> std::process::Child {
    use std::io::BufRead;
    let mut child = runner_command(dir)
        .args(LONG_RUN)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("epoch 2 (") {
            std::thread::spawn(move || lines.for_each(drop));
            return child;
        }
    }
    let status = child.wait().unwrap();
    panic!("the run never finished its second epoch ({status})");
}

#[test]
fn a_second_run_of_a_live_run_says_it_is_in_progress_and_resume_cleans_temp_files() {
    let dir = setup();
    std::fs::write(dir.path().join("spec.yaml"), RESUMABLE).unwrap();
    let mut first = start_long_run(dir.path());
    let second = runner_command(dir.path()).args(LONG_RUN).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    first.kill().unwrap(); // kill -9: the run keeps its last checkpoint
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("is in progress (process {}", first.id())),
        "{stderr}"
    );
    let runs = dir.path().join("runs/resumable");
    assert_eq!(
        std::fs::read_dir(&runs).unwrap().count(),
        1,
        "no duplicate run"
    );

    // A temporary file of a write that kill -9 interrupted is removed on resume.
    let run = only_run(&dir.path().join("runs"));
    let stale = run.join(".checkpoint.json.tmp.4242.0");
    std::fs::write(&stale, "half").unwrap();
    let mut resumed = runner_command(dir.path())
        .args(["resume", run.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    {
        use std::io::BufRead;
        let stderr = std::io::BufReader::new(resumed.stderr.take().unwrap());
        for line in stderr.lines() {
            let line = line.unwrap();
            log.push_str(&line);
            if line.contains("resuming") {
                break;
            }
        }
    }
    resumed.kill().unwrap();
    resumed.wait().unwrap();
    // The kill may also have cut one of the run's own writes short: at least ours is removed.
    assert!(!stale.exists(), "{log}");
    assert!(log.contains("unfinished temporary file"), "{log}");
}

#[test]
fn eval_of_a_run_whose_data_moved_says_so_without_wrong_advice() {
    let dir = setup();
    let (run, _) = train(
        dir.path(),
        "  - {name: head, epochs: 1, freeze: [base], optimizer: {adam: {lr: 0.05}}}\n",
    );
    std::fs::rename(dir.path().join("images"), dir.path().join("moved")).unwrap();
    let out = runner_command(dir.path())
        .args(["eval", run.to_str().unwrap(), "--split", "validation"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot be reopened"), "{stderr}");
    assert!(
        stderr.contains("resolved_spec.json:"),
        "located in the stored spec: {stderr}"
    );
    assert!(stderr.contains("move the files back"), "{stderr}");
    assert!(!stderr.contains("--set"), "eval takes no --set: {stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
}
