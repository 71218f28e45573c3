//! Inference over a split: loss, metrics and confusion matrix of a model, and the small
//! conversions between batches and tensors the training loop shares.

use super::RunError;
use super::features::PrefixTable;
use super::loss;
use super::metrics::MetricAccumulator;
use crate::data::{Dataset, SplitKind};
use crate::model::GraphModel;
use crate::spec::LossSpec;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::BTreeMap;

/// Loss and metrics of `model` on a split, in inference mode (dropout off, batch-norm running
/// statistics). With `prefix`, the split's stored frozen-prefix values stand in for running
/// the prefix (same result, less work).
pub fn evaluate(
    model: &GraphModel,
    dataset: &Dataset,
    split: SplitKind,
    loss_spec: &LossSpec,
    device: &Device,
    prefix: Option<&PrefixTable>,
) -> Result<MetricAccumulator, RunError> {
    let inference = model.valid();
    let mut acc = MetricAccumulator::new(dataset.num_outputs().max(2));
    let mut add = |output: Tensor<2>, labels: &[u32]| -> Result<(), RunError> {
        let loss = scalar(loss::loss(loss_spec, output.clone(), labels, device))?;
        acc.add(loss, &to_vec(output)?, labels);
        Ok(())
    };
    match prefix {
        Some(table) => {
            for (ids, labels) in dataset.batch_labels(split, 0, 0) {
                add(table.forward(&inference, &ids, device), &labels)?;
            }
        }
        None => {
            for batch in dataset.batches(split, 0) {
                let images =
                    images_tensor(&batch.images, batch.len, batch.height, batch.width, device);
                add(inference.forward(images), &batch.labels)?;
            }
        }
    }
    Ok(acc)
}

/// A batch of NCHW pixels as a tensor on `device`.
pub fn images_tensor(pixels: &[f32], n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(pixels.to_vec(), [n, 3, h, w]), device)
}

/// The single value of a one-element tensor.
pub fn scalar(t: Tensor<1>) -> Result<f64, RunError> {
    to_vec(t)?
        .first()
        .map(|v| f64::from(*v))
        .ok_or_else(|| RunError::TensorRead("the loss tensor is empty".into()))
}

/// A tensor's values, row-major.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, RunError> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| RunError::TensorRead(format!("{e:?}")))
}

/// `name value, ...` for logs.
pub fn format_metrics(values: &BTreeMap<String, f64>) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}
