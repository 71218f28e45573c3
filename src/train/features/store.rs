//! The frozen prefix's output tables, kept on disk across runs.
//!
//! A table holds the prefix's frontier values of a set of images. Without augmentation
//! (validation and test images always, training images when nothing augments them) they
//! depend only on the prefix (its graph and parameter values) and the images: not on the seed,
//! the batch size or the order, so one entry serves every epoch, trial and seed
//! ([`Tables::Fixed`]).
//! Augmentation is a function of (seed, epoch, image), so epoch `e` of every run that shares
//! the seed, the images, the augmentation, the batch size and the prefix feeds the rest of the
//! graph the same values ([`Tables::PerEpoch`]). So a sweep over head hyperparameters computes
//! the base once for all its trials. Entries live under `<cache root>/frozen/<key>/<table>.bin`
//! (the cache root of downloads, `$RUNNER_CACHE`; tables `images-<digest>` (every image) or
//! `held-out-<digest>` (validation and test images), and `epoch-<e>`),
//! where the key is a SHA-256 of exactly those inputs plus the backend and the build's
//! identity (a hash of runner's sources, lock file, features and compiler, made by build.rs),
//! so a changed weights file, graph, image, setting or build can never hit an old entry. The
//! folder is kept under a size limit ([`DiskCache`]), least recently used entries first. The cache is an optimisation only: any failure to read or write it is
//! logged and the run computes the values itself.

use super::{PrefixTable, StoredNode};
use crate::data::{Dataset, SplitKind};
use crate::machine::human;
use crate::model::GraphModel;
use crate::model::save::named_tensors;
use crate::track::atomic::write_atomically;
use burn::tensor::Device;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Default size limit of the folder, in GiB.
const DEFAULT_LIMIT_GIB: f64 = 8.0;
/// First bytes of an entry file.
const MAGIC: &[u8; 8] = b"RUNPFX01";

/// Where stored tables live, how much room they may take, and which build's they are: the
/// run's configuration of the disk cache ([`crate::train::RunOptions::prefix_cache`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DiskCache {
    /// The folder of the entries.
    pub dir: PathBuf,
    /// The folder's size limit in bytes.
    pub limit_bytes: u64,
    /// The identity of the build that computes the tables: entries of another build are
    /// never read.
    pub build: String,
}

impl DiskCache {
    /// `frozen/` under runner's cache root (`$RUNNER_CACHE`, else `runner` in the user's
    /// cache folder), limited to `$RUNNER_FROZEN_CACHE_GIB` GiB (default 8), for this build.
    pub fn from_environment() -> Result<Self, String> {
        let gib = std::env::var("RUNNER_FROZEN_CACHE_GIB")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| *v >= 0.0)
            .unwrap_or(DEFAULT_LIMIT_GIB);
        Ok(Self {
            dir: crate::fetch::cache::root()?.join("frozen"),
            limit_bytes: (gib * 1024.0 * 1024.0 * 1024.0) as u64,
            build: env!("RUNNER_BUILD_ID").to_string(),
        })
    }
}

/// Which tables a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    /// Tables without augmentation: the same whatever the seed, batch size and epoch. Rows are
    /// stored in image order.
    Fixed,
    /// Augmented training images, a table per epoch, rows in the epoch's batch order.
    PerEpoch,
}

/// One phase's entries of one kind: the folder of its key, and what was found there.
#[derive(Debug)]
pub struct PrefixStore {
    dir: PathBuf,
    limit_bytes: u64,
    tables: Tables,
    /// Tables read from the cache.
    pub hits: usize,
    /// Tables computed (and written).
    pub misses: usize,
}

impl PrefixStore {
    /// The store in `cache` of `tables` of the prefix `constant` of `model` over `dataset`'s
    /// images.
    pub fn open(
        cache: &DiskCache,
        model: &GraphModel,
        constant: &[bool],
        dataset: &Dataset,
        tables: Tables,
        device: &Device,
    ) -> Self {
        let key = key(&cache.build, model, constant, dataset, tables, device);
        Self {
            dir: cache.dir.join(key),
            limit_bytes: cache.limit_bytes,
            tables,
            hits: 0,
            misses: 0,
        }
    }

