//! Stopping a run from outside: an [`Interrupter`] is a flag the caller owns and passes in
//! through [`super::RunOptions`]. The training loop checks it after every batch and, when it
//! is set, writes a checkpoint and returns [`super::Outcome::Interrupted`]. The binary sets it
//! from its Ctrl-C handler; the library installs no handler and never exits the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A stop request shared between the training loop and whoever may ask it to stop.
#[derive(Debug, Clone, Default)]
pub struct Interrupter(Arc<AtomicBool>);

impl Interrupter {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop after its current batch; returns true when a stop had already
    /// been asked for (a second Ctrl-C).
    pub fn request(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// True once a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Clears the flag (a new run starts).
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag_and_reset_clears_it() {
        let a = Interrupter::new();
        let b = a.clone();
        assert!(!a.request());
        assert!(b.requested());
        assert!(b.request(), "the second request says so");
        a.reset();
        assert!(!b.requested());
    }
}
