//! Weight files that do not fit fail with errors naming the tensor and node, and leave the
//! model untouched; rename rules, unused tensors and PyTorch files work.

mod common;

use common::*;
use runner::model::weights::{self, RawTensor, WeightsError, load_pretrained};
use std::collections::BTreeMap;
use std::path::Path;

const V1: &str = "mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.safetensors";

fn write_safetensors(path: &Path, tensors: &BTreeMap<String, RawTensor>) {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(k, t)| {
            let b = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (k.clone(), b, t.shape.clone())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(k, b, s)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn v1_tensors() -> BTreeMap<String, RawTensor> {
    weights::read_tensors(&shared(V1)).unwrap()
}

/// Plans MobileNetV1 0.25 with `weights` and extra pretrained-node keys; returns the error.
fn load_error(weights: &Path, extra: &str) -> (WeightsError, bool) {
    let plan = plan_with(
        &format!(
            "arch: mobilenet_v1_0.25, weights: {}{extra}",
            weights.display()
        ),
        "",
        "base",
    )
    .unwrap();
    let mut model = build(&plan);
    let before = model.clone();
    let err = load_pretrained(&mut model, &plan, &device()).unwrap_err();
    // Nothing was half-loaded: every parameter is as before.
    let same = model
        .layers
        .iter()
        .zip(&before.layers)
        .all(|(a, b)| format!("{a:?}") == format!("{b:?}") && same_values(a, b));
    (err, same)
}

fn same_values(a: &runner::model::Layer, b: &runner::model::Layer) -> bool {
    use runner::model::Layer;
    match (a, b) {
        (Layer::Conv(a), Layer::Conv(b)) => {
            a.weight.val().equal(b.weight.val()).all().into_scalar()
        }
        _ => true,
    }
}

#[test]
fn missing_tensor_is_an_error_naming_tensor_and_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = v1_tensors();
    t.remove("conv_pw_7_bn.running_var");
    let path = dir.path().join("missing.safetensors");
    write_safetensors(&path, &t);
    let (err, untouched) = load_error(&path, "");
    let msg = err.to_string();
    println!("{msg}");
    assert!(
        msg.contains(
            "missing `conv_pw_7_bn.running_var` (shape [128]) for node `base.conv_pw_7_bn`"
        ),
        "{msg}"
    );
    assert!(untouched, "a failed load must leave the model unchanged");
}

#[test]
fn wrong_shape_is_an_error_with_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = v1_tensors();
    t.insert(
        "conv_dw_3.weight".into(),
        RawTensor {
            shape: vec![32, 1, 5, 5],
            values: vec![0.0; 32 * 25],
        },
    );
    let path = dir.path().join("shape.safetensors");
    write_safetensors(&path, &t);
    let (err, untouched) = load_error(&path, "");
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.contains("`conv_dw_3.weight` for node `base.conv_dw_3` has shape [32, 1, 5, 5], expected [32, 1, 3, 3]"), "{msg}");
    assert!(untouched);
}

#[test]
fn garbage_file_is_a_format_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.safetensors");
    std::fs::write(&path, b"this is not a weights file at all, just text").unwrap();
    let (err, untouched) = load_error(&path, "");
    println!("{err}");
    assert!(matches!(err, WeightsError::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("not a usable weights file"));
    assert!(untouched);
    // A truncated safetensors file too.
    let bytes = std::fs::read(shared(V1)).unwrap();
    let path = dir.path().join("truncated.safetensors");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (err, untouched) = load_error(&path, "");
    println!("{err}");
    assert!(matches!(err, WeightsError::Format { .. }), "{err:?}");
    assert!(untouched);
}

#[test]
fn rename_rules_map_foreign_names() {
    let dir = tempfile::tempdir().unwrap();
    // A file in someone else's naming: `backbone.` prefix and `/` for `_bn.`.
    let t: BTreeMap<String, RawTensor> = v1_tensors()
        .into_iter()
        .map(|(k, v)| (format!("backbone.{}", k.replace("_bn.", "/bn.")), v))
        .collect();
    let path = dir.path().join("foreign.safetensors");
    write_safetensors(&path, &t);
    // Without rules: everything missing, and the error hints at `rename:`.
    let (err, _) = load_error(&path, "");
    assert!(err.to_string().contains("rename:"), "{err}");
    let rules = r#", rename: [{from: "^backbone\\.", to: ""}, {from: "/bn\\.", to: "_bn."}]"#;
    let plan = plan_with(
        &format!(
            "arch: mobilenet_v1_0.25, weights: {}{rules}",
            path.display()
        ),
        "",
        "base",
    )
    .unwrap();
    let mut model = build(&plan);
    let reports = load_pretrained(&mut model, &plan, &device()).unwrap();
    assert_eq!(reports[0].applied.len(), 137);
    assert!(reports[0].unused.is_empty());
}