    /// The folder of this phase's entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stored table `name`, when there is a valid one for exactly the images `ids` (in
    /// batch order).
    pub fn load(&mut self, constant: &[bool], name: &str, ids: &[usize]) -> Option<PrefixTable> {
        let ids = self.row_order(ids);
        let path = self.entry(name, &ids);
        let bytes = std::fs::read(&path).ok()?;
        match decode(&bytes, &ids).map(|nodes| PrefixTable::from_rows(constant, nodes, &ids)) {
            Some(table) => {
                // Mark it recently used, for the size limit.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                self.hits += 1;
                Some(table)
            }
            None => {
                tracing::warn!(
                    "ignoring a damaged frozen-prefix cache entry {}",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores the table `name` of the images `ids` (in batch order), then trims the cache to
    /// its size limit.
    pub fn save(&mut self, name: &str, ids: &[usize], table: &PrefixTable) {
        self.misses += 1;
        let ids = self.row_order(ids);
        let path = self.entry(name, &ids);
        let written = std::fs::create_dir_all(&self.dir)
            .and_then(|()| write_atomically(&path, &encode(table, &ids)));
        if let Err(e) = written {
            tracing::warn!(
                "cannot write the frozen-prefix cache {}: {e}",
                path.display()
            );
            return;
        }
        if let Some(cache) = self.dir.parent() {
            trim(cache, self.limit_bytes);
        }
    }

    /// The order of an entry's rows for the images `ids` in batch order.
    fn row_order(&self, ids: &[usize]) -> Vec<usize> {
        let mut ids = ids.to_vec();
        if self.tables == Tables::Fixed {
            ids.sort_unstable();
        }
        ids
    }

    /// The file of table `name` with rows `ids`. A fixed table's name carries a digest of its
    /// images, which may differ between seeds (a split drawn at random).
    fn entry(&self, name: &str, ids: &[usize]) -> PathBuf {
        match self.tables {
            Tables::Fixed => {
                let mut digest = Sha256::new();
                for id in ids {
                    digest.update(id.to_le_bytes());
                }
                let digest = format!("{:x}", digest.finalize());
                self.dir.join(format!("{name}-{}.bin", &digest[..16]))
            }
            Tables::PerEpoch => self.dir.join(format!("{name}.bin")),
        }
    }
}

/// SHA-256 of everything the stored values of `tables` depend on, `build` included.
fn key(
    build: &str,
    model: &GraphModel,
    constant: &[bool],
    dataset: &Dataset,
    tables: Tables,
    device: &Device,
) -> String {
    let mut hash = Sha256::new();
    // The device: another backend computes the same prefix to other rounding.
    hash.update(format!(
        "runner frozen prefix v3 build {build} {device:?}\n"
    ));
    let graph = model.graph();
    let mut prefix = BTreeSet::new();
    for (node, _) in graph.nodes.iter().zip(constant).filter(|(_, c)| **c) {
        hash.update(format!("{} {:?} {:?}\n", node.name, node.op, node.inputs));
        prefix.insert(node.name.as_str());
    }
    hash.update(format!("frontier {:?}\n", model.prefix_frontier(constant)));
    for (name, (shape, values)) in named_tensors(model) {
        let node = name
            .rsplit_once('.')
            .map_or(name.as_str(), |(node, _)| node);
        if prefix.contains(node) {
            hash.update(format!("{name} {shape:?}\n"));
            for v in values {
                hash.update(v.to_le_bytes());
            }
        }
    }
    hash.update(match tables {
        Tables::Fixed => format!("fixed tables, size {:?}\n", dataset.image_size()),
        Tables::PerEpoch => format!(
            "per-epoch tables, seed {} batch {} size {:?} augment {:?}\n",
            dataset.seed(),
            dataset.batch_size(),
            dataset.image_size(),
            dataset.augmentations()
        ),
    });
    // Every image of the dataset (fixed tables: whatever the splits are, which may depend on
    // the seed), or the training images with their labels in order (per-epoch tables).
    match tables {
        Tables::Fixed => {
            let mut ids: Vec<usize> = SplitKind::ALL
                .iter()
                .flat_map(|&split| dataset.items(split).iter().map(|item| item.image))
                .collect();
            ids.sort_unstable();
            for id in ids {
                hash.update(format!("{id}\n"));
                hash.update(dataset.image(id));
            }
        }
        Tables::PerEpoch => {
            for item in dataset.items(SplitKind::Train) {
                hash.update(format!("{} {}\n", item.image, item.label));
                hash.update(dataset.image(item.image));
            }
        }
    }
    format!("{:x}", hash.finalize())[..32].to_string()
}

/// Removes the least recently used entries under `cache` until it holds at most `limit`
/// bytes.
fn trim(cache: &Path, limit: u64) {
    let mut entries: Vec<(SystemTime, u64, PathBuf)> = walkdir::WalkDir::new(cache)
        .min_depth(2)
        .max_depth(2)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let modified = meta.modified().ok()?;
            meta.is_file()
                .then(|| (modified, meta.len(), e.into_path()))
        })
        .collect();
    let mut total: u64 = entries.iter().map(|e| e.1).sum();
    if total <= limit {
        return;
    }
    entries.sort();
    let mut removed = 0u64;
    for (_, len, path) in entries {
        if total <= limit {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            removed += len;
            if let Some(dir) = path.parent() {
                let _ = std::fs::remove_dir(dir); // only when empty
            }
        }
    }
    tracing::info!(
        "frozen-prefix cache: removed {} of least recently used entries to stay under {}",
        human(removed as f64),
        human(limit as f64)
    );
}

/// An entry of the images `ids` (rows in that order): magic, row count, the rows' image ids,
/// then per frontier node its graph index, dims and values (little-endian).
fn encode(table: &PrefixTable, ids: &[usize]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let put = |out: &mut Vec<u8>, v: usize| out.extend((v as u64).to_le_bytes());
    put(&mut out, ids.len());
    for &id in ids {
        put(&mut out, id);
    }
    put(&mut out, table.nodes.len());
    for node in &table.nodes {
        put(&mut out, node.node);
        put(&mut out, node.dims.len());
        for &d in &node.dims {
            put(&mut out, d);
        }
        let per = node.per_image();
        for &id in ids {
            let row = table.row_of[id].expect("a table holds the images it is saved for");
            for v in &node.values[row * per..(row + 1) * per] {
                out.extend(v.to_le_bytes());
            }
        }
    }
    out
}

/// Reads the nodes of an entry written by [`encode`]; `None` unless it is whole and its rows
/// are `ids`.
fn decode(bytes: &[u8], ids: &[usize]) -> Option<Vec<StoredNode>> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let rows = reader.usize()?;
    if rows != ids.len() {
        return None;
    }
    for &id in ids {
        if reader.usize()? != id {
            return None;
        }
    }
    let mut nodes = Vec::new();
    for _ in 0..reader.usize()? {
        let node = reader.usize()?;
        let dims = (0..reader.usize()?)
            .map(|_| reader.usize())
            .collect::<Option<Vec<_>>>()?;
        let count = rows.checked_mul(dims.iter().product())?;
        let raw = reader.take(count.checked_mul(4)?)?;
        let values = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        nodes.push(StoredNode { node, dims, values });
    }
    (reader.at == bytes.len()).then_some(nodes)
}

/// A cursor over an entry's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn usize(&mut self) -> Option<usize> {
        let b = self.take(8)?;
        usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<StoredNode> {
        vec![StoredNode {
            node: 7,
            dims: vec![2],
            values: vec![1.0, 2.0, 3.0, 4.0],
        }]
    }

