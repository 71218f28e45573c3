//! The built-in architectures, loaded from the shared weight files, reproduce the reference
//! features and logits (`reference_io.safetensors`) on the flex backend.

mod common;

use common::*;
use rstest::rstest;
use runner::model::weights::load_pretrained;
use std::time::Instant;

/// `(folder, weights file, arch, pooled-features node or None for a no-top base, params)`
#[rstest]
#[case::mobilenet_v2_folded(
    "mobilenet_v2_1.0_224",
    "mobilenet_v2_1.0_224.safetensors",
    "mobilenet_v2_1.0",
    Some("global_avg_pool"),
    3_489_097
)]
#[case::mobilenet_v2_keras(
    "mobilenet_v2_0.35_224_no_top",
    "mobilenet_v2_0.35_224_no_top.safetensors",
    "mobilenet_v2_keras_0.35_no_top",
    None,
    410_208
)]
#[case::mobilenet_v1(
    "mobilenet_v1_0.25_224",
    "mobilenet_v1_0.25_224.safetensors",
    "mobilenet_v1_0.25",
    Some("global_average_pooling2d"),
    475_544
)]
#[case::efficientnet_lite0(
    "efficientnet_lite0",
    "efficientnet_lite0.safetensors",
    "efficientnet_lite0",
    Some("_avg_pooling"),
    4_694_024
)]
fn parity(
    #[case] folder: &str,
    #[case] file: &str,
    #[case] arch: &str,
    #[case] pool: Option<&str>,
    #[case] params: usize,
) {
    let weights = shared(&format!("{folder}/{file}"));
    let node = format!("arch: {arch}, weights: {}", weights.display());
    let plan = features_plan(folder, file, arch, pool);
    let mut model = build(&plan);
    let start = Instant::now();
    let reports = load_pretrained(&mut model, &plan, &device()).expect("loads");
    println!("{folder}: {} ({:?} in all)", reports[0], start.elapsed());
    let features = model
        .forward(input(folder))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let expected = reference_tensor(folder, "features");
    let diff = max_abs_diff(&features, &expected.values);
    println!("{folder}: features max abs diff {diff:.2e}");
    assert!(diff < 1e-3, "{folder}: features differ by {diff}");

    if pool.is_some() {
        let plan = plan_with(&node, "", "base").unwrap();
        assert_eq!(plan.graph.param_count(), params, "{arch} parameter count");
        let mut model = build(&plan);
        let reports = load_pretrained(&mut model, &plan, &device()).expect("loads");
        assert!(reports[0].unused.is_empty(), "{:?}", reports[0].unused);
        let logits = model
            .forward(input(folder))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let expected = reference_tensor(folder, "logits");
        let diff = max_abs_diff(&logits, &expected.values);
        println!("{folder}: logits max abs diff {diff:.2e}");
        assert!(diff < 1e-3, "{folder}: logits differ by {diff}");
    } else {
        assert_eq!(plan.graph.param_count(), params, "{arch} parameter count");
        assert!(reports[0].unused.is_empty());
    }
}

#[test]
fn mobilenet_v2_top1_is_egyptian_cat() {
    let folder = "mobilenet_v2_1.0_224";
    let weights = shared(&format!("{folder}/{folder}.safetensors"));
    let (model, _) = pretrained_model("mobilenet_v2_1.0", &weights);
    let logits = model
        .forward(input(folder))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let best = (0..logits.len())
        .max_by(|a, b| logits[*a].total_cmp(&logits[*b]))
        .unwrap();
    let labels =
        std::fs::read_to_string(shared("imagenet_labels/imagenet_labels_1001.txt")).unwrap();
    let label = labels.lines().nth(best).unwrap();
    println!("top-1: {best} {label}");
    assert_eq!(label, "Egyptian cat");
}

#[test]
fn cut_point_drops_the_classifier_and_reports_it_unused() {
    let folder = "mobilenet_v2_1.0_224";
    let weights = shared(&format!("{folder}/{folder}.safetensors"));
    let plan = plan_with(
        &format!(
            "arch: mobilenet_v2_1.0, weights: {}, output: Conv2d_18_1",
            weights.display()
        ),
        "    - {name: pool, op: global_avg_pool, input: base}\n    - {name: head, op: dense, input: pool, units: 2}",
        "head",
    )
    .unwrap();
    // A two-class head (categorical cross-entropy needs one unit per class).
    assert_eq!(plan.graph.param_count(), 3_489_097 - 1_282_281 + 2 * 1_281);
    let mut model = build(&plan);
    let reports = load_pretrained(&mut model, &plan, &device()).unwrap();
    assert_eq!(
        reports[0].unused,
        ["top.Conv2d_1x1_output.bias", "top.Conv2d_1x1_output.weight"]
    );
    assert_eq!(reports[0].applied.len(), 104);
}

/// The base reads the preprocess node's output, not the raw images: raw pixels through
/// `preprocess: mobilenet_v2` give the reference features.
#[test]
fn preprocess_preset_feeds_the_base() {
    let folder = "mobilenet_v2_1.0_224";
    let weights = shared(&format!("{folder}/{folder}.safetensors"));
    let nodes = format!(
        "    - {{name: scale, op: preprocess, input: image, preset: mobilenet_v2}}
    - {{name: base, op: pretrained, input: scale, arch: mobilenet_v2_1.0, weights: {}, output: global_avg_pool}}",
        weights.display()
    );
    let plan = plan_nodes(&nodes, "base").unwrap();
    let mut model = build(&plan);
    load_pretrained(&mut model, &plan, &device()).unwrap();
    // Undo the reference preprocessing to get pixels back.
    let mut pixels = reference_tensor(folder, "input_nchw");
    pixels
        .values
        .iter_mut()
        .for_each(|v| *v = (*v + 1.0) * 127.5);
    let input = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(pixels.values, pixels.shape),
        &device(),
    );
    let features = model
        .forward(input)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let diff = max_abs_diff(&features, &reference_tensor(folder, "features").values);
    println!("through preprocess: features max abs diff {diff:.2e}");
    assert!(diff < 1e-3, "{diff}");
}

#[test]
fn arch_errors_are_located_with_suggestions() {
    let err = plan_with("arch: mobilenetv2_1.0", "", "base").unwrap_err();
    println!("{err}");
    assert!(
        err.contains("unknown architecture `mobilenetv2_1.0`"),
        "{err}"
    );
    assert!(err.contains("did you mean `mobilenet_v2_1.0`"), "{err}");
    assert_eq!(
        err.matches("error:").count(),
        1,
        "one error for one mistake: {err}"
    );
    let err = plan_with("arch: efficientnet_lite0, graph: x.yaml", "", "base").unwrap_err();
    assert!(err.contains("not both"), "{err}");
    let err = plan_with("output: x", "", "base").unwrap_err();
    assert!(err.contains("needs `arch`"), "{err}");
    // Cut points name real layers, with a did-you-mean.
    let err = plan_with("arch: mobilenet_v2_1.0, output: Conv2d_18", "", "base").unwrap_err();
    assert!(err.contains("Conv2d_18_1"), "{err}");
}
