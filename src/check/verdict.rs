//! Evaluating checks: one [`Row`] per check (per configuration of a sweep) with the baseline
//! and current values, the change, the tolerance and a [`Verdict`], and the exit code of
//! `runner check` ([`Outcome::exit_code`]).
//!
//! A check fails when its threshold does not hold, or when the metric got worse than the
//! baseline by more than the tolerance: the larger of `max_drop` and `rel` x |baseline|
//! (0 when neither is given). With seed replicates (a sweep with `seeds`), values are means and
//! a drop beyond the tolerance fails only when it also exceeds k standard deviations (the
//! larger of the current and the baseline spread; k = [`DEFAULT_SIGMAS`] unless
//! `--sigmas` says otherwise); a drop within the noise is a `warn`.

use super::baseline::Baseline;
use super::target::Target;
use crate::metric::Goal;
use crate::metric::Stat;
use crate::spec::checks::CheckRule;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// k in "fails only when the drop exceeds k standard deviations of the seed spread".
pub const DEFAULT_SIGMAS: f64 = 2.0;

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Within threshold and tolerance.
    Pass,
    /// The baseline has no value for the metric (a new metric): nothing to compare.
    New,
    /// Worse than allowed, but the check is informational or the drop is within seed noise.
    Warn,
    /// Worse than allowed: a regression.
    Fail,
    /// Could not be evaluated: the run lacks the metric, or the baseline is missing or bad.
    Missing,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::New => "new",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
            Verdict::Missing => "missing",
        })
    }
}

/// One evaluated check.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The configuration (a sweep trial's group; `""` for a single run).
    pub group: String,
    /// The metric name.
    pub metric: String,
    /// The baseline's value, when there is one.
    pub baseline: Option<Stat>,
    /// The run's value.
    pub current: Option<Stat>,
    /// The allowed range, in words (`>= 0.9`, `drop <= 0.01`).
    pub tolerance: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, for anything but a pass.
    pub note: String,
}

impl Row {
    /// The check's name: the metric, prefixed with the configuration for a sweep.
    pub fn name(&self) -> String {
        if self.group.is_empty() {
            self.metric.clone()
        } else {
            format!("{} {}", self.group, self.metric)
        }
    }

    /// Current minus baseline.
    pub fn change(&self) -> Option<f64> {
        Some(self.current?.mean - self.baseline?.mean)
    }

    /// The change relative to the baseline's magnitude.
    pub fn relative_change(&self) -> Option<f64> {
        let base = self.baseline?.mean;
        (base != 0.0).then(|| self.change().map(|c| c / base.abs()))?
    }
}

/// All rows of a check, and warnings about the baselines used.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What was checked.
    pub target: String,
    /// One row per check and configuration.
    pub rows: Vec<Row>,
    /// Baselines from a different spec, data or device.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// 2 when a check could not be evaluated, else 1 when one failed, else 0.
    pub fn exit_code(&self) -> u8 {
        match self.rows.iter().map(|r| r.verdict).max() {
            Some(Verdict::Missing) => 2,
            Some(Verdict::Fail) => 1,
            _ => 0,
        }
    }
}

