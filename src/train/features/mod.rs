//! The frozen prefix's outputs, computed once per phase instead of once per epoch.
//!
//! A phase's constant prefix (the input, preprocessing, a frozen base and the parameter-free
//! deterministic nodes after it such as global pooling; see `PhasePlan::constant`) gives an
//! image the same values in every epoch of the phase, unless augmentation changes the image.
//! So the values its frontier hands to the rest of the graph are computed once per phase: for
//! the validation and test images always, for the training images when the training split is
//! not augmented. Every epoch then runs only the trainable rest. Keras and PyTorch recompute a
//! frozen base every epoch. Augmented training images get a table per epoch. Every table is
//! kept on disk across runs ([`DiskCache`]): the trials of a sweep that share the frozen prefix
//! compute it once.
//!
//! On a GPU the augmented training images' tables are not made: the training step runs their
//! prefix (outside autodiff) on the device instead. A per-epoch table is the prefix run once
//! more over the epoch's images, copied to host memory and written to disk (about 540 MB per
//! fine-tuning epoch of the tutorial recipe), then uploaded again batch by batch; on a CPU that
//! pays because later runs (a sweep's trials) read it back instead of computing it, but a GPU
//! computes the prefix of an epoch in well under a second (the recipe's frozen-base step: 3,700
//! images/s on an H200 through wgpu), so the first run pays the copy and the disk write for
//! nothing and later ones save less than the disk read costs. The fixed tables (validation and
//! test images, and training images without augmentation) stay on GPUs too: computed once per
//! phase, they replace the prefix of every epoch's evaluation, and they are a few hundred MB of
//! host memory at most (above a quarter of the machine's memory nothing is stored).
//!
//! Exactness: the prefix runs on the inference copy of the model, as the uncached training
//! step runs it, and on the batches evaluation uses; a stored value is exactly the value the
//! prefix computes for that image, so training and evaluation take the same steps with and
//! without this cache (tests/training.rs checks the metrics bit for bit).

mod store;

