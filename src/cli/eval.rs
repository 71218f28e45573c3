//! `runner eval RUN [--split test]`: evaluates a run's final model (or its latest checkpoint,
//! when the run did not finish) on one split of its data, and prints the metrics and the
//! confusion matrix.

use super::args::DeviceArg;
use super::{Failure, model_source};
use runner::data::{Dataset, SplitKind};
use runner::train::evaluate::{evaluate, format_metrics};
use std::path::PathBuf;

/// `runner eval RUN`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run folder, e.g. runs/mobilenet_ft/0ecd50e218.
    run: PathBuf,
    /// The split: test or validation.
    #[arg(long, default_value = "test", value_parser = parse_split)]
    split: SplitKind,
    #[command(flatten)]
    device: DeviceArg,
}

fn parse_split(text: &str) -> Result<SplitKind, String> {
    [SplitKind::Test, SplitKind::Validation]
        .into_iter()
        .find(|s| s.to_string() == text)
        .ok_or_else(|| format!("unknown split `{text}`: use test or validation"))
}

/// Evaluates the run on `--split`, on `--device` (default: its spec's).
pub fn run(args: &Args) -> Result<(), Failure> {
    let (run_dir, split) = (&args.run, args.split);
    let (plan, model, device) = model_source::from_run(run_dir, args.device.device)?;
    let spec = &plan.spec.spec;
    let dataset = Dataset::load(&spec.data, plan.spec.base_dir(), spec.seed).map_err(|e| {
        Failure::Other(format!(
            "cannot load the data of the run in {}: {e}\n(eval reads the data the run was trained on, as named in its resolved_spec.json: put the data back where it was)",
            run_dir.display()
        ))
    })?;
    if dataset.is_empty(split) {
        return Err(Failure::Other(format!(
            "the run's data has no {split} split; use --split validation (a test split comes from `data.test_from_validation` or `data.test_dir` in the spec)"
        )));
    }
    let result = evaluate(&model, &dataset, split, &spec.loss, &device, None)
        .map_err(|e| Failure::Other(e.to_string()))?;
    println!(
        "{} ({} images): {}",
        split,
        result.len(),
        format_metrics(&result.finish(&spec.metrics))
    );
    let classes = dataset.class_names();
    let width = classes.iter().map(String::len).max().unwrap_or(0).max(6);
    println!("confusion matrix (rows: true class, columns: predicted)");
    print!("{:width$}", "");
    for name in classes {
        print!("  {name:>width$}");
    }
    println!();
    for (name, row) in classes.iter().zip(result.confusion_matrix()) {
        print!("{name:width$}");
        for count in row {
            print!("  {count:>width$}");
        }
        println!();
    }
    Ok(())
}
