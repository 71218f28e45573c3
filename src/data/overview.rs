//! `runner data SPEC`: load the data, summarise it, and write a contact sheet.

use super::{Augmentation, DataError, DataSpec, Dataset, LabelMode, Skipped, SplitKind};
use std::fmt;
use std::path::{Path, PathBuf};

/// What happened with the file cache of decoded images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// No `data.cache_dir`.
    Off,
    /// Images read from this cache file.
    Hit(PathBuf),
    /// Images decoded and written to this cache file.
    Written(PathBuf),
    /// Images decoded; the cache file could not be written (the message says why).
    Failed(String),
}

/// Images per class of one split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitCounts {
    /// The split.
    pub split: SplitKind,
    /// Images per class, in label order.
    pub per_class: Vec<usize>,
    /// All images of the split.
    pub total: usize,
    /// Batches per epoch.
    pub batches: usize,
}

/// Minimum, mean and maximum of the images' sizes in their files (after EXIF rotation).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SizeStats {
    /// Images counted.
    pub count: usize,
    /// Smallest, mean and largest width.
    pub width: (u32, f64, u32),
    /// Smallest, mean and largest height.
    pub height: (u32, f64, u32),
}

/// The summary `runner data` prints (see its `Display`).
#[derive(Debug, Clone)]
pub struct DataOverview {
    /// The data root folder.
    pub root: PathBuf,
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// The label mode.
    pub label_mode: LabelMode,
    /// `[height, width]` images are resized to.
    pub image_size: [usize; 2],
    /// Images per batch.
    pub batch_size: usize,
    /// Counts per split (test only if there is one).
    pub splits: Vec<SplitCounts>,
    /// Original image sizes.
    pub sizes: SizeStats,
    /// Files skipped, and why.
    pub skipped: Vec<Skipped>,
    /// The file cache.
    pub cache: CacheStatus,
    /// Seconds spent loading.
    pub load_seconds: f64,
    /// Augmentations of the training split.
    pub augment: Vec<Augmentation>,
    /// The contact sheet written.
    pub contact_sheet: PathBuf,
}

/// Loads the data of a spec, writes a contact sheet to `out_png`, and returns the summary.
/// `base_dir` is the spec file's folder, `seed` the spec's top-level seed.
pub fn overview(
    spec: &DataSpec,
    base_dir: &Path,
    seed: u64,
    out_png: &Path,
) -> Result<DataOverview, DataError> {
    let ds = Dataset::load(spec, base_dir, seed)?;
    super::contact_sheet::write(&ds, out_png)?;
    Ok(DataOverview::of(&ds, out_png))
}

impl DataOverview {
    /// The summary of a loaded dataset (`contact_sheet` is only recorded, not written).
    pub fn of(ds: &Dataset, contact_sheet: &Path) -> DataOverview {
        let splits = SplitKind::ALL
            .into_iter()
            .filter(|&s| s != SplitKind::Test || ds.has_test())
            .map(|s| SplitCounts {
                split: s,
                per_class: ds.class_counts(s),
                total: ds.len(s),
                batches: ds.num_batches(s),
            })
            .collect();
        let mut sizes = SizeStats {
            width: (u32::MAX, 0.0, 0),
            height: (u32::MAX, 0.0, 0),
            ..Default::default()
        };
        for s in SplitKind::ALL {
            for it in ds.items(s) {
                if let Some((w, h)) = ds.original_size(it.image) {
                    sizes.count += 1;
                    sizes.width = (
                        sizes.width.0.min(w),
                        sizes.width.1 + w as f64,
                        sizes.width.2.max(w),
                    );
                    sizes.height = (
                        sizes.height.0.min(h),
                        sizes.height.1 + h as f64,
                        sizes.height.2.max(h),
                    );
                }
            }
        }
        if sizes.count > 0 {
            sizes.width.1 /= sizes.count as f64;
            sizes.height.1 /= sizes.count as f64;
        } else {
            sizes = SizeStats::default();
        }
        DataOverview {
            root: ds.root().to_path_buf(),
            class_names: ds.class_names().to_vec(),
            label_mode: ds.label_mode(),
            image_size: ds.image_size(),
            batch_size: ds.batch_size(),
            splits,
            sizes,
            skipped: ds.skipped().to_vec(),
            cache: ds.cache_status().clone(),
            load_seconds: ds.load_seconds(),
            augment: ds.augmentations().to_vec(),
            contact_sheet: contact_sheet.to_path_buf(),
        }
    }
}

impl fmt::Display for DataOverview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.label_mode {
            LabelMode::Binary => "binary (1 logit)",
            LabelMode::Categorical => "categorical (1 logit per class)",
        };
        writeln!(f, "data: {}", self.root.display())?;
        writeln!(
            f,
            "classes: {} [{}], label mode {mode}",
            self.class_names.len(),
            self.class_names
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{i}={c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        let name_w = self
            .class_names
            .iter()
            .map(|c| c.len())
            .max()
            .unwrap_or(0)
            .max(5);
        write!(f, "{:<12}", "split")?;
        for c in &self.class_names {
            write!(f, " {c:>name_w$}")?;
        }
        writeln!(f, " {:>name_w$} {:>8}", "total", "batches")?;
        for s in &self.splits {
            write!(f, "{:<12}", s.split.to_string())?;
            for n in &s.per_class {
                write!(f, " {n:>name_w$}")?;
            }
            writeln!(f, " {:>name_w$} {:>8}", s.total, s.batches)?;
        }
        writeln!(
            f,
            "images resized to {}x{} (height x width), batch size {}",
            self.image_size[0], self.image_size[1], self.batch_size
        )?;
        if self.sizes.count > 0 {
            let (w, h) = (self.sizes.width, self.sizes.height);
            writeln!(
                f,
                "original sizes of {} images: width {}..{} (mean {:.0}), height {}..{} (mean {:.0})",
                self.sizes.count, w.0, w.2, w.1, h.0, h.2, h.1
            )?;
        }
        if self.augment.is_empty() {
            writeln!(f, "augmentation (train only): none")?;
        } else {
            let list: Vec<String> = self.augment.iter().map(describe).collect();
            writeln!(f, "augmentation (train only): {}", list.join(", "))?;
        }
        match &self.cache {
            CacheStatus::Off => writeln!(
                f,
                "cache: memory only (set data.cache_dir for a file cache)"
            )?,
            CacheStatus::Hit(p) => writeln!(f, "cache: read {}", p.display())?,
            CacheStatus::Written(p) => writeln!(f, "cache: wrote {}", p.display())?,
            CacheStatus::Failed(e) => writeln!(f, "cache: not written: {e}")?,
        }
        writeln!(f, "loaded in {:.2}s", self.load_seconds)?;
        writeln!(f, "files skipped: {}", self.skipped.len())?;
        for s in &self.skipped {
            writeln!(f, "  {}: {}", s.path.display(), s.reason)?;
        }
        write!(f, "contact sheet: {}", self.contact_sheet.display())
    }
}

fn describe(a: &Augmentation) -> String {
    match a {
        Augmentation::Flip(m) => format!("flip {m:?}").to_lowercase(),
        Augmentation::Rotate(v) => format!("rotate {v}"),
        Augmentation::Zoom(v) => format!("zoom {v}"),
        Augmentation::Translate(v) => format!("translate {v}"),
        Augmentation::Contrast(v) => format!("contrast {v}"),
        Augmentation::Brightness(v) => format!("brightness {v}"),
        Augmentation::Crop(v) => format!("crop {v}"),
    }
}
