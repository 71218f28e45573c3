//! Sweeps: many runs of one experiment spec with some of its values varied, declared in a
//! sweep file (`runner sweep FILE`).
//!
//! - [`spec`]: the sweep file and its located errors; [`space`]: grid, random and TPE
//!   configurations; [`trial`]: a trial's overrides and readable folder name;
//!   [`state`]: the sweep folder and `sweep.json`; [`execute`]: running trials as child
//!   processes, several at a time; [`slurm`]: running them as a Slurm job array;
//!   [`prune`]: early termination of poor trials, decided by each trial from the others'
//!   epochs (so it works with either executor).
//!
//! [`prepare`] expands and checks the whole sweep before anything runs: the base spec plans,
//! every parameter path exists, the ranking metric is one the runs will have, and every trial
//! (for random and TPE, every listed value and range end) makes a spec that plans. Re-running
//! the same sweep is its resume: each trial's folder says whether it finished (skipped), was
//! interrupted (continued from its checkpoint) or failed (run again).

pub mod execute;
pub mod launch;
pub mod prune;
pub mod slurm;
pub mod space;
pub mod spec;
pub mod state;
pub mod trial;

use crate::device::DeviceChoice;
use crate::fetch::Fetch;
use crate::plan::{self, Plan};
use crate::spec::diagnostic::{Diagnostic, Report, did_you_mean};
use crate::spec::overrides::Override;
use crate::track::run_dir::{RecordError, spec_hash};
use prune::Pruning;
use serde_json::Value;
use space::{Config, Sampler};
use spec::{LoadedSweep, Method};
use state::{SWEEP_RECORD_VERSION, SweepDir, SweepRecord};
use std::path::{Path, PathBuf};
use trial::Trial;

