//! Batches: per-epoch seeded shuffle, augmentation of training images, conversion to f32
//! NCHW, and a prefetch thread that keeps `data.prefetch` batches ready ahead of the model.

use super::augment::{self, Rng};
use super::{Dataset, SplitKind};
use rayon::prelude::*;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

/// Stream tag of the per-epoch shuffle.
pub(crate) const TAG_SHUFFLE: u64 = 0x5348_5546;
/// Stream tag of augmentation.
pub(crate) const TAG_AUGMENT: u64 = 0x4155_474d;

/// One batch of images and labels, as plain data (the training code makes tensors of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Pixels, NCHW `[len, 3, height, width]`, RGB, raw values 0..=255 as f32 (rescaling is a
    /// graph node).
    pub images: Vec<f32>,
    /// Class index of each image (0 or 1 in binary mode).
    pub labels: Vec<u32>,
    /// Number of images (the last batch of an epoch may be smaller than `batch_size`).
    pub len: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Image ids (see [`Dataset::path`]), for tracing a sample back to its file.
    pub ids: Vec<usize>,
}

/// Iterator over the batches of one epoch of one split, prepared by a prefetch thread.
/// Dropping it early stops the thread.
pub struct Batches {
    rx: Option<Receiver<Batch>>,
    handle: Option<JoinHandle<()>>,
    remaining: usize,
}

impl Iterator for Batches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let b = self.rx.as_ref()?.recv().ok();
        if b.is_some() {
            self.remaining = self.remaining.saturating_sub(1);
        }
        b
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Batches {}

impl Drop for Batches {
    fn drop(&mut self) {
        self.rx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Dataset {
    /// The order in which a split's items are visited in an epoch: shuffled from (seed, epoch)
    /// for the training split when `data.shuffle` is on, file order otherwise.
    pub fn order(&self, split: SplitKind, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.items(split).len()).collect();
        if split == SplitKind::Train && self.inner.shuffle {
            augment::shuffle(
                &mut order,
                &mut Rng::from_parts(&[self.inner.seed, TAG_SHUFFLE, epoch]),
            );
        }
        order
    }

    /// The batches of one epoch of a split, prepared ahead by a prefetch thread. Training
    /// images are augmented (from seed, epoch and image id); validation and test never are.
    pub fn batches(&self, split: SplitKind, epoch: u64) -> Batches {
        self.batches_from(split, epoch, 0)
    }

    /// Like [`Dataset::batches`], but starting at batch `first` of the epoch (for resuming an
    /// epoch that was interrupted): the same batches as the full epoch's, minus the first ones.
    pub fn batches_from(&self, split: SplitKind, epoch: u64, first: usize) -> Batches {
        let ds = self.clone();
        let (tx, rx) = sync_channel(self.inner.prefetch.max(1));
        let remaining = self.num_batches(split).saturating_sub(first);
        let handle = std::thread::Builder::new()
            .name("runner-data-prefetch".into())
            .spawn(move || {
                let order = ds.order(split, epoch);
                for chunk in order.chunks(ds.batch_size()).skip(first) {
                    let b = ds.make_batch(split, epoch, chunk);
                    if tx.send(b).is_err() {
                        return;
                    }
                }
            })
            .ok();
        if handle.is_none() {
            tracing::warn!("cannot start the prefetch thread; no batches");
        }
        Batches {
            rx: Some(rx),
            handle,
            remaining,
        }
    }

    /// The image ids and labels of the batches of one epoch of a split, from batch `first`
    /// on, in the order [`Dataset::batches_from`] yields them, without preparing any pixels.
    pub fn batch_labels(
        &self,
        split: SplitKind,
        epoch: u64,
        first: usize,
    ) -> Vec<(Vec<usize>, Vec<u32>)> {
        let items = self.items(split);
        self.order(split, epoch)
            .chunks(self.batch_size())
            .skip(first)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|&p| (items[p].image, items[p].label))
                    .unzip()
            })
            .collect()
    }

    /// Builds the batch of the given item positions of a split (no prefetching).
    pub fn make_batch(&self, split: SplitKind, epoch: u64, positions: &[usize]) -> Batch {
        let [h, w] = self.image_size();
        let per = 3 * h * w;
        let items = self.items(split);
        let ids: Vec<usize> = positions.iter().map(|&p| items[p].image).collect();
        let labels: Vec<u32> = positions.iter().map(|&p| items[p].label).collect();
        let mut images = vec![0f32; positions.len() * per];
        let augment = split == SplitKind::Train && !self.inner.augment.is_empty();
        images
            .par_chunks_mut(per.max(1))
            .zip(ids.par_iter())
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(work, scratch), (out, &id)| {
                    let src = self.image(id);
                    let px: &[u8] = if augment {
                        work.clear();
                        work.extend_from_slice(src);
                        self.augment_in_place(id, epoch, work, scratch);
                        work
                    } else {
                        src
                    };
                    hwc_to_chw(px, h * w, out);
                },
            );
        Batch {
            len: ids.len(),
            images,
            labels,
            height: h,
            width: w,
            ids,
        }
    }

    /// The training-time augmented version of image `id` in `epoch` (u8 HWC), exactly as the
    /// training batches see it.
    pub fn augmented(&self, id: usize, epoch: u64) -> Vec<u8> {
        let mut work = self.image(id).to_vec();
        self.augment_in_place(id, epoch, &mut work, &mut Vec::new());
        work
    }

    fn augment_in_place(&self, id: usize, epoch: u64, work: &mut [u8], scratch: &mut Vec<u8>) {
        let [h, w] = self.image_size();
        let mut rng = Rng::from_parts(&[self.inner.seed, TAG_AUGMENT, epoch, id as u64]);
        augment::apply(&self.inner.augment, work, h, w, &mut rng, scratch);
    }
}

/// Converts `hw` pixels of interleaved RGB u8 into planar f32.
pub(crate) fn hwc_to_chw(src: &[u8], hw: usize, out: &mut [f32]) {
    let (r, rest) = out.split_at_mut(hw);
    let (g, b) = rest.split_at_mut(hw);
    for (i, px) in src.chunks_exact(3).enumerate() {
        r[i] = px[0] as f32;
        g[i] = px[1] as f32;
        b[i] = px[2] as f32;
    }
}
