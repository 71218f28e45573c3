//! Reading a run folder back: its plan (from the resolved spec it was started with, paths
//! resolved against the original spec's folder, recorded in `origin.json`) and its latest
//! model. Used by `runner resume`, `runner eval` and `runner predict --run`.

use super::RunError;
use super::checkpoint::{self, LoopState};
use crate::model::GraphModel;
use crate::plan::{self, Plan};
use crate::spec;
use crate::track::{RunDir, write_atomically};
use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize, Deserialize)]
struct Origin {
    /// The spec file the run was started from (absolute); relative paths in the spec are
    /// resolved against its folder.
    spec_file: PathBuf,
}

/// Records where the run's spec came from.
pub fn write_origin(run: &RunDir, spec_file: &Path) -> Result<(), std::io::Error> {
    let origin = Origin {
        spec_file: std::path::absolute(spec_file)?,
    };
    let json = serde_json::to_vec_pretty(&origin).map_err(std::io::Error::other)?;
    write_atomically(&run.origin_file(), &json)
}

/// The plan of the run in `run_dir`.
pub fn plan(run_dir: &Path) -> Result<Plan, RunError> {
    let loaded = loaded_spec(run_dir)?;
    crate::fetch::prepare(&loaded, crate::fetch::Fetch::Missing)
        .and_then(|resolved| plan::plan(&resolved))
        .map_err(|reports| stored_spec_error(run_dir, reports))
}

/// The spec the run in `run_dir` was started with (its resolved spec, relative paths
/// resolved against the original spec's folder), not planned: its data and weights may be gone.
pub fn loaded_spec(run_dir: &Path) -> Result<spec::LoadedSpec, RunError> {
    let run = RunDir::new(run_dir);
    let not_a_run = |reason: String| RunError::NotARun {
        dir: run_dir.to_path_buf(),
        reason,
    };
    let origin_path = run.origin_file();
    let origin: Origin = std::fs::read(&origin_path)
        .map_err(|e| not_a_run(format!("cannot read {}: {e}", origin_path.display())))
        .and_then(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|e| not_a_run(format!("{} is damaged: {e}", origin_path.display())))
        })?;
    let resolved_path = run.resolved_spec_file();
    let text = std::fs::read_to_string(&resolved_path)
        .map_err(|e| not_a_run(format!("cannot read {}: {e}", resolved_path.display())))?;
    // The resolved spec is JSON (a subset of YAML) and was valid when the run started; its
    // relative paths are resolved against the original spec's folder.
    spec::parse(&origin.spec_file, text, &[]).map_err(|r| stored_spec_error(run_dir, vec![r]))
}

/// Spec errors of a stored run, shown against the stored file, whose lines they point at;
/// `--set` advice is left out (resume, eval and predict take no overrides).
fn stored_spec_error(run_dir: &Path, mut reports: Vec<spec::diagnostic::Report>) -> RunError {
    for report in &mut reports {
        report.file = RunDir::new(run_dir).resolved_spec_file();
        for diagnostic in &mut report.diagnostics {
            if diagnostic
                .help
                .as_deref()
                .is_some_and(|h| h.contains("--set"))
            {
                diagnostic.help = None;
            }
        }
    }
    RunError::StoredSpec {
        dir: run_dir.to_path_buf(),
        rendered: reports
            .iter()
            .map(|r| r.render(false).replacen("error: ", "", 1))
            .collect::<Vec<_>>()
            .join(
                "
",
            ),
    }
}

/// The model of the latest checkpoint of `run_dir` (the final model once the run finished),
/// on `device`, with the checkpoint's progress.
pub fn model(
    run_dir: &Path,
    plan: &Plan,
    device: &Device,
) -> Result<(GraphModel, LoopState), RunError> {
    let saved = latest_checkpoint(run_dir)?;
    let model = GraphModel::new(&plan.graph, device)
        .try_load_record(saved.model)
        .map_err(|e| RunError::CheckpointMismatch {
            dir: run_dir.to_path_buf(),
            what: "model",
            reason: e.to_string(),
        })?;
    Ok((model, saved.progress))
}

/// The latest checkpoint of `run_dir`; an error when the run has none.
pub fn latest_checkpoint(run_dir: &Path) -> Result<checkpoint::Checkpoint, RunError> {
    checkpoint::load(run_dir)?.ok_or_else(|| RunError::NoCheckpoint {
        dir: run_dir.to_path_buf(),
    })
}
