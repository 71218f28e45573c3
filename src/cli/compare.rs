//! `runner compare PATH...`: the runs under the paths as a table (parameters that differ,
//! the ranking metric's best and final values, test metrics, time, status), optionally a plot.

use super::Failure;
use runner::compare::render::{Format, render};
use runner::compare::{self, TableOptions};
use runner::sweep::spec::Goal;
use std::path::{Path, PathBuf};

/// What `runner compare` was asked.
pub struct CompareArgs<'a> {
    /// Run, sweep or experiment folders.
    pub paths: &'a [PathBuf],
    /// Ranking metric.
    pub metric: Option<&'a str>,
    /// Lower is better.
    pub min: bool,
    /// Sort column.
    pub sort: Option<&'a str>,
    /// Output format name.
    pub format: &'a str,
    /// Plot file.
    pub plot: Option<&'a Path>,
}

/// Prints the comparison.
pub fn run(args: &CompareArgs) -> Result<(), Failure> {
    let other = |e: compare::CompareError| Failure::Other(e.to_string());
    let format: Format = args.format.parse().map_err(Failure::Other)?;
    let (runs, sweep) = compare::collect(args.paths).map_err(other)?;
    let metric = args
        .metric
        .map(str::to_string)
        .or_else(|| sweep.as_ref().map(|s| s.metric.clone()))
        .unwrap_or_else(|| "validation/accuracy".into());
    let goal_max = !args.min && sweep.as_ref().is_none_or(|s| s.goal == Goal::Max);
    let options = TableOptions {
        metric: metric.clone(),
        goal_max,
        sort: args.sort.map(str::to_string),
    };
    let table = compare::table(&runs, sweep.as_ref(), &options).map_err(other)?;
    print!("{}", render(&table, format));
    if let Some(plot) = args.plot {
        let parameters = compare::differing_parameters(&runs, sweep.as_ref());
        compare::plot::plot(plot, &runs, &metric, goal_max, &parameters).map_err(other)?;
        eprintln!("plot: {}", plot.display());
    }
    Ok(())
}
