//! Ctrl-C during training: the first press asks the run to stop after the current batch and
//! write a checkpoint; a second press ends the process at once (the last checkpoint stays).
//! Uses the `ctrlc` crate, the usual portable SIGINT/console handler.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the handler (once per process). Failing to install only loses the graceful stop.
pub fn install() {
    INSTALL.call_once(|| {
        let result = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: stopping now; the last checkpoint is kept");
                std::process::exit(130);
            }
            eprintln!(
                "\nCtrl-C: stopping after this batch and writing a checkpoint (press again to stop at once)"
            );
        });
        if let Err(e) = result {
            tracing::warn!("Ctrl-C will stop the run without a checkpoint: {e}");
        }
    });
}

/// True once a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
