//! The `data:` section of a spec: where the images are, how they are split and augmented.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the images come from and how they are fed to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Folder with `train/` and `validation/` subfolders, each holding one folder per class
    /// (Keras `image_dataset_from_directory` layout). Relative paths are resolved against the
    /// folder of the spec file.
    pub root: PathBuf,
    /// Height and width every image is resized to.
    pub image_size: [u32; 2],
    /// Images per batch.
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1))]
    pub batch_size: usize,
    /// Fraction of the validation split moved into a test split (the tutorial uses 0.2).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 0.9))]
    pub test_from_validation: f64,
    /// Random augmentations applied to training images only, in order.
    #[serde(default)]
    pub augment: Vec<Augmentation>,
}

fn default_batch_size() -> usize {
    32
}

/// One random augmentation, applied to training images only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Augmentation {
    /// Random flip: `horizontal`, `vertical` or `horizontal_and_vertical`.
    Flip(FlipMode),
    /// Random rotation by up to this fraction of a full turn, either way (Keras `RandomRotation`).
    Rotate(#[schemars(range(min = 0.0, max = 1.0))] f64),
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
