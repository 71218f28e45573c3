//! The model a command runs or exports: a run folder's trained model, or a spec's model with
//! its pretrained weights (shared by `runner predict`, `runner export` and `runner eval`), on
//! the device asked for, else the one its spec names, else `cpu`.

use super::Failure;
use burn::tensor::Device;
use runner::device::DeviceChoice;
use runner::fetch::{self, Fetch};
use runner::model::GraphModel;
use runner::model::weights::load_pretrained;
use runner::plan::{self, Plan, graph::Shape};
use runner::spec::{self, NodeSpec};
use runner::train::reopen;
use std::path::Path;

/// The final model of run folder `run_dir` (or its latest checkpoint, with a note on
/// stderr when the run has not finished), its plan and its device.
pub fn from_run(
    run_dir: &Path,
    device: Option<DeviceChoice>,
) -> Result<(Plan, GraphModel, Device), Failure> {
    let other = |e: runner::train::RunError| Failure::Other(e.to_string());
    let plan = reopen::plan(run_dir).map_err(other)?;
    let device = open(device, &plan)?;
    let (model, progress) = reopen::model(run_dir, &plan, &device).map_err(other)?;
    if !progress.finished {
        eprintln!(
            "note: the run has not finished; using its latest checkpoint (after epoch {}, batch {})",
            progress.epoch, progress.batch
        );
    }
    Ok((plan, model, device))
}

/// The device `choice`, else the one `plan`'s spec names, else `cpu`.
fn open(choice: Option<DeviceChoice>, plan: &Plan) -> Result<Device, Failure> {
    let choice = choice.or(plan.spec.spec.device).unwrap_or_default();
    runner::device::open(choice)
        .map(|opened| opened.device)
        .map_err(|e| Failure::Other(e.to_string()))
}

/// The model of the spec at `spec_path` with its pretrained weights (`weights` replaces the
/// file of its only pretrained node), its plan and its device.
pub fn from_spec(
    spec_path: &Path,
    weights: Option<&Path>,
    device: Option<DeviceChoice>,
) -> Result<(Plan, GraphModel, Device), Failure> {
    let mut loaded = spec::load(spec_path, &[]).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    if let Some(weights) = weights {
        let mut bases = loaded.spec.model.nodes.iter_mut().filter_map(|n| match n {
            NodeSpec::Pretrained(p) => Some(p),
            _ => None,
        });
        match (bases.next(), bases.next()) {
            (Some(p), None) => {
                p.weights = Some(std::path::absolute(weights).unwrap_or(weights.into()))
            }
            _ => {
                return Err(Failure::Other(
                    "--weights needs a spec with exactly one `pretrained` node".into(),
                ));
            }
        }
    }
    let resolved = fetch::prepare(&loaded, Fetch::Missing).map_err(Failure::InvalidSpec)?;
    let plan = plan::plan(&resolved).map_err(Failure::InvalidSpec)?;
    let device = open(device, &plan)?;
    let mut model = GraphModel::new(&plan.graph, &device);
    let reports =
        load_pretrained(&mut model, &plan, &device).map_err(|e| Failure::Other(e.to_string()))?;
    for r in &reports {
        tracing::info!("weights: {r}");
    }
    Ok((plan, model, device))
}

/// Height and width of the model's input images.
pub fn input_size(plan: &Plan) -> [usize; 2] {
    match plan.graph.nodes[plan.graph.input].shape {
        Shape::Image { h, w, .. } => [h, w],
        Shape::Vector(_) => unreachable!("the planner makes the input an image"),
    }
}
