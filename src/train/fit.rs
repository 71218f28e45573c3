//! The training loop: phases in order, their epochs and batches. Each phase applies its
//! trainable set and batch-norm mode, builds its optimizer (or carries the previous phase's
//! state over) and follows its learning-rate schedule; epoch numbers continue across phases,
//! like Keras' `initial_epoch`. After every epoch a checkpoint is written; Ctrl-C writes one
//! after the current batch. Dropout draws its randomness from (seed, epoch, batch) and the data
//! order and augmentation from (seed, epoch, image), so a resumed run takes exactly the steps
//! an uninterrupted one takes. A sweep trial with pruning judges itself after each epoch
//! (a [`Pruner`](super::Pruner)) and may stop there, with a checkpoint.

use super::checkpoint::{self, BestModel, Checkpoint, LoopState};
use super::evaluate::{evaluate, format_metrics, images_tensor, scalar, to_vec};
use super::features::PhaseFeatures;
use super::metrics::MetricAccumulator;
use super::monitor::{self, Observation};
use super::outputs::RunOutputs;
use super::schedule::{PlateauState, Schedule};
use super::{Outcome, RunError, RunOptions, loss, optimizer, output_error};
use super::{finish, phase};
use crate::data::{Dataset, SplitKind};
use crate::device::OpenDevice;
use crate::model::{GraphModel, weights};
use crate::plan::{PhasePlan, Plan};
use crate::spec::train::OptimizerState;
use crate::track::RunDir;
use crate::track::log_file;
use crate::track::records::{DeviceInfo, EpochRecord, Pruned};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use std::path::Path;
use std::time::Instant;

/// Trains `plan` in `dir`, from the start or from `saved`.
pub(super) fn fit(
    plan: &Plan,
    dir: &Path,
    options: &RunOptions,
    saved: Option<Checkpoint>,
) -> Result<Outcome, RunError> {
    let run = RunDir::new(dir);
    let _log = log_file::attach(&run.log_file()).map_err(output_error(dir))?;
    options.interrupter.reset();
    Trainer::start(plan, run, options, saved)?.train()
}

struct Trainer<'a> {
    plan: &'a Plan,
    run: RunDir,
    options: &'a RunOptions,
    dataset: Dataset,
    device: Device,
    train_device: Device,
    /// What `device` is, for the run's records.
    device_info: DeviceInfo,
    /// Whether `device` is a GPU (`train::features` recomputes augmented frozen prefixes
    /// there instead of storing them).
    gpu: bool,
    model: GraphModel,
    outputs: RunOutputs,
    progress: LoopState,
    saved_optimizer: Option<burn::tensor::Bytes>,
    best: Option<BestModel>,
    /// The current phase's stored frozen-prefix values.
    features: PhaseFeatures,
    started: Instant,
}

/// One training batch, as the model's forward pass takes it.
enum TrainBatch {
    /// Prepared (augmented) images.
    Images(crate::data::Batch),
    /// Images whose frozen-prefix values the phase stored.
    Stored { ids: Vec<usize>, labels: Vec<u32> },
}

/// The training half of an epoch that ran to its end.
struct EpochTotals {
    train: MetricAccumulator,
    images: usize,
    seconds: f64,
    learning_rate: f64,
}

