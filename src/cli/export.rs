//! `runner export`: a run's trained model (or a spec's model with its pretrained weights) as
//! an ONNX file or as safetensors, written atomically.

use super::{Failure, model_source};
use runner::export::{self, Format};
use runner::track::atomic::write_atomically;
use std::path::PathBuf;

/// `runner export RUN` or `runner export --spec SPEC`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run folder whose final model to write.
    #[arg(required_unless_present = "spec", conflicts_with_all = ["spec", "weights"])]
    run: Option<PathBuf>,
    /// The spec whose model to write, with its pretrained weights (no training).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Weights file for the spec's pretrained node, instead of its `weights:`.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Onnx)]
    format: Format,
    /// The file to write [default: `<experiment name>.onnx` or `.safetensors` here].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Writes the file and says what it holds.
pub fn run(o: &Args) -> Result<(), Failure> {
    // Exporting only reads parameters: the CPU is always there.
    let cpu = Some(runner::device::DeviceChoice::Cpu);
    let (plan, model, _) = match (&o.run, &o.spec) {
        (Some(run_dir), _) => model_source::from_run(run_dir, cpu)?,
        (None, Some(spec)) => model_source::from_spec(spec, o.weights.as_deref(), cpu)?,
        (None, None) => return Err(Failure::Other("give a run folder or --spec SPEC".into())),
    };
    let name = &plan.spec.spec.name;
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.{}", o.format.extension())));
    let bytes = export::to_bytes(&model, name, o.format).map_err(Failure::Other)?;
    write_atomically(&out, &bytes)
        .map_err(|e| Failure::Other(format!("cannot write `{}`: {e}", out.display())))?;
    let graph = &plan.graph;
    let [h, w] = model_source::input_size(&plan);
    let outputs = graph.nodes[graph.outputs[0]].shape.elements();
    println!(
        "wrote {} ({:.1} MB, {}): input `{}` [N, 3, {h}, {w}] float32 RGB pixels 0..255, \
         output [N, {outputs}]",
        out.display(),
        bytes.len() as f64 / 1e6,
        match o.format {
            Format::Onnx => format!("ONNX opset {}", export::onnx::OPSET),
            Format::Safetensors => "safetensors".into(),
        },
        graph.nodes[graph.input].name,
    );
    Ok(())
}
