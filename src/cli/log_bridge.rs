//! The `log` records of the libraries under Burn (CubeCL, wgpu) into runner's `tracing` output,
//! with CubeCL's autotune chatter turned into one line.
//!
//! On a GPU CubeCL logs `Tuning <kernel key>` at INFO for every kernel shape it tunes (hundreds
//! of lines on a first run: runner::device's `cubecl` module keeps the results for later
//! runs), plus where it loaded its autotune cache from. Those records (targets
//! `cubecl_runtime::tune::*`) go on at DEBUG (`RUNNER_LOG=debug` shows them); the first
//! `Tuning` of the process becomes one INFO line saying what is going on. Everything else is
//! forwarded as `tracing-log`'s `LogTracer` forwards it.

use std::sync::atomic::{AtomicBool, Ordering};
use tracing_log::LogTracer;

/// The target prefix of CubeCL's autotune records.
const TUNE: &str = "cubecl_runtime::tune";
/// The target of the record CubeCL logs for each kernel it starts tuning.
const TUNER: &str = "cubecl_runtime::tune::tuner";

/// A `log` logger that forwards records to `tracing` ([`install`]).
struct LogBridge {
    tracer: LogTracer,
    tuning: AtomicBool,
}

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        self.tracer.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if record.target().starts_with(TUNE) && record.level() >= log::Level::Info {
            if record.target().starts_with(TUNER) && !self.tuning.swap(true, Ordering::Relaxed) {
                tracing::info!("{}", tuning_notice(runner::device::autotune_folder()));
            }
            self.tracer.log(
                &log::Record::builder()
                    .args(*record.args())
                    .level(log::Level::Debug)
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        } else {
            self.tracer.log(record);
        }
    }

    fn flush(&self) {}
}

/// The line that stands for CubeCL's autotune records.
fn tuning_notice(folder: Option<std::path::PathBuf>) -> String {
    match folder {
        Some(folder) => format!(
            "tuning kernels for this GPU (first run only: the results are kept in {})",
            folder.display()
        ),
        None => "tuning kernels for this GPU (first run only)".to_string(),
    }
}

/// Makes [`LogBridge`] the process's `log` logger; call after setting the `tracing` subscriber,
/// whose level it follows.
pub fn install() -> Result<(), log::SetLoggerError> {
    // Leaked rather than `set_boxed_logger`, which needs `log`'s `std` feature: turning that on
    // would rebuild every crate that depends on `log`, Burn included.
    log::set_logger(Box::leak(Box::new(LogBridge {
        tracer: LogTracer::new(),
        tuning: AtomicBool::new(false),
    })))?;
    log::set_max_level(tracing_log::AsLog::as_log(
        &tracing::level_filters::LevelFilter::current(),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_says_where_tuning_results_are_kept() {
        assert_eq!(
            tuning_notice(Some("/c/runner/cubecl".into())),
            "tuning kernels for this GPU (first run only: the results are kept in /c/runner/cubecl)"
        );
        assert!(tuning_notice(None).ends_with("(first run only)"));
    }
}
