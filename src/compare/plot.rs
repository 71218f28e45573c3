//! The comparison plot of `runner compare --plot`: the ranking metric per epoch of every run
//! (phase starts marked), and the runs' best value against each swept parameter.

use super::{CompareError, RunInfo};
use crate::metric::Goal;
use crate::sweep::trial::label;
use crate::track::plots::{self, Curve, Scatter};
use std::path::Path;

/// Draws the comparison of `runs` by `metric` (`parameters`: path and short name) into `path`.
pub fn plot(
    path: &Path,
    runs: &[RunInfo],
    metric: &str,
    goal: Goal,
    parameters: &[(String, String)],
) -> Result<(), CompareError> {
    let curves: Vec<Curve> = runs
        .iter()
        .map(|run| Curve {
            label: run.dir.name(),
            points: run
                .epochs
                .iter()
                .filter_map(|e| Some((e.epoch as f64, e.metric(metric)?)))
                .collect(),
        })
        .filter(|c| !c.points.is_empty())
        .collect();
    let mut phase_starts: Vec<f64> = runs
        .iter()
        .flat_map(|run| {
            run.epochs
                .windows(2)
                .filter(|w| w[0].phase != w[1].phase)
                .map(|w| w[1].epoch as f64)
        })
        .collect();
    phase_starts.sort_by(f64::total_cmp);
    phase_starts.dedup();
    let scatters: Vec<Scatter> = parameters
        .iter()
        .map(|(path, short)| {
            let values: Vec<(Option<f64>, String, f64)> = runs
                .iter()
                .filter_map(|run| {
                    let value = run.values.get(path)?;
                    let (best, _) = run.best(metric, goal)?;
                    Some((value.as_f64(), label(value), best))
                })
                .collect();
            let numeric = values.iter().all(|(x, _, _)| x.is_some());
            let mut categories: Vec<String> = Vec::new();
            if !numeric {
                for (_, text, _) in &values {
                    if !categories.contains(text) {
                        categories.push(text.clone());
                    }
                }
            }
            Scatter {
                parameter: short.clone(),
                points: values
                    .iter()
                    .map(|(x, text, y)| match x {
                        Some(x) if numeric => (*x, *y),
                        _ => (
                            categories.iter().position(|c| c == text).unwrap_or(0) as f64,
                            *y,
                        ),
                    })
                    .collect(),
                categories,
            }
        })
        .collect();
    plots::comparison_png(path, metric, &curves, &phase_starts, &scatters)?;
    Ok(())
}
