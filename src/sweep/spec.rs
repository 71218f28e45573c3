//! The sweep file: which experiment spec the trials start from, which parameters vary over
//! which domains (addressed by the same dotted paths as `--set`), how the space is searched,
//! and which metric ranks the trials. Read with the same located diagnostics as specs.

use super::prune::PruneSpec;
use crate::metric::Goal;
use crate::spec::diagnostic::{Diagnostic, Report};
use crate::spec::schema::{self, PatternHelp, Schema};
use crate::spec::yaml::{self, SourceMap};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    /// Whether a higher (`max`) or lower (`min`) metric is better. Default: `min` for a
    /// loss, `seconds` and `epochs`, `max` for anything else (the same rule as checks and
    /// `runner compare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    /// Replicates: every configuration runs once per seed (sets the spec's `seed`); results
    /// are reported as mean and spread over the seeds.
    #[serde(default)]
    #[schemars(length(min = 1, max = 1000), extend("uniqueItems" = true))]
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
    /// Where the trials run: this machine (default) or a Slurm cluster, and with what
    /// resources. `runner sweep --executor` overrides `kind`. Not part of the sweep's
    /// identity: changing it (a longer time limit, another partition) keeps the sweep folder.
    #[serde(default)]
    pub executor: Executor,
}

impl SweepSpec {
    /// Whether a higher or lower [`metric`](Self::metric) is better: `goal`, else the
    /// metric's own direction ([`Goal::of`]).
    pub fn goal(&self) -> Goal {
        self.goal.unwrap_or_else(|| Goal::of(&self.metric))
    }
}

/// The form of Slurm partition names (one, or several separated by commas).
const PARTITION_PATTERN: &str = r"^[A-Za-z0-9_.,-]+$";
/// The forms of a Slurm time limit (`sbatch --time`).
const TIME_PATTERN: &str = r"^(\d+(-\d+)?(:\d+){0,2}|UNLIMITED|unlimited|infinite)$";
/// The form of a Slurm memory size (`sbatch --mem`).
const MEMORY_PATTERN: &str = r"^[0-9]+[KMGT]?$";

/// What the sweep file's patterns mean, for schema errors.
fn pattern_helps() -> Vec<PatternHelp> {
    vec![
        PatternHelp {
            pattern: PARTITION_PATTERN,
            what: "a Slurm partition name",
            form: "letters, digits, `_`, `.` and `-`; several partitions separated by commas",
            hint: PatternHelp::no_hint,
        },
        PatternHelp {
            pattern: TIME_PATTERN,
            what: "a Slurm time limit",
            form: "`MINUTES`, `HOURS:MINUTES:SECONDS`, `DAYS-HOURS` or `DAYS-HOURS:MINUTES`, \
                   e.g. `30`, `2:00:00` (two hours), `1-12` (a day and a half), or `UNLIMITED`",
            hint: |text| {
                let (number, unit) = text.trim().split_once(char::is_whitespace)?;
                let n: u64 = number.parse().ok()?;
                let unit = unit.trim().to_lowercase();
                let fixed = match unit.trim_end_matches('s') {
                    "minute" | "min" | "m" => n.to_string(),
                    "hour" | "hr" | "h" => format!("{n}:00:00"),
                    "day" | "d" => format!("{n}-00"),
                    _ => return None,
                };
                Some(format!("did you mean `{fixed}`?"))
            },
        },
        PatternHelp {
            pattern: MEMORY_PATTERN,
            what: "a Slurm memory size",
            form: "megabytes, or a number with `K`, `M`, `G` or `T`, e.g. `16G`",
            hint: |text| {
                let compact: String = text.split_whitespace().collect();
                let fixed = compact
                    .to_uppercase()
                    .trim_end_matches(['B', 'I'])
                    .to_string();
                (fixed != text && fixed.chars().next()?.is_ascii_digit())
                    .then(|| format!("did you mean `{fixed}`?"))
            },
        },
    ]
}

/// Where and how a sweep's trials run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Executor {
    /// `local`: child processes on this machine (`--jobs` at a time); `slurm`: one Slurm job
    /// array, one task per trial (the settings below).
    #[serde(default)]
    pub kind: ExecutorKind,
    /// Slurm partition (`sbatch --partition`); default: the cluster's default partition.
    #[serde(default)]
    #[schemars(regex(pattern = PARTITION_PATTERN))]
    pub partition: Option<String>,
    /// Time limit of each trial (`sbatch --time`): `minutes`, `hours:minutes:seconds`,
    /// `days-hours:minutes`, ... Default: the partition's.
    #[serde(default)]
    #[schemars(regex(pattern = TIME_PATTERN))]
    pub time: Option<String>,
    /// CPUs per trial (`--cpus-per-task`); the trial trains with this many threads.
    #[serde(default)]
    #[schemars(range(min = 1, max = 4096))]
    pub cpus_per_trial: Option<u32>,
    /// GPUs per trial (`--gpus-per-task`).
    #[serde(default)]
    #[schemars(range(min = 1, max = 64))]
    pub gpus_per_trial: Option<u32>,
    /// Memory per trial (`--mem`): megabytes, or a number with `K`, `M`, `G` or `T`.
    #[serde(default)]
    #[schemars(regex(pattern = MEMORY_PATTERN))]
    pub mem_per_trial: Option<String>,
    /// The most trials running at once (`--array=...%K`); default: as many as Slurm allows.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100000))]
    pub parallelism: Option<u32>,
    /// Seconds before the time limit at which Slurm warns a trial (`--signal=B:USR1@N`): it
    /// writes a checkpoint, stops, and its task is requeued to resume from the checkpoint.
    #[serde(default = "default_signal_seconds")]
    #[schemars(range(min = 1, max = 65535))]
    pub signal_seconds: u32,
    /// More `sbatch` arguments, each one word: `--account=lab`, `--qos=high`, `--constraint=a100`.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// The `runner` executable the trials run, as the compute nodes see it. Default: this
    /// runner's own path (it must be on a filesystem the nodes share).
    #[serde(default)]
    pub runner: Option<PathBuf>,
    /// Seconds between two looks at the queue (`squeue`) while waiting for the trials.
    #[serde(default = "default_poll_seconds")]
    #[schemars(range(min = 1, max = 3600))]
    pub poll_seconds: u32,
}

