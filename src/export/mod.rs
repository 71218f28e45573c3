//! Writing a model for use outside runner: ONNX for inference engines ([`onnx`]), or
//! safetensors named like runner's weight files (a `pretrained` base of a later spec, or
//! PyTorch's `load_state_dict` after `safetensors.torch.load_file`).

pub mod onnx;

use crate::model::GraphModel;

/// A file format `runner export` writes (also its `--format` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// ONNX (opset 17): the graph and its parameters.
    Onnx,
    /// The parameters only, named and laid out like runner's weight files.
    Safetensors,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Onnx => "onnx",
            Format::Safetensors => "safetensors",
        }
    }
}

/// The bytes of `model` (with its current parameters) in `format`; `name` names the graph.
pub fn to_bytes(model: &GraphModel, name: &str, format: Format) -> Result<Vec<u8>, String> {
    match format {
        Format::Onnx => Ok(onnx::to_onnx(model, name)),
        Format::Safetensors => crate::model::save::to_safetensors(model)
            .map_err(|e| format!("cannot serialise the parameters: {e}")),
    }
}
