//! Errors of the data layer. Each message says what is wrong, where (the path), and how to fix it.

use std::path::PathBuf;

/// Why a dataset could not be loaded or reported.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data section breaks a rule (a range, or two fields that exclude each other).
    #[error("invalid data section: {0}")]
    Spec(String),

    /// A folder the spec points at does not exist or is not a folder.
    #[error(
        "{what} folder {path} does not exist or is not a folder: check data.root \
         (relative paths are resolved against the spec file's folder) and the folder layout \
         ({hint})"
    )]
    MissingFolder {
        /// Which folder ("data root", "train split", ...).
        what: String,
        /// The path that was looked for.
        path: PathBuf,
        /// What the layout should be.
        hint: String,
    },

    /// `validation_split` on a root laid out in `train/` and `validation/` folders.
    #[error(
        "data.validation_split is set, but {root} holds train/ and validation/ folders, which \
         it would read as two classes named \"train\" and \"validation\": remove \
         data.validation_split to use these splits, or point data.root at a folder of class folders"
    )]
    SplitFoldersWithValidationSplit {
        /// The data root.
        root: PathBuf,
    },

    /// The decoded images cannot fit in memory.
    #[error("{0}")]
    TooLarge(String),

    /// A folder could not be listed.
    #[error("cannot read folder {path}: {source}: check that it exists and is readable")]
    ReadDir {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A split has no class folder.
    #[error(
        "{split} split {path} has no class folder: put one folder per class in it \
         (e.g. {path}/cats/, {path}/dogs/)"
    )]
    NoClasses {
        /// The split name.
        split: String,
        /// The split folder.
        path: PathBuf,
    },

    /// Fewer than two classes.
    #[error(
        "only {found} class found ({names}) in {path}: a classifier needs at least 2 class folders"
    )]
    TooFewClasses {
        /// How many classes were found.
        found: usize,
        /// Their names.
        names: String,
        /// The folder the classes were read from.
        path: PathBuf,
    },

    /// Binary label mode with a number of classes other than 2.
    #[error(
        "label_mode is binary but there are {found} classes ({names}): binary needs exactly 2; \
         use label_mode: categorical or list two classes in data.class_names"
    )]
    BinaryNeedsTwo {
        /// How many classes there are.
        found: usize,
        /// Their names.
        names: String,
    },

    /// A class folder is missing in a split.
    #[error(
        "class \"{class}\" is in the training split but has no folder {path} in the {split} \
         split: add the folder with images of that class, or remove the class"
    )]
    ClassMissingInSplit {
        /// The class.
        class: String,
        /// The split missing it.
        split: String,
        /// The folder that was expected.
        path: PathBuf,
    },

    /// A split has a class folder that the training split lacks.
    #[error(
        "{split} split has a class folder {path} that the training split does not have: \
         every class must be in the training split (add it there, or remove this folder)"
    )]
    ExtraClassInSplit {
        /// The split.
        split: String,
        /// The extra class folder.
        path: PathBuf,
    },

    /// A class has no usable image in a split.
    #[error(
        "class folder {path} ({split} split) has no usable image ({skipped} file(s) skipped): \
         add JPEG or PNG images to it, or remove the class"
    )]
    EmptyClass {
        /// The split.
        split: String,
        /// The class folder.
        path: PathBuf,
        /// How many files in it were skipped.
        skipped: usize,
    },

    /// A split is smaller than one batch.
    #[error(
        "the {split} split has {count} usable image(s), fewer than one batch (batch_size \
         {batch_size}): add images or lower data.batch_size to at most {count}"
    )]
    SplitSmallerThanBatch {
        /// The split.
        split: String,
        /// Usable images in it.
        count: usize,
        /// The batch size.
        batch_size: usize,
    },

    /// The file cache could not be written.
    #[error("cannot write the image cache {path}: {source}: check data.cache_dir is writable")]
    CacheWrite {
        /// The cache file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The contact sheet could not be drawn or written (nothing is left at the path).
    #[error("cannot make the contact sheet {path}: {reason}")]
    ContactSheet {
        /// The PNG path.
        path: PathBuf,
        /// What went wrong, and how to fix it.
        reason: String,
    },

    /// A thread pool could not be built.
    #[error("cannot start decoding threads: {0}")]
    Threads(String),
}