/// Why a sweep cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file, the base spec or a trial's spec is invalid (located reports).
    #[error("the sweep is invalid")]
    Invalid(Vec<Report>),
    /// `sweep.json` or a trial's record could not be read.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// `sweep.json` is damaged.
    #[error(
        "{source}: the sweep's record is damaged; the trials' results are in their own folders, \
         so move it aside (`mv {0} {0}.damaged`) and run the sweep again: it rebuilds the \
         record (a grid or random sweep finds its finished trials and does not run them again)",
        file.display()
    )]
    DamagedRecord {
        /// `sweep.json`.
        file: PathBuf,
        /// Why it cannot be read.
        source: RecordError,
    },
    /// The sweep folder belongs to another sweep.
    #[error(
        "{} holds a different sweep (its sweep file or --set overrides changed); give this sweep another `name:`, or move that folder away",
        folder.display()
    )]
    OtherSweep {
        /// The sweep folder.
        folder: PathBuf,
    },
    /// A file or folder of the sweep could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// What was being done: `write`, `read`, `create`...
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A trial's process could not be started.
    #[error("cannot start {} for trial {trial}: {source}", runner.display())]
    Start {
        /// The runner executable.
        runner: PathBuf,
        /// The trial.
        trial: String,
        /// Why.
        source: std::io::Error,
    },
    /// Slurm refused or failed a command.
    #[error(transparent)]
    Slurm(#[from] slurm::client::SlurmError),
    /// The record of the sweep's Slurm submissions cannot be read.
    #[error("{0}")]
    Submissions(String),
    /// A job array was submitted but could not be recorded.
    #[error(
        "Slurm job array {job} was submitted but cannot be recorded in {}: {source}; cancel it with `scancel {job}`",
        file.display()
    )]
    Unrecorded {
        /// The job array's id.
        job: String,
        /// The submissions file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A sweep ready to run: checked, with its trials.
#[derive(Debug)]
pub struct Prepared {
    /// The sweep file.
    pub loaded: LoadedSweep,
    /// The experiment spec the trials start from.
    pub spec_path: PathBuf,
    /// `--set` overrides applied to every trial.
    pub base_overrides: Vec<Override>,
    /// Where the trials compute (the spec's `device:` with the overrides).
    pub device: DeviceChoice,
    /// The sweep folder.
    pub dir: SweepDir,
    /// What `sweep.json` holds (trials so far).
    pub record: SweepRecord,
    /// Configurations still to draw (TPE draws them as trials finish).
    pub to_draw: usize,
    /// The TPE sampler.
    pub sampler: Option<Sampler>,
    /// What each trial needs to stop itself early, when the sweep has a `prune` block.
    pub pruning: Option<Pruning>,
}

impl Prepared {
    /// The seeds each configuration runs with (`[None]` without replicates).
    pub fn seeds(&self) -> Vec<Option<u64>> {
        seeds_of(&self.loaded)
    }
}

fn seeds_of(loaded: &LoadedSweep) -> Vec<Option<u64>> {
    if loaded.sweep.seeds.is_empty() {
        vec![None]
    } else {
        loaded.sweep.seeds.iter().copied().map(Some).collect()
    }
}

/// Checks and expands the sweep in `loaded`, with the trials already recorded under
/// `runs_dir` (`None`: only check, as `runner validate` does); `yes` allows more runs than the
/// sweep's `max_runs`.
///
/// Long by design: the checks and the expansion run in order, each one a few lines that need
/// the previous ones' results (base plan, trials, record).
pub fn prepare(
    loaded: LoadedSweep,
    runs_dir: Option<&Path>,
    base_overrides: &[Override],
    yes: bool,
) -> Result<Prepared, SweepError> {
    let spec_path = loaded.spec_path();
    if spec::is_sweep_file(&spec_path) {
        let diagnostic = loaded
            .key_error(
                "spec",
                format!(
                    "`{}` is a sweep file, not an experiment spec",
                    loaded.sweep.spec.display()
                ),
            )
            .with_help(
                "`spec:` names the experiment spec every trial starts from: use that sweep's own \
                 `spec:`, and put both sweeps' parameters in one file",
            );
        return Err(SweepError::Invalid(vec![loaded.report(vec![diagnostic])]));
    }
    // A sweep about to run fetches its data once, before its trials; one only checked
    // (`runner validate`) downloads nothing.
    let fetch = if runs_dir.is_some() {
        Fetch::Missing
    } else {
        Fetch::Never
    };
    let base = load_plan(&spec_path, base_overrides, fetch)
        .map_err(|reports| SweepError::Invalid(with_context(&loaded, "spec", reports)))?;
    check_parameters(&loaded, &base)?;
    check_metric(&loaded, &base)?;
    let dir = SweepDir::new(runs_dir.unwrap_or(Path::new("runs")).join(loaded.name()));
    let pruning = prune::resolve(&loaded, &base.spec.spec.epoch_metrics(), dir.path())
        .map_err(|diagnostics| SweepError::Invalid(vec![loaded.report(diagnostics)]))?;
    let sweep = &loaded.sweep;
    let seeds = seeds_of(&loaded);
    let budget = sweep.trials.map_or(usize::MAX, |t| t as usize);
    let configs: Vec<Config> = match sweep.method {
        Method::Grid => space::grid(sweep).into_iter().take(budget).collect(),
        Method::Random => {
            let mut sampler = Sampler::new(sweep, false);
            (0..budget).map(|i| sampler.draw(i)).collect()
        }
        Method::Tpe => Vec::new(),
    };
    let planned_configs = if sweep.method == Method::Tpe {
        budget
    } else {
        configs.len()
    };
    let runs = planned_configs.saturating_mul(seeds.len());
    if runs > sweep.max_runs as usize && !yes {
        return Err(SweepError::Invalid(vec![loaded.report(vec![
            loaded
                .key_error(
                    if sweep.trials.is_some() { "trials" } else { "parameters" },
                    format!(
                        "the sweep makes {runs} runs, more than its `max_runs` ({})",
                        sweep.max_runs
                    ),
                )
                .with_help("pass --yes to run them all, raise `max_runs`, or set a smaller `trials:` budget"),
        ])]));
    }
    let short = trial::short_names(sweep.parameters.keys());
    let definition_hash = definition_hash(&loaded, base_overrides);
    let existing = match runs_dir {
        Some(_) => dir.read().map_err(|source| match source {
            RecordError::Unreadable { .. } => SweepError::DamagedRecord {
                file: dir.record_file(),
                source,
            },
            other => SweepError::Record(other),
        })?,
        None => None,
    };
    if let Some(existing) = &existing
        && existing.definition_hash != definition_hash
        && existing.definition_hash != text_hash(&loaded, base_overrides)
    {
        return Err(SweepError::OtherSweep {
            folder: dir.path().to_path_buf(),
        });
    }
    let mut trials = existing.map(|r| r.trials).unwrap_or_default();
    for config in &configs {
        for seed in &seeds {
            let known = trials
                .iter()
                .any(|t| &t.config == config && t.seed == *seed);
            if !known {
                let index = trials.len() + 1;
                trials.push(Trial::new(index, config.clone(), *seed, &short));
            }
        }
    }
    // Every trial (or, for TPE, every value and range end) must make a spec that plans.
    let checked: Vec<Trial> = if sweep.method == Method::Tpe {
        space::corners(sweep)
            .into_iter()
            .map(|config| Trial::new(0, config, seeds[0], &short))
            .collect()
    } else {
        trials.clone()
    };
    let mut reports = Vec::new();
    for trial in &checked {
        if let Err(errors) = check_trial(&loaded, &spec_path, base_overrides, trial) {
            reports.extend(errors);
            break;
        }
    }
    if !reports.is_empty() {
        return Err(SweepError::Invalid(reports));
    }
    let drawn_configs = trials.len() / seeds.len().max(1);
    let record = SweepRecord {
        version: SWEEP_RECORD_VERSION,
        name: loaded.name(),
        sweep_file: std::path::absolute(&loaded.path).unwrap_or(loaded.path.clone()),
        spec_file: std::path::absolute(&spec_path).unwrap_or(spec_path.clone()),
        definition_hash,
        method: sweep.method,
        metric: sweep.metric.clone(),
        goal: sweep.goal(),
        parameters: sweep.parameters.clone(),
        short_names: short,
        trials,
    };
    let (to_draw, sampler) = if sweep.method == Method::Tpe {
        (
            budget.saturating_sub(drawn_configs),
            Some(Sampler::new(sweep, true)),
        )
    } else {
        (0, None)
    };
    Ok(Prepared {
        loaded,
        spec_path,
        base_overrides: base_overrides.to_vec(),
        device: base.spec.spec.device.unwrap_or_default(),
        dir,
        record,
        to_draw,
        sampler,
        pruning,
    })
}

/// Fetches what `spec_path` with `overrides` needs as `fetch` allows, then plans it.
pub fn load_plan(
    spec_path: &Path,
    overrides: &[Override],
    fetch: Fetch,
) -> Result<Plan, Vec<Report>> {
    let loaded = crate::spec::load(spec_path, overrides).map_err(|r| vec![r])?;
    plan::plan(&crate::fetch::prepare(&loaded, fetch)?)
}

/// Checks that `trial` makes a spec that plans; the errors, located in the sweep file and
/// in the spec, when it does not.
pub fn check_trial(
    loaded: &LoadedSweep,
    spec_path: &Path,
    base_overrides: &[Override],
    trial: &Trial,
) -> Result<Plan, Vec<Report>> {
    let mut overrides = base_overrides.to_vec();
    overrides.extend(trial.overrides());
    // The base's sources were fetched; a trial's own (another base's weights) are fetched by
    // the trial.
    load_plan(spec_path, &overrides, Fetch::Never).map_err(|reports| {
        let values: Vec<String> = trial
            .config
            .iter()
            .map(|(path, value)| format!("{path}={value}"))
            .collect();
        let first = trial.config.keys().next().map_or("", String::as_str);
        let mut out = vec![loaded.report(vec![
            loaded
                .parameter_error(
                    first,
                    format!(
                        "a trial of this sweep makes an invalid spec ({})",
                        values.join(", ")
                    ),
                )
                .with_help("the spec's errors follow; change the values the sweep tries"),
        ])];
        out.extend(reports);
        out
    })
}

/// The base spec's errors, preceded by a pointer to the sweep's `spec:` key.
fn with_context(loaded: &LoadedSweep, key: &str, reports: Vec<Report>) -> Vec<Report> {
    let mut out = vec![loaded.report(vec![
        loaded.key_error(key, "the sweep's spec is invalid; its errors follow"),
    ])];
    out.extend(reports);
    out
}

/// Every parameter path must lead somewhere in the base spec (its last key may be one the
/// spec leaves at its default).
fn check_parameters(loaded: &LoadedSweep, base: &Plan) -> Result<(), SweepError> {
    let document = serde_json::to_value(&base.spec.spec).expect("a spec serializes");
    let diagnostics: Vec<Diagnostic> = loaded
        .sweep
        .parameters
        .keys()
        .filter_map(|path| {
            check_path(&document, path).err().map(|(message, help)| {
                let d = loaded.parameter_error(path, message);
                match help {
                    Some(help) => d.with_help(help),
                    None => d,
                }
            })
        })
        .collect();
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(SweepError::Invalid(vec![loaded.report(diagnostics)]))
    }
}

