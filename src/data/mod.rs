//! The data layer: image folders in, batches of plain `f32` pixels and `u32` labels out.
//!
//! This module does not depend on Burn; the training code turns [`Batch`]es into tensors.
//!
//! - [`Dataset::load`] scans the class folders (Keras `image_dataset_from_directory` layout:
//!   `root/train/<class>/…` and `root/validation/<class>/…`, or `root/<class>/…` with
//!   `validation_split`), decodes and resizes every image once, in parallel, into a compact
//!   u8 cache in memory (and optionally a file cache, see `cache`), splits off validation /
//!   test where asked, and checks the result (every class present and non-empty in every
//!   split, every split at least one batch) before any training starts.
//! - Unusable files (not an image, unsupported format, corrupt, truncated) are skipped with
//!   one `tracing` warning each, and listed in [`Dataset::skipped`].
//! - [`Dataset::batches`] yields the batches of an epoch from a prefetch thread. The training
//!   split is shuffled per epoch and augmented from (seed, epoch, image); validation and test
//!   are never shuffled nor augmented.
//! - [`overview`] does the whole job of `runner data SPEC`: load, summary, contact sheet.
//!
//! Randomness: every random choice comes from a seed through a SplitMix64 stream tagged by
//! purpose, so the same seed gives the same data, run after run: the validation split and test
//! carving from `data.split_seed` (fixed, so seed replicates share their splits), shuffles and
//! augmentation from the spec's top-level seed.

pub mod augment;
mod cache;
pub mod contact_sheet;
pub mod decode;
mod error;
mod folder;
mod loader;
mod overview;
pub mod single;
#[cfg(feature = "turbojpeg")]
mod turbo;

pub use crate::spec::data::{Augmentation, DataSpec, FlipMode, Interpolation, LabelMode};
pub use error::DataError;
pub use folder::has_split_folders;
pub use loader::{Batch, Batches};
pub use overview::{CacheStatus, DataOverview, SizeStats, SplitCounts, overview};

use augment::Rng;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const TAG_VALIDATION_SPLIT: u64 = 0x5641_4c53;
const TAG_TEST_SPLIT: u64 = 0x5445_5354;

/// A split of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SplitKind {
    /// Training images (shuffled per epoch, augmented).
    Train,
    /// Validation images.
    Validation,
    /// Test images (own folder, or carved from validation).
    Test,
}

impl SplitKind {
    /// All splits, in order.
    pub const ALL: [SplitKind; 3] = [SplitKind::Train, SplitKind::Validation, SplitKind::Test];
}

impl std::fmt::Display for SplitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SplitKind::Train => "train",
            SplitKind::Validation => "validation",
            SplitKind::Test => "test",
        })
    }
}

/// A file that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

/// One image of a split: its id (index into the dataset's images) and its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Image id, for [`Dataset::image`] and [`Dataset::path`].
    pub image: usize,
    /// Class index.
    pub label: u32,
}

/// A loaded dataset: decoded images and splits. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Dataset {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    class_names: Vec<String>,
    label_mode: LabelMode,
    image_size: [usize; 2],
    batch_size: usize,
    shuffle: bool,
    prefetch: usize,
    augment: Vec<Augmentation>,
    seed: u64,
    pixels: Vec<u8>,
    paths: Vec<PathBuf>,
    original_sizes: Vec<Option<(u32, u32)>>,
    splits: [Vec<Item>; 3],
    has_test: bool,
    skipped: Vec<Skipped>,
    cache: CacheStatus,
    load_seconds: f64,
}

