//! Comparing runs: [`collect`] finds the runs under the paths a user gives (run folders,
//! sweep folders, `runs/<experiment>` folders), [`table`] lays them out with the parameters
//! that differ first (identical ones left out), the ranking metric's best and final values,
//! the epoch of the best, test metrics, wall time and status; seed replicates of one
//! configuration become one row of mean +- std (n). [`crate::table::render`] writes it as a
//! terminal table, markdown, CSV or JSON; [`plot`] draws the curves and the metric against each
//! parameter.

pub mod plot;

use crate::metric::Goal;
use crate::spec::diagnostic::did_you_mean;
use crate::sweep::state::{SweepDir, SweepRecord};
use crate::sweep::trial::{label, short_names};
use crate::table::{Cell, Table};
use crate::track::records::{EpochRecord, Summary};
use crate::track::run_dir::RecordError;
use crate::track::{RunDir, RunStatus};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why runs could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A path holds no run.
    #[error(
        "{} holds no runs of runner (no run folders with a resolved_spec.json, no sweep.json); give run folders, a sweep folder or runs/<experiment>",
        path.display()
    )]
    NoRuns {
        /// The path.
        path: PathBuf,
    },
    /// A path is a file, or nothing.
    #[error(
        "{} is {}: give run folders, a sweep folder or runs/<experiment>",
        path.display(),
        if path.exists() { "a file, not a folder" } else { "not there" }
    )]
    NotAFolder {
        /// The path.
        path: PathBuf,
    },
    /// A record could not be read.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The sort column does not exist.
    #[error("there is no column `{column}` to sort by; columns: {}", columns.join(", "))]
    NoSuchColumn {
        /// The asked column.
        column: String,
        /// The table's columns.
        columns: Vec<String>,
    },
    /// No run has the ranking metric.
    #[error(
        "no run here has the metric `{metric}`: {}these runs have {}",
        suggestion.as_ref().map_or(String::new(), |s| format!("did you mean `{s}`? ")),
        known.join(", ")
    )]
    UnknownMetric {
        /// The metric asked for.
        metric: String,
        /// The closest known name.
        suggestion: Option<String>,
        /// The metrics the runs have.
        known: Vec<String>,
    },
    /// The plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] crate::track::plots::PlotError),
}

/// One run found by [`collect`].
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Its folder.
    pub dir: RunDir,
    /// Where it stands.
    pub status: RunStatus,
    /// Its resolved spec flattened to `path -> value`, with a sweep trial's parameter values
    /// (from `sweep.json`, so a trial not started has them too); empty for a run with neither.
    pub values: BTreeMap<String, Value>,
    /// The summary of a finished run.
    pub summary: Option<Summary>,
    /// Its epochs so far.
    pub epochs: Vec<EpochRecord>,
}

impl RunInfo {
    fn read(dir: RunDir) -> Result<Self, CompareError> {
        let values = std::fs::read(dir.resolved_spec_file())
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .map(|spec| flatten(&spec))
            .unwrap_or_default();
        Ok(Self {
            status: dir.status(),
            summary: dir.read_summary()?,
            epochs: dir.read_epochs()?,
            values,
            dir,
        })
    }

    /// The best value of `metric` over its epochs (`split/metric` names), else the summary's.
    pub fn best(&self, metric: &str, goal: Goal) -> Option<(f64, usize)> {
        let from_epochs = self
            .epochs
            .iter()
            .filter_map(|e| Some((e.metric(metric)?, e.epoch)))
            .filter(|(v, _)| v.is_finite())
            .reduce(|a, b| if goal.better(b.0, a.0) { b } else { a });
        from_epochs.or_else(|| Some((self.final_value(metric)?, 0)))
    }

    /// The final value of `metric`: the summary's, else the last epoch's.
    pub fn final_value(&self, metric: &str) -> Option<f64> {
        match &self.summary {
            Some(summary) => summary.metric(metric),
            None => self.epochs.last().and_then(|e| e.metric(metric)),
        }
    }
}

