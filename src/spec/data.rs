//! The `data:` section of a spec: where the images are, how they are split and augmented.
//!
//! Names follow Keras `image_dataset_from_directory` where a user would expect them
//! (`validation_split`, `label_mode`, `class_names`, `interpolation`, `image_size`,
//! `batch_size`). The seed of shuffling and augmentation is not part of this section: it is the
//! spec's top-level `seed`, passed to [`crate::data::Dataset::load`]. The validation and test
//! splits have a seed of their own, `split_seed`, so that seed replicates share them.
//!
//! Every value-range rule that JSON Schema can express is declared here with `schemars`
//! attributes, so the spec loader rejects bad values with a located error. Rules that span
//! several fields (for example `test_from_validation` together with `test_dir`) are checked
//! by [`DataSpec::check`], which the data loader calls before reading any file.

use super::source::DataSource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the images come from and how they are fed to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Folder with the images. Without `validation_split` it holds `train/` and `validation/`
    /// subfolders, each with one folder per class (Keras `image_dataset_from_directory`
    /// layout). With `validation_split` it holds the class folders directly. Relative paths
    /// are resolved against the folder of the spec file.
    pub root: PathBuf,
    /// Where to download the data when `root` does not exist: an archive URL and its
    /// checksum(s). The archive is extracted into runner's cache and used instead of `root`
    /// (`runner fetch SPEC` downloads it ahead of time). `root` is used whenever it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DataSource>,
    /// Height and width, in pixels, every image is resized to: `[height, width]`.
    #[schemars(inner(range(min = 1, max = 4096)))]
    pub image_size: [u32; 2],
    /// Images per batch. Every split must hold at least this many images.
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1, max = 65536))]
    pub batch_size: usize,
    /// Fraction of the images of `root` held out for validation, when `root` holds the class
    /// folders directly (no `train/` and `validation/`). The split is stratified by class and
    /// drawn from `split_seed`. Must be strictly between 0 and 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0.0, "exclusiveMaximum" = 1.0))]
    pub validation_split: Option<f64>,
    /// Fraction of the validation split moved into a test split, stratified by class and
    /// drawn from `split_seed` (the Keras transfer-learning tutorial moves 20% of validation
    /// into test). 0 means no test split carved from validation.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 0.9))]
    pub test_from_validation: f64,
    /// Seed of the validation and test splits drawn by `validation_split` and
    /// `test_from_validation`. Independent of the spec's `seed` and fixed by default, so runs
    /// that differ only in `seed` (a sweep's replicates) are selected and tested on the same
    /// images; change it only to study how much the split itself matters.
    #[serde(default = "default_split_seed")]
    pub split_seed: u64,
    /// Folder holding a test split of its own (one folder per class). Relative paths are
    /// resolved against `root`. Cannot be combined with `test_from_validation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_dir: Option<PathBuf>,
    /// Class names in label order. By default the class folder names of the training split,
    /// sorted. Folders not listed here are ignored (with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2), extend("uniqueItems" = true))]
    pub class_names: Option<Vec<String>>,
    /// `binary`: exactly two classes, one logit, label 0 or 1. `categorical`: one logit per
    /// class, label is the class index.
    #[serde(default)]
    pub label_mode: LabelMode,
    /// How images are resized to `image_size` (default `bilinear`, as Keras).
    #[serde(default)]
    pub interpolation: Interpolation,
    /// Decode a JPEG at least twice `image_size` at 1/2, 1/4 or 1/8 of its size in the DCT
    /// domain (libjpeg-turbo scaling, the smallest of these that keeps both sides at least
    /// `image_size`, as Pillow's `Image.draft` does), then resize with `interpolation`. Faster,
    /// but the pixels differ slightly from a full-size decode followed by the resize, which is
    /// what Keras does (the DCT downscale averages the pixels it drops, so the result is a
    /// little smoother; about 2.4/255 mean absolute difference on the shared cats-and-dogs
    /// photos at 160x160). Default `false`: full-size decode, Keras' pixels. Has no effect in
    /// a runner built without the `turbojpeg` feature.
    #[serde(default)]
    pub fast_decode: bool,
    /// Shuffle the training split every epoch (from the seed and the epoch number).
    /// Validation and test are never shuffled.
    #[serde(default = "default_true")]
    pub shuffle: bool,
    /// Folder for a file cache of the decoded and resized images, keyed by a hash of the file
    /// listing, the image size, the interpolation and `fast_decode`, so that a second run
    /// starts at once.
    /// Relative paths are resolved against the folder of the spec file. No file cache if
    /// absent (the images are still decoded only once per run, into memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// Batches prepared ahead of the model by the prefetch thread.
    #[serde(default = "default_prefetch")]
    #[schemars(range(min = 1, max = 64))]
    pub prefetch: usize,
    /// Random augmentations applied to training images only, in this order. Each is drawn
    /// from the seed, the epoch and the image, so a resumed run sees the same images.
    #[serde(default)]
    pub augment: Vec<Augmentation>,
}