impl Dataset {
    /// Loads the dataset a data section describes. `base_dir` is the folder of the spec file
    /// (relative `root` and `cache_dir` are resolved against it); `seed` is the spec's
    /// top-level seed. Decoding runs on the current rayon pool.
    ///
    /// Long by design: the loading stages (scan, decode, split, check) run in order on shared
    /// per-class lists; each stage is a few lines.
    pub fn load(spec: &DataSpec, base_dir: &Path, seed: u64) -> Result<Dataset, DataError> {
        let start = std::time::Instant::now();
        spec.check().map_err(DataError::Spec)?;
        let listing = folder::scan(spec, base_dir)?;
        let mut skipped = listing.skipped;
        for s in &skipped {
            tracing::warn!("skipping {}: {}", s.path.display(), s.reason);
        }
        let size = spec.image_size;
        let per = size[0] as usize * size[1] as usize * 3;
        crate::machine::check_fits(
            &format!(
                "keeping the {} images decoded at {}x{} ({} bytes each)",
                listing.files.len(),
                size[0],
                size[1],
                per
            ),
            listing.files.len() as f64 * per as f64,
            "lower data.image_size, or train on fewer images",
        )
        .map_err(DataError::TooLarge)?;
        let paths: Vec<PathBuf> = listing.files.iter().map(|f| f.path.clone()).collect();

        let cache_path = spec.cache_dir.as_ref().map(|d| {
            base_dir.join(d).join(cache::file_name(
                &listing.files,
                size,
                spec.interpolation,
                decode::method(spec.fast_decode),
            ))
        });
        let mut cache_status = CacheStatus::Off;
        let mut decoded = None;
        if let Some(p) = &cache_path {
            decoded = cache::load(p, paths.len(), per);
            if decoded.is_some() {
                cache_status = CacheStatus::Hit(p.clone());
            }
        }
        let decoded = match decoded {
            Some(d) => d,
            None => {
                if spec.fast_decode && !cfg!(feature = "turbojpeg") {
                    tracing::warn!(
                        "data.fast_decode is ignored: this runner was built without \
                         libjpeg-turbo (cargo feature `turbojpeg`), images are decoded at full size"
                    );
                }
                let (pixels, results) =
                    decode::decode_all(&paths, size, spec.interpolation, spec.fast_decode);
                let d = cache::Decoded { pixels, results };
                if let Some(p) = &cache_path {
                    match cache::save(p, &d, per) {
                        Ok(()) => cache_status = CacheStatus::Written(p.clone()),
                        Err(e) => {
                            tracing::warn!("{e}");
                            cache_status = CacheStatus::Failed(e.to_string());
                        }
                    }
                }
                d
            }
        };

        // Usable images per (split, class), in listing order.
        let n_classes = listing.class_names.len();
        let mut per_class: [Vec<Vec<Item>>; 3] =
            std::array::from_fn(|_| vec![Vec::new(); n_classes]);
        let mut original_sizes = vec![None; paths.len()];
        for (id, (file, res)) in listing.files.iter().zip(&decoded.results).enumerate() {
            match res {
                Ok(wh) => {
                    original_sizes[id] = Some(*wh);
                    per_class[file.split as usize][file.label as usize].push(Item {
                        image: id,
                        label: file.label,
                    });
                }
                Err(reason) => {
                    tracing::warn!("skipping {}: {reason}", file.path.display());
                    skipped.push(Skipped {
                        path: file.path.clone(),
                        reason: reason.clone(),
                    });
                }
            }
        }
        // Empty classes, per folder.
        for (kind, label, dir) in &listing.class_dirs {
            if per_class[*kind as usize][*label as usize].is_empty() {
                return Err(DataError::EmptyClass {
                    split: kind.to_string(),
                    path: dir.clone(),
                    skipped: skipped.iter().filter(|s| s.path.starts_with(dir)).count(),
                });
            }
        }
        let [mut train, mut validation, mut test] = per_class;
        if let Some(frac) = spec.validation_split {
            for (label, items) in train.iter_mut().enumerate() {
                let n = items.len();
                if n < 2 {
                    return Err(DataError::Spec(format!(
                        "class \"{}\" has {n} usable image in {}: validation_split needs at \
                         least 2 per class (one for training, one for validation); add images",
                        listing.class_names[label],
                        listing.class_dirs[label].2.display()
                    )));
                }
                let k = ((n as f64 * frac).round() as usize).clamp(1, n - 1);
                validation[label] = carve(
                    items,
                    k,
                    &[spec.split_seed, TAG_VALIDATION_SPLIT, label as u64],
                );
            }
        }
        let has_test = spec.has_test();
        if spec.test_from_validation > 0.0 {
            for (label, items) in validation.iter_mut().enumerate() {
                let k = (items.len() as f64 * spec.test_from_validation).round() as usize;
                test[label] = carve(items, k, &[spec.split_seed, TAG_TEST_SPLIT, label as u64]);
            }
        }
        let flatten = |v: Vec<Vec<Item>>| {
            let mut all: Vec<Item> = v.into_iter().flatten().collect();
            all.sort_by_key(|i| i.image);
            all
        };
        let splits = [flatten(train), flatten(validation), flatten(test)];
        for kind in SplitKind::ALL {
            let count = splits[kind as usize].len();
            if (kind != SplitKind::Test || has_test) && count < spec.batch_size {
                return Err(DataError::SplitSmallerThanBatch {
                    split: kind.to_string(),
                    count,
                    batch_size: spec.batch_size,
                });
            }
        }
        let ds = Dataset {
            inner: Arc::new(Inner {
                root: listing.root,
                class_names: listing.class_names,
                label_mode: spec.label_mode,
                image_size: [size[0] as usize, size[1] as usize],
                batch_size: spec.batch_size,
                shuffle: spec.shuffle,
                prefetch: spec.prefetch,
                augment: spec.augment.clone(),
                seed,
                pixels: decoded.pixels,
                paths,
                original_sizes,
                splits,
                has_test,
                skipped,
                cache: cache_status,
                load_seconds: start.elapsed().as_secs_f64(),
            }),
        };
        tracing::info!(
            "data: {} train, {} validation, {} test images, {} skipped, {:.2}s",
            ds.len(SplitKind::Train),
            ds.len(SplitKind::Validation),
            ds.len(SplitKind::Test),
            ds.skipped().len(),
            ds.inner.load_seconds
        );
        Ok(ds)
    }

