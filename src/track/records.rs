//! The typed records of a run folder: one [`EpochRecord`] per line of `metrics.jsonl`, the
//! [`Summary`] in `summary.json`, the [`Failure`] a failed run leaves in `error.json`, and the
//! [`Pruned`] record of a sweep trial that stopped itself early (`pruned.json`).
//! `compare`, `check` and sweeps read runs through these types, never by string keys, so the
//! file formats have one definition. `summary.json` carries a version: a reader refuses a file
//! written by a newer runner instead of misreading it.

use crate::metric::{Metric, Split};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Metric values by name (`loss`, `accuracy`, ...).
pub type Metrics = BTreeMap<String, f64>;

/// One finished epoch: a line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, 1-based, continuing across phases.
    pub epoch: usize,
    /// Name of the phase the epoch belongs to.
    pub phase: String,
    /// Learning rate of the epoch's last step.
    pub learning_rate: f64,
    /// Wall time of the epoch's training steps, in seconds.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
    /// Training metrics, averaged over the epoch.
    pub train: Metrics,
    /// Validation metrics at the end of the epoch.
    pub validation: Metrics,
}

impl EpochRecord {
    /// The value of `split/metric` (`train/loss`, `validation/accuracy`) in this epoch.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (split, metric) = name.split_once('/')?;
        match split {
            "train" if metric == "images_per_second" => Some(self.images_per_second),
            "train" => self.train.get(metric).copied(),
            "validation" => self.validation.get(metric).copied(),
            _ => None,
        }
    }
}

/// The `summary.json` format version this runner writes.
pub const SUMMARY_VERSION: u32 = 2;

/// What ran a run: backend, device and library versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Burn backend (`flex`, `wgpu`, `libtorch`).
    pub backend: String,
    /// The device as `--device` names it (`cpu`, `tch-cpu`, `wgpu:0`, `cuda:0`).
    pub device: String,
    /// The hardware, where the backend names it (a wgpu adapter: `NVIDIA H200 (DiscreteGpu,
    /// Vulkan)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Version of the Burn crates runner was built with.
    pub burn_version: String,
    /// Version of runner.
    pub runner_version: String,
}

/// The best validation accuracy of a run and its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// Validation accuracy.
    pub accuracy: f64,
    /// Epoch number, 1-based.
    pub epoch: usize,
}

/// A finished run's results: `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Format version ([`SUMMARY_VERSION`]).
    pub version: u32,
    /// Experiment name (the spec's `name`).
    pub experiment: String,
    /// The run folder's name.
    pub run: String,
    /// SHA-256 of the resolved spec (the run id is its first 10 hex digits).
    pub spec_hash: String,
    /// The spec's seed.
    pub seed: u64,
    /// What ran it.
    pub device: DeviceInfo,
    /// Epochs trained, all phases.
    pub epochs: usize,
    /// Wall time of the whole run (all processes that worked on it), in seconds.
    pub seconds: f64,
    /// Mean training images per second over all epochs.
    pub images_per_second: f64,
    /// Validation metrics before training.
    pub initial_validation: Metrics,
    /// Training metrics of the epoch whose weights the final model holds.
    pub final_train: Option<Metrics>,
    /// Validation metrics of the final model: the restored best epoch's when early stopping
    /// restored one at the end, else the last epoch's.
    pub final_validation: Option<Metrics>,
    /// The epoch whose weights the final model holds.
    pub final_epoch: usize,
    /// Best validation accuracy over all epochs.
    pub best_validation_accuracy: Option<BestEpoch>,
    /// Metrics of the final model on the test split, when the data has one.
    pub test: Option<Metrics>,
    /// Confusion matrix of the final evaluation (test split, else validation), rows = true class.
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Class names, in label order.
    pub classes: Vec<String>,
}

impl Summary {
    /// A metric by the name used in checks, sweeps and compare ([`crate::metric`]):
    /// `test/accuracy`, `validation/loss` (the final model's), `best/validation/accuracy`,
    /// `initial/validation/accuracy`, `train/loss`, `train/images_per_second`, `seconds`,
    /// `epochs`.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let get = |metrics: Option<&Metrics>, key: &str| metrics?.get(key).copied();
        match Metric::parse(name)? {
            Metric::Seconds => Some(self.seconds),
            Metric::Epochs => Some(self.epochs as f64),
            Metric::ImagesPerSecond => Some(self.images_per_second),
            Metric::BestValidationAccuracy => self.best_validation_accuracy.map(|b| b.accuracy),
            Metric::BestEpoch => self.best_validation_accuracy.map(|b| b.epoch as f64),
            Metric::OnSplit { split, name } => get(self.split(split), name),
        }
    }

    /// The final metrics on `split`, if the run has them.
    fn split(&self, split: Split) -> Option<&Metrics> {
        match split {
            Split::Train => self.final_train.as_ref(),
            Split::Validation => self.final_validation.as_ref(),
            Split::Test => self.test.as_ref(),
            Split::InitialValidation => Some(&self.initial_validation),
        }
    }

    /// Every metric name [`Summary::metric`] answers for this summary, sorted.
    pub fn metric_names(&self) -> Vec<String> {
        let computed: BTreeSet<&str> = [
            self.final_train.as_ref(),
            self.final_validation.as_ref(),
            self.test.as_ref(),
            Some(&self.initial_validation),
        ]
        .into_iter()
        .flatten()
        .flat_map(|m| m.keys())
        .map(String::as_str)
        .collect();
        let computed: Vec<&str> = computed.into_iter().collect();
        let mut names: Vec<String> = crate::metric::names(&computed, self.test.is_some())
            .into_iter()
            .filter(|name| self.metric(name).is_some())
            .collect();
        names.sort();
        names
    }
}

