//! Where a run's progress is recorded while it trains: TensorBoard events (the spec, HParams
//! and augmented samples at the start, loss and learning rate per step, metrics per epoch,
//! optional weight histograms) and `metrics.jsonl`. The training loop hands every step and
//! every finished [`EpochRecord`] to [`RunOutputs`]; adding an output means editing this file.

use super::{RunError, RunOptions, output_error};
use crate::data::{Dataset, SplitKind};
use crate::model::{GraphModel, save};
use crate::plan::Plan;
use crate::track::RunDir;
use crate::track::records::{DeviceInfo, EpochRecord};
use crate::track::tensorboard::{EventWriter, HParamValue, SessionStatus, image_grid};
use burn::module::Module;
use std::io;

/// Metrics TensorBoard's HParams view shows per run.
pub const HPARAM_METRICS: [&str; 2] = ["validation/accuracy", "validation/loss"];
/// Augmented training images shown in TensorBoard.
const SAMPLE_IMAGES: usize = 16;

/// The recorders of one run.
pub struct RunOutputs {
    run: RunDir,
    events: EventWriter,
    histograms: bool,
}

impl RunOutputs {
    /// Opens a new TensorBoard event file in the run folder.
    pub fn open(run: RunDir, histograms: bool) -> Result<Self, RunError> {
        let events = EventWriter::new(run.path()).map_err(output_error(run.path()))?;
        Ok(Self {
            run,
            events,
            histograms,
        })
    }

    /// The entries a new run starts with: the spec, HParams (`options.hparams` adds a sweep's
    /// parameters, in `options.group`), and a grid of augmented training images.
    pub fn start(
        &mut self,
        plan: &Plan,
        dataset: &Dataset,
        options: &RunOptions,
        device: &DeviceInfo,
    ) -> Result<(), RunError> {
        self.write_start(plan, dataset, options, device)
            .map_err(output_error(self.run.path()))
    }

    fn write_start(
        &mut self,
        plan: &Plan,
        dataset: &Dataset,
        options: &RunOptions,
        device: &DeviceInfo,
    ) -> io::Result<()> {
        let events = &mut self.events;
        events.add_text("spec", &format!("```yaml\n{}\n```", plan.spec.text), 0)?;
        let mut hparams = hyperparameters(plan);
        hparams.push((
            "device".to_string(),
            HParamValue::from(device.device.clone()),
        ));
        hparams.extend(options.hparams.iter().cloned());
        let refs: Vec<(&str, HParamValue)> = hparams
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        events.add_hparams_session(&refs, &HPARAM_METRICS, &options.group)?;
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

    /// Records one optimizer step.
    pub fn step(&mut self, step: u64, loss: f64, learning_rate: f64) -> Result<(), RunError> {
        self.scalar("step/loss", loss, step)?;
        self.scalar("step/learning_rate", learning_rate, step)
    }

    /// Records a finished epoch: TensorBoard scalars (and histograms of `model`'s parameters
    /// when asked for), then a line of `metrics.jsonl`.
    pub fn epoch(&mut self, record: &EpochRecord, model: &GraphModel) -> Result<(), RunError> {
        let step = record.epoch as u64;
        for (split, values) in [("train", &record.train), ("validation", &record.validation)] {
            for (name, value) in values {
                self.scalar(&format!("{split}/{name}"), *value, step)?;
            }
        }
        self.scalar("learning_rate", record.learning_rate, step)?;
        self.scalar("images_per_second", record.images_per_second, step)?;
        if self.histograms {
            for (name, (_, values)) in save::named_tensors(&model.valid()) {
                self.events
                    .add_histogram(&format!("weights/{name}"), &values, step)
                    .map_err(output_error(self.run.path()))?;
            }
        }
        self.flush()?;
        self.run
            .append_epoch(record)
            .map_err(output_error(&self.run.metrics_file()))
    }

    /// Ends the HParams session with the final model's validation metrics (`record`, the
    /// epoch whose weights the model holds).
    pub fn finish(&mut self, record: Option<&EpochRecord>) -> Result<(), RunError> {
        if let Some(record) = record {
            for tag in HPARAM_METRICS {
                let value = record.metric(tag).unwrap_or(f64::NAN);
                self.scalar(tag, value, record.epoch as u64)?;
            }
        }
        self.events
            .add_hparams_end(SessionStatus::Success)
            .map_err(output_error(self.run.path()))?;
        self.flush()
    }

    /// Ends the HParams session of a run its sweep pruned. TensorBoard has no status for
    /// it: `Failure` (a run that failed on an error ends no session), so the view's status
    /// filter can hide pruned trials; their metrics are the last epoch's.
    pub fn end_pruned(&mut self) -> Result<(), RunError> {
        self.events
            .add_hparams_end(SessionStatus::Failure)
            .map_err(output_error(self.run.path()))?;
        self.flush()
    }

    /// Writes buffered events to disk.
    pub fn flush(&mut self) -> Result<(), RunError> {
        self.events.flush().map_err(output_error(self.run.path()))
    }

    fn scalar(&mut self, tag: &str, value: f64, step: u64) -> Result<(), RunError> {
        self.events
            .add_scalar(tag, value, step)
            .map_err(output_error(self.run.path()))
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
