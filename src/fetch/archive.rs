//! Extracting a zip or gzip-compressed tar archive into a folder, refusing every entry that
//! would land outside it: absolute paths, `..`, and links (symbolic or hard), which are
//! never extracted (a data set needs only files and folders). The format is told from the
//! file's first bytes, not its name.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Component, Path, PathBuf};

/// Why an archive could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Neither a zip nor a gzip file.
    #[error("it is neither a zip nor a gzip-compressed tar archive")]
    UnknownFormat,
    /// The archive is damaged or truncated.
    #[error("the archive is damaged: {0}")]
    Damaged(String),
    /// An entry would be written outside the target folder, or is a link.
    #[error("the archive entry `{entry}` is refused: {why}")]
    Refused {
        /// The entry's name as stored.
        entry: String,
        /// Why.
        why: String,
    },
    /// Writing the extracted files failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder being written.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Extracts the archive at `archive` into the existing folder `into`; returns the number of
/// files written.
pub fn extract(archive: &Path, into: &Path) -> Result<usize, ArchiveError> {
    let damaged = |e: std::io::Error| ArchiveError::Damaged(e.to_string());
    let mut file = File::open(archive).map_err(damaged)?;
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic).map_err(damaged)?;
    file.rewind().map_err(damaged)?;
    match &magic[..n] {
        [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => extract_zip(file, into),
        [0x1f, 0x8b, ..] => extract_tar_gz(file, into),
        _ => Err(ArchiveError::UnknownFormat),
    }
}

/// The path of an entry below the target folder, or why it is refused.
fn safe_path(name: &str) -> Result<PathBuf, ArchiveError> {
    let refuse = |why: &str| ArchiveError::Refused {
        entry: name.to_string(),
        why: why.to_string(),
    };
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(refuse(
                    "it contains `..`, which would leave the target folder",
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse("it is an absolute path, outside the target folder"));
            }
        }
    }
    if name.contains('\\') {
        return Err(refuse(
            "it contains a backslash, which some systems read as a folder separator",
        ));
    }
    Ok(out)
}

fn link_refused(name: &str, target: Option<&Path>) -> ArchiveError {
    ArchiveError::Refused {
        entry: name.to_string(),
        why: match target {
            Some(t) => format!(
                "it is a link (to `{}`); runner extracts only files and folders",
                t.display()
            ),
            None => "it is a link; runner extracts only files and folders".into(),
        },
    }
}

/// Writes `reader` to `into/rel`, making its folders.
fn write_file(into: &Path, rel: &Path, reader: &mut impl Read) -> Result<(), ArchiveError> {
    let path = into.join(rel);
    let write = |source| ArchiveError::Write {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write)?;
    }
    let mut out = File::create(&path).map_err(write)?;
    // A read error here is the archive's (truncated data, bad checksum), a write error ours;
    // copy in two halves to tell them apart.
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| ArchiveError::Damaged(format!("{}: {e}", rel.display())))?;
        if n == 0 {
            return Ok(());
        }
        std::io::Write::write_all(&mut out, &buf[..n]).map_err(write)?;
    }
}

fn make_dir(into: &Path, rel: &Path) -> Result<(), ArchiveError> {
    let path = into.join(rel);
    std::fs::create_dir_all(&path).map_err(|source| ArchiveError::Write { path, source })
}

fn extract_zip(file: File, into: &Path) -> Result<usize, ArchiveError> {
    let damaged = |e: zip::result::ZipError| ArchiveError::Damaged(e.to_string());
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(damaged)?;
    let mut files = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(damaged)?;
        let name = entry.name().map_err(damaged)?.into_owned();
        let rel = safe_path(&name)?;
        if entry.is_symlink() {
            return Err(link_refused(&name, None));
        }
        if entry.is_dir() {
            make_dir(into, &rel)?;
        } else {
            write_file(into, &rel, &mut entry)?;
            files += 1;
        }
    }
    Ok(files)
}

fn extract_tar_gz(file: File, into: &Path) -> Result<usize, ArchiveError> {
    use tar::EntryType;
    let damaged = |e: std::io::Error| ArchiveError::Damaged(e.to_string());
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    let mut tar = tar::Archive::new(gz);
    let mut files = 0;
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        match kind {
            EntryType::XGlobalHeader | EntryType::XHeader => continue,
            EntryType::Symlink | EntryType::Link => {
                let target = entry.link_name().ok().flatten().map(|t| t.into_owned());
                return Err(link_refused(&name, target.as_deref()));
            }
            _ => {}
        }
        let rel = safe_path(&name)?;
        match kind {
            EntryType::Directory => make_dir(into, &rel)?,
            EntryType::Regular | EntryType::Continuous => {
                write_file(into, &rel, &mut entry)?;
                files += 1;
            }
            other => {
                return Err(ArchiveError::Refused {
                    entry: name,
                    why: format!("it is a {other:?} entry; runner extracts only files and folders"),
                });
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_gz(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    fn file_header(path: &str, len: usize) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        // `set_path` refuses `..`, so write the name field directly, as an attacker would.
        h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(len as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        h
    }

    fn extract_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<usize, ArchiveError>) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.bin");
        std::fs::write(&archive, bytes).unwrap();
        let into = dir.path().join("out");
        std::fs::create_dir(&into).unwrap();
        let result = extract(&archive, &into);
        (dir, result)
    }

    #[test]
    fn extracts_zip_and_tar_gz() {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        zip.add_directory("d/", options).unwrap();
        zip.start_file("d/a.txt", options).unwrap();
        zip.write_all(b"hello").unwrap();
        let zip = zip.finish().unwrap().into_inner();
        let (dir, n) = extract_bytes(&zip);
        assert_eq!(n.unwrap(), 1);
        assert_eq!(
            std::fs::read(dir.path().join("out/d/a.txt")).unwrap(),
            b"hello"
        );

        let tgz = tar_gz(|b| {
            b.append(&file_header("./x/b.txt", 2), &b"hi"[..]).unwrap();
        });
        let (dir, n) = extract_bytes(&tgz);
        assert_eq!(n.unwrap(), 1);
        assert_eq!(
            std::fs::read(dir.path().join("out/x/b.txt")).unwrap(),
            b"hi"
        );
    }

    #[test]
    fn refuses_entries_that_leave_the_folder() {
        for name in ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt"] {
            let tgz = tar_gz(|b| b.append(&file_header(name, 1), &b"x"[..]).unwrap());
            let (dir, result) = extract_bytes(&tgz);
            let e = result.unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("refused"), "{e}");
            assert!(!dir.path().join("evil.txt").exists());
        }
        let tgz = tar_gz(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "link", "/etc").unwrap();
        });
        let e = extract_bytes(&tgz).1.unwrap_err().to_string();
        assert!(e.contains("`link`") && e.contains("/etc"), "{e}");
    }

    #[test]
    fn damaged_and_unknown_archives_are_errors() {
        let tgz = tar_gz(|b| b.append(&file_header("a", 4000), &[7u8; 4000][..]).unwrap());
        let e = extract_bytes(&tgz[..tgz.len() / 2]).1.unwrap_err();
        assert!(matches!(e, ArchiveError::Damaged(_)), "{e}");
        let e = extract_bytes(b"<html>not found</html>").1.unwrap_err();
        assert!(matches!(e, ArchiveError::UnknownFormat), "{e}");
    }
}
