//! The decoded-image cache: all images of a dataset as one contiguous u8 HWC buffer in memory,
//! optionally saved to a file so that a second run skips decoding.
//!
//! The file is named by a SHA-256 of the cache format version, the image size, the
//! interpolation, the decoder (libjpeg-turbo at full size or DCT-scaled, or the `image` crate)
//! and the listing (every file's path, size and modification time), so any
//! change to the folder or to these settings makes a new file; stale files are left in place
//! (delete the cache folder to reclaim space). Writes go to a temporary file in the same folder
//! that is then renamed, so a crash never leaves a half-written cache under the final name.
//!
//! Layout: 16-byte magic, then u64 LE count, u64 LE bytes per image, u64 LE length of a JSON
//! list of per-file entries (original size, or the reason the file was skipped), the JSON,
//! then `count * bytes per image` pixel bytes. A file whose header does not match its size
//! or the expected listing is ignored with a warning and written again.

use super::decode::OriginalSize;
use super::error::DataError;
use super::folder::FileEntry;
use crate::spec::data::Interpolation;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 16] = b"RUNNERIMGCACHE01";

/// Every file of a listing, decoded and resized: `pixels` holds `per_image` bytes per file, in
/// listing order; `results` says for each file its original size or why it was skipped.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub pixels: Vec<u8>,
    pub results: Vec<Result<OriginalSize, String>>,
}

#[derive(Serialize, Deserialize)]
enum Entry {
    Ok(u32, u32),
    Skip(String),
}

/// The cache file name for a listing and settings.
/// `method` names the decoder ([`super::decode::method`]): another decoder gives other pixels.
pub(crate) fn file_name(
    files: &[FileEntry],
    size: [u32; 2],
    interp: Interpolation,
    method: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(size[0].to_le_bytes());
    h.update(size[1].to_le_bytes());
    h.update(interp.name().as_bytes());
    h.update([0]);
    h.update(method.as_bytes());
    h.update([0]);
    for f in files {
        h.update(f.path.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(f.len.to_le_bytes());
        h.update(f.mtime_ns.to_le_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("images-{}x{}-{hex}.cache", size[0], size[1])
}

/// Reads a cache file; `None` (with a warning for anything but a missing file) if it is absent,
/// unreadable or does not match `count` images of `per_image` bytes.
pub(crate) fn load(path: &Path, count: usize, per_image: usize) -> Option<Decoded> {
    match try_load(path, count, per_image) {
        Ok(d) => Some(d),
        Err(e) => {
            if path.exists() {
                tracing::warn!(
                    "ignoring image cache {}: {e}; images will be decoded again",
                    path.display()
                );
            }
            None
        }
    }
}

fn try_load(path: &Path, count: usize, per_image: usize) -> Result<Decoded, String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut head = [0u8; 40];
    f.read_exact(&mut head).map_err(|e| e.to_string())?;
    if &head[..16] != MAGIC {
        return Err("not a runner image cache".into());
    }
    let word = |i: usize| u64::from_le_bytes(head[16 + 8 * i..24 + 8 * i].try_into().unwrap());
    let (n, per, json_len) = (word(0) as usize, word(1) as usize, word(2) as usize);
    if n != count || per != per_image {
        return Err(format!(
            "holds {n} images of {per} bytes, expected {count} of {per_image}"
        ));
    }
    // Every length is checked against the file's size before anything is allocated: a
    // damaged header must not ask for a huge buffer.
    let file_len = f.metadata().map_err(|e| e.to_string())?.len();
    let expected = (json_len as u64)
        .checked_add((n as u64).saturating_mul(per as u64))
        .and_then(|body| body.checked_add(head.len() as u64));
    if expected != Some(file_len) {
        return Err(format!(
            "damaged: its header does not match its size ({file_len} bytes)"
        ));
    }
    let mut json = vec![0u8; json_len];
    f.read_exact(&mut json).map_err(|e| e.to_string())?;
    let entries: Vec<Entry> = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
    if entries.len() != n {
        return Err("entry count does not match".into());
    }
    let mut pixels = vec![0u8; n * per];
    f.read_exact(&mut pixels)
        .map_err(|e| format!("truncated: {e}"))?;
    let results = entries
        .into_iter()
        .map(|e| match e {
            Entry::Ok(w, h) => Ok((w, h)),
            Entry::Skip(r) => Err(r),
        })
        .collect();
    Ok(Decoded { pixels, results })
}

/// Writes a cache file atomically (temporary file, then rename).
pub(crate) fn save(path: &Path, decoded: &Decoded, per_image: usize) -> Result<(), DataError> {
    let err = |source| DataError::CacheWrite {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let entries: Vec<Entry> = decoded
        .results
        .iter()
        .map(|r| match r {
            Ok((w, h)) => Entry::Ok(*w, *h),
            Err(s) => Entry::Skip(s.clone()),
        })
        .collect();
    let json = serde_json::to_vec(&entries).expect("cache entries serialize");
    let tmp: PathBuf = path.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(MAGIC)?;
        f.write_all(&(decoded.results.len() as u64).to_le_bytes())?;
        f.write_all(&(per_image as u64).to_le_bytes())?;
        f.write_all(&(json.len() as u64).to_le_bytes())?;
        f.write_all(&json)?;
        f.write_all(&decoded.pixels)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/c.cache");
        let d = Decoded {
            pixels: (0..24).map(|i| i as u8).collect(),
            results: vec![Ok((3, 4)), Err("bad".into())],
        };
        save(&p, &d, 12).unwrap();
        let back = load(&p, 2, 12).unwrap();
        assert_eq!(back.pixels, d.pixels);
        assert_eq!(back.results, d.results);
        assert!(load(&p, 3, 12).is_none());
        std::fs::write(&p, b"junk").unwrap();
        assert!(load(&p, 2, 12).is_none());
    }

    #[test]
    fn a_damaged_length_field_is_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.cache");
        let d = Decoded {
            pixels: vec![7; 24],
            results: vec![Ok((3, 4)), Ok((5, 6))],
        };
        save(&p, &d, 12).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        // The JSON length field (bytes 32..40) claims about 2^62 bytes.
        bytes[39] = 0x40;
        std::fs::write(&p, &bytes).unwrap();
        let e = try_load(&p, 2, 12).err().unwrap();
        assert!(e.contains("damaged"), "{e}");
        assert!(load(&p, 2, 12).is_none());
        // Truncated pixels are refused the same way.
        save(&p, &d, 12).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(try_load(&p, 2, 12).err().unwrap().contains("damaged"));
    }
}