    /// The data root folder (resolved).
    pub fn root(&self) -> &Path {
        &self.inner.root
    }
    /// Class names, in label order.
    pub fn class_names(&self) -> &[String] {
        &self.inner.class_names
    }
    /// The label mode.
    pub fn label_mode(&self) -> LabelMode {
        self.inner.label_mode
    }
    /// Model outputs the labels call for: 1 in binary mode, the number of classes otherwise.
    pub fn num_outputs(&self) -> usize {
        match self.inner.label_mode {
            LabelMode::Binary => 1,
            LabelMode::Categorical => self.inner.class_names.len(),
        }
    }
    /// `[height, width]` of every image.
    pub fn image_size(&self) -> [usize; 2] {
        self.inner.image_size
    }
    /// Images per batch.
    pub fn batch_size(&self) -> usize {
        self.inner.batch_size
    }
    /// The seed every random choice comes from.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }
    /// The augmentations applied to training images.
    pub fn augmentations(&self) -> &[Augmentation] {
        &self.inner.augment
    }
    /// Whether there is a test split.
    pub fn has_test(&self) -> bool {
        self.inner.has_test
    }
    /// The items of a split, in file order.
    pub fn items(&self, split: SplitKind) -> &[Item] {
        &self.inner.splits[split as usize]
    }
    /// Number of images in a split.
    pub fn len(&self, split: SplitKind) -> usize {
        self.items(split).len()
    }
    /// Whether a split is empty.
    pub fn is_empty(&self, split: SplitKind) -> bool {
        self.items(split).is_empty()
    }
    /// Batches per epoch of a split (the last one may be partial).
    pub fn num_batches(&self, split: SplitKind) -> usize {
        self.len(split).div_ceil(self.inner.batch_size)
    }
    /// Images per class in a split.
    pub fn class_counts(&self, split: SplitKind) -> Vec<usize> {
        let mut c = vec![0; self.inner.class_names.len()];
        for i in self.items(split) {
            c[i.label as usize] += 1;
        }
        c
    }
    /// Files not used, and why.
    pub fn skipped(&self) -> &[Skipped] {
        &self.inner.skipped
    }
    /// Cached pixels of image `id`: u8 HWC RGB, resized, not augmented.
    pub fn image(&self, id: usize) -> &[u8] {
        let [h, w] = self.inner.image_size;
        let per = h * w * 3;
        &self.inner.pixels[id * per..(id + 1) * per]
    }
    /// The file of image `id`.
    pub fn path(&self, id: usize) -> &Path {
        &self.inner.paths[id]
    }
    /// Width and height of image `id` in its file (after EXIF rotation).
    pub fn original_size(&self, id: usize) -> Option<(u32, u32)> {
        self.inner.original_sizes[id]
    }
    /// Whether the file cache was used.
    pub fn cache_status(&self) -> &CacheStatus {
        &self.inner.cache
    }
    /// Seconds spent loading (scan, decode or cache read, split).
    pub fn load_seconds(&self) -> f64 {
        self.inner.load_seconds
    }
}

/// Removes `k` items drawn from a seeded stream out of `items` and returns them.
fn carve(items: &mut Vec<Item>, k: usize, parts: &[u64]) -> Vec<Item> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    augment::shuffle(&mut idx, &mut Rng::from_parts(parts));
    let mut take = vec![false; items.len()];
    for &i in idx.iter().take(k) {
        take[i] = true;
    }
    let mut out = Vec::with_capacity(k);
    let mut keep = Vec::with_capacity(items.len() - k.min(items.len()));
    for (i, it) in items.drain(..).enumerate() {
        if take[i] { out.push(it) } else { keep.push(it) }
    }
    *items = keep;
    out
}
