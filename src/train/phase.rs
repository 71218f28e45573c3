//! Applies a phase to the model: which layers train, and whether trainable batch-norm layers
//! use batch statistics (`train`) or keep their running statistics (`inference`).
//! Frozen layers get Burn's `freeze()` (no gradients, batch norm and dropout in inference mode,
//! as Keras' `trainable = False`).

use crate::model::{GraphModel, Layer};
use crate::plan::PhasePlan;
use crate::spec::train::BatchNormMode;
use burn::module::{Module, Param};

/// Returns `model` with the trainable set and batch-norm mode of `phase`.
pub fn apply(model: GraphModel, phase: &PhasePlan) -> GraphModel {
    let mut model = model;
    let nodes = model.graph().nodes.len();
    for node in 0..nodes {
        let Some(index) = model.layer_of(node) else {
            continue;
        };
        let layer = std::mem::replace(&mut model.layers[index], placeholder());
        model.layers[index] = if phase.trainable[node] {
            match layer.unfreeze() {
                Layer::BatchNorm(mut bn) if phase.spec.batchnorm == BatchNormMode::Inference => {
                    bn.training = Param::from_bool(false);
                    Layer::BatchNorm(bn)
                }
                other => other,
            }
        } else {
            layer.freeze()
        };
    }
    model
}

/// A stateless stand-in while a layer is moved out and back.
fn placeholder() -> Layer {
    Layer::Dropout(burn::nn::DropoutConfig::new(0.0).init())
}
