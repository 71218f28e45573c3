//! Writes event files with every kind of entry and reads them back with
//! TensorBoard's own Python readers (tests/python/read_events.py, see
//! tests/common/tensorboard.rs for the Python it needs).

mod common;

use common::tensorboard::read_back;
use runner::track::tensorboard::{EventWriter, HParamValue, SessionStatus};
use serde_json::Value;
use std::path::Path;

/// A 3-high, 5-wide image whose every pixel differs, so a transposed or
/// flipped image cannot match.
fn test_image() -> (Vec<u8>, u32, u32) {
    let (h, w) = (3u32, 5u32);
    let mut px = Vec::new();
    for y in 0..h {
        for x in 0..w {
            px.extend_from_slice(&[(y * 80) as u8, (x * 50) as u8, (10 + y * 5 + x) as u8]);
        }
    }
    (px, h, w)
}

/// Set `RUNNER_KEEP_EVENTS=<folder>` to keep the run (as `<folder>/run-<pid>`)
/// for a look with `tensorboard --logdir <folder>`.
fn keep(logdir: &Path) {
    if let Some(dest) = std::env::var_os("RUNNER_KEEP_EVENTS") {
        let dest = Path::new(&dest).join(format!("run-{}", std::process::id()));
        std::fs::create_dir_all(&dest).unwrap();
        for entry in std::fs::read_dir(logdir).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
        }
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn tensorboard_reads_back_everything() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("run-1");
    let mut w = EventWriter::new(&logdir).unwrap();

    let losses = [(0u64, 2.5f32), (10, 1.25), (20, 0.75)];
    for (step, loss) in losses {
        w.add_scalar("train/loss", loss, step).unwrap();
    }
    w.add_scalar("epoch/lr", 1e-3f64, 1).unwrap();
    let (img, h, wd) = test_image();
    w.add_image("train/augmented", &img, h, wd, 1).unwrap();
    let spec = "# Spec\n\n```yaml\nmodel: resnet18\nepochs: 3\n```\n\nUnicode: é ✓";
    w.add_text("spec", spec, 0).unwrap();
    let weights = [-1.0f32, -0.5, 0.0, 0.25, 0.5, 2.0];
    w.add_histogram("weights/fc", &weights, 2).unwrap();
    w.flush().unwrap();
    w.add_hparams(
        &[
            ("model", HParamValue::from("resnet18")),
            ("lr", HParamValue::from(0.001)),
            ("batch_size", HParamValue::from(32usize)),
            ("augment", HParamValue::from(true)),
        ],
        &[("hparams/val_accuracy", 0.875), ("hparams/val_loss", 0.5)],
        3,
    )
    .unwrap();
    drop(w);
    keep(&logdir);

    let out = read_back(&logdir);

    // The accumulator parses "brain.Event:2" into the number 2.
    assert_eq!(f(&out["file_version"]), 2.0);

    // Scalars: values and steps.
    let loss = out["scalars"]["train/loss"].as_array().unwrap();
    assert_eq!(loss.len(), losses.len());
    for (got, (step, value)) in loss.iter().zip(losses) {
        assert_eq!(got[0].as_u64().unwrap(), step);
        assert_eq!(f(&got[1]), f64::from(value));
    }
    let lr = &out["scalars"]["epoch/lr"][0];
    assert_eq!(lr[0], 1);
    assert!((f(&lr[1]) - 1e-3).abs() < 1e-9);
    assert_eq!(f(&out["scalars"]["hparams/val_accuracy"][0][1]), 0.875);
    assert_eq!(out["scalars"]["hparams/val_accuracy"][0][0], 3);

    // Image: size and every decoded pixel, in the right orientation.
    let image = &out["images"]["train/augmented"][0];
    assert_eq!(image["step"], 1);
    assert_eq!(image["width"], wd);
    assert_eq!(image["height"], h);
    let png = base64_decode(image["png_b64"].as_str().unwrap());
    let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8();
    assert_eq!((decoded.width(), decoded.height()), (wd, h));
    assert_eq!(decoded.into_raw(), img);

    // Text.
    let text = &out["text"]["spec"][0];
    assert_eq!(text["value"], spec);
    assert_eq!(text["step"], 0);

    // Histogram.
    let hist = &out["histograms"]["weights/fc"][0];
    assert_eq!(hist["step"], 2);
    assert_eq!(f(&hist["num"]), 6.0);
    assert_eq!(f(&hist["min"]), -1.0);
    assert_eq!(f(&hist["max"]), 2.0);
    assert_eq!(f(&hist["sum"]), 1.25);
    assert!((f(&hist["sum_squares"]) - 5.5625).abs() < 1e-12);
    let buckets: f64 = hist["bucket"].as_array().unwrap().iter().map(f).sum();
    assert_eq!(buckets, 6.0);
    assert_eq!(
        f(hist["bucket_limit"].as_array().unwrap().last().unwrap()),
        2.0
    );

    // HParams: experiment, session start (values), session end (status).
    let hp = &out["hparams"];
    let exp = &hp["_hparams_/experiment"];
    let mut infos: Vec<(String, String)> = exp["hparam_infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    infos.sort();
    assert_eq!(
        infos,
        [
            ("augment", "DATA_TYPE_BOOL"),
            ("batch_size", "DATA_TYPE_FLOAT64"),
            ("lr", "DATA_TYPE_FLOAT64"),
            ("model", "DATA_TYPE_STRING"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let metrics: Vec<&str> = exp["metric_infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"]["tag"].as_str().unwrap())
        .collect();
    assert_eq!(metrics, ["hparams/val_accuracy", "hparams/val_loss"]);

    let start = &hp["_hparams_/session_start_info"]["hparams"];
    assert_eq!(start["model"], "resnet18");
    assert_eq!(f(&start["lr"]), 0.001);
    assert_eq!(f(&start["batch_size"]), 32.0);
    assert_eq!(start["augment"], true);
    assert_eq!(hp["_hparams_/session_end_info"]["status"], "STATUS_SUCCESS");

    // What the TensorBoard server sees after its own data migrations.
    let server = &out["server"];
    for (tag, plugin) in [
        ("train/loss", "scalars"),
        ("epoch/lr", "scalars"),
        ("train/augmented", "images"),
        ("spec", "text"),
        ("weights/fc", "histograms"),
        ("_hparams_/experiment", "hparams"),
        ("_hparams_/session_start_info", "hparams"),
        ("_hparams_/session_end_info", "hparams"),
    ] {
        assert_eq!(server[tag]["plugin"], plugin, "tag {tag}: {}", server[tag]);
    }
    assert_eq!(server["train/loss"]["count"], 3);
}

#[test]
fn two_writers_in_one_folder_do_not_clobber_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = EventWriter::new(dir.path()).unwrap();
    let mut b = EventWriter::new(dir.path()).unwrap();
    assert_ne!(a.path(), b.path());
    a.add_scalar("a", 1.0f32, 1).unwrap();
    b.add_scalar("b", 2.0f32, 1).unwrap();
    a.add_hparams_start(&[("x", HParamValue::from(1.0))], &["a"])
        .unwrap();
    a.add_hparams_end(SessionStatus::Failure).unwrap();
    drop((a, b));
    let out = read_back(dir.path());
    assert_eq!(f(&out["scalars"]["a"][0][1]), 1.0);
    assert_eq!(f(&out["scalars"]["b"][0][1]), 2.0);
    assert_eq!(
        out["hparams"]["_hparams_/session_end_info"]["status"],
        "STATUS_FAILURE"
    );
}

#[test]
fn a_killed_writer_keeps_what_it_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::new(dir.path()).unwrap();
    w.add_scalar("loss", 1.0f32, 1).unwrap();
    w.flush().unwrap();
    // Simulate a crash mid-record: append half a record to the file.
    let path = w.path().to_owned();
    std::mem::forget(w);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[42, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
    std::fs::write(&path, bytes).unwrap();
    let out = read_back(dir.path());
    assert_eq!(out["scalars"]["loss"][0][0], 1);
    assert_eq!(f(&out["scalars"]["loss"][0][1]), 1.0);
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
