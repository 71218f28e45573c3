//! The frozen prefix's outputs, computed once per phase instead of once per epoch.
//!
//! A phase's constant prefix (the input, preprocessing, a frozen base and the parameter-free
//! deterministic nodes after it such as global pooling; see `PhasePlan::constant`) gives an
//! image the same values in every epoch of the phase, unless augmentation changes the image.
//! So the values its frontier hands to the rest of the graph are computed once per phase: for
//! the validation images always, for the training images when the training split is not
//! augmented. Every epoch then runs only the trainable rest. Keras and PyTorch recompute a
//! frozen base every epoch.
//!
//! Exactness: the prefix runs on the inference copy of the model, as the uncached training
//! step runs it, and on the batches evaluation uses; a stored value is exactly the value the
//! prefix computes for that image, so training and evaluation take the same steps with and
//! without this cache (tests/training.rs checks the metrics bit for bit).

use super::RunError;
use super::evaluate::{images_tensor, to_vec};
use crate::data::{Dataset, SplitKind};
use crate::model::{GraphModel, Value};
use crate::plan::PhasePlan;
use crate::plan::memory::{human, total_memory};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use std::time::Instant;

/// The share of the machine's memory the stored values may take; above it the prefix runs
/// every epoch as before.
const MEMORY_SHARE: f64 = 0.25;

/// The prefix's frontier values of every image of one split.
#[derive(Debug)]
pub struct PrefixTable {
    constant: Vec<bool>,
    nodes: Vec<StoredNode>,
    /// Row of each dataset image id; `None` for images of other splits.
    row_of: Vec<Option<usize>>,
}

/// One frontier node's values, image after image.
#[derive(Debug)]
struct StoredNode {
    node: usize,
    /// Shape of one image's value (`[c, h, w]` or `[features]`).
    dims: Vec<usize>,
    values: Vec<f32>,
}

impl StoredNode {
    fn per_image(&self) -> usize {
        self.dims.iter().product()
    }
}

impl PrefixTable {
    /// Runs the prefix of `constant` over every image of `split` (as evaluation batches them,
    /// without augmentation) on `inference`, the model without autodiff.
    fn compute(
        inference: &GraphModel,
        constant: &[bool],
        dataset: &Dataset,
        split: SplitKind,
        device: &Device,
    ) -> Result<Self, RunError> {
        let mut nodes: Vec<StoredNode> = Vec::new();
        let mut row_of = Vec::new();
        let mut rows = 0;
        for batch in dataset.batches(split, 0) {
            let images = images_tensor(&batch.images, batch.len, batch.height, batch.width, device);
            let values = inference.forward_prefix(constant, images);
            if nodes.is_empty() {
                nodes = values
                    .iter()
                    .map(|(node, value)| StoredNode {
                        node: *node,
                        dims: match value {
                            Value::Image(t) => t.dims()[1..].to_vec(),
                            Value::Vector(t) => t.dims()[1..].to_vec(),
                        },
                        values: Vec::new(),
                    })
                    .collect();
            }
            for (stored, (_, value)) in nodes.iter_mut().zip(values) {
                stored.values.extend(match value {
                    Value::Image(t) => to_vec(t)?,
                    Value::Vector(t) => to_vec(t)?,
                });
            }
            for &id in &batch.ids {
                if row_of.len() <= id {
                    row_of.resize(id + 1, None);
                }
                row_of[id] = Some(rows);
                rows += 1;
            }
        }
        Ok(Self {
            constant: constant.to_vec(),
            nodes,
            row_of,
        })
    }

