//! Writes a model's parameters as safetensors, named like the weight files it loads:
//! `<node>.weight`, `<node>.bias`, batch norm `.running_mean` / `.running_var`, dense weights
//! `[out, in]` (PyTorch layout), so a trained model can be a `pretrained` base later.

use super::{GraphModel, Layer};
use burn::tensor::Tensor;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::BTreeMap;

/// A parameter or batch-norm statistic: its shape and values.
pub type NamedTensor = (Vec<usize>, Vec<f32>);

/// Serialises every parameter of `model` to safetensors bytes.
pub fn to_safetensors(model: &GraphModel) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = named_tensors(model)
        .into_iter()
        .map(|(name, (shape, values))| {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, shape, bytes)
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (name.clone(), v))
        })
        .collect::<Result<_, _>>()?;
    safetensors::serialize(views, None)
}

/// Every parameter and batch-norm statistic of `model` by file name (`<node>.weight`, ...),
/// with dense weights in `[out, in]` layout.
pub fn named_tensors(model: &GraphModel) -> BTreeMap<String, NamedTensor> {
    let mut tensors = BTreeMap::new();
    let mut put = |name: String, shape: Vec<usize>, values: Vec<f32>| {
        tensors.insert(name, (shape, values));
    };
    for (id, node) in model.graph().nodes.iter().enumerate() {
        let Some(index) = model.layer_of(id) else {
            continue;
        };
        let name = &node.name;
        match &model.layers[index] {
            Layer::Conv(conv) => {
                put(
                    format!("{name}.weight"),
                    conv.weight.val().dims().to_vec(),
                    values(conv.weight.val()),
                );
                if let Some(bias) = &conv.bias {
                    put(
                        format!("{name}.bias"),
                        bias.val().dims().to_vec(),
                        values(bias.val()),
                    );
                }
            }
            Layer::BatchNorm(bn) => {
                put(
                    format!("{name}.weight"),
                    bn.gamma.val().dims().to_vec(),
                    values(bn.gamma.val()),
                );
                put(
                    format!("{name}.bias"),
                    bn.beta.val().dims().to_vec(),
                    values(bn.beta.val()),
                );
                // `value_sync`: `value` lags one batch behind the last training step.
                for (stat, state) in [
                    ("running_mean", &bn.running_mean),
                    ("running_var", &bn.running_var),
                ] {
                    let value = state.value_sync();
                    put(
                        format!("{name}.{stat}"),
                        value.dims().to_vec(),
                        values(value),
                    );
                }
            }
            Layer::Dense(linear) => {
                let weight = linear.weight.val().transpose();
                put(
                    format!("{name}.weight"),
                    weight.dims().to_vec(),
                    values(weight),
                );
                if let Some(bias) = &linear.bias {
                    put(
                        format!("{name}.bias"),
                        bias.val().dims().to_vec(),
                        values(bias.val()),
                    );
                }
            }
            Layer::Dropout(_) => {}
        }
    }
    tensors
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}
