//! `runner export`: a run's trained model (or a spec's model with its pretrained weights) as
//! an ONNX file or as safetensors, written atomically.

use super::{Failure, model_source};
use runner::export::{self, Format};
use runner::track::atomic::write_atomically;
use std::path::{Path, PathBuf};

/// Options of `runner export`.
pub struct Options<'a> {
    /// A run folder (instead of `spec`).
    pub run: Option<&'a Path>,
    /// The spec.
    pub spec: Option<&'a Path>,
    /// Replaces the weights file of the spec's pretrained node.
    pub weights: Option<&'a Path>,
    /// The format.
    pub format: Format,
    /// The file to write; default `<experiment>.<extension>` in the current folder.
    pub out: Option<&'a Path>,
}

/// Writes the file and says what it holds.
pub fn run(o: &Options) -> Result<(), Failure> {
    // Exporting only reads parameters: the CPU is always there.
    let cpu = Some(runner::device::DeviceChoice::Cpu);
    let (plan, model, _) = match (o.run, o.spec) {
        (Some(run_dir), _) => model_source::from_run(run_dir, cpu)?,
        (None, Some(spec)) => model_source::from_spec(spec, o.weights, cpu)?,
        (None, None) => return Err(Failure::Other("give a run folder or --spec SPEC".into())),
    };
    let name = &plan.spec.spec.name;
    let out = o
        .out
        .map(Path::to_path_buf)
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
