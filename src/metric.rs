//! The metric vocabulary every part of runner shares: the names a user writes in `checks:`,
//! a sweep's `metric`, `runner compare --metric` (`test/accuracy`, `validation/loss`,
//! `best/validation/accuracy`, `initial/validation/accuracy`, `train/images_per_second`,
//! `seconds`, `epochs`...), where each comes from in a finished run ([`Metric`]), whether
//! higher or lower is better ([`Goal`]), and the mean and spread of a metric over seed
//! replicates ([`Stat`]).
//!
//! One rule decides the direction of a metric everywhere: [`Goal::of`]. Checks, sweeps,
//! pruning and compare take it unless the user says otherwise.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether higher or lower is better.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Higher is better.
    Max,
    /// Lower is better.
    Min,
}

impl Goal {
    /// The direction of metric `name` when the user does not give one: lower is better for a
    /// loss, wall time, epochs and the epoch of the best accuracy; higher for everything else
    /// (accuracies, images per second).
    pub fn of(name: &str) -> Goal {
        let last = name.rsplit('/').next().unwrap_or(name);
        if last == "loss" || name == "seconds" || name == "epochs" || name == "best/epoch" {
            Goal::Min
        } else {
            Goal::Max
        }
    }

    /// True when `a` is better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Goal::Max => a > b,
            Goal::Min => a < b,
        }
    }
}

/// The split a per-split metric is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training split, at the epoch whose weights the final model holds.
    Train,
    /// The validation split, with the final model.
    Validation,
    /// The test split, with the final model.
    Test,
    /// The validation split before any training.
    InitialValidation,
}

impl Split {
    /// The prefix of its metric names: `train`, `validation`, `test`, `initial/validation`.
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
            Split::InitialValidation => "initial/validation",
        }
    }
}

/// Where a metric of a finished run comes from, parsed from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric<'a> {
    /// `seconds`: wall time of the whole run.
    Seconds,
    /// `epochs`: epochs trained, all phases.
    Epochs,
    /// `train/images_per_second`: mean training throughput.
    ImagesPerSecond,
    /// `best/validation/accuracy`: the best validation accuracy of any epoch.
    BestValidationAccuracy,
    /// `best/epoch`: the epoch of that accuracy.
    BestEpoch,
    /// `SPLIT/NAME`: an epoch metric (`loss`, `accuracy`, ...) on a split.
    OnSplit {
        /// The split.
        split: Split,
        /// The epoch metric's name.
        name: &'a str,
    },
}

impl<'a> Metric<'a> {
    /// The metric `name` stands for; `None` when it has none of the forms above.
    pub fn parse(name: &'a str) -> Option<Metric<'a>> {
        Some(match name {
            "seconds" => Metric::Seconds,
            "epochs" => Metric::Epochs,
            "train/images_per_second" => Metric::ImagesPerSecond,
            "best/validation/accuracy" => Metric::BestValidationAccuracy,
            "best/epoch" => Metric::BestEpoch,
            _ => {
                let (split, name) = if let Some(rest) = name.strip_prefix("initial/validation/") {
                    (Split::InitialValidation, rest)
                } else {
                    let (prefix, rest) = name.split_once('/')?;
                    let split = match prefix {
                        "train" => Split::Train,
                        "validation" => Split::Validation,
                        "test" => Split::Test,
                        _ => return None,
                    };
                    (split, rest)
                };
                if name.is_empty() || name.contains('/') {
                    return None;
                }
                Metric::OnSplit { split, name }
            }
        })
    }
}

/// Every metric name a finished run has when it computes `epoch_metrics` (`loss`,
/// `accuracy`, ...) each epoch; the `test/...` names only when the data has a test split.
pub fn names(epoch_metrics: &[&str], has_test: bool) -> Vec<String> {
    let mut names: Vec<String> = [
        "seconds",
        "epochs",
        "train/images_per_second",
        "best/validation/accuracy",
        "best/epoch",
    ]
    .map(String::from)
    .to_vec();
    let mut splits = vec![Split::Train, Split::Validation, Split::InitialValidation];
    if has_test {
        splits.push(Split::Test);
    }
    for split in splits {
        names.extend(
            epoch_metrics
                .iter()
                .map(|m| format!("{}/{m}", split.prefix())),
        );
    }
    names
}

/// A metric over `n` runs (one run: the value, std 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub std: f64,
    /// Runs with a value.
    pub n: usize,
}

impl Stat {
    /// Mean and sample standard deviation of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Stat> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Stat { mean, std, n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("validation/loss", Goal::Min)]
    #[case("initial/validation/loss", Goal::Min)]
    #[case("train/loss", Goal::Min)]
    #[case("seconds", Goal::Min)]
    #[case("epochs", Goal::Min)]
    #[case("best/epoch", Goal::Min)]
    #[case("test/accuracy", Goal::Max)]
    #[case("best/validation/accuracy", Goal::Max)]
    #[case("train/images_per_second", Goal::Max)]
    fn the_goal_follows_the_name(#[case] metric: &str, #[case] goal: Goal) {
        assert_eq!(Goal::of(metric), goal);
    }

    #[test]
    fn every_listed_name_parses() {
        for name in names(&["loss", "accuracy"], true) {
            assert!(Metric::parse(&name).is_some(), "{name}");
        }
        assert_eq!(
            Metric::parse("initial/validation/accuracy"),
            Some(Metric::OnSplit {
                split: Split::InitialValidation,
                name: "accuracy"
            })
        );
    }

    #[rstest]
    #[case("accuracy")]
    #[case("val_accuracy")]
    #[case("validation/")]
    #[case("holdout/accuracy")]
    #[case("validation/a/b")]
    fn other_names_do_not_parse(#[case] name: &str) {
        assert_eq!(Metric::parse(name), None);
    }

    #[test]
    fn stat_is_mean_and_sample_std() {
        let s = Stat::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.std, s.n), (2.0, 1.0, 3));
        assert_eq!(Stat::of(&[]), None);
    }
}
