//! Every kind of bad spec gives exactly one located error (or a warning) with the expected
//! wording, through the real `runner validate` binary and its exit codes.

use rstest::rstest;
use std::path::Path;
use std::process::{Command, Output};

/// A valid spec; cases replace one piece of it. Line numbers in the cases are those of this text.
const BASE: &str = "\
name: t
data:
  root: DATA
  image_size: [32, 32]
  label_mode: binary
model:
  nodes:
    - {name: image, op: input, shape: [32, 32, 3]}
    - {name: conv, op: conv2d, input: image, filters: 8, kernel_size: 3, padding: same}
    - {name: pool, op: global_avg_pool, input: conv}
    - {name: drop, op: dropout, input: pool, rate: 0.2}
    - {name: logits, op: dense, input: drop, units: 1}
  outputs: [logits]
loss: {binary_crossentropy: {from_logits: true}}
phases:
  - name: train
    epochs: 2
    freeze: [conv]
    optimizer: {adam: {lr: 0.001}}
";

fn validate(dir: &Path, text: &[u8]) -> Output {
    let spec = dir.join("spec.yaml");
    std::fs::write(&spec, text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_runner"))
        .arg("validate")
        .arg(&spec)
        .output()
        .unwrap()
}

fn spec_with(dir: &Path, from: &str, to: &str) -> String {
    assert!(
        BASE.contains(from),
        "test bug: `{from}` not in the base spec"
    );
    BASE.replace("DATA", dir.to_str().unwrap())
        .replace(from, to)
}

fn errors_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn base_spec_is_valid_and_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(dir.path(), spec_with(dir.path(), "", "").as_bytes());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", errors_of(&out));
    assert!(
        stdout.contains("conv    conv2d           image   (32, 32, 8)      224  frozen"),
        "{stdout}"
    );
    assert!(
        stdout.contains("logits  dense            drop    (1,)               9  yes"),
        "{stdout}"
    );
    assert!(stdout.contains("Total params: 233"), "{stdout}");
    assert!(
        stdout.contains("Phase `train` trainable params: 9"),
        "{stdout}"
    );
}