fn default_split_seed() -> u64 {
    42
}

fn default_batch_size() -> usize {
    32
}

fn default_prefetch() -> usize {
    4
}

fn default_true() -> bool {
    true
}

impl DataSpec {
    /// True when the data has a test split (a folder of its own, or carved from validation).
    pub fn has_test(&self) -> bool {
        self.test_dir.is_some() || self.test_from_validation > 0.0
    }

    /// A spec with defaults for everything but the folder and the image size.
    pub fn new(root: impl Into<PathBuf>, image_size: [u32; 2]) -> Self {
        DataSpec {
            root: root.into(),
            source: None,
            image_size,
            batch_size: default_batch_size(),
            validation_split: None,
            test_from_validation: 0.0,
            split_seed: default_split_seed(),
            test_dir: None,
            class_names: None,
            label_mode: LabelMode::default(),
            interpolation: Interpolation::default(),
            fast_decode: false,
            shuffle: true,
            cache_dir: None,
            prefetch: default_prefetch(),
            augment: Vec::new(),
        }
    }

    /// Checks the rules that JSON Schema cannot express (or that a caller building the spec in
    /// code may have broken). Returns a message saying what is wrong and how to fix it.
    pub fn check(&self) -> Result<(), String> {
        let [h, w] = self.image_size;
        if h == 0 || w == 0 {
            return Err(format!(
                "data.image_size is [{h}, {w}]: both height and width must be at least 1"
            ));
        }
        if self.batch_size == 0 {
            return Err("data.batch_size is 0: use at least 1".into());
        }
        if let Some(s) = self.validation_split
            && !(s > 0.0 && s < 1.0)
        {
            return Err(format!(
                "data.validation_split is {s}: it must be strictly between 0 and 1 (e.g. 0.2)"
            ));
        }
        if !(0.0..=0.9).contains(&self.test_from_validation) {
            return Err(format!(
                "data.test_from_validation is {}: it must be between 0 and 0.9 (e.g. 0.2)",
                self.test_from_validation
            ));
        }
        if self.test_from_validation > 0.0 && self.test_dir.is_some() {
            return Err("data.test_from_validation and data.test_dir are both set: \
                 keep one way of making the test split"
                .into());
        }
        if let Some(names) = &self.class_names {
            if names.len() < 2 {
                return Err("data.class_names lists fewer than 2 classes: list at least 2".into());
            }
            let mut sorted = names.clone();
            sorted.sort();
            if let Some(d) = sorted.windows(2).find(|p| p[0] == p[1]) {
                return Err(format!(
                    "data.class_names lists \"{}\" twice: list each class once",
                    d[0]
                ));
            }
        }
        if self.label_mode == LabelMode::Binary
            && let Some(names) = &self.class_names
            && names.len() != 2
        {
            return Err(format!(
                "data.label_mode is binary but data.class_names lists {} classes: \
                 binary needs exactly 2 (use label_mode: categorical for more)",
                names.len()
            ));
        }
        for a in &self.augment {
            a.check()?;
        }
        if let Some(source) = &self.source {
            source.check()?;
        }
        Ok(())
    }
}

/// How labels are given to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LabelMode {
    /// Exactly two classes; the model has one logit and the label is 0 or 1.
    Binary,
    /// Any number of classes; the model has one logit per class and the label is the class
    /// index.
    #[default]
    Categorical,
}

/// Resampling used to resize images to `image_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Bilinear from the 2x2 nearest source pixels, without antialiasing (as Keras and
    /// `tf.image.resize` by default).
    #[default]
    Bilinear,
    /// Nearest source pixel.
    Nearest,
    /// Bicubic (Catmull-Rom) from the 4x4 nearest source pixels, without antialiasing.
    Bicubic,
    /// Average of the source pixels each output pixel covers (box filter).
    Area,
}

impl Interpolation {
    /// The spec name of this interpolation.
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Bilinear => "bilinear",
            Interpolation::Nearest => "nearest",
            Interpolation::Bicubic => "bicubic",
            Interpolation::Area => "area",
        }
    }
}

