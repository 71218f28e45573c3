//! Training: runs a plan's phases in order on its data, evaluates, and writes the run folder
//! (TensorBoard events, `metrics.jsonl`, `summary.json`, plots, the final model).
//!
//! Each phase applies its trainable set and batch-norm mode ([`phase`]), builds its optimizer
//! ([`optimizer`]) and trains for its epochs; epoch numbers continue across phases, like Keras'
//! `initial_epoch`. Before training the model is evaluated once, as the tutorial does.

pub mod loss;
pub mod metrics;
pub mod optimizer;
pub mod phase;

use crate::data::{Dataset, SplitKind};
use crate::model::{GraphModel, save, weights};
use crate::plan::Plan;
use crate::track::plots::{self, EpochMetrics};
use crate::track::run::{self, RunFolder};
use crate::track::tensorboard::{EventWriter, HParamValue, SessionStatus};
use crate::track::write_atomically;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use metrics::MetricAccumulator;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Folder holding `<experiment>/<run-id>/` folders.
    pub runs_dir: PathBuf,
    /// Run again even when a finished run of the same spec exists.
    pub again: bool,
    /// Show progress bars (on a terminal, unless quiet).
    pub progress: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Pretrained weights could not be loaded.
    #[error(transparent)]
    Weights(#[from] weights::WeightsError),
    /// The run folder could not be written.
    #[error("cannot write the run folder {path}: {source}")]
    Output {
        /// What was being written.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The data and the model disagree.
    #[error("{0}")]
    Mismatch(String),
    /// The loss stopped being a number.
    #[error(
        "the loss became {value} in phase `{phase}`, epoch {epoch}, batch {batch}; the run stops here (lower the learning rate, or check the data)"
    )]
    NotFinite {
        /// The bad value.
        value: f64,
        /// Phase name.
        phase: String,
        /// Epoch number (1-based, across phases).
        epoch: usize,
        /// Batch number in the epoch (1-based).
        batch: usize,
    },
}

/// The result of [`run`].
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A run finished; its folder and summary.
    Finished {
        /// The run folder.
        dir: PathBuf,
        /// `summary.json` content.
        summary: Value,
    },
    /// A finished run of the same spec already exists (`again` was false).
    AlreadyDone(PathBuf),
}

