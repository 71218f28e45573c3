//! The training loop: phases in order, their epochs and batches. Each phase applies its
//! trainable set and batch-norm mode, builds its optimizer (or carries the previous phase's
//! state over) and follows its learning-rate schedule; epoch numbers continue across phases,
//! like Keras' `initial_epoch`. After every epoch a checkpoint is written; Ctrl-C writes one
//! after the current batch. Dropout draws its randomness from (seed, epoch, batch) and the data
//! order and augmentation from (seed, epoch, image), so a resumed run takes exactly the steps
//! an uninterrupted one takes.

use super::checkpoint::{self, BestModel, Checkpoint, Progress};
use super::evaluate::{evaluate, format_metrics, images_tensor, scalar, to_vec};
use super::metrics::MetricAccumulator;
use super::schedule::{PlateauState, Schedule};
use super::{Outcome, RunError, RunOptions, interrupt, loss, monitor, optimizer, output_error};
use super::{phase, report};
use crate::data::{Dataset, SplitKind};
use crate::model::{GraphModel, save, weights};
use crate::plan::{PhasePlan, Plan};
use crate::spec::train::OptimizerState;
use crate::track::log_file;
use crate::track::run as run_folder;
use crate::track::tensorboard::EventWriter;
use crate::track::write_atomically;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Trains `plan` in `dir`, from the start or from `saved`.
pub(super) fn fit(
    plan: &Plan,
    dir: &Path,
    options: &RunOptions,
    saved: Option<Checkpoint>,
) -> Result<Outcome, RunError> {
    log_file::attach(&dir.join("run.log")).map_err(output_error(dir))?;
    interrupt::install();
    let result = Trainer::start(plan, dir, options, saved).and_then(Trainer::train);
    log_file::detach();
    result
}

struct Trainer<'a> {
    plan: &'a Plan,
    dir: &'a Path,
    options: &'a RunOptions,
    dataset: Dataset,
    device: Device,
    train_device: Device,
    model: GraphModel,
    events: EventWriter,
    progress: Progress,
    saved_optimizer: Option<burn::tensor::Bytes>,
    best: Option<BestModel>,
    started: Instant,
}

impl<'a> Trainer<'a> {
    fn start(
        plan: &'a Plan,
        dir: &'a Path,
        options: &'a RunOptions,
        saved: Option<Checkpoint>,
    ) -> Result<Self, RunError> {
        let spec = &plan.spec.spec;
        tracing::info!("run folder: {}", dir.display());
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
        let mut events = EventWriter::new(dir).map_err(output_error(dir))?;
        let load_record = |model: GraphModel, record| {
            model.try_load_record(record).map_err(|e| {
                RunError::Reopen(format!(
                    "the checkpoint in {} does not fit the spec's model: {e}",
                    dir.display()
                ))
            })
        };
        let (progress, saved_optimizer, best) = match saved {
            Some(saved) => {
                model = load_record(model, saved.model)?;
                let best = match saved.best_model {
                    Some(record) => Some(BestModel {
                        epoch: saved.progress.early_stopping.best_epoch,
                        model: load_record(GraphModel::new(&plan.graph, &train_device), record)?,
                    }),
                    None => None,
                };
                let p = &saved.progress;
                tracing::info!(
                    "resuming phase `{}` after epoch {} batch {}",
                    plan.phases
                        .get(p.phase)
                        .map_or("(finished)", |ph| ph.spec.name.as_str()),
                    p.epoch,
                    p.batch
                );
                let lines: String = p.history.iter().map(|l| format!("{l}\n")).collect();
                let metrics_path = dir.join(METRICS_FILE);
                write_atomically(&metrics_path, lines.as_bytes())
                    .map_err(output_error(&metrics_path))?;
                (saved.progress, saved.optimizer, best)
            }
            None => {
                for report in weights::load_pretrained(&mut model, plan, &train_device)? {
                    tracing::info!("{report}");
                }
                report::start_events(&mut events, plan, &dataset).map_err(output_error(dir))?;
                let initial =
                    evaluate(&model, &dataset, SplitKind::Validation, &spec.loss, &device)
                        .finish(&spec.metrics);
                tracing::info!("before training: validation {}", format_metrics(&initial));
                let progress = Progress {
                    initial_validation: initial,
                    ..Progress::default()
                };
                (progress, None, None)
            }
        };
        Ok(Self {
            plan,
            dir,
            options,
            dataset,
            device,
            train_device,
            model,
            events,
            progress,
            saved_optimizer,
            best,
            started,
        })
    }

