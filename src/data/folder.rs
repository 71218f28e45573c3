//! Scanning the class folders: which files belong to which class and split.
//!
//! Classes come from the folder names of the training split, sorted (byte order, like Keras),
//! or from `data.class_names`. Files are listed recursively and sorted by path, so the listing
//! (and therefore labels, splits and shuffles) does not depend on the file system's order.

use super::error::DataError;
use super::{Skipped, SplitKind};
use crate::spec::data::{DataSpec, LabelMode};
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
    let class_names: Vec<String> = match &spec.class_names {
        Some(names) => {
            for n in names {
                if !train_folders.contains(n) {
                    return Err(DataError::MissingFolder {
                        what: format!("class \"{n}\" (listed in data.class_names)"),
                        path: train_dir.join(n),
                        hint: "every class in data.class_names needs a folder in the training \
                               split; fix the name or add the folder"
                            .into(),
                    });
                }
            }
            names.clone()
        }
        None => train_folders.clone(),
    };
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
            if !class_names.contains(f) {
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
        for (label, class) in class_names.iter().enumerate() {
            let class_dir = dir.join(class);
            if !folders.contains(class) {
                return Err(DataError::ClassMissingInSplit {
                    class: class.clone(),
                    split: kind.to_string(),
                    path: class_dir,
                });
            }
            let mut paths = Vec::new();
            walk(&class_dir, &mut paths)?;
            paths.sort();
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

/// Names of the non-hidden subfolders of `dir`, sorted.
fn subfolders(dir: &Path) -> Result<Vec<String>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DataError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if e.path().is_dir() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// All files under `dir`, recursively (following symbolic links to files and folders).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DataError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}
