//! Watching a metric across epochs for improvement: the shared rule behind early stopping and
//! reduce-on-plateau (Keras' `monitor`, `min_delta`, `patience`).

use crate::spec::train::Monitor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
