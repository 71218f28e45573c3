//! What a run tells people: the TensorBoard entries written when it starts (the spec, HParams,
//! a grid of augmented training images) and the files a finished run leaves (final evaluation,
//! learning curves, confusion matrix, the model as safetensors, `summary.json`).

use super::checkpoint::Progress;
use super::evaluate::{evaluate, format_metrics};
use super::{RunError, output_error};
use crate::data::{Dataset, SplitKind};
use crate::model::{GraphModel, save};
use crate::plan::Plan;
use crate::track::plots::{self, EpochMetrics};
use crate::track::run;
use crate::track::tensorboard::{EventWriter, HParamValue, SessionStatus, image_grid};
use crate::track::write_atomically;
use burn::module::Module;
use burn::tensor::Device;
use serde_json::{Value, json};
use std::io;
use std::path::Path;

/// Metrics TensorBoard's HParams view shows per run.
const HPARAM_METRICS: [&str; 2] = ["validation/accuracy", "validation/loss"];
/// Augmented training images shown in TensorBoard.
const SAMPLE_IMAGES: usize = 16;

/// The entries a new run starts its events with.
pub fn start_events(events: &mut EventWriter, plan: &Plan, dataset: &Dataset) -> io::Result<()> {
    events.add_text("spec", &format!("```yaml\n{}\n```", plan.spec.text), 0)?;
    let hparams = hyperparameters(plan);
    let refs: Vec<(&str, HParamValue)> = hparams
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    events.add_hparams_start(&refs, &HPARAM_METRICS)?;
    let [h, w] = dataset.image_size();
    let items = dataset.items(SplitKind::Train);
    let samples: Vec<Vec<u8>> = dataset
        .order(SplitKind::Train, 1)
        .into_iter()
        .take(SAMPLE_IMAGES)
        .map(|position| dataset.augmented(items[position].image, 1))
        .collect();
    let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    if let Some((grid, gh, gw)) = image_grid(&refs, h as u32, w as u32, 4, 2) {
        events.add_image("train/augmented_samples", &grid, gh, gw, 1)?;
    }
    Ok(())
}

/// Evaluates the final model and writes the run's results; returns the summary.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    plan: &Plan,
    dir: &Path,
    dataset: &Dataset,
    model: &GraphModel,
    device: &Device,
    progress: &Progress,
    seconds: f64,
    events: &mut EventWriter,
) -> Result<Value, RunError> {
    let spec = &plan.spec.spec;
    let split = if dataset.has_test() {
        SplitKind::Test
    } else {
        SplitKind::Validation
    };
    let final_eval = evaluate(model, dataset, split, &spec.loss, device);
    let final_metrics = final_eval.finish(&spec.metrics);
    tracing::info!("{split}: {}", format_metrics(&final_metrics));
    let history: Vec<EpochMetrics> = progress.history.iter().map(epoch_metrics).collect();
    let curves = dir.join("learning_curves.png");
    plots::learning_curves_png(&curves, &history, progress.fine_tune_start)
        .map_err(|e| RunError::Mismatch(e.to_string()))?;
    let confusion = dir.join(format!("confusion_matrix_{split}.png"));
    plots::confusion_matrix_png(
        &confusion,
        dataset.class_names(),
        &final_eval.confusion_matrix(),
    )
    .map_err(|e| RunError::Mismatch(e.to_string()))?;
    let model_path = dir.join("model.safetensors");
    let bytes = save::to_safetensors(&model.valid())
        .map_err(|e| RunError::Mismatch(format!("cannot serialise the model: {e}")))?;
    write_atomically(&model_path, &bytes).map_err(output_error(&model_path))?;

    let last = progress.history.last();
    let summary = json!({
        "experiment": spec.name,
        "run": dir.file_name().map(|n| n.to_string_lossy().into_owned()),
        "seed": spec.seed,
        "device": "flex (CPU)",
        "runner_version": env!("CARGO_PKG_VERSION"),
        "epochs": progress.epoch,
        "seconds": seconds,
        "initial_validation": progress.initial_validation,
        "final_train": last.map(|l| l["train"].clone()),
        "final_validation": last.map(|l| l["validation"].clone()),
        "best_validation_accuracy": progress.best_accuracy.map(|(a, e)| json!({"accuracy": a, "epoch": e})),
        split.to_string(): final_metrics,
        "confusion_matrix": final_eval.confusion_matrix(),
        "classes": dataset.class_names(),
    });
    if let Some(last) = history.last() {
        for (tag, value) in HPARAM_METRICS
            .into_iter()
            .zip([last.val_accuracy, last.val_loss])
        {
            events
                .add_scalar(tag, value.unwrap_or(0.0), last.epoch as u64)
                .map_err(output_error(dir))?;
        }
    }
    events
        .add_hparams_end(SessionStatus::Success)
        .map_err(output_error(dir))?;
    events.flush().map_err(output_error(dir))?;
    let summary_path = dir.join(run::SUMMARY_FILE);
    write_atomically(
        &summary_path,
        serde_json::to_string_pretty(&summary)
            .expect("json")
            .as_bytes(),
    )
    .map_err(output_error(&summary_path))?;
    Ok(summary)
}

/// The plotted numbers of one `metrics.jsonl` line.
fn epoch_metrics(line: &Value) -> EpochMetrics {
    let get = |split: &str, name: &str| line[split][name].as_f64();
    EpochMetrics {
        epoch: line["epoch"].as_u64().unwrap_or(0) as usize,
        train_loss: get("train", "loss").unwrap_or(f64::NAN),
        train_accuracy: get("train", "accuracy").unwrap_or(f64::NAN),
        val_loss: get("validation", "loss"),
        val_accuracy: get("validation", "accuracy"),
    }
}

/// Hyperparameters shown in TensorBoard's HParams view: seed, batch size, and per phase the
/// optimizer, learning rate, epochs and trainable parameters.
fn hyperparameters(plan: &Plan) -> Vec<(String, HParamValue)> {
    let spec = &plan.spec.spec;
    let mut out = vec![
        ("seed".to_string(), HParamValue::from(spec.seed)),
        (
            "batch_size".to_string(),
            HParamValue::from(spec.data.batch_size),
        ),
    ];
    for phase in &plan.phases {
        let name = &phase.spec.name;
        out.push((
            format!("{name}/optimizer"),
            HParamValue::from(phase.spec.optimizer.kind().to_string()),
        ));
        out.push((
            format!("{name}/learning_rate"),
            HParamValue::from(phase.spec.optimizer.learning_rate()),
        ));
        out.push((
            format!("{name}/epochs"),
            HParamValue::from(phase.spec.epochs as u64),
        ));
        out.push((
            format!("{name}/trainable_params"),
            HParamValue::from(phase.trainable_params(&plan.graph)),
        ));
    }
    out
}
