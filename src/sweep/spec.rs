//! The sweep file: which experiment spec the trials start from, which parameters vary over
//! which domains (addressed by the same dotted paths as `--set`), how the space is searched,
//! and which metric ranks the trials. Read with the same located diagnostics as specs.

use super::prune::PruneSpec;
use crate::spec::diagnostic::{Diagnostic, Report};
use crate::spec::schema::{self, Document};
use crate::spec::yaml::{self, SourceMap};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A sweep file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Name of the sweep: trials are written to `runs/<name>/`. Default: the file name
    /// without its extension.
    #[serde(default)]
    pub name: Option<String>,
    /// The experiment spec every trial starts from (relative to this file).
    pub spec: PathBuf,
    /// How the space is searched: `grid` (every combination of the listed values), `random`,
    /// or `tpe` (Tree-structured Parzen Estimator, learning from finished trials).
    #[serde(default)]
    pub method: Method,
    /// The most configurations to run: required for `random` and `tpe`, a cap for `grid`.
    /// Each configuration runs once per seed.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100000))]
    pub trials: Option<u32>,
    /// The metric that ranks trials, by the names `runner compare` and `runner check` use:
    /// `validation/accuracy` (the final model's), `best/validation/accuracy`,
    /// `validation/loss`, `test/accuracy`, `train/loss`, ...
    #[serde(default = "default_metric")]
    pub metric: String,
    /// Whether a higher (`max`) or lower (`min`) metric is better.
    #[serde(default)]
    pub goal: Goal,
    /// Replicates: every configuration runs once per seed (sets the spec's `seed`); results
    /// are reported as mean and spread over the seeds.
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub seeds: Vec<u64>,
    /// Seed of the `random` and `tpe` samplers (the same seed draws the same trials).
    #[serde(default)]
    pub sampler_seed: u64,
    /// A sweep of more runs than this (configurations x seeds) is refused unless `--yes`.
    #[serde(default = "default_max_runs")]
    #[schemars(range(min = 1, max = 1000000))]
    pub max_runs: u32,
    /// Early termination of poor trials: `{median: {warmup_epochs, min_trials}}` and/or
    /// `{asha: {min_epochs, reduction_factor, min_trials}}`, with an optional per-epoch
    /// `metric` and `goal`. Trials are compared only at the same epoch of the same phase.
    #[serde(default)]
    pub prune: Option<PruneSpec>,
    /// The swept values, by `--set` path (`model.nodes.drop.rate`,
    /// `phases.fine_tune.optimizer.rmsprop.lr`): a list of values, or one of
    /// `{uniform: [low, high]}`, `{log_uniform: [low, high]}`, `{int: [low, high]}`,
    /// `{choice: [...]}`. A mapping as a value is merged into the mapping at the path (e.g.
    /// a base's `arch` and `weights` together).
    pub parameters: BTreeMap<String, Domain>,
}

fn default_metric() -> String {
    "validation/accuracy".into()
}

fn default_max_runs() -> u32 {
    100
}

/// How the space is searched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every combination of the listed values.
    #[default]
    Grid,
    /// Independent random draws.
    Random,
    /// Tree-structured Parzen Estimator: draws near the values of the best finished trials.
    Tpe,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Grid => "grid",
            Method::Random => "random",
            Method::Tpe => "tpe",
        })
    }
}

/// Whether higher or lower is better.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Higher is better.
    #[default]
    Max,
    /// Lower is better.
    Min,
}

impl Goal {
    /// True when `a` is better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Goal::Max => a > b,
            Goal::Min => a < b,
        }
    }
}

/// The values one parameter takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Domain {
    /// These values (grid: each of them; random and tpe: one of them).
    Values(Vec<Value>),
    /// A distribution.
    Distribution(Distribution),
}

/// A distribution of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// Uniform between two numbers.
    Uniform([f64; 2]),
    /// Uniform in the logarithm between two positive numbers (learning rates).
    LogUniform([f64; 2]),
    /// A whole number between two bounds, both included.
    Int([i64; 2]),
    /// One of these values (whole sub-trees allowed).
    Choice(Vec<Value>),
}

impl Domain {
    /// The listed values, when the domain is a list or a choice.
    pub fn values(&self) -> Option<&[Value]> {
        match self {
            Domain::Values(values) | Domain::Distribution(Distribution::Choice(values)) => {
                Some(values)
            }
            Domain::Distribution(_) => None,
        }
    }
}

/// A sweep file read and checked on its own (the trials are checked against the spec later).
#[derive(Debug, Clone)]
pub struct LoadedSweep {
    /// The typed sweep.
    pub sweep: SweepSpec,
    /// The sweep file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Locations of its values.
    pub source: SourceMap,
}

