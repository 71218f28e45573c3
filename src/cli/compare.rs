//! `runner compare PATH...`: the runs under the paths as a table (parameters that differ,
//! the ranking metric's best and final values, test metrics, time, status), optionally a plot.

use super::Failure;
use runner::compare::{self, TableOptions};
use runner::metric::Goal;
use runner::table::{Format, render};
use std::path::PathBuf;

/// `runner compare PATH...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run folders, sweep folders, or folders of runs.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The metric to rank by (default: the sweep's, else validation/accuracy).
    #[arg(long)]
    metric: Option<String>,
    /// Whether higher (max) or lower (min) is better for the ranking metric (default: the
    /// sweep's goal for its metric, else min for a loss, `seconds` and `epochs`, max for the
    /// rest).
    #[arg(long, value_enum, conflicts_with = "min")]
    goal: Option<Goal>,
    /// Lower is better: the same as `--goal min`.
    #[arg(long)]
    min: bool,
    /// Sort by this column instead of the ranking metric.
    #[arg(long)]
    sort: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also draw validation curves and the metric against each parameter into this PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Prints the comparison.
pub fn run(args: &Args) -> Result<(), Failure> {
    let other = |e: compare::CompareError| Failure::Other(e.to_string());
    let (runs, sweep) = compare::collect(&args.paths).map_err(other)?;
    let goal = args.goal.or(args.min.then_some(Goal::Min));
    let (metric, goal) = compare::ranking(args.metric.as_deref(), goal, sweep.as_ref());
    let options = TableOptions {
        metric: metric.clone(),
        goal,
        sort: args.sort.clone(),
    };
    let table = compare::table(&runs, sweep.as_ref(), &options).map_err(other)?;
    print!("{}", render(&table, args.format));
    if let Some(plot) = &args.plot {
        let parameters = compare::differing_parameters(&runs, sweep.as_ref());
        compare::plot::plot(plot, &runs, &metric, goal, &parameters).map_err(other)?;
        eprintln!("plot: {}", plot.display());
    }
    Ok(())
}