/// Walks `path` in `document`; the message and a did-you-mean where it leads nowhere.
fn check_path(document: &Value, path: &str) -> Result<(), (String, Option<String>)> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut here = document;
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let walked = segments[..i].join(".");
        let place = if walked.is_empty() {
            "the spec".to_string()
        } else {
            format!("`{walked}`")
        };
        here = match here {
            Value::Object(map) => match map.get(*segment) {
                Some(next) => next,
                None if last => return Ok(()),
                None => {
                    let help = did_you_mean(segment, map.keys().map(String::as_str))
                        .map(|s| format!("did you mean `{}`?", join(&walked, s)));
                    return Err((
                        format!("unknown parameter path `{path}`: {place} has no `{segment}`"),
                        help,
                    ));
                }
            },
            Value::Array(items) => {
                let names: Vec<&str> = items
                    .iter()
                    .filter_map(|item| item.get("name").and_then(Value::as_str))
                    .collect();
                let found = segment
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < items.len())
                    .or_else(|| names.iter().position(|n| n == segment));
                match found {
                    Some(index) => &items[index],
                    None => {
                        let help = did_you_mean(segment, names.iter().copied())
                            .map(|s| format!("did you mean `{}`?", join(&walked, s)))
                            .or_else(|| Some(format!("{place} has: {}", names.join(", "))));
                        return Err((
                            format!(
                                "unknown parameter path `{path}`: {place} has no item `{segment}`"
                            ),
                            help,
                        ));
                    }
                }
            }
            _ => {
                return Err((
                    format!(
                        "unknown parameter path `{path}`: {place} is a single value, not a mapping"
                    ),
                    None,
                ));
            }
        };
    }
    Ok(())
}

