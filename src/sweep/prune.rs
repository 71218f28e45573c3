//! Early termination of poor trials (pruning): the `prune:` block of a sweep file and the
//! rules behind it, Optuna's median rule and asynchronous successive halving (ASHA).
//!
//! The trial decides, not the sweep: `runner run` gets the resolved rule ([`Pruning`], the
//! hidden `--prune` argument), and at the end of each epoch it reads the other trials'
//! `metrics.jsonl` in the sweep folder and stops itself when it is behind them. So pruning
//! works with any executor that shares the sweep folder (local child processes, cluster
//! jobs), and the sweep process never has to kill a trial.
//!
//! Phases: trials are compared only at the same epoch *and* phase (a frozen base and a
//! fine-tuned one have different scales), and warm-up and rungs count epochs within a phase,
//! so a trial is never stopped in its feature-extraction phase for being behind a trial whose
//! fine-tuning started earlier. Pruning only reads files: a trial it does not stop gives the
//! same results as without it. The last epoch of a run is never judged (nothing is left to
//! save).

use super::spec::LoadedSweep;
use super::state::SweepDir;
use crate::metric::Goal;
use crate::spec::diagnostic::Diagnostic;
use crate::track::records::{EpochRecord, Pruned};
use crate::track::{RunDir, RunStatus};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `prune:` block of a sweep file: which per-epoch metric is compared, and the rules (one
/// or both; a trial stops when either says so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneSpec {
    /// The metric compared at each epoch, `validation/<metric>` or `train/<metric>`. Default:
    /// the sweep's `metric` when it is one of these; `validation/X` for `test/X` and
    /// `best/validation/X`.
    #[serde(default)]
    pub metric: Option<String>,
    /// Whether a higher (`max`) or lower (`min`) value is better. Default: the sweep's `goal`
    /// when `metric` is left out, else `min` for a loss and `max` for anything else.
    #[serde(default)]
    pub goal: Option<Goal>,
    /// Optuna's median rule: stop a trial whose best value in the phase so far is worse than
    /// the median of the finished trials' values at the same epoch.
    #[serde(default)]
    pub median: Option<MedianRule>,
    /// Asynchronous successive halving: at the rungs (epochs `min_epochs`,
    /// `min_epochs * reduction_factor`, ... of each phase), a trial goes on only when it is in
    /// the top `1 / reduction_factor` of every trial's value at that epoch.
    #[serde(default)]
    pub asha: Option<AshaRule>,
}

/// Settings of the median rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MedianRule {
    /// Epochs at the start of each phase that are never judged.
    #[serde(default = "one")]
    #[schemars(range(max = 100000))]
    pub warmup_epochs: u32,
    /// Finished trials that must have reached an epoch before a trial is judged there.
    #[serde(default = "three")]
    #[schemars(range(min = 1, max = 100000))]
    pub min_trials: u32,
}

/// Settings of asynchronous successive halving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AshaRule {
    /// The first rung: an epoch of each phase, counted from 1.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 100000))]
    pub min_epochs: u32,
    /// Rungs are this factor apart, and a trial must be in the top `1 / reduction_factor` of
    /// the trials at a rung to go on.
    #[serde(default = "three")]
    #[schemars(range(min = 2, max = 1000))]
    pub reduction_factor: u32,
    /// Other trials (running, finished or pruned) that must have reached a rung before a
    /// trial can be stopped there.
    #[serde(default = "three")]
    #[schemars(range(min = 1, max = 100000))]
    pub min_trials: u32,
}

fn one() -> u32 {
    1
}

fn three() -> u32 {
    3
}

/// A sweep's pruning, resolved: what a trial needs to judge itself (`runner run --prune`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pruning {
    /// The sweep folder, whose `sweep.json` lists the trials to compare with.
    pub sweep_dir: PathBuf,
    /// The compared metric, `validation/<metric>` or `train/<metric>`.
    pub metric: String,
    /// Higher or lower is better.
    pub goal: Goal,
    /// The median rule, if used.
    pub median: Option<MedianRule>,
    /// Successive halving, if used.
    pub asha: Option<AshaRule>,
}

impl std::str::FromStr for Pruning {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| {
            format!("`--prune` takes the pruning a sweep passes to its trials, as JSON: {e}")
        })
    }
}

