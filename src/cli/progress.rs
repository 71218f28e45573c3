//! The training progress bar on the terminal: the command line's
//! [`ProgressObserver`](runner::train::progress::ProgressObserver).

use indicatif::{ProgressBar, ProgressStyle};
use runner::train::progress::ProgressObserver;
use std::sync::Mutex;

/// One bar per epoch: batches trained, speed, time left, the running loss and accuracy.
#[derive(Debug)]
pub struct EpochBar {
    bar: Mutex<ProgressBar>,
}

impl Default for EpochBar {
    /// A bar that shows from the first epoch on.
    fn default() -> Self {
        Self {
            bar: Mutex::new(ProgressBar::hidden()),
        }
    }
}

impl EpochBar {
    fn bar(&self) -> std::sync::MutexGuard<'_, ProgressBar> {
        self.bar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ProgressObserver for EpochBar {
    fn epoch_started(&self, label: &str, batches: usize, done: usize) {
        let bar = ProgressBar::new(batches as u64).with_prefix(label.to_string());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_position(done as u64);
        *self.bar() = bar;
    }

    fn batch_trained(&self, loss: f64, accuracy: f64) {
        let bar = self.bar();
        bar.set_message(format!("loss {loss:.4} accuracy {accuracy:.4}"));
        bar.inc(1);
    }

    fn epoch_ended(&self) {
        self.bar().finish_and_clear();
    }
}
