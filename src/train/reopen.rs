//! Reading a run folder back: its plan (from the resolved spec it was started with, paths
//! resolved against the original spec's folder, recorded in `origin.json`) and its latest
//! model. Used by `runner resume`, `runner eval` and `runner predict --run`.

use super::RunError;
use super::checkpoint::{self, Progress};
use crate::model::GraphModel;
use crate::plan::{self, Plan};
use crate::spec;
use crate::track::write_atomically;
use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The resolved spec (overrides applied) a run was started with.
pub const RESOLVED_SPEC_FILE: &str = "resolved_spec.json";
const ORIGIN_FILE: &str = "origin.json";

#[derive(Debug, Serialize, Deserialize)]
struct Origin {
    /// The spec file the run was started from (absolute); relative paths in the spec are
    /// resolved against its folder.
    spec_file: PathBuf,
}

/// Records where the run's spec came from.
pub fn write_origin(run_dir: &Path, spec_file: &Path) -> Result<(), std::io::Error> {
    let origin = Origin {
        spec_file: std::path::absolute(spec_file)?,
    };
    let json = serde_json::to_vec_pretty(&origin).map_err(std::io::Error::other)?;
    write_atomically(&run_dir.join(ORIGIN_FILE), &json)
}

/// The plan of the run in `run_dir`.
pub fn plan(run_dir: &Path) -> Result<Plan, RunError> {
    let not_a_run = |what: String| {
        RunError::Reopen(format!(
            "{} is not a run folder of runner ({what}); give a folder like runs/<experiment>/<run-id>",
            run_dir.display()
        ))
    };
    let origin_path = run_dir.join(ORIGIN_FILE);
    let origin: Origin = std::fs::read(&origin_path)
        .map_err(|e| not_a_run(format!("cannot read {}: {e}", origin_path.display())))
        .and_then(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|e| not_a_run(format!("{} is damaged: {e}", origin_path.display())))
        })?;
    let resolved_path = run_dir.join(RESOLVED_SPEC_FILE);
    let text = std::fs::read_to_string(&resolved_path)
        .map_err(|e| not_a_run(format!("cannot read {}: {e}", resolved_path.display())))?;
    // The resolved spec is JSON (a subset of YAML) and was valid when the run started; its
    // relative paths are resolved against the original spec's folder.
    let loaded = spec::parse(&origin.spec_file, text, &[])
        .map_err(|report| RunError::Reopen(report.render(false)))?;
    plan::plan(&loaded).map_err(|reports| {
        RunError::Reopen(
            reports
                .iter()
                .map(|r| r.render(false))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })
}

/// The model of the latest checkpoint of `run_dir` (the final model once the run finished),
/// on `device`, with the checkpoint's progress.
pub fn model(
    run_dir: &Path,
    plan: &Plan,
    device: &Device,
) -> Result<(GraphModel, Progress), RunError> {
    let saved = latest_checkpoint(run_dir)?;
    let model = GraphModel::new(&plan.graph, device)
        .try_load_record(saved.model)
        .map_err(|e| {
            RunError::Reopen(format!(
                "the checkpoint in {} does not fit the run's model: {e}",
                run_dir.display()
            ))
        })?;
    Ok((model, saved.progress))
}

/// The latest checkpoint of `run_dir`; an error when the run has none.
pub fn latest_checkpoint(run_dir: &Path) -> Result<checkpoint::Checkpoint, RunError> {
    checkpoint::load(run_dir)
        .map_err(|e| RunError::Reopen(e.to_string()))?
        .ok_or_else(|| {
            RunError::Reopen(format!(
                "{} has no checkpoint yet: the run stopped before its first epoch ended; start it again with `runner run --again`",
                run_dir.display()
            ))
        })
}