/// The metric and goal pruning compares, from the `prune` block or the sweep's metric.
fn metric_and_goal(loaded: &LoadedSweep, spec: &PruneSpec) -> Option<(String, Goal)> {
    if let Some(metric) = &spec.metric {
        return Some((
            metric.clone(),
            spec.goal.unwrap_or_else(|| Goal::of(metric)),
        ));
    }
    let sweep = &loaded.sweep;
    let metric = match sweep.metric.split_once('/')? {
        ("train" | "validation", "images_per_second") => return None,
        ("train" | "validation", _) => sweep.metric.clone(),
        ("test", name) => format!("validation/{name}"),
        ("best", rest) if rest.starts_with("validation/") => rest.to_string(),
        _ => return None,
    };
    Some((metric, spec.goal.unwrap_or(sweep.goal())))
}

/// Checks the sweep's `prune` block against the metrics every epoch records (`loss` and the
/// spec's `metrics`); the pruning its trials get, `None` without a `prune` block.
pub fn resolve(
    loaded: &LoadedSweep,
    epoch_metrics: &[&str],
    sweep_dir: &Path,
) -> Result<Option<Pruning>, Vec<Diagnostic>> {
    let Some(spec) = &loaded.sweep.prune else {
        return Ok(None);
    };
    if spec.median.is_none() && spec.asha.is_none() {
        return Err(vec![
            loaded
                .key_error("prune", "`prune` names no rule")
                .with_help("add `median: {warmup_epochs: 1, min_trials: 3}` and/or `asha: {min_epochs: 1, reduction_factor: 3}`"),
        ]);
    }
    let known: Vec<String> = ["train", "validation"]
        .iter()
        .flat_map(|split| epoch_metrics.iter().map(move |m| format!("{split}/{m}")))
        .collect();
    let Some((metric, goal)) = metric_and_goal(loaded, spec) else {
        return Err(vec![
            loaded
                .key_error(
                    "prune",
                    format!(
                        "pruning compares a metric of every epoch, and the sweep's metric `{}` is not one",
                        loaded.sweep.metric
                    ),
                )
                .with_help(format!(
                    "set `prune.metric` to one of: {}",
                    known.join(", ")
                )),
        ]);
    };
    if !known.contains(&metric) {
        let mut diagnostic = loaded
            .key_error(
                "prune/metric",
                format!("no epoch of this sweep's runs records `{metric}`"),
            )
            .with_suggestion(&metric, known.iter().map(String::as_str));
        if diagnostic.help.is_none() {
            diagnostic =
                diagnostic.with_help(format!("metrics of every epoch: {}", known.join(", ")));
        }
        return Err(vec![diagnostic]);
    }
    Ok(Some(Pruning {
        sweep_dir: std::path::absolute(sweep_dir).unwrap_or(sweep_dir.to_path_buf()),
        metric,
        goal,
        median: spec.median,
        asha: spec.asha,
    }))
}

/// Another trial's epochs, as a trial judging itself sees them.
#[derive(Debug, Clone)]
pub struct Sibling {
    /// Its epochs so far.
    pub epochs: Vec<EpochRecord>,
    /// True when it ran to its end (not pruned, not failed).
    pub finished: bool,
}

impl crate::train::Pruner for Pruning {
    /// Judges the trial in `own_dir`, whose epochs so far are `own` (the last one just ended),
    /// against the sweep's other trials; `Some` when it should stop now.
    fn judge(&self, own_dir: &Path, own: &[EpochRecord]) -> Option<Pruned> {
        let last = own.last()?;
        let phase_epoch = own.iter().filter(|e| e.phase == last.phase).count() as u32;
        if self.median_at(phase_epoch).is_none() && self.asha_at(phase_epoch).is_none() {
            return None;
        }
        self.decide(own, &self.siblings(own_dir))
    }
}

impl Pruning {
    /// The value this pruning uses for the run's argument (`runner run --prune`).
    pub fn arg(&self) -> String {
        serde_json::to_string(self).expect("pruning serializes")
    }

    /// The median rule, when it judges epoch `phase_epoch` of a phase (after the warm-up).
    fn median_at(&self, phase_epoch: u32) -> Option<MedianRule> {
        self.median.filter(|m| phase_epoch > m.warmup_epochs)
    }

    /// Successive halving, when epoch `phase_epoch` of a phase is one of its rungs.
    fn asha_at(&self, phase_epoch: u32) -> Option<AshaRule> {
        self.asha.filter(|a| is_rung(phase_epoch, *a))
    }

    /// The other trials of the sweep (unreadable ones left out: a trial is never stopped
    /// because another's files are damaged).
    fn siblings(&self, own_dir: &Path) -> Vec<Sibling> {
        let dir = SweepDir::new(&self.sweep_dir);
        let record = match dir.read() {
            Ok(Some(record)) => record,
            Ok(None) => return Vec::new(),
            Err(e) => {
                tracing::warn!("pruning is off for this epoch: {e}");
                return Vec::new();
            }
        };
        let own_name = own_dir.file_name();
        record
            .trials
            .iter()
            .filter(|t| Some(t.name.as_ref()) != own_name)
            .filter_map(|t| {
                let run: RunDir = dir.trial(t);
                Some(Sibling {
                    epochs: run.read_epochs().ok()?,
                    finished: run.status() == RunStatus::Finished,
                })
            })
            .collect()
    }

