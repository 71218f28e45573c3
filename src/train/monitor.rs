//! Watching metrics across epochs: the improvement rule behind early stopping and
//! reduce-on-plateau (Keras' `monitor`, `min_delta`, `patience`), and [`observe_epoch`], which
//! applies a phase's monitors to a finished epoch.

use super::checkpoint::LoopState;
use super::schedule::Schedule;
use crate::spec::PhaseSpec;
use crate::spec::train::{Monitor, ScheduleSpec};
use crate::track::records::EpochRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the monitors decided about an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Early stopping with `restore_best` should keep this epoch's weights.
    pub keep_as_best: bool,
}

/// Updates `progress`'s monitors with `record`, a finished epoch of `phase`: the best
/// validation accuracy, the reduce-on-plateau state, and early stopping (which may end the
/// phase by setting `phase_stopped`).
pub fn observe_epoch(
    progress: &mut LoopState,
    phase: &PhaseSpec,
    schedule: &Schedule,
    record: &EpochRecord,
) -> Observation {
    let epoch = record.epoch;
    let accuracy = record.metric("validation/accuracy").unwrap_or(f64::NAN);
    if progress
        .best_accuracy
        .is_none_or(|(best, _)| accuracy > best)
    {
        progress.best_accuracy = Some((accuracy, epoch));
    }
    let value = |monitor: &Monitor| value_of(monitor, &record.train, &record.validation);
    if let ScheduleSpec::ReduceOnPlateau(plateau) = &phase.schedule
        && schedule.end_epoch(value(&plateau.monitor), epoch, &mut progress.plateau)
    {
        tracing::info!(
            "{} has not improved for {} epochs: learning rate now {}",
            plateau.monitor.0,
            plateau.patience,
            schedule.lr(progress.phase_step, &progress.plateau)
        );
    }
    let mut keep_as_best = false;
    if let Some(stopping) = &phase.early_stopping {
        let improved = progress.early_stopping.observe(
            value(&stopping.monitor).unwrap_or(f64::NAN),
            epoch,
            stopping.min_delta,
            stopping.monitor.lower_is_better(),
        );
        keep_as_best = improved && stopping.restore_best;
        if !improved && progress.early_stopping.wait >= stopping.patience {
            progress.phase_stopped = true;
            tracing::info!(
                "early stopping: {} has not improved for {} epochs (best {:.4} at epoch {}); phase `{}` ends",
                stopping.monitor.0,
                stopping.patience,
                progress.early_stopping.best.unwrap_or(f64::NAN),
                progress.early_stopping.best_epoch,
                phase.name
            );
        }
    }
    Observation { keep_as_best }
}

/// The best value seen so far and how many epochs have passed without beating it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Improvement {
    /// Best value so far.
    pub best: Option<f64>,
    /// Epoch (across phases) of the best value.
    pub best_epoch: usize,
    /// Epochs since the best value.
    pub wait: u32,
}

impl Improvement {
    /// Records `value` of `epoch`; true when it improves on the best by more than `min_delta`.
    pub fn observe(
        &mut self,
        value: f64,
        epoch: usize,
        min_delta: f64,
        lower_is_better: bool,
    ) -> bool {
        let improved = match self.best {
            None => true,
            Some(best) if lower_is_better => value < best - min_delta,
            Some(best) => value > best + min_delta,
        };
        if improved {
            self.best = Some(value);
            self.best_epoch = epoch;
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        improved
    }
}

/// The monitored value from an epoch's train and validation metrics; `None` when the
/// metric is not computed (the planner rejects such specs).
pub fn value_of(
    monitor: &Monitor,
    train: &BTreeMap<String, f64>,
    validation: &BTreeMap<String, f64>,
) -> Option<f64> {
    let split = if monitor.split() == "train" {
        train
    } else {
        validation
    };
    split.get(monitor.metric()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_is_better_with_min_delta_and_patience_count() {
        let mut m = Improvement::default();
        assert!(m.observe(0.90, 1, 0.01, false));
        assert!(!m.observe(0.905, 2, 0.01, false));
        assert_eq!(m.wait, 1);
        assert!(m.observe(0.95, 3, 0.01, false));
        assert_eq!((m.best, m.best_epoch, m.wait), (Some(0.95), 3, 0));
    }

    #[test]
    fn lower_is_better_for_the_loss() {
        let mut m = Improvement::default();
        assert!(m.observe(0.5, 1, 0.0, true));
        assert!(!m.observe(0.6, 2, 0.0, true));
        assert!(m.observe(0.4, 3, 0.0, true));
    }
}
