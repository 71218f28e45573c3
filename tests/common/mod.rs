//! Shared helpers: specs around one pretrained base, and the reference test vectors.

#![allow(dead_code)]

/// A spec of seconds on [`make_images`]' 8x8 images, with a dropout rate to sweep over
/// (`model.nodes.drop.rate`): the base spec of the sweep tests.
pub const SWEEP_SPEC: &str = "name: tiny
seed: 5
data: {root: images, image_size: [8, 8], batch_size: 8, label_mode: binary}
model:
  nodes:
    - {name: image, op: input, shape: [8, 8, 3]}
    - {name: scale, op: rescale, input: image, scale: 0.00392156862745098}
    - {name: pool, op: global_avg_pool, input: scale}
    - {name: drop, op: dropout, input: pool, rate: 0.1}
    - {name: logits, op: dense, input: drop, units: 1}
  outputs: [logits]
loss: {binary_crossentropy: {from_logits: true}}
metrics: [accuracy]
phases:
  - {name: head, epochs: 3, optimizer: {adam: {lr: 0.05}}}
";

pub mod http_server;
pub mod tensorboard;

use runner::model::GraphModel;
use runner::model::weights::{LoadReport, RawTensor, load_pretrained};
use runner::plan::Plan;
use runner::verify;
use std::path::{Path, PathBuf};

pub const WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/weights");

pub fn shared(rel: &str) -> PathBuf {
    Path::new(WEIGHTS).join(rel)
}

/// Plans a spec whose model is `input -> pretrained(arch, weights, output) [-> extra nodes]`.
/// `pretrained` holds the extra keys of the pretrained node as YAML flow entries.
pub fn plan_with(pretrained: &str, extra: &str, output: &str) -> Result<Plan, String> {
    let nodes =
        format!("    - {{name: base, op: pretrained, input: image, {pretrained}}}\n{extra}");
    plan_nodes(&nodes, output)
}

/// Plans a spec whose model is a 224x224 `image` input followed by `nodes` (YAML list lines).
pub fn plan_nodes(nodes: &str, output: &str) -> Result<Plan, String> {
    plan_graph(224, nodes, output, "{adam: {lr: 1.0e-3}}")
}

/// Plans a spec whose model is a `size`x`size` `image` input followed by `nodes` (YAML list
/// lines), with a categorical loss and one phase with `optimizer` (YAML flow); paths are
/// relative to tests/.
pub fn plan_graph(size: usize, nodes: &str, output: &str, optimizer: &str) -> Result<Plan, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    verify::plan_graph(&dir, size, nodes, output, optimizer)
}

pub fn device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}

pub fn build(plan: &Plan) -> GraphModel {
    GraphModel::new(&plan.graph, &device())
}

/// The plan whose output is base `arch`'s pooled features (its weights `folder/file` under
/// ../shared/weights): cut at node `pool`, or, for a base without top (`None`), pooled by an
/// added global average pool; one of `runner::verify::BASES`.
pub fn features_plan(folder: &str, file: &str, arch: &str, pool: Option<&str>) -> Plan {
    let base = verify::BASES
        .iter()
        .find(|b| (b.folder, b.file, b.arch, b.pool) == (folder, file, arch, pool))
        .unwrap_or_else(|| panic!("{folder} is not one of verify::BASES"));
    verify::features_plan(Path::new(WEIGHTS), base).unwrap_or_else(|e| panic!("{e}"))
}

/// Built-in base `arch` (the whole model) with `weights` loaded, and the load report.
pub fn pretrained_model(arch: &str, weights: &Path) -> (GraphModel, LoadReport) {
    let plan = plan_with(
        &format!("arch: {arch}, weights: {}", weights.display()),
        "",
        "base",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut model = build(&plan);
    let mut reports = load_pretrained(&mut model, &plan, &device()).unwrap();
    (model, reports.remove(0))
}

/// A float tensor of a reference file (which also holds a U8 image, so not via `read_tensors`).
pub fn reference_tensor(folder: &str, name: &str) -> RawTensor {
    verify::reference_tensor(&shared(&format!("{folder}/reference_io.safetensors")), name)
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn input(folder: &str) -> burn::tensor::Tensor<4> {
    let t = reference_tensor(folder, "input_nchw");
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(t.values, t.shape), &device())
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    verify::max_abs_diff(a, b)
}

/// `split/class/i.png`: dark (0..100) and bright (150..255) 8x8 images.
pub fn make_images(root: &Path) {
    let mut state = 11u32;
    let mut next = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (state >> 16) as u8
    };
    for (split, count) in [("train", 16), ("validation", 8)] {
        for (class, low) in [("bright", 150u8), ("dark", 0u8)] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count {
                let img = image::RgbImage::from_fn(8, 8, |_, _| {
                    let v = low + next() % 100;
                    image::Rgb([v, v, v])
                });
                img.save(dir.join(format!("{i}.png"))).unwrap();
            }
        }
    }
}

/// The `runner` binary, to run in `dir`.
pub fn runner_command(dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
    command.current_dir(dir).env_remove("RUNNER_LOG");
    command
}

/// Runs the `runner` binary with `args` in `dir` and waits for it.
pub fn runner(dir: &Path, args: &[&str]) -> std::process::Output {
    runner_command(dir).args(args).output().unwrap()
}

/// Starts `runner ARGS`, waits for the log line of epoch `after_epoch`, sends `signal`, and
/// returns the exit status.
pub fn interrupt_after(
    dir: &Path,
    args: &[&str],
    after_epoch: usize,
    signal: &str,
) -> std::process::ExitStatus {
    use std::io::BufRead;
    let mut child = runner_command(dir)
        .args(args)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let marker = format!("epoch {after_epoch} (");
    let mut sent = false;
    for line in stderr.lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if !sent && line.contains(&marker) {
            let status = std::process::Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            sent = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(sent, "never saw `{marker}` in:\n{log}");
    status
}

/// What a finished command printed, stdout then stderr.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