    /// The rules applied to `own` against `siblings`.
    pub fn decide(&self, own: &[EpochRecord], siblings: &[Sibling]) -> Option<Pruned> {
        let last = own.last()?;
        let in_phase: Vec<f64> = own
            .iter()
            .filter(|e| e.phase == last.phase)
            .map(|e| e.metric(&self.metric).unwrap_or(f64::NAN))
            .collect();
        let phase_epoch = in_phase.len() as u32;
        let at_this_epoch = |s: &&Sibling| {
            s.epochs
                .iter()
                .find(|e| e.epoch == last.epoch && e.phase == last.phase)
                .and_then(|e| e.metric(&self.metric))
                .filter(|v| v.is_finite())
        };
        let pruned = |rule: &str, value: f64, threshold: f64, compared: usize| Pruned {
            rule: rule.into(),
            epoch: last.epoch,
            phase: last.phase.clone(),
            metric: self.metric.clone(),
            value,
            threshold,
            compared,
        };
        if let Some(rule) = self.median_at(phase_epoch) {
            let others: Vec<f64> = siblings
                .iter()
                .filter(|s| s.finished)
                .filter_map(|s| at_this_epoch(&s))
                .collect();
            if others.len() >= rule.min_trials as usize {
                let best = best_of(&in_phase, self.goal);
                let threshold = median(others.clone());
                if self.worse(best, threshold) {
                    return Some(pruned("median", best, threshold, others.len()));
                }
            }
        }
        if let Some(rule) = self.asha_at(phase_epoch) {
            let others: Vec<f64> = siblings.iter().filter_map(|s| at_this_epoch(&s)).collect();
            if others.len() >= rule.min_trials as usize {
                let value = in_phase.last().copied().unwrap_or(f64::NAN);
                let mut all = others.clone();
                all.push(value);
                all.retain(|v| v.is_finite());
                all.sort_by(|a, b| match self.goal {
                    Goal::Max => b.total_cmp(a),
                    Goal::Min => a.total_cmp(b),
                });
                let keep = ((others.len() + 1) / rule.reduction_factor as usize).max(1);
                let threshold = all[keep.min(all.len()) - 1];
                if self.worse(value, threshold) {
                    return Some(pruned("asha", value, threshold, others.len()));
                }
            }
        }
        None
    }

    /// True when `value` is worse than `threshold` (a value that is not a number is worse
    /// than any).
    fn worse(&self, value: f64, threshold: f64) -> bool {
        !value.is_finite() || self.goal.better(threshold, value)
    }
}

/// True when epoch `phase_epoch` of a phase is a rung: `min_epochs * reduction_factor^k`.
fn is_rung(phase_epoch: u32, rule: AshaRule) -> bool {
    let mut rung = rule.min_epochs.max(1);
    while rung < phase_epoch {
        rung = rung.saturating_mul(rule.reduction_factor.max(2));
    }
    rung == phase_epoch
}

/// The best finite value for `goal` (not a number when there is none).
fn best_of(values: &[f64], goal: Goal) -> f64 {
    values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .reduce(|a, b| if goal.better(b, a) { b } else { a })
        .unwrap_or(f64::NAN)
}