/// Evaluates `target`'s checks (its spec's `checks:`). `baseline` (`--baseline`) replaces the
/// baselines the checks name; `sigmas` is k for seed replicates.
pub fn judge(target: &Target, baseline: Option<&Baseline>, sigmas: f64) -> Outcome {
    let checks = &target.spec.spec.checks;
    let mut files = BaselineFiles::default();
    let mut rows = Vec::new();
    for (group, values) in &target.groups {
        for (metric, check) in checks {
            let rule = check.rule();
            let base = match (baseline, &rule.baseline) {
                (Some(b), _) => Ok(Some(b)),
                (None, Some(file)) => files.get(&target.spec.resolve(file)).map(Some),
                (None, None) => Ok(None),
            };
            rows.push(row(
                group,
                metric,
                &rule,
                values.get(metric).copied(),
                base,
                sigmas,
            ));
        }
    }
    let mut warnings = Vec::new();
    for b in baseline.into_iter().chain(files.loaded()) {
        for w in b.differences(target) {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
    }
    Outcome {
        target: target.path.display().to_string(),
        rows,
        warnings,
    }
}

/// The baseline files named by checks, each read once.
#[derive(Default)]
struct BaselineFiles(BTreeMap<PathBuf, Result<Baseline, String>>);

impl BaselineFiles {
    fn get(&mut self, path: &Path) -> Result<&Baseline, String> {
        self.0
            .entry(path.to_path_buf())
            .or_insert_with(|| Baseline::load(path).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn loaded(&self) -> impl Iterator<Item = &Baseline> {
        self.0.values().flatten()
    }
}

/// The row of the check of `metric`: its values, change, tolerance and verdict.
/// Long by design: threshold, baseline, tolerance and noise rules combine into one verdict, in
/// the order the README gives them.
fn row(
    group: &str,
    metric: &str,
    rule: &CheckRule,
    current: Option<Stat>,
    baseline: Result<Option<&Baseline>, String>,
    sigmas: f64,
) -> Row {
    let goal = rule.goal.unwrap_or_else(|| Goal::of(metric));
    let mut row = Row {
        group: group.to_string(),
        metric: metric.to_string(),
        baseline: None,
        current,
        tolerance: tolerance_text(rule, goal),
        verdict: Verdict::Pass,
        note: String::new(),
    };
    let mut judge = |verdict: Verdict, note: String| {
        if verdict > row.verdict {
            row.verdict = verdict;
            row.note = note;
        }
    };
    let baseline = match baseline {
        Ok(b) => b,
        Err(reason) => {
            judge(Verdict::Missing, reason);
            None
        }
    };
    row.baseline = baseline
        .and_then(|b| b.values(group))
        .and_then(|v| v.get(metric))
        .copied();
    let Some(current) = current else {
        judge(
            Verdict::Missing,
            format!("the run has no `{metric}` (did it evaluate that split?)"),
        );
        return finish(row, rule);
    };
    if let Some(threshold) = &rule.threshold
        && !threshold.holds(current.mean)
    {
        judge(
            Verdict::Fail,
            format!("{} is not {}", number(current.mean), threshold.0.trim()),
        );
    }
    if rule.compares() {
        match (baseline, row.baseline) {
            (None, _) => judge(
                Verdict::Missing,
                "no baseline: name one in the check (`baseline: FILE`) or give `--baseline FILE|RUN`".into(),
            ),
            (Some(_), None) => judge(Verdict::New, format!("the baseline has no `{metric}`")),
            (Some(_), Some(base)) => {
                let worse = match goal {
                    Goal::Max => base.mean - current.mean,
                    Goal::Min => current.mean - base.mean,
                };
                let allowed = rule
                    .max_drop
                    .unwrap_or(0.0)
                    .max(rule.rel.unwrap_or(0.0) * base.mean.abs());
                let noise = sigmas * current.std.max(base.std);
                if worse > allowed && worse > noise {
                    judge(
                        Verdict::Fail,
                        format!(
                            "worse by {} (allowed {})",
                            number(worse),
                            number(allowed)
                        ),
                    );
                } else if worse > allowed {
                    judge(
                        Verdict::Warn,
                        format!(
                            "worse by {} (allowed {}) but within {sigmas} std of the seeds ({})",
                            number(worse),
                            number(allowed),
                            number(noise / sigmas)
                        ),
                    );
                }
            }
        }
    }
    finish(row, rule)
}

/// An informational check never fails: its failure is a warning.
fn finish(mut row: Row, rule: &CheckRule) -> Row {
    if rule.informational && row.verdict == Verdict::Fail {
        row.verdict = Verdict::Warn;
        row.note = format!("{} (informational)", row.note);
    }
    row
}

fn tolerance_text(rule: &CheckRule, goal: Goal) -> String {
    let word = match goal {
        Goal::Max => "drop",
        Goal::Min => "rise",
    };
    let mut parts = Vec::new();
    if let Some(t) = &rule.threshold {
        parts.push(t.0.trim().to_string());
    }
    if rule.compares() {
        match (rule.max_drop, rule.rel) {
            (Some(abs), Some(rel)) => parts.push(format!(
                "{word} <= max({}, {}%)",
                number(abs),
                number(rel * 100.0)
            )),
            (Some(abs), None) => parts.push(format!("{word} <= {}", number(abs))),
            (None, Some(rel)) => parts.push(format!("{word} <= {}%", number(rel * 100.0))),
            (None, None) => parts.push(format!("{word} <= 0")),
        }
    }
    if rule.informational {
        parts.push("informational".into());
    }
    parts.join(", ")
}

/// A number as the reports show it: up to 6 significant decimals, no trailing zeros.
pub fn number(x: f64) -> String {
    let text = format!("{x:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::checks::Threshold;
    use crate::track::records::DeviceInfo;
    use rstest::rstest;

    fn stat(mean: f64, std: f64, n: usize) -> Stat {
        Stat { mean, std, n }
    }

    fn baseline(metric: &str, value: Stat) -> Baseline {
        Baseline {
            version: 1,
            source: "b".into(),
            experiment: "e".into(),
            spec_hash: "h".into(),
            data_hash: None,
            device: DeviceInfo {
                backend: "flex".into(),
                device: "cpu".into(),
                adapter: None,
                burn_version: "0".into(),
                runner_version: "0".into(),
            },
            groups: [(String::new(), [(metric.to_string(), value)].into())].into(),
        }
    }

    fn rule(max_drop: Option<f64>, rel: Option<f64>) -> CheckRule {
        CheckRule {
            max_drop,
            rel,
            ..CheckRule::default()
        }
    }

    #[rstest]
    // Accuracy (higher is better): drops beyond the tolerance fail, rises always pass.
    #[case("test/accuracy", rule(Some(0.01), None), 0.90, 0.895, Verdict::Pass)]
    #[case("test/accuracy", rule(Some(0.01), None), 0.90, 0.88, Verdict::Fail)]
    #[case("test/accuracy", rule(Some(0.01), None), 0.90, 0.99, Verdict::Pass)]
    #[case("test/accuracy", rule(None, Some(0.02)), 0.90, 0.885, Verdict::Pass)]
    #[case("test/accuracy", rule(None, Some(0.02)), 0.90, 0.87, Verdict::Fail)]
    #[case(
        "test/accuracy",
        rule(Some(0.0), Some(0.05)),
        0.90,
        0.86,
        Verdict::Pass
    )]
    #[case("test/accuracy", CheckRule { baseline: Some("b.json".into()), ..rule(None, None) }, 0.90, 0.8999, Verdict::Fail)]
    // Loss (lower is better): rises fail.
    #[case("validation/loss", rule(Some(0.01), None), 0.40, 0.42, Verdict::Fail)]
    #[case("validation/loss", rule(Some(0.01), None), 0.40, 0.30, Verdict::Pass)]
    // An explicit goal wins over the name.
    #[case("validation/loss", CheckRule { goal: Some(Goal::Max), ..rule(Some(0.01), None) }, 0.40, 0.30, Verdict::Fail)]
    // Informational: reported as a warning, never a failure.
    #[case("seconds", CheckRule { informational: true, ..rule(None, Some(0.5)) }, 10.0, 20.0, Verdict::Warn)]
    // A threshold and a baseline: both must hold.
    #[case("test/accuracy", CheckRule { threshold: Some(Threshold(">= 0.95".into())), ..rule(Some(0.1), None) }, 0.90, 0.90, Verdict::Fail)]
    fn single_runs(
        #[case] metric: &str,
        #[case] rule: CheckRule,
        #[case] base: f64,
        #[case] current: f64,
        #[case] verdict: Verdict,
    ) {
        let b = baseline(metric, stat(base, 0.0, 1));
        let r = row(
            "",
            metric,
            &rule,
            Some(stat(current, 0.0, 1)),
            Ok(Some(&b)),
            2.0,
        );
        assert_eq!(r.verdict, verdict, "{r:?}");
    }

    #[rstest]
    // Drop 0.05 > tolerance 0.01; seed std 0.02: fails only beyond k std.
    #[case(2.0, 0.03, Verdict::Warn)]
    #[case(2.0, 0.02, Verdict::Fail)]
    #[case(3.0, 0.02, Verdict::Warn)]
    #[case(1.0, 0.02, Verdict::Fail)]
    fn replicates_fail_beyond_tolerance_and_k_std(
        #[case] sigmas: f64,
        #[case] std: f64,
        #[case] verdict: Verdict,
    ) {
        let b = baseline("test/accuracy", stat(0.90, std, 3));
        let current = Some(stat(0.85, std, 3));
        let r = row(
            "g",
            "test/accuracy",
            &rule(Some(0.01), None),
            current,
            Ok(Some(&b)),
            sigmas,
        );
        assert_eq!(r.verdict, verdict, "{r:?}");
    }

    #[test]
    fn missing_and_new() {
        let b = baseline("other", stat(1.0, 0.0, 1));
        let cmp = rule(Some(0.01), None);
        let current = Some(stat(0.9, 0.0, 1));
        let new = row("", "test/accuracy", &cmp, current, Ok(Some(&b)), 2.0);
        assert_eq!(new.verdict, Verdict::New);
        let no_baseline = row("", "test/accuracy", &cmp, current, Ok(None), 2.0);
        assert_eq!(no_baseline.verdict, Verdict::Missing);
        assert!(no_baseline.note.contains("--baseline"));
        let bad = row(
            "",
            "test/accuracy",
            &cmp,
            current,
            Err("unreadable".into()),
            2.0,
        );
        assert_eq!(
            (bad.verdict, bad.note.as_str()),
            (Verdict::Missing, "unreadable")
        );
        let absent = row("", "test/accuracy", &cmp, None, Ok(Some(&b)), 2.0);
        assert_eq!(absent.verdict, Verdict::Missing);
    }

    #[test]
    fn exit_codes_follow_the_worst_verdict() {
        let make = |verdicts: &[Verdict]| Outcome {
            target: "t".into(),
            rows: verdicts
                .iter()
                .map(|&verdict| Row {
                    group: String::new(),
                    metric: "m".into(),
                    baseline: None,
                    current: None,
                    tolerance: String::new(),
                    verdict,
                    note: String::new(),
                })
                .collect(),
            warnings: vec![],
        };
        assert_eq!(
            make(&[Verdict::Pass, Verdict::New, Verdict::Warn]).exit_code(),
            0
        );
        assert_eq!(make(&[Verdict::Pass, Verdict::Fail]).exit_code(), 1);
        assert_eq!(make(&[Verdict::Fail, Verdict::Missing]).exit_code(), 2);
    }

    #[test]
    fn changes_and_numbers() {
        let r = Row {
            group: "lr=0.1".into(),
            metric: "test/accuracy".into(),
            baseline: Some(stat(0.8, 0.0, 1)),
            current: Some(stat(0.6, 0.0, 1)),
            tolerance: String::new(),
            verdict: Verdict::Fail,
            note: String::new(),
        };
        assert_eq!(r.name(), "lr=0.1 test/accuracy");
        assert!((r.change().unwrap() + 0.2).abs() < 1e-12);
        assert!((r.relative_change().unwrap() + 0.25).abs() < 1e-12);
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(-0.0), "0");
    }
}
