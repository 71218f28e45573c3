//! Losses on a batch of model outputs: binary and categorical cross-entropy, from logits or from
//! probabilities, in numerically stable forms.

use crate::spec::LossSpec;
use burn::tensor::{Device, Int, Tensor, TensorData, activation};

/// Mean loss of `outputs` (`[n, units]`) against class-index `labels`, as a 1-element tensor.
pub fn loss(spec: &LossSpec, outputs: Tensor<2>, labels: &[u32], device: &Device) -> Tensor<1> {
    let n = labels.len();
    match spec {
        LossSpec::BinaryCrossentropy(b) => {
            let y = Tensor::<2>::from_data(
                TensorData::new(labels.iter().map(|l| *l as f32).collect::<Vec<_>>(), [n, 1]),
                device,
            );
            let per_example = if b.from_logits {
                // max(x, 0) - x*y + log(1 + exp(-|x|))
                let x = outputs;
                x.clone().clamp_min(0.0) - x.clone() * y + (x.abs().neg().exp() + 1.0).log()
            } else {
                let p = outputs.clamp(1e-7, 1.0 - 1e-7);
                (y.clone() * p.clone().log() + (y.neg() + 1.0) * (p.neg() + 1.0).log()).neg()
            };
            per_example.mean()
        }
        LossSpec::CategoricalCrossentropy(c) => {
            let [_, classes] = outputs.dims();
            let log_p = if c.from_logits {
                activation::log_softmax(outputs, 1)
            } else {
                outputs.clamp(1e-7, 1.0).log()
            };
            let indices = Tensor::<1, Int>::from_data(
                TensorData::new(labels.iter().map(|l| *l as i64).collect::<Vec<_>>(), [n]),
                device,
            );
            let one_hot: Tensor<2> = indices.one_hot(classes).float();
            let smoothing = c.label_smoothing;
            let target = one_hot * (1.0 - smoothing) + smoothing / classes as f64;
            (target * log_p).sum_dim(1).mean().neg()
        }
    }
}