fn output_error(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs every phase of `plan` and writes the run folder.
pub fn run(plan: &Plan, options: &RunOptions) -> Result<Outcome, RunError> {
    let spec = &plan.spec.spec;
    let resolved = serde_json::to_string_pretty(spec).expect("a spec serializes");
    let dir = match run::prepare(&options.runs_dir, &spec.name, &resolved, options.again)
        .map_err(output_error(&options.runs_dir))?
    {
        RunFolder::Finished(dir) => return Ok(Outcome::AlreadyDone(dir)),
        RunFolder::Fresh(dir) => dir,
    };
    tracing::info!("run folder: {}", dir.display());
    write_atomically(&dir.join("spec.yaml"), plan.spec.text.as_bytes())
        .map_err(output_error(&dir))?;
    write_atomically(&dir.join("resolved_spec.json"), resolved.as_bytes())
        .map_err(output_error(&dir))?;

    let started = Instant::now();
    let dataset = Dataset::load(&spec.data, plan.spec.base_dir(), spec.seed)?;
    let outputs = plan.graph.nodes[plan.graph.outputs[0]].shape;
    let expected = crate::plan::graph::Shape::Vector(dataset.num_outputs());
    if outputs != expected {
        return Err(RunError::Mismatch(format!(
            "the data has {} classes ({:?} labels), so the model must output {expected}, but it outputs {outputs}; set the last dense layer's `units`",
            dataset.class_names().len(),
            dataset.label_mode()
        )));
    }
    let device = Device::flex();
    device.seed(spec.seed);
    let train_device = device.clone().autodiff();
    let mut model = GraphModel::new(&plan.graph, &train_device);
    for report in weights::load_pretrained(&mut model, plan, &train_device)? {
        tracing::info!("{report}");
    }

    let mut events = EventWriter::new(&dir).map_err(output_error(&dir))?;
    events
        .add_text("spec", &format!("```yaml\n{}\n```", plan.spec.text), 0)
        .map_err(output_error(&dir))?;
    let hparams = hyperparameters(plan);
    let hparam_refs: Vec<(&str, HParamValue)> = hparams
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    events
        .add_hparams_start(&hparam_refs, &["validation/accuracy", "validation/loss"])
        .map_err(output_error(&dir))?;

    let initial = evaluate(&model, &dataset, SplitKind::Validation, plan, &device);
    tracing::info!(
        "before training: validation {}",
        format_metrics(&initial.finish(&spec.metrics))
    );

    let metrics_path = dir.join("metrics.jsonl");
    let mut history: Vec<EpochMetrics> = Vec::new();
    let mut epoch = 0usize;
    let mut step = 0u64;
    let mut fine_tune_start = None;
    let mut best: Option<(f64, usize)> = None;
    for (index, phase) in plan.phases.iter().enumerate() {
        model = phase::apply(model, phase);
        let mut optim = optimizer::build(&phase.spec.optimizer);
        let lr = phase.spec.optimizer.learning_rate();
        tracing::info!(
            "phase `{}`: {} epoch(s), {} trainable parameters, learning rate {lr}",
            phase.spec.name,
            phase.spec.epochs,
            crate::plan::summary::thousands(phase.trainable_params(&plan.graph))
        );
        if index > 0 && fine_tune_start.is_none() {
            fine_tune_start = Some(epoch + 1);
        }
        for _ in 0..phase.spec.epochs {
            epoch += 1;
            let epoch_started = Instant::now();
            let mut train = MetricAccumulator::new(dataset.num_outputs().max(2));
            let bar = progress_bar(
                options.progress,
                dataset.num_batches(SplitKind::Train),
                &format!("epoch {epoch} {}", phase.spec.name),
            );
            for (b, batch) in dataset.batches(SplitKind::Train, epoch as u64).enumerate() {
                let images = images_tensor(
                    &batch.images,
                    batch.len,
                    batch.height,
                    batch.width,
                    &train_device,
                );
                let output = model.forward(images);
                let loss = loss::loss(&spec.loss, output.clone(), &batch.labels, &train_device);
                let loss_value = scalar(loss.clone());
                if !loss_value.is_finite() {
                    return Err(RunError::NotFinite {
                        value: loss_value,
                        phase: phase.spec.name.clone(),
                        epoch,
                        batch: b + 1,
                    });
                }
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(lr, model, grads);
                train.add(loss_value, &to_vec(output), &batch.labels);
                step += 1;
                events
                    .add_scalar("step/loss", loss_value, step)
                    .map_err(output_error(&dir))?;
                bar.set_message(format!(
                    "loss {:.4} accuracy {:.4}",
                    train.loss(),
                    train.accuracy()
                ));
                bar.inc(1);
            }
            bar.finish_and_clear();
            let seconds = epoch_started.elapsed().as_secs_f64();
            let images_per_second = train.len() as f64 / seconds;
            let validation = evaluate(&model, &dataset, SplitKind::Validation, plan, &device);
            let train_metrics = train.finish(&spec.metrics);
            let validation_metrics = validation.finish(&spec.metrics);
            tracing::info!(
                "epoch {epoch} ({}) {seconds:.1}s {images_per_second:.1} img/s | train {} | validation {}",
                phase.spec.name,
                format_metrics(&train_metrics),
                format_metrics(&validation_metrics)
            );
            for (split, values) in [
                ("train", &train_metrics),
                ("validation", &validation_metrics),
            ] {
                for (name, value) in values {
                    events
                        .add_scalar(&format!("{split}/{name}"), *value, epoch as u64)
                        .map_err(output_error(&dir))?;
                }
            }
            events
                .add_scalar("learning_rate", lr, epoch as u64)
                .map_err(output_error(&dir))?;
            events
                .add_scalar("images_per_second", images_per_second, epoch as u64)
                .map_err(output_error(&dir))?;
            events.flush().map_err(output_error(&dir))?;
            let line = json!({
                "epoch": epoch, "phase": phase.spec.name, "learning_rate": lr, "seconds": seconds,
                "images_per_second": images_per_second, "train": train_metrics, "validation": validation_metrics,
            });
            run::append_line(&metrics_path, &line.to_string())
                .map_err(output_error(&metrics_path))?;
            let val_accuracy = validation.accuracy();
            if best.is_none_or(|(b, _)| val_accuracy > b) {
                best = Some((val_accuracy, epoch));
            }
            history.push(EpochMetrics {
                epoch,
                train_loss: train.loss(),
                train_accuracy: train.accuracy(),
                val_loss: Some(validation.loss()),
                val_accuracy: Some(val_accuracy),
            });
        }
    }

    let final_split = if dataset.has_test() {
        SplitKind::Test
    } else {
        SplitKind::Validation
    };
    let final_eval = evaluate(&model, &dataset, final_split, plan, &device);
    let final_metrics = final_eval.finish(&spec.metrics);
    let split_name = if dataset.has_test() {
        "test"
    } else {
        "validation"
    };
    tracing::info!("{split_name}: {}", format_metrics(&final_metrics));

    let curves = dir.join("learning_curves.png");
    plots::learning_curves_png(&curves, &history, fine_tune_start)
        .map_err(|e| RunError::Mismatch(e.to_string()))?;
    let confusion = dir.join(format!("confusion_matrix_{split_name}.png"));
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

    let last = history.last();
    let summary = json!({
        "experiment": spec.name,
        "run": dir.file_name().map(|n| n.to_string_lossy().into_owned()),
        "seed": spec.seed,
        "device": "flex (CPU)",
        "runner_version": env!("CARGO_PKG_VERSION"),
        "epochs": epoch,
        "seconds": started.elapsed().as_secs_f64(),
        "initial_validation": initial.finish(&spec.metrics),
        "final_train": last.map(|h| json!({"loss": h.train_loss, "accuracy": h.train_accuracy})),
        "final_validation": last.map(|h| json!({"loss": h.val_loss, "accuracy": h.val_accuracy})),
        "best_validation_accuracy": best.map(|(a, e)| json!({"accuracy": a, "epoch": e})),
        split_name: final_metrics,
        "confusion_matrix": final_eval.confusion_matrix(),
        "classes": dataset.class_names(),
    });
    let metric_values: Vec<(&str, f64)> = last
        .map(|h| {
            vec![
                ("validation/accuracy", h.val_accuracy.unwrap_or(0.0)),
                ("validation/loss", h.val_loss.unwrap_or(0.0)),
            ]
        })
        .unwrap_or_default();
    for (tag, value) in &metric_values {
        events
            .add_scalar(tag, *value, epoch as u64)
            .map_err(output_error(&dir))?;
    }
    events
        .add_hparams_end(SessionStatus::Success)
        .map_err(output_error(&dir))?;
    events.flush().map_err(output_error(&dir))?;
    let summary_path = dir.join(run::SUMMARY_FILE);
    write_atomically(
        &summary_path,
        serde_json::to_string_pretty(&summary)
            .expect("json")
            .as_bytes(),
    )
    .map_err(output_error(&summary_path))?;
    Ok(Outcome::Finished { dir, summary })
}

/// Loss and metrics of `model` on a split, without training behaviour.
fn evaluate(
    model: &GraphModel,
    dataset: &Dataset,
    split: SplitKind,
    plan: &Plan,
    device: &Device,
) -> MetricAccumulator {
    let inference = model.valid();
    let mut acc = MetricAccumulator::new(dataset.num_outputs().max(2));
    for batch in dataset.batches(split, 0) {
        let output = inference.forward(images_tensor(
            &batch.images,
            batch.len,
            batch.height,
            batch.width,
            device,
        ));
        let loss = loss::loss(&plan.spec.spec.loss, output.clone(), &batch.labels, device);
        let loss = scalar(loss);
        acc.add(loss, &to_vec(output), &batch.labels);
    }
    acc
}

fn images_tensor(pixels: &[f32], n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(pixels.to_vec(), [n, 3, h, w]), device)
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(
        t.into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f32::NAN),
    )
}

fn to_vec(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

fn format_metrics(values: &BTreeMap<String, f64>) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn progress_bar(enabled: bool, len: usize, prefix: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64).with_prefix(prefix.to_string());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
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
        let optimizer = serde_json::to_value(&phase.spec.optimizer)
            .ok()
            .and_then(|v| v.as_object().and_then(|o| o.keys().next().cloned()))
            .unwrap_or_default();
        out.push((format!("{name}/optimizer"), HParamValue::from(optimizer)));
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