/// Why a run failed: `error.json`, written when a run stops on an error (not on Ctrl-C), so
/// `compare` and sweeps can show it and a sweep can run the trial again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The error as the user saw it.
    pub message: String,
    /// Finished epochs when it failed.
    pub epochs: usize,
}

/// Why a sweep trial stopped itself before its end: `pruned.json`, written when its sweep's
/// pruning rule found it behind the other trials at the same epoch (`sweep::prune`). A pruned
/// run keeps its epochs and last checkpoint (`runner resume` trains it to its end), and its
/// sweep does not run it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pruned {
    /// The rule that stopped it: `median` or `asha`.
    pub rule: String,
    /// Its last epoch (1-based, across phases).
    pub epoch: usize,
    /// The phase of that epoch.
    pub phase: String,
    /// The compared metric (`validation/loss`, ...).
    pub metric: String,
    /// Its value of the metric (for `median`: the best of the phase so far).
    pub value: f64,
    /// The value it fell short of: the other trials' median, or the last value in their
    /// top fraction.
    pub threshold: f64,
    /// How many other trials it was compared with.
    pub compared: usize,
}

impl std::fmt::Display for Pruned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pruned by the `{}` rule after epoch {} (phase `{}`): {} {:.4} is behind {:.4}, from {} other trial(s) at that epoch",
            self.rule,
            self.epoch,
            self.phase,
            self.metric,
            self.value,
            self.threshold,
            self.compared
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        let metrics = |a: f64, l: f64| Metrics::from([("accuracy".into(), a), ("loss".into(), l)]);
        Summary {
            version: SUMMARY_VERSION,
            experiment: "e".into(),
            run: "r".into(),
            spec_hash: "ab".into(),
            seed: 1,
            device: DeviceInfo {
                backend: "flex".into(),
                device: "cpu".into(),
                adapter: None,
                burn_version: "0".into(),
                runner_version: "0".into(),
            },
            epochs: 3,
            seconds: 12.5,
            images_per_second: 40.0,
            initial_validation: metrics(0.5, 0.7),
            final_train: Some(metrics(0.9, 0.2)),
            final_validation: Some(metrics(0.8, 0.3)),
            final_epoch: 3,
            best_validation_accuracy: Some(BestEpoch {
                accuracy: 0.85,
                epoch: 2,
            }),
            test: Some(metrics(0.75, 0.4)),
            confusion_matrix: vec![vec![1, 0], vec![0, 1]],
            classes: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn metric_names_resolve_to_the_right_fields() {
        let s = summary();
        assert_eq!(s.metric("test/accuracy"), Some(0.75));
        assert_eq!(s.metric("validation/loss"), Some(0.3));
        assert_eq!(s.metric("train/accuracy"), Some(0.9));
        assert_eq!(s.metric("best/validation/accuracy"), Some(0.85));
        assert_eq!(s.metric("initial/validation/accuracy"), Some(0.5));
        assert_eq!(s.metric("seconds"), Some(12.5));
        assert_eq!(s.metric("train/images_per_second"), Some(40.0));
        assert_eq!(s.metric("test/auc"), None);
        assert_eq!(s.metric("bogus"), None);
        for name in s.metric_names() {
            assert!(s.metric(&name).is_some(), "{name}");
        }
    }

    #[test]
    fn every_listed_metric_name_is_answered_by_a_summary() {
        let s = summary();
        let names = crate::metric::names(&["loss", "accuracy"], true);
        for name in &names {
            assert!(s.metric(name).is_some(), "{name}");
        }
        assert_eq!(s.metric_names(), {
            let mut sorted = names;
            sorted.sort();
            sorted
        });
        assert!(!crate::metric::names(&["loss"], false).contains(&"test/loss".to_string()));
    }

    #[test]
    fn summary_round_trips_through_json() {
        let s = summary();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Summary>(&text).unwrap(), s);
    }
}