/// The median (the mean of the two middle values for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, phase: &str, loss: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            phase: phase.into(),
            learning_rate: 0.1,
            seconds: 1.0,
            images_per_second: 1.0,
            train: Default::default(),
            validation: [("loss".to_string(), loss)].into(),
        }
    }

    /// Epochs of one trial: `head` for `split` epochs, then `tune`.
    fn curve(losses: &[f64], split: usize) -> Vec<EpochRecord> {
        losses
            .iter()
            .enumerate()
            .map(|(i, l)| epoch(i + 1, if i < split { "head" } else { "tune" }, *l))
            .collect()
    }

    fn sibling(losses: &[f64], split: usize, finished: bool) -> Sibling {
        Sibling {
            epochs: curve(losses, split),
            finished,
        }
    }

    fn pruning(median: Option<MedianRule>, asha: Option<AshaRule>) -> Pruning {
        Pruning {
            sweep_dir: PathBuf::from("runs/s"),
            metric: "validation/loss".into(),
            goal: Goal::Min,
            median,
            asha,
        }
    }

    const MEDIAN: MedianRule = MedianRule {
        warmup_epochs: 1,
        min_trials: 2,
    };

    #[test]
    fn the_median_rule_stops_a_trial_behind_the_finished_ones_after_warm_up() {
        let p = pruning(Some(MEDIAN), None);
        let others = [
            sibling(&[0.6, 0.4, 0.3], 3, true),
            sibling(&[0.6, 0.5, 0.4], 3, true),
        ];
        // Warm-up: the first epoch of a phase is never judged.
        assert_eq!(p.decide(&curve(&[0.9], 3), &others), None);
        let verdict = p.decide(&curve(&[0.9, 0.8], 3), &others).unwrap();
        assert_eq!((verdict.rule.as_str(), verdict.epoch), ("median", 2));
        assert!((verdict.threshold - 0.45).abs() < 1e-12, "{verdict:?}");
        assert_eq!((verdict.value, verdict.compared), (0.8, 2));
        // Its best value of the phase counts: 0.42 at epoch 2 beats the median 0.45.
        assert_eq!(p.decide(&curve(&[0.9, 0.42], 3), &others), None);
        // Running or pruned trials do not count, and too few finished ones judge nothing.
        let unfinished = [
            sibling(&[0.6, 0.4, 0.3], 3, true),
            sibling(&[0.6, 0.5], 3, false),
        ];
        assert_eq!(p.decide(&curve(&[0.9, 0.8], 3), &unfinished), None);
        // A trial whose every loss of the phase is not a number is behind any.
        assert!(
            p.decide(&curve(&[f64::NAN, f64::NAN], 3), &others)
                .is_some()
        );
    }

    #[test]
    fn phases_are_compared_only_with_the_same_phase_and_warm_up_restarts_in_each() {
        let p = pruning(Some(MEDIAN), None);
        // The others fine-tune from epoch 2 on (loss much lower); this trial is still in its
        // frozen phase at epoch 3: nothing to compare with, so it goes on.
        let others = [
            sibling(&[0.6, 0.2, 0.1, 0.1], 1, true),
            sibling(&[0.6, 0.3, 0.2, 0.1], 1, true),
        ];
        assert_eq!(p.decide(&curve(&[0.6, 0.55, 0.5], 3), &others), None);
        // Its first fine-tuning epoch (4) is a warm-up epoch of that phase.
        assert_eq!(p.decide(&curve(&[0.6, 0.55, 0.5, 0.9], 3), &others), None);
        // Same phase boundary, second fine-tuning epoch, behind: stopped.
        let same = [
            sibling(&[0.6, 0.5, 0.4, 0.3, 0.2], 3, true),
            sibling(&[0.6, 0.5, 0.4, 0.3, 0.25], 3, true),
        ];
        let verdict = p.decide(&curve(&[0.6, 0.5, 0.4, 0.9, 0.8], 3), &same);
        assert_eq!(
            verdict.map(|v| (v.epoch, v.phase)),
            Some((5, "tune".into()))
        );
    }

    #[test]
    fn asha_keeps_the_top_fraction_at_its_rungs_only() {
        let rule = AshaRule {
            min_epochs: 1,
            reduction_factor: 2,
            min_trials: 3,
        };
        assert!([1, 2, 4, 8].iter().all(|e| is_rung(*e, rule)));
        assert!([3, 5, 6, 7].iter().all(|e| !is_rung(*e, rule)));
        let p = pruning(None, Some(rule));
        // Running and pruned trials count at a rung; 4 values, keep the best 2.
        let others = [
            sibling(&[0.5, 0.4], 2, false),
            sibling(&[0.6, 0.5], 2, true),
            sibling(&[0.7, 0.6], 2, false),
        ];
        assert_eq!(p.decide(&curve(&[0.55], 2), &others), None, "second best");
        let verdict = p.decide(&curve(&[0.65], 2), &others).unwrap();
        assert_eq!((verdict.rule.as_str(), verdict.threshold), ("asha", 0.6));
        assert_eq!(verdict.compared, 3);
        // Too few trials at the rung: goes on.
        assert_eq!(p.decide(&curve(&[0.65], 2), &others[..2]), None);
        // Epoch 3 is no rung of min_epochs 1, factor 2.
        let long = [
            sibling(&[0.5, 0.4, 0.1], 3, false),
            sibling(&[0.5, 0.4, 0.1], 3, false),
            sibling(&[0.5, 0.4, 0.1], 3, false),
        ];
        assert_eq!(p.decide(&curve(&[0.5, 0.4, 0.9], 3), &long), None);
    }
}
