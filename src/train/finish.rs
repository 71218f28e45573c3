//! The files a finished run leaves: the final model's evaluation (test split when there is
//! one), learning curves, confusion matrix, the model as safetensors, and `summary.json`.

use super::checkpoint::LoopState;
use super::evaluate::{evaluate, format_metrics};
use super::{RunError, output_error};
use crate::data::{Dataset, SplitKind};
use crate::model::{GraphModel, save};
use crate::plan::Plan;
use crate::track::plots::{self, EpochMetrics};
use crate::track::records::{BestEpoch, DeviceInfo, EpochRecord, SUMMARY_VERSION, Summary};
use crate::track::run_dir::spec_hash;
use crate::track::{RunDir, write_atomically};
use burn::module::Module;
use burn::tensor::Device;

/// The epoch whose weights the final model holds.
pub fn final_record(progress: &LoopState) -> Option<&EpochRecord> {
    progress
        .history
        .iter()
        .find(|r| r.epoch == progress.model_epoch)
        .or(progress.history.last())
}

/// Evaluates the final model, writes the run's plots and model, and returns its summary (the
/// caller writes it last: its presence marks the run as finished). `progress.seconds` is the
/// run's wall time.
pub fn finish(
    plan: &Plan,
    run: &RunDir,
    dataset: &Dataset,
    model: &GraphModel,
    (device, device_info): (&Device, &DeviceInfo),
    progress: &LoopState,
) -> Result<Summary, RunError> {
    let spec = &plan.spec.spec;
    let split = if dataset.has_test() {
        SplitKind::Test
    } else {
        SplitKind::Validation
    };
    let final_eval = evaluate(model, dataset, split, &spec.loss, device, None)?;
    let final_metrics = final_eval.finish(&spec.metrics);
    tracing::info!("{split}: {}", format_metrics(&final_metrics));
    let history: Vec<EpochMetrics> = progress.history.iter().map(epoch_metrics).collect();
    // A picture that cannot be made must not fail a finished run: warn and go on.
    let plotted = [
        plots::learning_curves_png(
            &run.learning_curves_file(),
            &history,
            progress.fine_tune_start,
        ),
        plots::confusion_matrix_png(
            &run.confusion_matrix_file(&split.to_string()),
            dataset.class_names(),
            &final_eval.confusion_matrix(),
        ),
    ];
    for e in plotted.into_iter().filter_map(Result::err) {
        tracing::warn!("{e}; the run's results are complete without it");
    }
    let model_path = run.model_file();
    let bytes = save::to_safetensors(&model.valid()).map_err(|e| RunError::SaveModel {
        path: model_path.clone(),
        reason: e.to_string(),
    })?;
    write_atomically(&model_path, &bytes).map_err(output_error(&model_path))?;

    let last = final_record(progress);
    let epochs = progress.history.len().max(1) as f64;
    let summary = Summary {
        version: SUMMARY_VERSION,
        experiment: spec.name.clone(),
        run: run.name(),
        spec_hash: spec_hash(&super::resolved_json(plan)),
        seed: spec.seed,
        device: device_info.clone(),
        epochs: progress.epoch,
        seconds: progress.seconds,
        images_per_second: progress
            .history
            .iter()
            .map(|r| r.images_per_second)
            .sum::<f64>()
            / epochs,
        initial_validation: progress.initial_validation.clone(),
        final_train: last.map(|r| r.train.clone()),
        final_validation: match split {
            SplitKind::Validation => Some(final_metrics.clone()),
            _ => last.map(|r| r.validation.clone()),
        },
        final_epoch: last.map_or(0, |r| r.epoch),
        best_validation_accuracy: progress
            .best_accuracy
            .map(|(accuracy, epoch)| BestEpoch { accuracy, epoch }),
        test: (split == SplitKind::Test).then_some(final_metrics),
        confusion_matrix: final_eval.confusion_matrix(),
        classes: dataset.class_names().to_vec(),
    };
    Ok(summary)
}

/// The plotted numbers of one epoch.
fn epoch_metrics(record: &EpochRecord) -> EpochMetrics {
    EpochMetrics {
        epoch: record.epoch,
        train_loss: record.metric("train/loss").unwrap_or(f64::NAN),
        train_accuracy: record.metric("train/accuracy").unwrap_or(f64::NAN),
        val_loss: record.metric("validation/loss"),
        val_accuracy: record.metric("validation/accuracy"),
    }
}
