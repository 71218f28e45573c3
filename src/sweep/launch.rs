//! What every executor does to launch and record a sweep's trials, locally or on Slurm: write
//! `sweep.json` and the sweep's TensorBoard experiment, build the `runner run` arguments of a
//! trial, record a trial's failure, read the end of its console.

use super::spec::{Distribution, Domain};
use super::state::{SweepDir, SweepRecord};
use super::trial::{Trial, label};
use super::{Prepared, SweepError};
use crate::track::RunDir;
use crate::track::records::Failure;
use crate::track::tensorboard::{EventWriter, HParamDomain, HParamValue};
use crate::train::outputs::HPARAM_METRICS;
use std::ffi::OsString;
use std::path::Path;

/// Writes `sweep.json` and declares the sweep to TensorBoard: what any executor does before
/// its first trial starts.
pub fn begin(prepared: &Prepared) -> Result<(), SweepError> {
    write_record(&prepared.dir, &prepared.record)?;
    write_tensorboard_experiment(&prepared.dir, &prepared.record)
}

/// The arguments of `runner` that run `trial` in its folder: `--quiet run SPEC --run-dir DIR
/// --group G`, the `--set` overrides and the `--hparam`s.
pub fn run_arguments(prepared: &Prepared, trial: &Trial) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--quiet".into(),
        "run".into(),
        prepared.spec_path.clone().into(),
        "--run-dir".into(),
        prepared.dir.trial(trial).path().into(),
        "--group".into(),
        trial.group().into(),
    ];
    for o in prepared.base_overrides.iter().chain(&trial.overrides()) {
        args.push("--set".into());
        args.push(format!("{}={}", o.path, o.value).into());
    }
    for (name, value) in trial.hparams(&prepared.record.short_names) {
        args.push("--hparam".into());
        args.push(format!("{name}={}", value.to_json()).into());
    }
    if let Some(pruning) = &prepared.pruning {
        args.push("--prune".into());
        args.push(pruning.arg().into());
    }
    args
}

/// Declares the sweep's parameters, with their domains, to TensorBoard's HParams view at the
/// sweep folder's root (once: the definition of a sweep folder does not change).
fn write_tensorboard_experiment(dir: &SweepDir, record: &SweepRecord) -> Result<(), SweepError> {
    let written = std::fs::read_dir(dir.path())
        .map_err(io_error("read", dir.path()))?
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        });
    if written {
        return Ok(());
    }
    let mut hparams: Vec<(String, HParamDomain)> = record
        .parameters
        .iter()
        .map(|(path, domain)| {
            let name = record
                .short_names
                .get(path)
                .cloned()
                .unwrap_or(path.clone());
            (name, tensorboard_domain(domain))
        })
        .collect();
    let seeds: Vec<HParamValue> = record
        .trials
        .iter()
        .filter_map(|t| t.seed)
        .collect::<std::collections::BTreeSet<u64>>()
        .into_iter()
        .map(HParamValue::from)
        .collect();
    if !seeds.is_empty() {
        hparams.push(("seed".into(), HParamDomain::Discrete(seeds)));
    }
    let mut events = EventWriter::new(dir.path()).map_err(io_error("write", dir.path()))?;
    events
        .add_hparams_experiment(&hparams, &HPARAM_METRICS)
        .and_then(|()| events.flush())
        .map_err(io_error("write", dir.path()))
}

fn tensorboard_domain(domain: &Domain) -> HParamDomain {
    match domain {
        Domain::Distribution(Distribution::Uniform([a, b]))
        | Domain::Distribution(Distribution::LogUniform([a, b])) => HParamDomain::Interval(*a, *b),
        Domain::Distribution(Distribution::Int([a, b])) => {
            HParamDomain::Interval(*a as f64, *b as f64)
        }
        other => HParamDomain::Discrete(
            other
                .values()
                .unwrap_or_default()
                .iter()
                .map(|v| match v {
                    serde_json::Value::Number(n) => {
                        HParamValue::Num(n.as_f64().unwrap_or(f64::NAN))
                    }
                    serde_json::Value::Bool(b) => HParamValue::Bool(*b),
                    other => HParamValue::Str(label(other)),
                })
                .collect(),
        ),
    }
}

/// Records `message` as the trial's failure (`error.json`).
pub fn record_failure(run: &RunDir, message: String) -> Result<(), SweepError> {
    std::fs::create_dir_all(run.path()).map_err(io_error("create", run.path()))?;
    run.write_failure(&Failure { message, epochs: 0 })
        .map_err(io_error("write", &run.failure_file()))
}

pub(crate) fn write_record(dir: &SweepDir, record: &SweepRecord) -> Result<(), SweepError> {
    dir.write(record)
        .map_err(io_error("write", &dir.record_file()))
}

/// The last `lines` lines of a text file (empty when unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// An I/O error of `action` (`write`, `read`, `create`...) on `path`, as a sweep error.
pub fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl Fn(std::io::Error) -> SweepError + 'a {
    move |source| SweepError::File {
        action,
        path: path.to_path_buf(),
        source,
    }
}
