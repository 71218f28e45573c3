//! Scanning the class folders: which files belong to which class and split.
//!
//! Classes come from the folder names of the training split, sorted (byte order, like Keras),
//! or from `data.class_names`. Files are listed recursively and sorted by path, so the listing
//! (and therefore labels, splits and shuffles) does not depend on the file system's order.
//!
//! Folder names are kept as the operating system gives them (`OsString`): a class folder whose
//! name is not UTF-8 is read from its real path, and only shown with replacement characters.
//! Symbolic links are followed, but a link back to a folder above it (a loop) is skipped with a
//! warning, and a file reached twice (through two links) is counted once.

use super::error::DataError;
use super::{Skipped, SplitKind};
use crate::spec::data::{DataSpec, LabelMode};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// One candidate image file.
#[derive(Debug, Clone)]
pub(crate) struct FileEntry {
    pub path: PathBuf,
    pub label: u32,
    /// The split the file's folder belongs to (before `validation_split` / test carving).
    pub split: SplitKind,
    pub len: u64,
    pub mtime_ns: u128,
}

/// The result of scanning: candidate files, and files skipped without being opened.
#[derive(Debug)]
pub(crate) struct Listing {
    pub root: PathBuf,
    pub class_names: Vec<String>,
    pub files: Vec<FileEntry>,
    pub skipped: Vec<Skipped>,
    /// Folders holding each (split, class), to name them in errors.
    pub class_dirs: Vec<(SplitKind, u32, PathBuf)>,
}

/// File name extensions that are decoded (case-insensitive).
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// Whether `root` holds `train/` and `validation/` folders (the layout without
/// `validation_split`).
pub fn has_split_folders(root: &Path) -> bool {
    root.join("train").is_dir() && root.join("validation").is_dir()
}