#[test]
fn bad_rename_regex_is_reported() {
    let (err, _) = load_error(&shared(V1), r#", rename: [{from: "(", to: ""}]"#);
    assert!(matches!(err, WeightsError::Rename { .. }), "{err:?}");
}

#[test]
fn pth_loads_the_same_numbers_as_safetensors() {
    let pth = weights::read_tensors(&shared(
        "efficientnet_lite0/efficientnet-lite0-57934424.pth",
    ))
    .unwrap();
    let st = weights::read_tensors(&shared("efficientnet_lite0/efficientnet_lite0.safetensors"))
        .unwrap();
    // The .pth also holds integer `num_batches_tracked` counters, which are skipped.
    assert_eq!(pth.len(), st.len());
    assert_eq!(pth, st);
    // And through a spec.
    let plan = plan_with(
        &format!(
            "arch: efficientnet_lite0, weights: {}",
            shared("efficientnet_lite0/efficientnet-lite0-57934424.pth").display()
        ),
        "",
        "base",
    )
    .unwrap();
    let mut model = build(&plan);
    let reports = load_pretrained(&mut model, &plan, &device()).unwrap();
    assert_eq!(reports[0].applied.len(), 247);
    let logits = model
        .forward(input("efficientnet_lite0"))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let diff = max_abs_diff(
        &logits,
        &reference_tensor("efficientnet_lite0", "logits").values,
    );
    println!(".pth logits max abs diff {diff:.2e}");
    assert!(diff < 1e-3);
}

/// Keras `.h5` weights (written by h5py, as Keras writes them, from the shared Keras-layout
/// files) hold the same numbers as the safetensors files, and a base loaded from them computes
/// exactly what the base loaded from safetensors computes. MobileNetV1's classifier
/// `conv_preds` is a 1x1 convolution in Keras and a dense layer in runner: it loads too.
#[rstest::rstest]
#[case::mobilenet_v2_keras("mobilenet_v2_0.35_224_no_top", "mobilenet_v2_keras_0.35_no_top", 260)]
#[case::mobilenet_v1("mobilenet_v1_0.25_224", "mobilenet_v1_0.25", 137)]
fn keras_h5_loads_the_same_numbers_as_safetensors(
    #[case] folder: &str,
    #[case] arch: &str,
    #[case] tensors: usize,
) {
    let dir = tempfile::tempdir().unwrap();
    let safetensors = shared(&format!("{folder}/{folder}.safetensors"));
    let h5 = dir.path().join(format!("{folder}.h5"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/make_keras_h5.py");
    tensorboard::python_ok([&script, &safetensors, &h5]);
    let from_h5 = weights::read_tensors(&h5).unwrap();
    let from_safetensors = weights::read_tensors(&safetensors).unwrap();
    assert_eq!(from_h5.len(), tensors);
    for (name, expected) in &from_safetensors {
        let got = &from_h5[name];
        assert_eq!(got.values, expected.values, "{name}");
        let squeezed: Vec<usize> = got.shape.iter().copied().filter(|&d| d != 1).collect();
        assert!(
            got.shape == expected.shape || squeezed == expected.shape,
            "{name}: {:?} vs {:?}",
            got.shape,
            expected.shape
        );
    }

    let outputs = |weights: &Path| {
        let (model, report) = pretrained_model(arch, weights);
        assert_eq!(report.applied.len(), tensors, "{report}");
        model
            .forward(input(folder))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(outputs(&h5), outputs(&safetensors));
}

/// A Keras 3 `.weights.h5` file (tensors named by position) is a clear format error.
#[test]
fn keras_3_weights_file_is_a_format_error() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("model.weights.h5");
    let script = "import h5py, sys, numpy as np\n\
                  with h5py.File(sys.argv[1], 'w') as f:\n\
                  \x20   f.create_dataset('layers/Conv1/vars/0', data=np.zeros((3, 3, 3, 8), 'f4'))";
    tensorboard::python_ok([std::ffi::OsStr::new("-c"), script.as_ref(), h5.as_os_str()]);
    let err = weights::read_tensors(&h5).unwrap_err();
    assert!(matches!(err, WeightsError::Format { .. }), "{err:?}");
    assert!(err.to_string().contains("Keras 3 `.weights.h5`"), "{err}");
}

/// The original TFLite file of the shared MobileNetV2 (int8 weights, one scale per channel)
/// loads to the numbers of its dequantized safetensors copy, and the base gives the same
/// logits from either.
#[test]
fn tflite_loads_the_numbers_of_its_dequantized_copy() {
    let tflite = shared("mobilenet_v2_1.0_224/tf2_mobilenet_v2_1.0_224_ptq.tflite");
    let safetensors = shared("mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors");
    let from_tflite = weights::read_tensors(&tflite).unwrap();
    let copy = weights::read_tensors(&safetensors).unwrap();
    let names = |m: &BTreeMap<String, RawTensor>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&from_tflite), names(&copy));
    let mut worst = 0.0f32;
    for (name, expected) in &copy {
        let got = &from_tflite[name];
        let squeezed: Vec<usize> = got.shape.iter().copied().filter(|&d| d != 1).collect();
        let expected_squeezed: Vec<usize> =
            expected.shape.iter().copied().filter(|&d| d != 1).collect();
        assert_eq!(squeezed, expected_squeezed, "{name}");
        worst = worst.max(max_abs_diff(&got.values, &expected.values));
    }
    println!("largest difference to the safetensors copy: {worst:.2e}");
    assert!(worst < 1e-6, "{worst}");

    let logits = |weights: &Path| {
        let (model, report) = pretrained_model("mobilenet_v2_1.0", weights);
        assert_eq!(report.applied.len(), 106, "{report}");
        model
            .forward(input("mobilenet_v2_1.0_224"))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let diff = max_abs_diff(&logits(&tflite), &logits(&safetensors));
    println!("logits max abs diff {diff:.2e}");
    assert!(diff < 1e-4, "{diff}");
}