use super::RunError;
use super::evaluate::{images_tensor, to_vec};
use crate::data::{Batch, Dataset, SplitKind};
use crate::machine::{human, total_memory};
use crate::model::{GraphModel, Value};
use crate::plan::PhasePlan;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use std::rc::Rc;
use std::time::Instant;
pub use store::DiskCache;
use store::{PrefixStore, Tables};

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
    /// Runs the prefix of `constant` over `batches` (prepared as training or evaluation
    /// prepares them) on `inference`, the model without autodiff.
    ///
    /// Long by design: one loop over the batches that runs the prefix and keeps each frontier
    /// value.
    fn compute(
        inference: &GraphModel,
        constant: &[bool],
        batches: impl Iterator<Item = Batch>,
        device: &Device,
    ) -> Result<Self, RunError> {
        let mut nodes: Vec<StoredNode> = Vec::new();
        let mut ids = Vec::new();
        for batch in batches {
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
            ids.extend(batch.ids);
        }
        Ok(Self::from_rows(constant, nodes, &ids))
    }

    /// A table of `nodes`' values whose rows are images `ids`, in order.
    fn from_rows(constant: &[bool], nodes: Vec<StoredNode>, ids: &[usize]) -> Self {
        let mut row_of = vec![None; ids.iter().max().map_or(0, |m| m + 1)];
        for (row, &id) in ids.iter().enumerate() {
            row_of[id] = Some(row);
        }
        Self {
            constant: constant.to_vec(),
            nodes,
            row_of,
        }
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

/// Where a phase's training batches get their prefix values.
#[derive(Debug)]
enum TrainFeatures {
    /// From the images, every batch (no frozen prefix, or it does not fit in memory).
    Recomputed,
    /// From one table for the whole phase (no augmentation).
    Fixed(Rc<PrefixTable>),
    /// From a table per epoch, read from or written to the disk cache (augmentation).
    PerEpoch {
        store: PrefixStore,
        inference: Box<GraphModel>,
    },
}

/// The stored prefix values of one phase: validation always, training per phase or per
/// epoch.
#[derive(Debug)]
pub struct PhaseFeatures {
    /// Frontier values of the validation images (and of the other images no augmentation
    /// changes).
    pub validation: Option<Rc<PrefixTable>>,
    train: TrainFeatures,
    constant: Vec<bool>,
}

impl Default for PhaseFeatures {
    fn default() -> Self {
        Self {
            validation: None,
            train: TrainFeatures::Recomputed,
            constant: Vec::new(),
        }
    }
}

impl PhaseFeatures {
    /// Computes the tables `phase` can use on `model` (already set up for the phase), or none
    /// where the phase has no frozen prefix worth storing or the values would not fit in
    /// memory; on a `gpu`, augmented training images are left to the training step (see the
    /// module docs). Tables are kept on disk in `cache` when given. Logs what it did.
    pub fn compute(
        model: &GraphModel,
        phase: &PhasePlan,
        dataset: &Dataset,
        device: &Device,
        cache: Option<&DiskCache>,
        gpu: bool,
    ) -> Result<Self, RunError> {
        let graph = model.graph();
        let frontier = model.prefix_frontier(&phase.constant);
        if !model.prefix_worth_storing(&phase.constant) {
            return Ok(Self::default());
        }
        let started = Instant::now();
        let per_image: usize = frontier
            .iter()
            .map(|&n| graph.nodes[n].shape.elements())
            .sum();
        // The images no augmentation changes, in one table: the same whatever the seed does
        // to the splits (validation and test come from the same folder, or all three from
        // one), so it is shared on disk by runs of every seed.
        let augmented = !dataset.augmentations().is_empty();
        let fixed_splits: &[SplitKind] = if augmented {
            &[SplitKind::Validation, SplitKind::Test]
        } else {
            &SplitKind::ALL
        };
        let images: usize = fixed_splits.iter().map(|&split| dataset.len(split)).sum();
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
        let inference = model.valid();
        let constant = &phase.constant;
        let open = |tables| {
            cache.map(|cache| {
                PrefixStore::open(cache, &inference, constant, dataset, tables, device)
            })
        };
        let mut fixed = open(Tables::Fixed);
        let table = Rc::new(stored_or_computed(
            fixed.as_mut(),
            if augmented { "held-out" } else { "images" },
            (&inference, constant),
            (dataset, fixed_splits, 0),
            device,
        )?);
        let train = if augmented && gpu {
            TrainFeatures::Recomputed
        } else if augmented {
            match open(Tables::PerEpoch) {
                Some(store) => TrainFeatures::PerEpoch {
                    store,
                    inference: Box::new(inference),
                },
                None => TrainFeatures::Recomputed,
            }
        } else {
            TrainFeatures::Fixed(Rc::clone(&table))
        };
        let cache_use = fixed.as_ref().map_or(String::new(), |store| {
            format!(
                "; {} table(s) read from the disk cache, {} computed and stored",
                store.hits, store.misses
            )
        });
        let names: Vec<&str> = frontier
            .iter()
            .map(|&n| graph.nodes[n].name.as_str())
            .collect();
        let counts: Vec<String> = fixed_splits
            .iter()
            .filter(|&&split| dataset.len(split) > 0)
            .map(|&split| format!("{} {split}", dataset.len(split)))
            .collect();
        tracing::info!(
            "phase `{}`: frozen prefix stored for {} image(s) ({per_image} value(s) of `{}` per \
             image, {}) in {:.1}s{cache_use}{}",
            phase.spec.name,
            counts.join(", "),
            names.join("`, `"),
            human(table.bytes() as f64),
            started.elapsed().as_secs_f64(),
            match &train {
                TrainFeatures::PerEpoch { store, .. } => format!(
                    "; augmented training images: per epoch, cached in {}",
                    store.dir().display()
                ),
                TrainFeatures::Recomputed if gpu => {
                    "; augmented training images: computed in each step on the GPU".to_string()
                }
                _ => String::new(),
            }
        );
        Ok(Self {
            validation: Some(table),
            train,
            constant: constant.clone(),
        })
    }

    /// The prefix values of epoch `epoch`'s training images, when the phase stores them:
    /// the phase's table, or the epoch's (read from the disk cache, or computed and written).
    pub fn train_table(
        &mut self,
        dataset: &Dataset,
        epoch: u64,
        device: &Device,
    ) -> Result<Option<Rc<PrefixTable>>, RunError> {
        match &mut self.train {
            TrainFeatures::Recomputed => Ok(None),
            TrainFeatures::Fixed(table) => Ok(Some(Rc::clone(table))),
            TrainFeatures::PerEpoch { store, inference } => {
                let table = stored_or_computed(
                    Some(store),
                    &format!("epoch-{epoch}"),
                    (inference, &self.constant),
                    (dataset, &[SplitKind::Train], epoch),
                    device,
                )?;
                Ok(Some(Rc::new(table)))
            }
        }
    }

    /// Logs how the phase's augmented epochs used the disk cache.
    pub fn log_cache_use(&self, phase: &str) {
        if let TrainFeatures::PerEpoch { store, .. } = &self.train {
            tracing::info!(
                "phase `{phase}`: frozen prefix of augmented training images: {} epoch(s) from \
                 the cache, {} computed and stored",
                store.hits,
                store.misses
            );
        }
    }
}

/// The prefix table `name` of the images of `splits` in `epoch`'s batch order: read from
/// `store` when it holds a valid one, else computed by `prefix` (the inference model and the
/// constant nodes) and written to `store`.
fn stored_or_computed(
    store: Option<&mut PrefixStore>,
    name: &str,
    prefix: (&GraphModel, &[bool]),
    (dataset, splits, epoch): (&Dataset, &[SplitKind], u64),
    device: &Device,
) -> Result<PrefixTable, RunError> {
    let (inference, constant) = prefix;
    let compute = || {
        let batches = splits
            .iter()
            .flat_map(|&split| dataset.batches(split, epoch));
        PrefixTable::compute(inference, constant, batches, device)
    };
    let Some(store) = store else {
        return compute();
    };
    let ids: Vec<usize> = splits
        .iter()
        .flat_map(|&split| dataset.batch_labels(split, epoch, 0))
        .flat_map(|(ids, _)| ids)
        .collect();
    if let Some(table) = store.load(constant, name, &ids) {
        return Ok(table);
    }
    let table = compute()?;
    store.save(name, &ids, &table);
    Ok(table)
}
