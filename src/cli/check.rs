//! `runner check RUN|SWEEP`: evaluates the run's `checks:` against thresholds and baselines,
//! prints one row per check, writes JUnit and markdown reports; exit 0 when every check
//! passes, 1 when one regressed, 2 when one could not be evaluated.

use super::Failure;
use runner::check::verdict::{self, DEFAULT_SIGMAS};
use runner::check::{CheckError, baseline::Baseline, report, target};
use std::path::{Path, PathBuf};

/// `runner check RUN|SWEEP`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run folder (or sweep folder: seed replicates are compared by their mean).
    pub run: PathBuf,
    #[command(flatten)]
    pub options: CheckOptions,
}

/// Options of `runner check` (and of `runner run --check`).
#[derive(Debug, Clone, clap::Args)]
pub struct CheckOptions {
    /// Compare with this baseline file (from `runner baseline`) or run/sweep folder instead
    /// of the baselines the checks name.
    #[arg(long, value_name = "FILE|RUN")]
    pub baseline: Option<PathBuf>,
    /// Write a JUnit XML report here (one test case per check).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a markdown report here (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// With seed replicates, a drop beyond the tolerance fails only when it also exceeds this
    /// many standard deviations of the seeds.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_SIGMAS, value_parser = parse_sigmas, allow_negative_numbers = true)]
    pub sigmas: f64,
}

/// `--sigmas`: a number of standard deviations, 0 or more.
fn parse_sigmas(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(k) if k.is_finite() && k >= 0.0 => Ok(k),
        _ => Err(format!(
            "`{text}` is not a number of standard deviations: give 0 or more, e.g. 2"
        )),
    }
}

/// Checks the run or sweep in `path`.
pub fn run(path: &Path, args: &CheckOptions) -> Result<(), Failure> {
    let not_checked = |e: CheckError| Failure::NotChecked(e.to_string());
    let target = target::load(path).map_err(not_checked)?;
    if target.spec.spec.checks.is_empty() {
        return Err(Failure::NotChecked(format!(
            "the spec of {} has no `checks:`; add e.g. `checks: {{test/accuracy: \">= 0.9\", validation/loss: {{baseline: baselines/x.json, rel: 0.05}}}}` and run it again",
            path.display()
        )));
    }
    let baseline = args
        .baseline
        .as_deref()
        .map(Baseline::load)
        .transpose()
        .map_err(not_checked)?;
    let outcome = verdict::judge(&target, baseline.as_ref(), args.sigmas);
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    print!("{}", report::text(&outcome));
    let write = |file: &Option<PathBuf>, text: String| match file {
        Some(file) => write_creating_folder(file, &text).map_err(|e| {
            Failure::NotChecked(format!("cannot write the report {}: {e}", file.display()))
        }),
        None => Ok(()),
    };
    write(&args.junit, report::junit(&outcome))?;
    write(&args.markdown, report::markdown(&outcome))?;
    match outcome.exit_code() {
        0 => Ok(()),
        1 => Err(Failure::Regressed(
            "a check failed: the results regressed (see the table above)".into(),
        )),
        _ => Err(Failure::NotChecked(
            "a check could not be evaluated (see the table above)".into(),
        )),
    }
}

fn write_creating_folder(file: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(file, text)
}