/// One random augmentation, applied to training images only.
///
/// Geometric augmentations (rotate, zoom, translate, crop) sample the source bilinearly and
/// fill pixels from outside the image by reflecting about the edge (Keras `fill_mode:
/// reflect`, its default); the image size never changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Augmentation {
    /// Random flip: `horizontal`, `vertical` or `horizontal_and_vertical`. Each allowed
    /// mirror is applied with probability 1/2 (Keras `RandomFlip`).
    Flip(FlipMode),
    /// Random rotation by up to this fraction of a full turn, either way: the angle is drawn
    /// uniformly in [-factor * 2pi, factor * 2pi] (Keras `RandomRotation(factor)`).
    Rotate(#[schemars(range(min = 0.0, max = 1.0))] f64),
    /// Random zoom: the sampled area is scaled by a factor drawn uniformly in
    /// [1 - f, 1 + f], the same for height and width; above 1 zooms out, below 1 zooms in
    /// (Keras `RandomZoom(-f..f)`).
    Zoom(#[schemars(range(min = 0.0, max = 0.9))] f64),
    /// Random translation by up to this fraction of the height and of the width, either way,
    /// drawn independently for each axis (Keras `RandomTranslation(f, f)`).
    Translate(#[schemars(range(min = 0.0, max = 1.0))] f64),
    /// Random contrast: each channel is moved away from or towards its mean by a factor drawn
    /// uniformly in [1 - f, 1 + f], then clipped to 0..=255 (Keras `RandomContrast(f)`).
    Contrast(#[schemars(range(min = 0.0, max = 1.0))] f64),
    /// Random brightness: a value drawn uniformly in [-f * 255, f * 255] is added to every
    /// pixel, then clipped to 0..=255 (Keras `RandomBrightness(f)` on 0..255 images).
    Brightness(#[schemars(range(min = 0.0, max = 1.0))] f64),
    /// Random crop: a window whose sides are this fraction of the image's, at a random place,
    /// is resized back to `image_size` (bilinear). 1 leaves the image unchanged.
    Crop(#[schemars(range(min = 0.05, max = 1.0))] f64),
}

impl Augmentation {
    /// Checks the range of the augmentation's factor.
    pub fn check(&self) -> Result<(), String> {
        let (name, v, lo, hi) = match *self {
            Augmentation::Flip(_) => return Ok(()),
            Augmentation::Rotate(v) => ("rotate", v, 0.0, 1.0),
            Augmentation::Zoom(v) => ("zoom", v, 0.0, 0.9),
            Augmentation::Translate(v) => ("translate", v, 0.0, 1.0),
            Augmentation::Contrast(v) => ("contrast", v, 0.0, 1.0),
            Augmentation::Brightness(v) => ("brightness", v, 0.0, 1.0),
            Augmentation::Crop(v) => ("crop", v, 0.05, 1.0),
        };
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(format!(
                "data.augment: {name} is {v}: it must be between {lo} and {hi}"
            ))
        }
    }
}

/// Which axes a random flip may mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlipMode {
    /// Mirror left-right.
    Horizontal,
    /// Mirror top-bottom.
    Vertical,
    /// Either or both.
    HorizontalAndVertical,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_check() {
        let s = DataSpec::new("d", [160, 160]);
        assert_eq!(s.batch_size, 32);
        assert_eq!(s.interpolation, Interpolation::Bilinear);
        assert!(s.check().is_ok());
        let mut bad = s.clone();
        bad.validation_split = Some(1.0);
        assert!(bad.check().unwrap_err().contains("validation_split"));
        let mut bad = s.clone();
        bad.test_from_validation = 0.2;
        bad.test_dir = Some("t".into());
        assert!(bad.check().unwrap_err().contains("test_dir"));
        let mut bad = s;
        bad.augment.push(Augmentation::Rotate(1.5));
        assert!(bad.check().unwrap_err().contains("rotate"));
    }

    #[test]
    fn schema_has_ranges() {
        let schema = serde_json::to_value(schemars::schema_for!(DataSpec)).unwrap();
        let props = &schema["properties"];
        assert_eq!(props["batch_size"]["minimum"], 1);
        assert_eq!(props["validation_split"]["exclusiveMinimum"], 0.0);
        assert_eq!(props["validation_split"]["exclusiveMaximum"], 1.0);
        assert_eq!(props["image_size"]["items"]["minimum"], 1);
        assert_eq!(props["test_from_validation"]["maximum"], 0.9);
        assert_eq!(schema["additionalProperties"], false);
        let text = schema.to_string();
        assert!(text.contains("\"rotate\""), "{text}");
    }

    #[test]
    fn parses_augment_list_from_json() {
        let s: DataSpec = serde_json::from_value(serde_json::json!({
            "root": "data", "image_size": [160, 160], "label_mode": "binary",
            "augment": [{"flip": "horizontal"}, {"rotate": 0.2}, {"zoom": 0.1},
                        {"translate": 0.1}, {"contrast": 0.2}, {"brightness": 0.1}, {"crop": 0.9}]
        }))
        .unwrap();
        assert_eq!(s.augment.len(), 7);
        assert_eq!(s.label_mode, LabelMode::Binary);
        let e = serde_json::from_value::<DataSpec>(serde_json::json!({
            "root": "data", "image_size": [160, 160], "bogus": 1
        }));
        assert!(e.is_err());
    }
}
