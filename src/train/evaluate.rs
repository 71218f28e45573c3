//! Inference over a split: loss, metrics and confusion matrix of a model, and the small
//! conversions between batches and tensors the training loop shares.

use super::loss;
use super::metrics::MetricAccumulator;
use crate::data::{Dataset, SplitKind};
use crate::model::GraphModel;
use crate::spec::LossSpec;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::BTreeMap;

/// Loss and metrics of `model` on a split, in inference mode (dropout off, batch-norm running
/// statistics).
pub fn evaluate(
    model: &GraphModel,
    dataset: &Dataset,
    split: SplitKind,
    loss_spec: &LossSpec,
    device: &Device,
) -> MetricAccumulator {
    let inference = model.valid();
    let mut acc = MetricAccumulator::new(dataset.num_outputs().max(2));
    for batch in dataset.batches(split, 0) {
        let output = inference.forward(images_tensor(
            &batch.images,
            batch.len,
            batch.height,
            batch.width,
            device,
        ));
        let loss = scalar(loss::loss(loss_spec, output.clone(), &batch.labels, device));
        acc.add(loss, &to_vec(output), &batch.labels);
    }
    acc
}

/// A batch of NCHW pixels as a tensor on `device`.
pub fn images_tensor(pixels: &[f32], n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(pixels.to_vec(), [n, 3, h, w]), device)
}

/// The single value of a one-element tensor (NaN if it cannot be read).
pub fn scalar(t: Tensor<1>) -> f64 {
    f64::from(
        t.into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f32::NAN),
    )
}

/// A `[n, units]` output as row-major values.
pub fn to_vec(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

/// `name value, ...` for logs.
pub fn format_metrics(values: &BTreeMap<String, f64>) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}