/// Lists the image files of `spec`'s folders by class and split, with the files skipped and why.
/// Long by design: the three folder layouts (train/validation, class folders with a split, a
/// test folder) share one walk and one list of skipped files.
pub(crate) fn scan(spec: &DataSpec, base_dir: &Path) -> Result<Listing, DataError> {
    let root = base_dir.join(&spec.root);
    if !root.is_dir() {
        return Err(DataError::MissingFolder {
            what: "data root".into(),
            path: root,
            hint: layout_hint(spec),
        });
    }
    // (split, folder) pairs.
    let mut split_dirs: Vec<(SplitKind, PathBuf)> = Vec::new();
    if spec.validation_split.is_some() {
        if has_split_folders(&root) {
            return Err(DataError::SplitFoldersWithValidationSplit { root });
        }
        split_dirs.push((SplitKind::Train, root.clone()));
    } else {
        for (kind, name) in [
            (SplitKind::Train, "train"),
            (SplitKind::Validation, "validation"),
        ] {
            let dir = root.join(name);
            if !dir.is_dir() {
                return Err(DataError::MissingFolder {
                    what: format!("{kind} split"),
                    path: dir,
                    hint: layout_hint(spec),
                });
            }
            split_dirs.push((kind, dir));
        }
    }
    if let Some(t) = &spec.test_dir {
        let dir = root.join(t);
        if !dir.is_dir() {
            return Err(DataError::MissingFolder {
                what: "test split (data.test_dir)".into(),
                path: dir,
                hint: "data.test_dir is resolved against data.root and must hold one folder \
                       per class"
                    .into(),
            });
        }
        split_dirs.push((SplitKind::Test, dir));
    }

    // Classes from the training folder.
    let (train_kind, train_dir) = &split_dirs[0];
    debug_assert_eq!(*train_kind, SplitKind::Train);
    let train_folders = subfolders(train_dir)?;
    if train_folders.is_empty() {
        return Err(DataError::NoClasses {
            split: SplitKind::Train.to_string(),
            path: train_dir.clone(),
        });
    }
    let classes: Vec<OsString> = match &spec.class_names {
        Some(names) => {
            for n in names {
                if !train_folders.iter().any(|f| f == OsStr::new(n)) {
                    return Err(DataError::MissingFolder {
                        what: format!("class \"{n}\" (listed in data.class_names)"),
                        path: train_dir.join(n),
                        hint: "every class in data.class_names needs a folder in the training \
                               split; fix the name or add the folder"
                            .into(),
                    });
                }
            }
            names.iter().map(OsString::from).collect()
        }
        None => train_folders.clone(),
    };
    let class_names: Vec<String> = classes
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if class_names.len() < 2 {
        return Err(DataError::TooFewClasses {
            found: class_names.len(),
            names: class_names.join(", "),
            path: train_dir.clone(),
        });
    }
    if spec.label_mode == LabelMode::Binary && class_names.len() != 2 {
        return Err(DataError::BinaryNeedsTwo {
            found: class_names.len(),
            names: class_names.join(", "),
        });
    }

    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut class_dirs = Vec::new();
    for (kind, dir) in &split_dirs {
        let folders = if *kind == SplitKind::Train {
            train_folders.clone()
        } else {
            subfolders(dir)?
        };
        for f in &folders {
            if !classes.contains(f) {
                if spec.class_names.is_some() {
                    tracing::warn!(
                        "ignoring folder {} (not listed in data.class_names)",
                        dir.join(f).display()
                    );
                } else {
                    return Err(DataError::ExtraClassInSplit {
                        split: kind.to_string(),
                        path: dir.join(f),
                    });
                }
            }
        }
        for (label, class) in classes.iter().enumerate() {
            let class_dir = dir.join(class);
            if !folders.contains(class) {
                return Err(DataError::ClassMissingInSplit {
                    class: class_names[label].clone(),
                    split: kind.to_string(),
                    path: class_dir,
                });
            }
            let paths = walk(&class_dir, &mut skipped)?;
            for path in paths {
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(|e| e.to_ascii_lowercase());
                match ext {
                    Some(e) if IMAGE_EXTENSIONS.contains(&e.as_str()) => {}
                    _ => {
                        let reason = format!(
                            "not an image file name (extension {}); only .jpg, .jpeg and .png \
                             are read",
                            ext.map(|e| format!(".{e}"))
                                .unwrap_or_else(|| "none".into())
                        );
                        skipped.push(Skipped { path, reason });
                        continue;
                    }
                }
                let meta = std::fs::metadata(&path);
                let (len, mtime_ns) = match &meta {
                    Ok(m) => (
                        m.len(),
                        m.modified()
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map(|d| d.as_nanos())
                            .unwrap_or(0),
                    ),
                    Err(_) => (0, 0),
                };
                files.push(FileEntry {
                    path,
                    label: label as u32,
                    split: *kind,
                    len,
                    mtime_ns,
                });
            }
            class_dirs.push((*kind, label as u32, class_dir));
        }
    }
    Ok(Listing {
        root,
        class_names,
        files,
        skipped,
        class_dirs,
    })
}

fn layout_hint(spec: &DataSpec) -> String {
    if spec.validation_split.is_some() {
        "with data.validation_split, data.root holds one folder per class".into()
    } else {
        "data.root must hold train/ and validation/, each with one folder per class; \
         or set data.validation_split to split a single folder of class folders"
            .into()
    }
}

/// Names of the non-hidden subfolders of `dir`, sorted (byte order), as the file system
/// gives them.
fn subfolders(dir: &Path) -> Result<Vec<OsString>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DataError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        if e.path().is_dir() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// All files under `dir`, recursively and sorted, following symbolic links. A link that loops
/// back to a folder above it, or a subfolder that cannot be read, goes to `skipped` (with a
/// warning later); a file reached through several links is listed once, under its first path.
fn walk(dir: &Path, skipped: &mut Vec<Skipped>) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.depth() == 0 => {
                return Err(DataError::ReadDir {
                    path: dir.to_path_buf(),
                    source: e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("unreadable")),
                });
            }
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let reason = match e.loop_ancestor() {
                    Some(ancestor) => format!(
                        "a symbolic link loop (back to {}); the folder is read once",
                        ancestor.display()
                    ),
                    None => format!("cannot be read: {e}"),
                };
                skipped.push(Skipped { path, reason });
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let path = entry.into_path();
        let identity = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.insert(identity) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
