//! Learning-rate schedules within a phase: constant, step, cosine and reduce-on-plateau, each
//! after an optional linear warmup. The rate of a step is a function of the step's position in
//! the phase; only reduce-on-plateau carries state between epochs ([`PlateauState`], saved in
//! checkpoints so a resumed run follows the same rates).

use super::monitor::Improvement;
use crate::spec::PhaseSpec;
use crate::spec::train::ScheduleSpec;
use serde::{Deserialize, Serialize};

/// The learning rate of each step of one phase.
#[derive(Debug, Clone)]
pub struct Schedule {
    base: f64,
    spec: ScheduleSpec,
    steps_per_epoch: u64,
    warmup_steps: u64,
    total_steps: u64,
}

/// Reduce-on-plateau's memory: the monitored metric's best value and the current multiplier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    /// Improvement tracking of the monitored metric.
    pub watch: Improvement,
    /// Product of the reductions so far.
    pub scale: f64,
}

impl Default for PlateauState {
    fn default() -> Self {
        Self {
            watch: Improvement::default(),
            scale: 1.0,
        }
    }
}

impl Schedule {
    /// The schedule of `phase` with `steps_per_epoch` optimizer steps per epoch.
    pub fn new(phase: &PhaseSpec, steps_per_epoch: usize) -> Self {
        let steps_per_epoch = steps_per_epoch.max(1) as u64;
        Self {
            base: phase.optimizer.learning_rate(),
            spec: phase.schedule.clone(),
            steps_per_epoch,
            warmup_steps: (phase.warmup_epochs * steps_per_epoch as f64).round() as u64,
            total_steps: u64::from(phase.epochs) * steps_per_epoch,
        }
    }

    /// The rate of step `step` (0-based, counted from the start of the phase).
    pub fn lr(&self, step: u64, plateau: &PlateauState) -> f64 {
        let rate = match &self.spec {
            ScheduleSpec::Constant => self.base,
            ScheduleSpec::Step(s) => {
                let epoch = step / self.steps_per_epoch;
                let reductions = epoch / u64::from(s.every_epochs.max(1));
                self.base * s.factor.powi(reductions.min(i32::MAX as u64) as i32)
            }
            ScheduleSpec::Cosine(c) => {
                let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
                let t = step.saturating_sub(self.warmup_steps).min(span) as f64 / span as f64;
                c.min_lr + (self.base - c.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            ScheduleSpec::ReduceOnPlateau(p) => (self.base * plateau.scale).max(p.min_lr),
        };
        if step < self.warmup_steps {
            rate * (step + 1) as f64 / self.warmup_steps as f64
        } else {
            rate
        }
    }

    /// Updates reduce-on-plateau after an epoch whose monitored value is `value`; returns true
    /// when the rate was reduced. Other schedules ignore it.
    pub fn end_epoch(&self, value: Option<f64>, epoch: usize, state: &mut PlateauState) -> bool {
        let (ScheduleSpec::ReduceOnPlateau(p), Some(value)) = (&self.spec, value) else {
            return false;
        };
        if state
            .watch
            .observe(value, epoch, p.min_delta, p.monitor.lower_is_better())
            || state.watch.wait < p.patience
        {
            return false;
        }
        state.watch.wait = 0;
        state.scale *= p.factor;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::train::{CosineSchedule, Monitor, PlateauSchedule, StepSchedule};

    fn phase(schedule: ScheduleSpec, warmup_epochs: f64) -> PhaseSpec {
        let mut phase: PhaseSpec = serde_json::from_value(serde_json::json!(
            {"name": "p", "epochs": 4, "optimizer": {"sgd": {"lr": 1.0}}}
        ))
        .unwrap();
        phase.schedule = schedule;
        phase.warmup_epochs = warmup_epochs;
        phase
    }

    #[test]
    fn step_decay_multiplies_every_n_epochs() {
        let s = Schedule::new(
            &phase(
                ScheduleSpec::Step(StepSchedule {
                    every_epochs: 2,
                    factor: 0.5,
                }),
                0.0,
            ),
            10,
        );
        let p = PlateauState::default();
        assert_eq!(s.lr(0, &p), 1.0);
        assert_eq!(s.lr(19, &p), 1.0);
        assert_eq!(s.lr(20, &p), 0.5);
        assert_eq!(s.lr(39, &p), 0.5);
    }

    #[test]
    fn cosine_runs_from_lr_to_min_lr_after_warmup() {
        let s = Schedule::new(
            &phase(ScheduleSpec::Cosine(CosineSchedule { min_lr: 0.1 }), 1.0),
            10,
        );
        let p = PlateauState::default();
        assert!((s.lr(0, &p) - 0.1).abs() < 1e-12, "warmup starts at lr/10");
        assert!((s.lr(9, &p) - 1.0).abs() < 1e-12, "warmup ends at lr");
        assert!((s.lr(10, &p) - 1.0).abs() < 1e-12);
        assert!((s.lr(25, &p) - 0.55).abs() < 1e-12, "half way: the mean");
        assert!((s.lr(40, &p) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn plateau_reduces_after_patience_epochs_without_improvement() {
        let s = Schedule::new(
            &phase(
                ScheduleSpec::ReduceOnPlateau(PlateauSchedule {
                    monitor: Monitor("validation/loss".into()),
                    factor: 0.1,
                    patience: 2,
                    min_delta: 0.0,
                    min_lr: 0.05,
                }),
                0.0,
            ),
            10,
        );
        let mut state = PlateauState::default();
        assert!(!s.end_epoch(Some(1.0), 1, &mut state));
        assert!(!s.end_epoch(Some(1.1), 2, &mut state));
        assert!(s.end_epoch(Some(1.2), 3, &mut state));
        assert!((s.lr(0, &state) - 0.1).abs() < 1e-12);
        assert!(!s.end_epoch(Some(1.3), 4, &mut state));
        assert!(s.end_epoch(Some(1.3), 5, &mut state));
        assert_eq!(s.lr(0, &state), 0.05, "never below min_lr");
    }
}
