//! Checkpoints: what a run needs to continue exactly where it stopped. The model and optimizer
//! state are Burn records (burnpack bytes, which keep parameter ids, so the optimizer's
//! per-parameter state finds its parameters again); the loop's position and memory is
//! [`LoopState`] (JSON). Every file is written atomically, and `checkpoint.json`, written last,
//! names the files of the latest complete checkpoint: a run killed at any moment keeps the
//! previous one. Older checkpoint files are removed once a newer one is complete.

use super::metrics::MetricAccumulator;
use super::monitor::Improvement;
use super::schedule::PlateauState;
use crate::model::GraphModel;
use crate::track::records::{EpochRecord, Metrics};
use crate::track::{RunDir, write_atomically};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// Where the training loop is and what it remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Index of the phase in flight (the number of phases once training is over).
    pub phase: usize,
    /// Finished epochs of that phase.
    pub phase_epochs: usize,
    /// True when early stopping ended that phase.
    pub phase_stopped: bool,
    /// Optimizer steps taken in that phase.
    pub phase_step: u64,
    /// Finished epochs, all phases.
    pub epoch: usize,
    /// Batches done of the epoch in flight (0 at an epoch boundary).
    pub batch: usize,
    /// Optimizer steps, all phases.
    pub step: u64,
    /// Training totals of the epoch in flight, when stopped inside it.
    pub partial_train: Option<MetricAccumulator>,
    /// One `metrics.jsonl` line per finished epoch.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights the model holds (the restored best one after early stopping
    /// with `restore_best`, else the last one).
    #[serde(default)]
    pub model_epoch: usize,
    /// Validation metrics before training.
    pub initial_validation: Metrics,
    /// Best validation accuracy and its epoch, over all phases.
    pub best_accuracy: Option<(f64, usize)>,
    /// First epoch of the second phase (where fine-tuning starts), for the plots.
    pub fine_tune_start: Option<usize>,
    /// Reduce-on-plateau state of the phase in flight.
    pub plateau: PlateauState,
    /// Early-stopping state of the phase in flight.
    pub early_stopping: Improvement,
    /// Seconds spent by earlier processes on this run.
    pub seconds: f64,
    /// True once the run has written its final results.
    pub finished: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Pointer {
    progress: LoopState,
    model: String,
    optimizer: Option<String>,
    best_model: Option<String>,
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Checkpoint {
    /// The loop's state.
    pub progress: LoopState,
    /// Model parameters and batch-norm statistics.
    pub model: ModuleRecord,
    /// Optimizer state of the phase in flight.
    pub optimizer: Option<Bytes>,
    /// The best model of the phase in flight (early stopping with `restore_best`).
    pub best_model: Option<ModuleRecord>,
}

/// Why a checkpoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file is missing or unreadable.
    #[error("cannot read the checkpoint file {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// The best model of a phase, kept for `restore_best`, and the epoch it is from.
#[derive(Debug, Clone)]
pub struct BestModel {
    /// Epoch (across phases).
    pub epoch: usize,
    /// The weights at the end of that epoch.
    pub model: GraphModel,
}

/// Writes a checkpoint of `model`, `optimizer` and `progress` into `run_dir`.
pub fn save(
    run_dir: &Path,
    progress: &LoopState,
    model: &GraphModel,
    optimizer: Option<&ModuleOptimizer>,
    best: Option<&BestModel>,
) -> io::Result<()> {
    let run = RunDir::new(run_dir);
    let folder = run.checkpoints_folder();
    std::fs::create_dir_all(&folder)?;
    let stem = format!("epoch{:04}-batch{:05}", progress.epoch, progress.batch);
    let model_name = format!("{stem}.model.bpk");
    write_atomically(&folder.join(&model_name), &model_bytes(model)?)?;
    let optimizer_name = match optimizer {
        Some(optimizer) => {
            let name = format!("{stem}.optimizer.bpk");
            let bytes = optimizer.into_bytes().map_err(io::Error::other)?;
            write_atomically(&folder.join(&name), &bytes)?;
            Some(name)
        }
        None => None,
    };
    let best_name = match best {
        Some(best) => {
            let name = format!("best-epoch{:04}.model.bpk", best.epoch);
            let path = folder.join(&name);
            if !path.is_file() {
                write_atomically(&path, &model_bytes(&best.model)?)?;
            }
            Some(name)
        }
        None => None,
    };
    let pointer = Pointer {
        progress: progress.clone(),
        model: model_name,
        optimizer: optimizer_name,
        best_model: best_name,
    };
    let json = serde_json::to_vec_pretty(&pointer).map_err(io::Error::other)?;
    write_atomically(&run.checkpoint_pointer_file(), &json)?;
    remove_unreferenced(&folder, &pointer);
    Ok(())
}

/// Reads the latest checkpoint of `run_dir`, or `None` when it has none yet.
pub fn load(run_dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    let run = RunDir::new(run_dir);
    let pointer_path = run.checkpoint_pointer_file();
    if !pointer_path.is_file() {
        return Ok(None);
    }
    let read_error = |path: &Path, message: String| CheckpointError::Read {
        path: path.to_path_buf(),
        message,
    };
    let text =
        std::fs::read(&pointer_path).map_err(|e| read_error(&pointer_path, e.to_string()))?;
    let pointer: Pointer =
        serde_json::from_slice(&text).map_err(|e| read_error(&pointer_path, e.to_string()))?;
    let folder = run.checkpoints_folder();
    let bytes = |name: &str| {
        let path = folder.join(name);
        std::fs::read(&path)
            .map(Bytes::from_bytes_vec)
            .map_err(|e| read_error(&path, e.to_string()))
    };
    let record = |name: &str| {
        ModuleRecord::from_bytes(bytes(name)?)
            .map_err(|e| read_error(&folder.join(name), e.to_string()))
    };
    Ok(Some(Checkpoint {
        model: record(&pointer.model)?,
        optimizer: pointer.optimizer.as_deref().map(bytes).transpose()?,
        best_model: pointer.best_model.as_deref().map(record).transpose()?,
        progress: pointer.progress,
    }))
}

fn model_bytes(model: &GraphModel) -> io::Result<Bytes> {
    model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(io::Error::other)
}

/// Deletes checkpoint files the pointer no longer names (best effort: a leftover file only
/// costs disk space).
fn remove_unreferenced(folder: &Path, pointer: &Pointer) {
    let keep = [
        Some(&pointer.model),
        pointer.optimizer.as_ref(),
        pointer.best_model.as_ref(),
    ];
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".bpk") && !keep.iter().flatten().any(|k| **k == name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