impl<'a> Trainer<'a> {
    /// A trainer for a new run, or for the run's checkpoint when it has one.
    /// Long by design: a fresh run and a resumed one set up the same trainer from different
    /// sources, side by side so they stay alike.
    fn start(
        plan: &'a Plan,
        run: RunDir,
        options: &'a RunOptions,
        saved: Option<Checkpoint>,
    ) -> Result<Self, RunError> {
        let spec = &plan.spec.spec;
        tracing::info!("run folder: {}", run.path().display());
        let started = Instant::now();
        let dataset = Dataset::load(&spec.data, plan.spec.base_dir(), spec.seed)?;
        let outputs = plan.graph.nodes[plan.graph.outputs[0]].shape;
        let expected = crate::plan::graph::Shape::Vector(dataset.num_outputs());
        if outputs != expected {
            return Err(RunError::OutputsDoNotFitData {
                classes: dataset.class_names().len(),
                label_mode: format!("{:?}", dataset.label_mode()).to_lowercase(),
                expected: expected.to_string(),
                found: outputs.to_string(),
            });
        }
        let choice = super::device_choice(plan, options);
        let OpenDevice {
            device,
            info: device_info,
        } = crate::device::open(choice)?;
        tracing::info!(
            "device: {} ({}{})",
            device_info.device,
            device_info.backend,
            device_info
                .adapter
                .as_ref()
                .map(|a| format!(", {a}"))
                .unwrap_or_default()
        );
        let started_on = spec.device.unwrap_or_default();
        if saved.is_some() && choice != started_on {
            tracing::warn!(
                "resuming on {choice}; this run started on {started_on}: the results will not equal an uninterrupted run on {started_on} to the bit (checkpoints are portable)"
            );
        }
        device.seed(spec.seed);
        let train_device = device.clone().autodiff();
        let mut model = GraphModel::new(&plan.graph, &train_device);
        let mut recorders = RunOutputs::open(run.clone(), options.histograms)?;
        let load_record = |model: GraphModel, record| {
            model
                .try_load_record(record)
                .map_err(|e| RunError::CheckpointMismatch {
                    dir: run.path().to_path_buf(),
                    what: "model",
                    reason: e.to_string(),
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
                run.write_epochs(&p.history)
                    .map_err(output_error(&run.metrics_file()))?;
                (saved.progress, saved.optimizer, best)
            }
            None => {
                for report in weights::load_pretrained(&mut model, plan, &train_device)? {
                    tracing::info!("{report}");
                }
                recorders.start(plan, &dataset, options, &device_info)?;
                (LoopState::default(), None, None)
            }
        };
        Ok(Self {
            plan,
            run,
            options,
            dataset,
            device,
            train_device,
            device_info,
            gpu: choice.is_gpu(),
            model,
            outputs: recorders,
            progress,
            saved_optimizer,
            best,
            features: PhaseFeatures::default(),
            started,
        })
    }

    fn train(mut self) -> Result<Outcome, RunError> {
        let mut previous: Option<ModuleOptimizer> = None;
        for index in self.progress.phase..self.plan.phases.len() {
            let phase = &self.plan.phases[index];
            self.model = phase::apply(self.model, phase);
            self.features = if self.options.frozen_cache {
                PhaseFeatures::compute(
                    &self.model,
                    phase,
                    &self.dataset,
                    &self.device,
                    self.options.prefix_cache.as_ref(),
                    self.gpu,
                )?
            } else {
                PhaseFeatures::default()
            };
            let mut optim = self.phase_optimizer(phase, previous.take())?;
            if self.progress.step == 0 && self.progress.initial_validation.is_empty() {
                self.evaluate_initial()?;
            }
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
                    return Ok(Outcome::Interrupted(self.run.path().to_path_buf()));
                }
                if let Some(pruned) = self.pruned(index) {
                    return self.end_pruned(pruned);
                }
            }
            self.features.log_cache_use(&phase.spec.name);
            if let Some(best) = self.best.take() {
                tracing::info!(
                    "phase `{}`: restoring the weights of its best epoch, {}",
                    phase.spec.name,
                    best.epoch
                );
                self.model = best.model;
                self.progress.model_epoch = best.epoch;
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

    /// Evaluates the model before any training step (the baseline of the learning curves),
    /// with the first phase's stored prefix values.
    fn evaluate_initial(&mut self) -> Result<(), RunError> {
        let initial = self
            .evaluate_validation()?
            .finish(&self.plan.spec.spec.metrics);
        tracing::info!("before training: validation {}", format_metrics(&initial));
        self.progress.initial_validation = initial;
        Ok(())
    }

    /// Loss and metrics of the model on the validation split, from the phase's stored prefix
    /// values where it has them.
    fn evaluate_validation(&self) -> Result<MetricAccumulator, RunError> {
        evaluate(
            &self.model,
            &self.dataset,
            SplitKind::Validation,
            &self.plan.spec.spec.loss,
            &self.device,
            self.features.validation.as_deref(),
        )
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
            return optim
                .from_bytes(bytes)
                .map_err(|e| RunError::CheckpointMismatch {
                    dir: self.run.path().to_path_buf(),
                    what: "optimizer",
                    reason: e.to_string(),
                });
        }
        Ok(match previous {
            Some(previous) if phase.spec.optimizer_state == OptimizerState::Carry => {
                optim.load_record(previous.to_record())
            }
            _ => optim,
        })
    }

    /// Trains one epoch (or the rest of an interrupted one), evaluates it and hands its record
    /// to the outputs and monitors; false when the run was interrupted (a checkpoint was
    /// written).
    fn train_epoch(
        &mut self,
        phase: &PhasePlan,
        schedule: &Schedule,
        optim: &mut ModuleOptimizer,
    ) -> Result<bool, RunError> {
        let Some(totals) = self.run_batches(phase, schedule, optim)? else {
            return Ok(false);
        };
        let record = self.evaluate_epoch(phase, totals)?;
        self.outputs.epoch(&record, &self.model)?;
        let Observation { keep_as_best } =
            monitor::observe_epoch(&mut self.progress, &phase.spec, schedule, &record);
        if keep_as_best {
            self.best = Some(BestModel {
                epoch: record.epoch,
                model: self.model.clone(),
            });
        }
        let p = &mut self.progress;
        p.epoch = record.epoch;
        p.model_epoch = record.epoch;
        p.phase_epochs += 1;
        p.batch = 0;
        p.history.push(record);
        self.save_checkpoint(Some(optim))?;
        Ok(true)
    }

    /// Runs the epoch's remaining training batches; `None` when the run was interrupted after
    /// a batch (a checkpoint was written).
    ///
    /// Long by design: the step loop (batch, forward, backward, optimizer, log, interrupt,
    /// checkpoint) shares the optimizer and the loop state.
    fn run_batches(
        &mut self,
        phase: &PhasePlan,
        schedule: &Schedule,
        optim: &mut ModuleOptimizer,
    ) -> Result<Option<EpochTotals>, RunError> {
        let spec = &self.plan.spec.spec;
        let epoch = self.progress.epoch + 1;
        let epoch_started = Instant::now();
        let mut train = self
            .progress
            .partial_train
            .take()
            .unwrap_or_else(|| MetricAccumulator::new(self.dataset.num_outputs().max(2)));
        let already = train.len();
        let bar = &self.options.progress;
        bar.epoch_started(
            &format!("epoch {epoch} {}", phase.spec.name),
            self.dataset.num_batches(SplitKind::Train),
            self.progress.batch,
        );
        let mut lr = schedule.lr(self.progress.phase_step, &self.progress.plateau);
        let table = self
            .features
            .train_table(&self.dataset, epoch as u64, &self.device)?;
        let batches = self.train_batches(epoch as u64, table.is_some());
        for batch in batches {
            self.train_device
                .seed(batch_seed(spec.seed, epoch, self.progress.batch));
            lr = schedule.lr(self.progress.phase_step, &self.progress.plateau);
            let (output, labels) = match batch {
                TrainBatch::Images(batch) => {
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
                    (output, batch.labels)
                }
                TrainBatch::Stored { ids, labels } => {
                    let table = table.as_ref().expect("stored batches have a table");
                    (table.forward(&self.model, &ids, &self.train_device), labels)
                }
            };
            let loss = loss::loss(&spec.loss, output.clone(), &labels, &self.train_device);
            let loss_value = scalar(loss.clone())?;
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
            train.add(loss_value, &to_vec(output)?, &labels);
            self.progress.batch += 1;
            self.progress.step += 1;
            self.progress.phase_step += 1;
            self.outputs.step(self.progress.step, loss_value, lr)?;
            bar.batch_trained(train.loss(), train.accuracy());
            if self.options.interrupter.requested() {
                bar.epoch_ended();
                self.progress.partial_train = Some(train);
                self.save_checkpoint(Some(optim))?;
                tracing::warn!(
                    "stopped in phase `{}`, epoch {epoch}, after batch {}; continue with `runner resume {}`",
                    phase.spec.name,
                    self.progress.batch,
                    self.run.path().display()
                );
                return Ok(None);
            }
        }
        bar.epoch_ended();
        Ok(Some(EpochTotals {
            images: train.len() - already,
            train,
            seconds: epoch_started.elapsed().as_secs_f64(),
            learning_rate: lr,
        }))
    }

    /// The epoch's remaining training batches: image ids and labels when the phase stored the
    /// training images' prefix values, prepared images otherwise.
    fn train_batches(&self, epoch: u64, stored: bool) -> Box<dyn Iterator<Item = TrainBatch>> {
        let first = self.progress.batch;
        if stored {
            let batches = self.dataset.batch_labels(SplitKind::Train, epoch, first);
            Box::new(
                batches
                    .into_iter()
                    .map(|(ids, labels)| TrainBatch::Stored { ids, labels }),
            )
        } else {
            let batches = self.dataset.batches_from(SplitKind::Train, epoch, first);
            Box::new(batches.map(TrainBatch::Images))
        }
    }

    /// Evaluates the model on the validation split after an epoch's training; the epoch's
    /// record.
    fn evaluate_epoch(
        &self,
        phase: &PhasePlan,
        totals: EpochTotals,
    ) -> Result<EpochRecord, RunError> {
        let spec = &self.plan.spec.spec;
        let validation = self.evaluate_validation()?;
        let record = EpochRecord {
            epoch: self.progress.epoch + 1,
            phase: phase.spec.name.clone(),
            learning_rate: totals.learning_rate,
            seconds: totals.seconds,
            images_per_second: totals.images as f64 / totals.seconds,
            train: totals.train.finish(&spec.metrics),
            validation: validation.finish(&spec.metrics),
        };
        tracing::info!(
            "epoch {} ({}) {:.1}s {:.1} img/s | train {} | validation {}",
            record.epoch,
            record.phase,
            record.seconds,
            record.images_per_second,
            format_metrics(&record.train),
            format_metrics(&record.validation)
        );
        Ok(record)
    }

    /// The sweep's verdict on the epoch that just ended, when it stops the run. The run's
    /// last epoch is not judged: nothing is left to save.
    fn pruned(&self, phase: usize) -> Option<Pruned> {
        let pruning = self.options.prune.as_ref()?;
        let last_phase = phase + 1 == self.plan.phases.len();
        let p = &self.progress;
        let phase_over =
            p.phase_stopped || p.phase_epochs >= self.plan.phases[phase].spec.epochs as usize;
        if last_phase && phase_over {
            return None;
        }
        pruning.judge(self.run.path(), &p.history)
    }

    /// Ends a run its sweep pruned: the record, the TensorBoard session's end; the
    /// checkpoint of the epoch is already written.
    fn end_pruned(mut self, pruned: Pruned) -> Result<Outcome, RunError> {
        tracing::info!("{pruned}");
        self.run
            .write_pruned(&pruned)
            .map_err(output_error(&self.run.pruned_file()))?;
        self.outputs.end_pruned()?;
        Ok(Outcome::Pruned {
            dir: self.run.path().to_path_buf(),
            pruned,
        })
    }

    fn finish(mut self) -> Result<Outcome, RunError> {
        let mut progress = self.progress.clone();
        progress.seconds += self.started.elapsed().as_secs_f64();
        let summary = finish::finish(
            self.plan,
            &self.run,
            &self.dataset,
            &self.model,
            (&self.device, &self.device_info),
            &progress,
        )?;
        self.outputs.finish(finish::final_record(&progress))?;
        self.run
            .write_summary(&summary)
            .map_err(output_error(&self.run.summary_file()))?;
        self.progress.finished = true;
        self.save_checkpoint(None)?;
        Ok(Outcome::Finished {
            dir: self.run.path().to_path_buf(),
            summary: Box::new(summary),
        })
    }

    fn save_checkpoint(&mut self, optim: Option<&ModuleOptimizer>) -> Result<(), RunError> {
        let mut progress = self.progress.clone();
        progress.seconds += self.started.elapsed().as_secs_f64();
        checkpoint::save(
            self.run.path(),
            &progress,
            &self.model,
            optim,
            self.best.as_ref(),
        )
        .map_err(output_error(&self.run.checkpoint_pointer_file()))?;
        self.outputs.flush()
    }
}

/// The dropout seed of one training batch, so a resumed run draws the same masks.
fn batch_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    let mut x = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= (batch as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x.wrapping_mul(0x94D0_49BB_1331_11EB)
}