    fn train(mut self) -> Result<Outcome, RunError> {
        let mut previous: Option<ModuleOptimizer> = None;
        for index in self.progress.phase..self.plan.phases.len() {
            let phase = &self.plan.phases[index];
            self.model = phase::apply(self.model, phase);
            let mut optim = self.phase_optimizer(phase, previous.take())?;
            if index > 0 && self.progress.fine_tune_start.is_none() {
                self.progress.fine_tune_start = Some(self.progress.epoch + 1);
            }
            tracing::info!(
                "phase `{}`: {} epoch(s), {} trainable parameters, learning rate {}",
                phase.spec.name,
                phase.spec.epochs,
                crate::plan::summary::thousands(phase.trainable_params(&self.plan.graph)),
                phase.spec.optimizer.learning_rate()
            );
            let schedule = Schedule::new(&phase.spec, self.dataset.num_batches(SplitKind::Train));
            while self.progress.phase_epochs < phase.spec.epochs as usize
                && !self.progress.phase_stopped
            {
                if !self.train_epoch(phase, &schedule, &mut optim)? {
                    return Ok(Outcome::Interrupted(self.dir.to_path_buf()));
                }
            }
            if let Some(best) = self.best.take() {
                tracing::info!(
                    "phase `{}`: restoring the weights of its best epoch, {}",
                    phase.spec.name,
                    best.epoch
                );
                self.model = best.model;
            }
            let p = &mut self.progress;
            p.phase += 1;
            p.phase_epochs = 0;
            p.phase_step = 0;
            p.phase_stopped = false;
            p.plateau = PlateauState::default();
            p.early_stopping = Default::default();
            previous = Some(optim);
        }
        self.finish()
    }

    /// The optimizer of `phase`: restored from the checkpoint being resumed, carried over from
    /// the previous phase, or new.
    fn phase_optimizer(
        &mut self,
        phase: &PhasePlan,
        previous: Option<ModuleOptimizer>,
    ) -> Result<ModuleOptimizer, RunError> {
        let optim = optimizer::build(&phase.spec.optimizer, phase.spec.gradient_clipping);
        if let Some(bytes) = self.saved_optimizer.take() {
            return optim.from_bytes(bytes).map_err(|e| {
                RunError::Reopen(format!(
                    "the optimizer state in the checkpoint of {} cannot be read: {e}",
                    self.dir.display()
                ))
            });
        }
        Ok(match previous {
            Some(previous) if phase.spec.optimizer_state == OptimizerState::Carry => {
                optim.load_record(previous.to_record())
            }
            _ => optim,
        })
    }