/// The runs under `paths` (a sweep's trials in order, other runs sorted by folder), and the
/// sweep when exactly one sweep folder was given.
pub fn collect(paths: &[PathBuf]) -> Result<(Vec<RunInfo>, Option<SweepRecord>), CompareError> {
    let mut runs = Vec::new();
    let mut sweeps = Vec::new();
    for path in paths {
        if !path.is_dir() {
            return Err(CompareError::NotAFolder { path: path.clone() });
        }
        let before = runs.len();
        gather(path, &mut runs, &mut sweeps, 0)?;
        if runs.len() == before {
            return Err(CompareError::NoRuns { path: path.clone() });
        }
    }
    let sweep = if paths.len() == 1 && sweeps.len() == 1 {
        sweeps.pop()
    } else {
        None
    };
    Ok((runs, sweep))
}

fn gather(
    path: &Path,
    runs: &mut Vec<RunInfo>,
    sweeps: &mut Vec<SweepRecord>,
    depth: usize,
) -> Result<(), CompareError> {
    let run = RunDir::new(path);
    if run.resolved_spec_file().is_file() {
        runs.push(RunInfo::read(run)?);
        return Ok(());
    }
    let sweep_dir = SweepDir::new(path);
    if let Some(record) = sweep_dir.read()? {
        for trial in &record.trials {
            let mut run = RunInfo::read(sweep_dir.trial(trial))?;
            // By the sweep's own paths (a mapping value whole, a list item by index or name).
            run.values.extend(trial.config.clone());
            runs.push(run);
        }
        sweeps.push(record);
        return Ok(());
    }
    if depth >= 2 {
        return Ok(());
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    children.sort();
    for child in children {
        gather(&child, runs, sweeps, depth + 1)?;
    }
    Ok(())
}

/// A resolved spec as `dotted.path -> value` leaves; list items with a `name` are addressed
/// by it (as in `--set`).
pub fn flatten(spec: &Value) -> BTreeMap<String, Value> {
    fn walk(value: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
        let join = |key: &str| {
            if prefix.is_empty() {
                key.to_string()
            } else {
                format!("{prefix}.{key}")
            }
        };
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    walk(inner, &join(key), out);
                }
            }
            Value::Array(items) if items.iter().all(|i| i.get("name").is_some()) => {
                for (index, item) in items.iter().enumerate() {
                    let key = item
                        .get("name")
                        .and_then(Value::as_str)
                        .map_or(index.to_string(), str::to_string);
                    walk(item, &join(&key), out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(spec, "", &mut out);
    out
}

/// The metric to rank by and which way: the metric asked for, else the sweep's, else
/// `validation/accuracy`; the goal asked for, else the sweep's when ranking by the sweep's
/// metric, else the metric's own direction ([`Goal::of`]).
pub fn ranking(
    metric: Option<&str>,
    goal: Option<Goal>,
    sweep: Option<&SweepRecord>,
) -> (String, Goal) {
    let metric = metric
        .map(str::to_string)
        .or_else(|| sweep.map(|s| s.metric.clone()))
        .unwrap_or_else(|| "validation/accuracy".into());
    let goal = goal
        .or_else(|| sweep.filter(|s| s.metric == metric).map(|s| s.goal))
        .unwrap_or_else(|| Goal::of(&metric));
    (metric, goal)
}

/// Every metric name the runs have: their summaries', and their epochs' for runs still going.
pub fn metric_names(runs: &[RunInfo]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for run in runs {
        if let Some(summary) = &run.summary {
            names.extend(summary.metric_names());
        }
        for epoch in &run.epochs {
            names.insert("train/images_per_second".to_string());
            names.extend(epoch.train.keys().map(|k| format!("train/{k}")));
            names.extend(epoch.validation.keys().map(|k| format!("validation/{k}")));
        }
    }
    names
}

/// How to build the table.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// The ranking metric.
    pub metric: String,
    /// Whether higher or lower is better for the ranking metric.
    pub goal: Goal,
    /// Sort by this column instead.
    pub sort: Option<String>,
}

/// The parameters that differ between `runs`, with their short names (a sweep's names when
/// given), `seed` left out (replicates are aggregated).
pub fn differing_parameters(
    runs: &[RunInfo],
    sweep: Option<&SweepRecord>,
) -> Vec<(String, String)> {
    if let Some(sweep) = sweep {
        return sweep
            .parameters
            .keys()
            .map(|p| {
                (
                    p.clone(),
                    sweep.short_names.get(p).cloned().unwrap_or(p.clone()),
                )
            })
            .collect();
    }
    let started: Vec<&RunInfo> = runs.iter().filter(|r| !r.values.is_empty()).collect();
    let mut keys: Vec<String> = started
        .iter()
        .flat_map(|r| r.values.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|k| k != "seed")
        .filter(|k| {
            let first = started.first().and_then(|r| r.values.get(k));
            started.iter().any(|r| r.values.get(k) != first)
        })
        .collect();
    let short = short_names(&differing);
    differing
        .into_iter()
        .map(|p| {
            let s = short[&p].clone();
            (p, s)
        })
        .collect()
}

/// Per parameter, how its values are written in the table: short labels ([`label`]), or the
/// exact value as JSON when two different values of the column would read the same.
fn column_labels(runs: &[RunInfo], parameters: &[(String, String)]) -> Vec<fn(&Value) -> String> {
    parameters
        .iter()
        .map(|(path, _)| {
            let mut by_label: BTreeMap<String, &Value> = BTreeMap::new();
            let ambiguous = runs.iter().filter_map(|r| r.values.get(path)).any(|value| {
                by_label
                    .insert(label(value), value)
                    .is_some_and(|other| other != value)
            });
            if ambiguous { Value::to_string } else { label }
        })
        .collect()
}

/// Builds the comparison table.
///
/// Long by design: columns, groups of replicates, cells, order and best row are built in
/// sequence over the same groups.
pub fn table(
    runs: &[RunInfo],
    sweep: Option<&SweepRecord>,
    options: &TableOptions,
) -> Result<Table, CompareError> {
    let metric = &options.metric;
    let known = metric_names(runs);
    if !known.is_empty() && !known.contains(metric) {
        return Err(CompareError::UnknownMetric {
            metric: metric.clone(),
            suggestion: did_you_mean(metric, known.iter().map(String::as_str)).map(String::from),
            known: known.into_iter().collect(),
        });
    }
    let parameters = differing_parameters(runs, sweep);
    let test_metrics: Vec<String> = {
        let mut names: Vec<String> = runs
            .iter()
            .filter_map(|r| r.summary.as_ref())
            .flat_map(|s| s.test.iter().flat_map(|m| m.keys().cloned()))
            .map(|k| format!("test/{k}"))
            .filter(|k| k != metric)
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let mut columns = vec!["run".to_string()];
    columns.extend(parameters.iter().map(|(_, short)| short.clone()));
    columns.push(format!("best {metric}"));
    columns.push(format!("final {metric}"));
    columns.push("best epoch".into());
    columns.extend(test_metrics.iter().cloned());
    columns.extend(["epochs", "seconds", "status"].map(String::from));

    // Group seed replicates: exactly the same value of every parameter (labels are short and
    // may be equal for different values, e.g. two augmentation lists).
    let labels = column_labels(runs, &parameters);
    let mut groups: Vec<(Vec<String>, Vec<&RunInfo>)> = Vec::new();
    for run in runs {
        let key: Vec<String> = if run.values.is_empty() {
            vec![run.dir.name()]
        } else {
            parameters
                .iter()
                .map(|(p, _)| run.values.get(p).map_or("-".into(), Value::to_string))
                .collect()
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(run),
            None => groups.push((key, vec![run])),
        }
    }
    // Pruned trials stopped early: shown with their last metrics, never the best, and after
    // the others when sorted by the ranking metric.
    let pruned: Vec<bool> = groups
        .iter()
        .map(|(_, members)| {
            members
                .iter()
                .any(|m| matches!(m.status, RunStatus::Pruned(_)))
        })
        .collect();
    let rows: Vec<Vec<Cell>> = groups
        .iter()
        .map(|(_, members)| {
            let first = members[0];
            let mut row = vec![Cell::Text(if members.len() == 1 {
                first.dir.name()
            } else {
                format!("{} (+{} seeds)", first.dir.name(), members.len() - 1)
            })];
            if first.values.is_empty() {
                row.extend(parameters.iter().map(|_| Cell::Empty));
            } else {
                row.extend(parameters.iter().zip(&labels).map(|((p, _), label)| {
                    Cell::Text(first.values.get(p).map_or("-".into(), label))
                }));
            }
            let best: Vec<Option<(f64, usize)>> = members
                .iter()
                .map(|r| r.best(metric, options.goal))
                .collect();
            row.push(spread(best.iter().map(|b| b.map(|(v, _)| v))));
            row.push(spread(members.iter().map(|r| r.final_value(metric))));
            row.push(spread(
                best.iter()
                    .map(|b| b.and_then(|(_, e)| (e > 0).then_some(e as f64))),
            ));
            for name in &test_metrics {
                row.push(spread(members.iter().map(|r| r.final_value(name))));
            }
            row.push(spread(
                members
                    .iter()
                    .map(|r| r.epochs.last().map(|e| e.epoch as f64)),
            ));
            row.push(spread(members.iter().map(|r| {
                r.summary
                    .as_ref()
                    .map(|s| s.seconds)
                    .or_else(|| Some(r.epochs.iter().map(|e| e.seconds).sum()))
                    .filter(|s| *s > 0.0)
            })));
            row.push(Cell::Text(status_text(members)));
            row
        })
        .collect();

    let metric_column = 1 + parameters.len();
    let sort_column =
        match &options.sort {
            Some(name) => columns.iter().position(|c| c == name).ok_or_else(|| {
                CompareError::NoSuchColumn {
                    column: name.clone(),
                    columns: columns.clone(),
                }
            })?,
            None => metric_column,
        };
    let descending = options.sort.is_none() && options.goal == Goal::Max;
    let mut rows: Vec<(bool, Vec<Cell>)> = pruned.into_iter().zip(rows).collect();
    rows.sort_by(|(a_pruned, a), (b_pruned, b)| {
        let (x, y) = (&a[sort_column], &b[sort_column]);
        let pruned_last = if options.sort.is_none() {
            a_pruned.cmp(b_pruned)
        } else {
            std::cmp::Ordering::Equal
        };
        pruned_last.then_with(|| match (x.number(), y.number()) {
            (Some(x), Some(y)) if descending => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => text_of(x).cmp(&text_of(y)),
        })
    });
    let best = rows
        .iter()
        .enumerate()
        .filter(|(_, (pruned, _))| !pruned)
        .filter_map(|(i, (_, row))| Some((i, row[metric_column].number()?)))
        .reduce(|a, b| if options.goal.better(b.1, a.1) { b } else { a })
        .map(|(i, _)| i);
    Ok(Table {
        columns,
        rows: rows.into_iter().map(|(_, row)| row).collect(),
        best,
    })
}

fn text_of(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) => t.clone(),
        _ => String::new(),
    }
}

/// One value, or mean +- std over several.
fn spread(values: impl Iterator<Item = Option<f64>>) -> Cell {
    let all: Vec<Option<f64>> = values.collect();
    let present: Vec<f64> = all.iter().flatten().copied().collect();
    match (all.len(), present.len()) {
        (_, 0) => Cell::Empty,
        (1, 1) => Cell::Number(present[0]),
        _ => match crate::metric::Stat::of(&present) {
            Some(s) => Cell::Spread {
                mean: s.mean,
                std: s.std,
                n: s.n,
            },
            None => Cell::Empty,
        },
    }
}

/// `finished`, or the states of the replicates (`2 finished, 1 failed`).
fn status_text(members: &[&RunInfo]) -> String {
    let word = |s: &RunStatus| match s {
        RunStatus::NotStarted if !members.is_empty() => "pending".to_string(),
        other => other.to_string(),
    };
    if members.len() == 1 {
        return word(&members[0].status);
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in members {
        *counts.entry(word(&m.status)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(w, n)| format!("{n} {w}"))
        .collect::<Vec<_>>()
        .join(", ")
}