#[rstest]
#[case::unknown_key(
    "rate: 0.2}",
    "rate: 0.2, rtae: 0.1}",
    "11:57",
    "unknown key `rtae`",
    "did you mean `rate`?"
)]
#[case::misspelt_required_key(
    "rate: 0.2}",
    "rtae: 0.2}",
    "11:46",
    "unknown key `rtae`",
    "did you mean `rate`?"
)]
#[case::unknown_op(
    "op: dropout",
    "op: dropuot",
    "11:24",
    "unknown op `dropuot`",
    "did you mean `dropout`?"
)]
#[case::wrong_type(
    "epochs: 2",
    "epochs: ten",
    "17:13",
    "wrong type for `epochs`: expected a whole number, found `ten`",
    "expected a whole number"
)]
#[case::dropout_out_of_range(
    "rate: 0.2",
    "rate: 1.5",
    "11:52",
    "`rate` must be < 1, found 1.5",
    "expected a value < 1"
)]
#[case::negative_lr(
    "lr: 0.001",
    "lr: -0.001",
    "19:28",
    "`lr` must be > 0, found -0.001",
    "expected a value > 0"
)]
#[case::zero_epochs(
    "epochs: 2",
    "epochs: 0",
    "17:13",
    "`epochs` must be >= 1, found 0",
    "expected a value >= 1"
)]
#[case::zero_kernel(
    "kernel_size: 3",
    "kernel_size: 0",
    "9:71",
    "`kernel_size` must be >= 1, found 0",
    "expected a value >= 1"
)]
#[case::unknown_optimizer(
    "adam: {lr",
    "adm: {lr",
    "19:17",
    "unknown `optimizer` kind `adm`",
    "did you mean `adam`?"
)]
#[case::unknown_input(
    "input: image, filters",
    "input: imgae, filters",
    "9:39",
    "`conv` reads `imgae`, but no node has that name",
    "did you mean `image`?"
)]
#[case::duplicate_node(
    "    - {name: drop,",
    "    - {name: pool, op: global_max_pool, input: conv}\n    - {name: drop,",
    "11:14",
    "duplicate node name `pool`",
    "give every node a unique name"
)]
#[case::cycle(
    "input: image, filters",
    "input: logits, filters",
    "9:14",
    "the graph has a cycle: conv -> pool -> drop -> logits -> conv",
    "must not loop"
)]
#[case::add_shape_mismatch(
    "    - {name: pool, op: global_avg_pool, input: conv}",
    "    - {name: sum, op: add, inputs: [conv, image]}\n    - {name: pool, op: global_avg_pool, input: sum}",
    "10:36",
    "`sum` (add) needs inputs of one shape, but got (32, 32, 8) and (32, 32, 3)",
    "element-wise ops need equal shapes"
)]
#[case::concatenate_mismatch(
    "    - {name: pool, op: global_avg_pool, input: conv}",
    "    - {name: half, op: max_pool, input: conv, pool_size: 2}\n    - {name: cat, op: concatenate, inputs: [conv, half]}\n    - {name: pool, op: global_avg_pool, input: cat}",
    "11:44",
    "`cat` (concatenate) cannot join (32, 32, 8) and (16, 16, 8) along axis -1",
    "equal sizes on every axis but `axis`"
)]
#[case::dense_after_image(
    "input: drop, units",
    "input: conv, units",
    "12:40",
    "`logits` (dense) needs a vector, but its input is an image (32, 32, 8)",
    "add a `global_avg_pool` or `flatten` node"
)]
#[case::unknown_freeze_selector(
    "freeze: [conv]",
    "freeze: [cnov]",
    "18:14",
    "`freeze` selector `cnov` names no node",
    "did you mean `conv`?"
)]
#[case::duplicate_yaml_key(
    "    epochs: 2\n",
    "    epochs: 2\n    epochs: 3\n",
    "18:5",
    "duplicate key `epochs`",
    "remove one of the two entries"
)]
#[case::not_yaml(
    "  image_size: [32, 32]",
    "  image_size: [32, 32",
    "5:13",
    "this is not valid YAML",
    "the YAML parser stopped here"
)]
#[case::binary_loss_with_categorical_labels(
    "  label_mode: binary\n",
    "",
    "13:1",
    "`binary_crossentropy` needs `data.label_mode: binary`",
    "add `label_mode: binary` under `data:`"
)]
#[case::binary_loss_with_many_outputs(
    "input: drop, units: 1",
    "input: drop, units: 3",
    "14:1",
    "`binary_crossentropy` needs one output unit, but `logits` gives (3,)",
    "end the model with `op: dense, units: 1`"
)]
#[case::monitor_not_computed(
    "    optimizer: {adam: {lr: 0.001}}\n",
    "    optimizer: {adam: {lr: 0.001}}\n    early_stopping: {monitor: validation/auc}\n",
    "20:31",
    "`validation/auc` is not computed: the spec's `metrics` are accuracy",
    "add `auc` to `metrics`"
)]
#[case::monitor_misspelt(
    "    optimizer: {adam: {lr: 0.001}}\n",
    "    optimizer: {adam: {lr: 0.001}}\n    early_stopping: {monitor: val_acc}\n",
    "20:31",
    "`monitor` must look like `split/metric`, e.g. `validation/accuracy`, found `val_acc`",
    "the split is `train` or `validation`"
)]
#[case::carry_in_first_phase(
    "    optimizer: {adam: {lr: 0.001}}\n",
    "    optimizer: {adam: {lr: 0.001}}\n    optimizer_state: carry\n",
    "20:22",
    "the first phase has no optimizer state to carry over",
    "use `optimizer_state: reset`"
)]
fn bad_spec_gives_one_located_error(
    #[case] from: &str,
    #[case] to: &str,
    #[case] location: &str,
    #[case] message: &str,
    #[case] help: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(dir.path(), spec_with(dir.path(), from, to).as_bytes());
    let stderr = errors_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let spec = dir.path().join("spec.yaml");
    let header = format!("error: {}:{location}: {message}", spec.display());
    assert!(
        stderr.contains(&header),
        "expected `{header}` in:\n{stderr}"
    );
    assert!(stderr.contains(help), "expected `{help}` in:\n{stderr}");
    assert!(
        !stderr.contains("warning:"),
        "no warnings next to an error:\n{stderr}"
    );
    assert_eq!(
        stderr.matches("error:").count(),
        1,
        "exactly one error expected:\n{stderr}"
    );
    // The offending line is shown with a marker under it.
    let line: usize = location.split(':').next().unwrap().parse().unwrap();
    let shown = stderr
        .lines()
        .any(|l| l.starts_with(&format!("{line:>2} |")) || l.starts_with(&format!("{line} |")));
    assert!(shown, "line {line} not shown:\n{stderr}");
    assert!(stderr.contains('^'), "no marker:\n{stderr}");
}