    /// Trains one epoch (or the rest of an interrupted one) and evaluates it; false when
    /// Ctrl-C stopped it (a checkpoint was written).
    fn train_epoch(
        &mut self,
        phase: &PhasePlan,
        schedule: &Schedule,
        optim: &mut ModuleOptimizer,
    ) -> Result<bool, RunError> {
        let spec = &self.plan.spec.spec;
        let epoch = self.progress.epoch + 1;
        let epoch_started = Instant::now();
        let mut train = self
            .progress
            .partial_train
            .take()
            .unwrap_or_else(|| MetricAccumulator::new(self.dataset.num_outputs().max(2)));
        let already = train.len();
        let bar = progress_bar(
            self.options.progress,
            self.dataset.num_batches(SplitKind::Train),
            self.progress.batch,
            &format!("epoch {epoch} {}", phase.spec.name),
        );
        let mut lr = schedule.lr(self.progress.phase_step, &self.progress.plateau);
        let batches =
            self.dataset
                .batches_from(SplitKind::Train, epoch as u64, self.progress.batch);
        for batch in batches {
            self.train_device
                .seed(batch_seed(spec.seed, epoch, self.progress.batch));
            lr = schedule.lr(self.progress.phase_step, &self.progress.plateau);
            let images = images_tensor(
                &batch.images,
                batch.len,
                batch.height,
                batch.width,
                &self.train_device,
            );
            let output = self
                .model
                .forward_with_constant_prefix(&phase.constant, images);
            let loss = loss::loss(
                &spec.loss,
                output.clone(),
                &batch.labels,
                &self.train_device,
            );
            let loss_value = scalar(loss.clone());
            if !loss_value.is_finite() {
                return Err(RunError::NotFinite {
                    value: loss_value,
                    phase: phase.spec.name.clone(),
                    epoch,
                    batch: self.progress.batch + 1,
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &self.model);
            self.model = optim.step(lr, self.model.clone(), grads);
            train.add(loss_value, &to_vec(output), &batch.labels);
            self.progress.batch += 1;
            self.progress.step += 1;
            self.progress.phase_step += 1;
            let step = self.progress.step;
            self.scalar("step/loss", loss_value, step)?;
            self.scalar("step/learning_rate", lr, step)?;
            bar.set_message(format!(
                "loss {:.4} accuracy {:.4}",
                train.loss(),
                train.accuracy()
            ));
            bar.inc(1);
            if interrupt::requested() {
                bar.finish_and_clear();
                self.progress.partial_train = Some(train);
                self.save_checkpoint(Some(optim))?;
                tracing::warn!(
                    "stopped in phase `{}`, epoch {epoch}, after batch {}; continue with `runner resume {}`",
                    phase.spec.name,
                    self.progress.batch,
                    self.dir.display()
                );
                return Ok(false);
            }
        }
        bar.finish_and_clear();
        let seconds = epoch_started.elapsed().as_secs_f64();
        let images_per_second = (train.len() - already) as f64 / seconds;
        let validation = evaluate(
            &self.model,
            &self.dataset,
            SplitKind::Validation,
            &spec.loss,
            &self.device,
        );
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
                self.scalar(&format!("{split}/{name}"), *value, epoch as u64)?;
            }
        }
        self.scalar("learning_rate", lr, epoch as u64)?;
        self.scalar("images_per_second", images_per_second, epoch as u64)?;
        if self.options.histograms {
            for (name, (_, values)) in save::named_tensors(&self.model.valid()) {
                self.events
                    .add_histogram(&format!("weights/{name}"), &values, epoch as u64)
                    .map_err(output_error(self.dir))?;
            }
        }
        self.events.flush().map_err(output_error(self.dir))?;
        let line = json!({
            "epoch": epoch, "phase": phase.spec.name, "learning_rate": lr, "seconds": seconds,
            "images_per_second": images_per_second, "train": train_metrics, "validation": validation_metrics,
        });
        let metrics_path = self.dir.join(METRICS_FILE);
        run_folder::append_line(&metrics_path, &line.to_string())
            .map_err(output_error(&metrics_path))?;
        let p = &mut self.progress;
        p.history.push(line);
        p.epoch = epoch;
        p.phase_epochs += 1;
        p.batch = 0;
        let accuracy = validation.accuracy();
        if p.best_accuracy.is_none_or(|(best, _)| accuracy > best) {
            p.best_accuracy = Some((accuracy, epoch));
        }
        if let crate::spec::train::ScheduleSpec::ReduceOnPlateau(plateau) = &phase.spec.schedule {
            let value = monitor::value_of(&plateau.monitor, &train_metrics, &validation_metrics);
            if schedule.end_epoch(value, epoch, &mut p.plateau) {
                tracing::info!(
                    "{} has not improved for {} epochs: learning rate now {}",
                    plateau.monitor.0,
                    plateau.patience,
                    schedule.lr(p.phase_step, &p.plateau)
                );
            }
        }
        if let Some(stopping) = &phase.spec.early_stopping {
            let value = monitor::value_of(&stopping.monitor, &train_metrics, &validation_metrics)
                .unwrap_or(f64::NAN);
            let lower = stopping.monitor.lower_is_better();
            if p.early_stopping
                .observe(value, epoch, stopping.min_delta, lower)
            {
                if stopping.restore_best {
                    self.best = Some(BestModel {
                        epoch,
                        model: self.model.clone(),
                    });
                }
            } else if p.early_stopping.wait >= stopping.patience {
                p.phase_stopped = true;
                tracing::info!(
                    "early stopping: {} has not improved for {} epochs (best {:.4} at epoch {}); phase `{}` ends",
                    stopping.monitor.0,
                    stopping.patience,
                    p.early_stopping.best.unwrap_or(f64::NAN),
                    p.early_stopping.best_epoch,
                    phase.spec.name
                );
            }
        }
        self.save_checkpoint(Some(optim))?;
        Ok(true)
    }

    fn finish(mut self) -> Result<Outcome, RunError> {
        let seconds = self.progress.seconds + self.started.elapsed().as_secs_f64();
        let summary = report::finish(
            self.plan,
            self.dir,
            &self.dataset,
            &self.model,
            &self.device,
            &self.progress,
            seconds,
            &mut self.events,
        )?;
        self.progress.finished = true;
        self.save_checkpoint(None)?;
        Ok(Outcome::Finished {
            dir: self.dir.to_path_buf(),
            summary,
        })
    }

    fn save_checkpoint(&mut self, optim: Option<&ModuleOptimizer>) -> Result<(), RunError> {
        let mut progress = self.progress.clone();
        progress.seconds += self.started.elapsed().as_secs_f64();
        checkpoint::save(self.dir, &progress, &self.model, optim, self.best.as_ref())
            .map_err(output_error(&self.dir.join(checkpoint::POINTER_FILE)))?;
        self.events.flush().map_err(output_error(self.dir))
    }

    fn scalar(&mut self, tag: &str, value: f64, step: u64) -> Result<(), RunError> {
        self.events
            .add_scalar(tag, value, step)
            .map_err(output_error(self.dir))
    }
}

/// The per-epoch metrics file.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// The dropout seed of one training batch, so a resumed run draws the same masks.
fn batch_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    let mut x = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= (batch as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x.wrapping_mul(0x94D0_49BB_1331_11EB)
}

fn progress_bar(enabled: bool, len: usize, done: usize, prefix: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64).with_prefix(prefix.to_string());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_position(done as u64);
    bar
}