    #[test]
    fn an_entry_reads_back_only_whole_and_for_the_same_images() {
        let table = PrefixTable::from_rows(&[true], nodes(), &[5, 3]);
        let bytes = encode(&table, &[5, 3]);
        let read = decode(&bytes, &[5, 3]).expect("whole entry");
        assert_eq!(read[0].values, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!((read[0].node, read[0].dims.clone()), (7, vec![2]));
        assert!(decode(&bytes, &[3, 5]).is_none(), "another batch order");
        assert!(
            decode(&bytes[..bytes.len() - 1], &[5, 3]).is_none(),
            "truncated"
        );
        assert!(decode(b"RUNPFX00", &[]).is_none(), "other format");
    }

    #[test]
    fn trimming_removes_the_least_recently_used_entries_first() {
        let cache = tempfile::tempdir().unwrap();
        let old = cache.path().join("a/epoch-1.bin");
        let new = cache.path().join("b/epoch-1.bin");
        for (path, age) in [(&old, 100), (&new, 10)] {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, [0u8; 600]).unwrap();
            let when = SystemTime::now() - std::time::Duration::from_secs(age);
            std::fs::File::options()
                .append(true)
                .open(path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        trim(cache.path(), 1000);
        assert!(!old.exists() && !old.parent().unwrap().exists());
        assert!(new.exists());
    }
}