    /// The stored frontier values of images `ids`, as a batch on `device` (an autodiff device
    /// makes them constants of the backward graph).
    fn gather(&self, ids: &[usize], device: &Device) -> Vec<(usize, Value)> {
        self.nodes
            .iter()
            .map(|stored| {
                let per = stored.per_image();
                let mut values = Vec::with_capacity(ids.len() * per);
                for &id in ids {
                    let row = self.row_of[id].expect("a split's table holds its images");
                    values.extend_from_slice(&stored.values[row * per..(row + 1) * per]);
                }
                let mut shape = vec![ids.len()];
                shape.extend(&stored.dims);
                let data = TensorData::new(values, shape);
                let value = match stored.dims.len() {
                    3 => Value::Image(Tensor::from_data(data, device)),
                    _ => Value::Vector(Tensor::from_data(data, device)),
                };
                (stored.node, value)
            })
            .collect()
    }

    /// Runs the rest of `model` (after the prefix) for images `ids` on `device`; the first
    /// output.
    pub fn forward(&self, model: &GraphModel, ids: &[usize], device: &Device) -> Tensor<2> {
        model.forward_from_prefix(&self.constant, self.gather(ids, device))
    }

    fn bytes(&self) -> usize {
        self.nodes.iter().map(|n| n.values.len() * 4).sum()
    }
}

/// The tables of one phase: validation always, training when it is not augmented.
#[derive(Debug, Default)]
pub struct PhaseFeatures {
    /// Frontier values of the validation images.
    pub validation: Option<PrefixTable>,
    /// Frontier values of the training images.
    pub train: Option<PrefixTable>,
}

impl PhaseFeatures {
    /// Computes the tables `phase` can use on `model` (already set up for the phase), or none
    /// where the phase has no frozen prefix worth storing or the values would not fit in
    /// memory. Logs what it did.
    pub fn compute(
        model: &GraphModel,
        phase: &PhasePlan,
        dataset: &Dataset,
        device: &Device,
    ) -> Result<Self, RunError> {
        let graph = model.graph();
        let frontier = model.prefix_frontier(&phase.constant);
        if phase.constant[graph.outputs[0]] || frontier.contains(&graph.input) {
            return Ok(Self::default());
        }
        let started = Instant::now();
        let inference = model.valid();
        let augmented = !dataset.augmentations().is_empty();
        let splits: &[SplitKind] = if augmented {
            &[SplitKind::Validation]
        } else {
            &[SplitKind::Validation, SplitKind::Train]
        };
        let per_image: usize = frontier
            .iter()
            .map(|&n| graph.nodes[n].shape.elements())
            .sum();
        let images: usize = splits.iter().map(|&s| dataset.len(s)).sum();
        let needed = (per_image * images * 4) as f64;
        if let Some(total) = total_memory()
            && needed > total * MEMORY_SHARE
        {
            tracing::info!(
                "phase `{}`: the frozen prefix's outputs would take {} (over a quarter of this \
                 machine's memory): it runs every epoch",
                phase.spec.name,
                human(needed)
            );
            return Ok(Self::default());
        }
        let mut features = Self::default();
        for &split in splits {
            let table = PrefixTable::compute(&inference, &phase.constant, dataset, split, device)?;
            match split {
                SplitKind::Train => features.train = Some(table),
                _ => features.validation = Some(table),
            }
        }
        let names: Vec<&str> = frontier
            .iter()
            .map(|&n| graph.nodes[n].name.as_str())
            .collect();
        let bytes: usize = [&features.validation, &features.train]
            .into_iter()
            .flatten()
            .map(PrefixTable::bytes)
            .sum();
        tracing::info!(
            "phase `{}`: frozen prefix computed once for {} ({} value(s) of `{}` per image, {}) \
             in {:.1}s{}",
            phase.spec.name,
            splits
                .iter()
                .map(|s| format!("{} {s}", dataset.len(*s)))
                .collect::<Vec<_>>()
                .join(" and "),
            per_image,
            names.join("`, `"),
            human(bytes as f64),
            started.elapsed().as_secs_f64(),
            if augmented {
                "; augmented training images still run it every epoch"
            } else {
                ""
            }
        );
        Ok(features)
    }
}