impl LoadedSweep {
    /// The sweep's name: `name`, or the file's stem.
    pub fn name(&self) -> String {
        self.sweep.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map_or("sweep".into(), |s| s.to_string_lossy().into_owned())
        })
    }

    /// The experiment spec file, resolved against the sweep file's folder.
    pub fn spec_path(&self) -> PathBuf {
        let base = self.path.parent().unwrap_or(Path::new("."));
        base.join(&self.sweep.spec)
    }

    /// A report of `diagnostics` against the sweep file.
    pub fn report(&self, diagnostics: Vec<Diagnostic>) -> Report {
        Report {
            file: self.path.clone(),
            text: self.text.clone(),
            diagnostics,
        }
    }

    /// An error located at parameter `path`'s key (or the `parameters` key).
    pub fn parameter_error(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        let pointer = format!("/parameters/{}", yaml::escape_pointer_segment(path));
        let span = self
            .source
            .key_span(&pointer)
            .or_else(|| self.source.key_span("/parameters"));
        Diagnostic::error(message, span)
    }

    /// An error located at a top-level key's value.
    pub fn key_error(&self, key: &str, message: impl Into<String>) -> Diagnostic {
        let pointer = format!("/{key}");
        let span = self
            .source
            .value_span(&pointer)
            .or_else(|| self.source.key_span(&pointer));
        Diagnostic::error(message, span)
    }
}

/// Reads a sweep file: YAML, schema, then the rules the schema cannot say (non-empty lists,
/// ordered and positive bounds, a budget for random and tpe, lists only for grid).
pub fn load(path: &Path) -> Result<LoadedSweep, Report> {
    let fail = |text: String, diagnostics: Vec<Diagnostic>| Report {
        file: path.to_path_buf(),
        text,
        diagnostics,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(
            String::new(),
            vec![
                Diagnostic::error(format!("cannot read the sweep file: {e}"), None)
                    .with_help("check the path; example sweeps are in experiments/"),
            ],
        )
    })?;
    let (document, source) = yaml::parse(&text).map_err(|d| fail(text.clone(), vec![d]))?;
    let diagnostics = schema::validate_as(Document::Sweep, &document, &source);
    if !diagnostics.is_empty() {
        return Err(fail(text, diagnostics));
    }
    let sweep: SweepSpec = serde_json::from_value(document).map_err(|e| {
        fail(
            text.clone(),
            vec![Diagnostic::error(
                format!("cannot read the sweep: {e}"),
                None,
            )],
        )
    })?;
    let loaded = LoadedSweep {
        sweep,
        path: path.to_path_buf(),
        text,
        source,
    };
    let diagnostics = check_rules(&loaded);
    if diagnostics.is_empty() {
        Ok(loaded)
    } else {
        Err(loaded.report(diagnostics))
    }
}

fn check_rules(loaded: &LoadedSweep) -> Vec<Diagnostic> {
    let sweep = &loaded.sweep;
    let mut found = Vec::new();
    if sweep.parameters.is_empty() && sweep.seeds.is_empty() {
        found.push(
            loaded
                .key_error("parameters", "the sweep has no parameters to vary")
                .with_help("add e.g. `model.nodes.drop.rate: [0.0, 0.2, 0.5]`"),
        );
    }
    for (path, domain) in &sweep.parameters {
        let error = |message: String| loaded.parameter_error(path, message);
        match domain {
            Domain::Values(values) | Domain::Distribution(Distribution::Choice(values))
                if values.is_empty() =>
            {
                found.push(error(format!("`{path}` has no values to try")));
            }
            Domain::Distribution(Distribution::Uniform([low, high]))
            | Domain::Distribution(Distribution::LogUniform([low, high]))
                if low >= high =>
            {
                found.push(error(format!(
                    "the range of `{path}` is empty: {low} is not below {high}"
                )));
            }
            Domain::Distribution(Distribution::LogUniform([low, _])) if *low <= 0.0 => {
                found.push(
                    error(format!(
                        "`log_uniform` needs positive bounds, but `{path}` starts at {low}"
                    ))
                    .with_help("use `uniform` for ranges that include 0 or negative numbers"),
                );
            }
            Domain::Distribution(Distribution::Int([low, high])) if low > high => {
                found.push(error(format!(
                    "the range of `{path}` is empty: {low} is above {high}"
                )));
            }
            Domain::Distribution(Distribution::Uniform(_) | Distribution::LogUniform(_))
                if sweep.method == Method::Grid =>
            {
                found.push(
                    error(format!(
                        "a grid needs listed values, but `{path}` is a continuous range"
                    ))
                    .with_help("list the values (`[1.0e-4, 1.0e-3]`), or use `method: random` or `method: tpe`"),
                );
            }
            _ => {}
        }
    }
    if sweep.method != Method::Grid && sweep.trials.is_none() {
        found.push(
            loaded
                .key_error(
                    "method",
                    format!("`method: {}` needs a budget: `trials: N`", sweep.method),
                )
                .with_help("add e.g. `trials: 20`"),
        );
    }
    found
}