fn join(prefix: &str, segment: &str) -> String {
    if prefix.is_empty() {
        segment.to_string()
    } else {
        format!("{prefix}.{segment}")
    }
}

/// The ranking metric must be one the runs will report.
fn check_metric(loaded: &LoadedSweep, base: &Plan) -> Result<(), SweepError> {
    let known = base.spec.spec.metric_names();
    let metric = &loaded.sweep.metric;
    if known.contains(metric) {
        return Ok(());
    }
    let mut diagnostic = loaded
        .key_error("metric", format!("no run of this sweep reports `{metric}`"))
        .with_suggestion(metric, known.iter().map(String::as_str));
    if diagnostic.help.is_none() {
        diagnostic = diagnostic.with_help(format!("known metrics: {}", known.join(", ")));
    }
    Err(SweepError::Invalid(vec![loaded.report(vec![diagnostic])]))
}

/// A hash of what defines the sweep: its settings (all but `executor:`, so a new time limit
/// or partition keeps the folder) and the `--set` overrides.
fn definition_hash(loaded: &LoadedSweep, base_overrides: &[Override]) -> String {
    let sweep = spec::SweepSpec {
        executor: spec::Executor::default(),
        ..loaded.sweep.clone()
    };
    let settings = serde_json::to_string(&sweep).expect("a sweep serializes");
    spec_hash(&format!("{settings}\n{}", overrides_text(base_overrides)))
}

/// The hash runner 0.x wrote before `executor:` existed (the sweep file's text): folders it
/// made are still this sweep's.
fn text_hash(loaded: &LoadedSweep, base_overrides: &[Override]) -> String {
    spec_hash(&format!(
        "{}\n{}",
        loaded.text,
        overrides_text(base_overrides)
    ))
}

fn overrides_text(base_overrides: &[Override]) -> String {
    let overrides: Vec<String> = base_overrides
        .iter()
        .map(|o| format!("{}={}", o.path, o.value))
        .collect();
    overrides.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameter_paths_are_walked_by_key_index_and_name() {
        let doc = json!({"model": {"nodes": [{"name": "drop", "rate": 0.2}]}, "phases": [{"name": "head"}]});
        assert!(check_path(&doc, "model.nodes.drop.rate").is_ok());
        assert!(check_path(&doc, "model.nodes.0.rate").is_ok());
        assert!(
            check_path(&doc, "phases.head.optimizer").is_ok(),
            "a default may be set"
        );
        let (message, help) = check_path(&doc, "model.nodes.dorp.rate").unwrap_err();
        assert!(message.contains("has no item `dorp`"), "{message}");
        assert_eq!(help.as_deref(), Some("did you mean `model.nodes.drop`?"));
        let (message, help) = check_path(&doc, "modle.nodes").unwrap_err();
        assert!(message.contains("the spec has no `modle`"), "{message}");
        assert_eq!(help.as_deref(), Some("did you mean `model`?"));
        assert!(check_path(&doc, "model.nodes.drop.rate.x").is_err());
    }
}