#[test]
fn node_not_feeding_an_output_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "    - {name: logits, op: dense, input: drop, units: 1}\n    - {name: extra, op: dense, input: pool, units: 3}";
    let out = validate(
        dir.path(),
        spec_with(
            dir.path(),
            "    - {name: logits, op: dense, input: drop, units: 1}",
            extra,
        )
        .as_bytes(),
    );
    let stderr = errors_of(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(":13:14: node `extra` does not feed any output and will not be built"),
        "{stderr}"
    );
    assert!(stderr.contains("warning"), "{stderr}");
}

#[test]
fn missing_data_folder_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE.replace("DATA", "no/such/folder");
    let out = validate(dir.path(), text.as_bytes());
    let stderr = errors_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(":3:9: the data folder"), "{stderr}");
    assert!(stderr.contains("--set data.root=PATH"), "{stderr}");
}

#[test]
fn missing_weights_file_is_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.yaml"),
        "nodes:\n  - {name: in, op: input, shape: [null, null, 3]}\n  - {name: c, op: conv2d, input: in, filters: 4, kernel_size: 1}\noutputs: [c]\n",
    )
    .unwrap();
    let base = "    - {name: base, op: pretrained, input: conv, graph: base.yaml, weights: nope.safetensors}\n    - {name: pool, op: global_avg_pool, input: base}";
    let out = validate(
        dir.path(),
        spec_with(
            dir.path(),
            "    - {name: pool, op: global_avg_pool, input: conv}",
            base,
        )
        .as_bytes(),
    );
    let stderr = errors_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(":10:76: the weights file"), "{stderr}");
    assert!(
        stderr.contains("nope.safetensors` does not exist"),
        "{stderr}"
    );
}

#[rstest]
#[case::empty(b"".to_vec(), "the file is empty")]
#[case::only_comments(b"# nothing here\n".to_vec(), "the file is empty")]
#[case::binary(vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F'], "the file is not UTF-8 text")]
#[case::not_a_mapping(b"- a\n- b\n".to_vec(), "a spec must be a YAML mapping of settings")]
#[case::huge(vec![b'#'; 5 << 20], "specs are limited to")]
#[case::deep(format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100)).into_bytes(), "nested more than 64 levels deep")]
#[case::alias_bomb(alias_bomb().into_bytes(), "more than 200000 values")]
fn unusable_files_fail_cleanly(#[case] text: Vec<u8>, #[case] message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(dir.path(), &text);
    let stderr = errors_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(message),
        "expected `{message}` in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// "Billion laughs": each alias level multiplies the size by ten.
fn alias_bomb() -> String {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![p; 10].join(", ")));
    }
    text
}

#[test]
fn missing_spec_file_is_an_error_not_a_panic() {
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["validate", "does/not/exist.yaml"])
        .output()
        .unwrap();
    let stderr = errors_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read the spec"), "{stderr}");
}

#[test]
fn set_overrides_a_value_and_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, spec_with(dir.path(), "", "")).unwrap();
    let run = |set: &str| {
        Command::new(env!("CARGO_BIN_EXE_runner"))
            .args(["validate", "--set", set])
            .arg(&spec)
            .output()
            .unwrap()
    };
    let ok = run("model.nodes.drop.rate=0.5");
    assert!(ok.status.success(), "{}", errors_of(&ok));
    let bad = run("model.nodes.drop.rate=2");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        errors_of(&bad).contains("`rate` must be < 1, found 2"),
        "{}",
        errors_of(&bad)
    );
}
