//! A planning-time estimate of the memory training needs, checked against the machine's, so
//! that a layer or image size that cannot fit is refused with a located error before anything
//! is allocated (instead of the process aborting with "memory allocation failed" mid-run).
//!
//! The estimate is a lower bound, kept simple: 16 bytes per parameter (f32 weights, gradients
//! and two optimizer moments) plus 4 bytes per value every node outputs for a whole batch (kept
//! for the backward pass). The decoded-image cache (images x height x width x 3 bytes) is
//! checked by the data loader, which knows the image count, with
//! [`crate::machine::check_fits`].

use super::graph::{Graph, Node};
use super::{Sources, build, located};
use crate::machine::{check_fits, human};
use crate::spec::LoadedSpec;
use crate::spec::diagnostic::Diagnostic;

/// Bytes per parameter: weights, gradients and two optimizer moments, all f32.
const BYTES_PER_PARAM: f64 = 16.0;
/// Bytes per activation value kept for the backward pass (f32).
const BYTES_PER_VALUE: f64 = 4.0;

/// Values a node outputs for one image.
fn values(node: &Node) -> f64 {
    node.shape.elements() as f64
}

/// Refuses a model whose parameters and activations cannot fit in memory, located at the
/// largest layer when parameters dominate, else at `data.batch_size`.
pub(super) fn validate(
    loaded: &LoadedSpec,
    graph: &Graph,
    sources: &Sources,
    found: &mut build::Found,
) {
    let params: f64 = graph.nodes.iter().map(|n| n.op.param_count() as f64).sum();
    let batch = loaded.spec.data.batch_size as f64;
    let activations: f64 = graph.nodes.iter().map(values).sum::<f64>() * batch;
    let (param_bytes, activation_bytes) = (params * BYTES_PER_PARAM, activations * BYTES_PER_VALUE);
    let Some(largest) = graph.nodes.iter().max_by_key(|n| n.op.param_count()) else {
        return;
    };
    let parts = format!(
        "{params:.0} parameters: {} with gradients and optimizer state; activations of a \
         batch of {batch} images: {}",
        human(param_bytes),
        human(activation_bytes)
    );
    let (pointer, reduce) = if param_bytes >= activation_bytes {
        // A pretrained base's layers are located at the base's node.
        let name = largest
            .base
            .as_ref()
            .map_or(&largest.name, |(base, _)| base);
        let index = loaded
            .spec
            .model
            .nodes
            .iter()
            .position(|n| n.name() == name);
        (
            index.map_or("/model".to_string(), |i| format!("/model/nodes/{i}")),
            format!(
                "make the largest layer, `{}` ({} parameters), smaller",
                largest.name,
                largest.op.param_count()
            ),
        )
    } else {
        (
            "/data/batch_size".to_string(),
            "lower `data.batch_size` or `data.image_size`, or shrink the largest images \
             early in the model (strides, pooling)"
                .to_string(),
        )
    };
    if let Err(message) = check_fits(
        &format!("training this model ({parts})"),
        param_bytes + activation_bytes,
        &reduce,
    ) {
        let d = Diagnostic::error(message, None).with_label("too large for this machine");
        found.push((0, located(sources, 0, &pointer, d, false)));
    }
}
