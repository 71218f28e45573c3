//! The `checks:` section of a spec: per metric (the names used everywhere, e.g.
//! `test/accuracy`, `validation/loss`, `best/validation/accuracy`, `seconds`), an absolute
//! threshold (`">= 0.95"`) and/or a comparison with a baseline file within a tolerance
//! (`{baseline: ci/baselines/x.json, max_drop: 0.01}`, `{rel: 0.02}`), optionally only
//! informational. `runner check` evaluates them (see `crate::check`).

use super::schema::PatternHelp;
use crate::metric::Goal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One metric's check: a threshold alone, or a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CheckSpec {
    /// An absolute threshold, e.g. `">= 0.95"`.
    Threshold(Threshold),
    /// A threshold and/or a baseline comparison.
    Rule(CheckRule),
}

/// A check with a baseline comparison, a threshold, or both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRule {
    /// An absolute threshold, e.g. `">= 0.95"`.
    #[serde(default)]
    pub threshold: Option<Threshold>,
    /// Baseline file written by `runner baseline` (relative to the spec's folder);
    /// `runner check --baseline` replaces it.
    #[serde(default)]
    pub baseline: Option<PathBuf>,
    /// Largest allowed change for the worse against the baseline, in the metric's units.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub max_drop: Option<f64>,
    /// Largest allowed change for the worse, relative to the baseline value (0.02 = 2%).
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub rel: Option<f64>,
    /// Whether higher or lower is better (default: the metric's own direction,
    /// [`Goal::of`]: lower for losses, `seconds` and `epochs`, higher for everything else).
    #[serde(default)]
    pub goal: Option<Goal>,
    /// Report the check but never fail on it (a failure is shown as `warn`).
    #[serde(default)]
    pub informational: bool,
}

impl CheckSpec {
    /// The check as a rule (a bare threshold is a rule with only a threshold).
    pub fn rule(&self) -> CheckRule {
        match self {
            CheckSpec::Threshold(t) => CheckRule {
                threshold: Some(t.clone()),
                ..CheckRule::default()
            },
            CheckSpec::Rule(rule) => rule.clone(),
        }
    }
}

impl CheckRule {
    /// True when the check compares against a baseline (it names one or a tolerance).
    pub fn compares(&self) -> bool {
        self.baseline.is_some() || self.max_drop.is_some() || self.rel.is_some()
    }
}

/// The form of a [`Threshold`].
pub const THRESHOLD_PATTERN: &str = r"^\s*(>=|<=|>|<)\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$";

/// What a threshold must look like, for schema errors.
pub fn threshold_help() -> PatternHelp {
    PatternHelp {
        pattern: THRESHOLD_PATTERN,
        what: "a threshold",
        form: "a threshold is `OP NUMBER` with OP one of `>=`, `<=`, `>`, `<`, e.g. `>= 0.9`",
        hint: |text| {
            let text = text.trim();
            let fixed = [
                ("=>", ">="),
                ("=<", "<="),
                ("≥", ">="),
                ("≤", "<="),
                ("==", ">="),
            ]
            .iter()
            .find_map(|(wrong, right)| {
                text.strip_prefix(wrong)
                    .map(|rest| format!("{right} {}", rest.trim()))
            })
            .or_else(|| text.parse::<f64>().is_ok().then(|| format!(">= {text}")))?;
            Threshold(fixed.clone())
                .parts()
                .map(|_| format!("did you mean `{fixed}`?"))
        },
    }
}

/// A comparison against a number, e.g. `>= 0.95`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Threshold(#[schemars(regex(pattern = THRESHOLD_PATTERN))] pub String);

impl Threshold {
    /// The operator and the number; `None` when the text is not `OP NUMBER` (the schema
    /// rules that out for specs).
    pub fn parts(&self) -> Option<(&str, f64)> {
        let text = self.0.trim();
        let op = [">=", "<=", ">", "<"]
            .into_iter()
            .find(|op| text.starts_with(op))?;
        let number = text[op.len()..].trim().parse().ok()?;
        Some((op, number))
    }

    /// True when `value` satisfies the threshold (false for a malformed threshold).
    pub fn holds(&self, value: f64) -> bool {
        match self.parts() {
            Some((">=", x)) => value >= x,
            Some(("<=", x)) => value <= x,
            Some((">", x)) => value > x,
            Some(("<", x)) => value < x,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(">= 0.95", 0.95, true)]
    #[case(">= 0.95", 0.9499, false)]
    #[case("> 0.5", 0.5, false)]
    #[case("<0.3", 0.29, true)]
    #[case("<= 1e-2", 0.01, true)]
    #[case(" <= -1 ", -0.5, false)]
    fn thresholds_compare(#[case] text: &str, #[case] value: f64, #[case] holds: bool) {
        assert_eq!(Threshold(text.into()).holds(value), holds);
    }

    #[test]
    fn a_malformed_threshold_never_holds() {
        assert!(Threshold("about 3".into()).parts().is_none());
        assert!(!Threshold("about 3".into()).holds(3.0));
    }

    #[test]
    fn both_forms_read() {
        let checks: std::collections::BTreeMap<String, CheckSpec> = serde_json::from_str(
            r#"{"test/accuracy": ">= 0.9", "validation/loss": {"baseline": "b.json", "rel": 0.02}}"#,
        )
        .unwrap();
        assert_eq!(
            checks["test/accuracy"].rule().threshold.unwrap().0,
            ">= 0.9"
        );
        let rule = checks["validation/loss"].rule();
        assert!(rule.compares() && rule.threshold.is_none());
    }
}