impl Default for Executor {
    fn default() -> Self {
        Self {
            kind: ExecutorKind::default(),
            partition: None,
            time: None,
            cpus_per_trial: None,
            gpus_per_trial: None,
            mem_per_trial: None,
            parallelism: None,
            signal_seconds: default_signal_seconds(),
            sbatch_args: Vec::new(),
            runner: None,
            poll_seconds: default_poll_seconds(),
        }
    }
}

fn default_signal_seconds() -> u32 {
    120
}

fn default_poll_seconds() -> u32 {
    10
}

/// Which executor runs the trials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    /// Child processes on this machine.
    #[default]
    Local,
    /// A Slurm job array.
    Slurm,
}

impl std::str::FromStr for ExecutorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(ExecutorKind::Local),
            "slurm" => Ok(ExecutorKind::Slurm),
            other => Err(format!(
                "unknown executor `{other}`: use `local` or `slurm`"
            )),
        }
    }
}

/// Seconds in a Slurm time limit (`minutes`, `minutes:seconds`, `hours:minutes:seconds`,
/// `days-hours`, `days-hours:minutes`, `days-hours:minutes:seconds`); `None` for unlimited or
/// an unreadable one.
pub fn time_limit_seconds(time: &str) -> Option<u64> {
    let (days, rest) = match time.split_once('-') {
        Some((days, rest)) => (days.parse::<u64>().ok()?, rest),
        None => (0, time),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let seconds = match (time.contains('-'), parts.as_slice()) {
        (false, [m]) => m * 60,
        (false, [m, s]) => m * 60 + s,
        (false, [h, m, s]) | (true, [h, m, s]) => h * 3600 + m * 60 + s,
        (true, [h]) => h * 3600,
        (true, [h, m]) => h * 3600 + m * 60,
        _ => return None,
    };
    Some(days * 86400 + seconds)
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

/// The sweep file's JSON Schema, as written to `schemas/sweep.schema.json`.
pub fn sweep_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::new(schema::generate::<SweepSpec>(), pattern_helps()))
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

/// True when the file at `path` is a sweep file (it has a top-level `parameters:`), not an
/// experiment spec.
pub fn is_sweep_file(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| {
        yaml::strip_bom(text)
            .lines()
            .any(|line| line.starts_with("parameters:"))
    })
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
    let text = yaml::strip_bom(text);
    let (document, source) = yaml::parse(&text).map_err(|d| fail(text.clone(), vec![d]))?;
    let diagnostics = sweep_schema().validate(&document, &source);
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
        sweep: SweepSpec {
            // Written out, so the sweep's definition (and its folder) says which way it ranks.
            goal: Some(sweep.goal()),
            ..sweep
        },
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
    if let Some(limit) = sweep.executor.time.as_deref().and_then(time_limit_seconds)
        && u64::from(sweep.executor.signal_seconds) >= limit
    {
        found.push(
            loaded
                .key_error(
                    "executor/signal_seconds",
                    format!(
                        "the warning signal comes {} s before the end, but the time limit is only {limit} s",
                        sweep.executor.signal_seconds
                    ),
                )
                .with_help("warn a trial a few minutes before its end: lower `signal_seconds` or raise `time`"),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_time_limits_are_read_in_every_form() {
        assert_eq!(time_limit_seconds("30"), Some(1800));
        assert_eq!(time_limit_seconds("30:15"), Some(1815));
        assert_eq!(time_limit_seconds("2:00:00"), Some(7200));
        assert_eq!(time_limit_seconds("1-0"), Some(86400));
        assert_eq!(time_limit_seconds("1-2:30"), Some(86400 + 9000));
        assert_eq!(time_limit_seconds("1-2:30:05"), Some(86400 + 9005));
        assert_eq!(time_limit_seconds("UNLIMITED"), None);
    }

    #[test]
    fn the_executor_is_read_and_a_late_warning_is_a_located_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(
            &path,
            "spec: x.yaml\nparameters: {a: [1]}\nexecutor: {kind: slurm, partition: gpu, time: '10', signal_seconds: 900}\n",
        )
        .unwrap();
        let report = load(&path).unwrap_err();
        let message = report.render(false);
        assert!(
            message.contains("the time limit is only 600 s"),
            "{message}"
        );
        assert!(message.contains("3:"), "located on line 3: {message}");
        std::fs::write(
            &path,
            "spec: x.yaml\nparameters: {a: [1]}\nexecutor: {kind: slurm, partition: gpu, time: '10'}\n",
        )
        .unwrap();
        let executor = load(&path).unwrap().sweep.executor;
        assert_eq!(executor.kind, ExecutorKind::Slurm);
        assert_eq!(executor.partition.as_deref(), Some("gpu"));
        assert_eq!(executor.signal_seconds, 120);
    }
}
