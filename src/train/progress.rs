//! How a run shows its progress while an epoch trains: an observer the caller supplies through
//! [`super::RunOptions::progress`]. The command line draws a progress bar on a terminal
//! (`cli::progress`); tests, sweeps' trials and `--quiet` runs show nothing ([`NoProgress`]).

/// Receives the progress of each epoch's training batches.
pub trait ProgressObserver: std::fmt::Debug + Send + Sync {
    /// An epoch of `batches` training batches starts, or resumes with `done` of them already
    /// trained; `label` names it ("epoch 3 fine_tune").
    fn epoch_started(&self, label: &str, batches: usize, done: usize);
    /// A batch was trained; the epoch's running training loss and accuracy.
    fn batch_trained(&self, loss: f64, accuracy: f64);
    /// The epoch's batches are over: all trained, or the run was interrupted.
    fn epoch_ended(&self);
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressObserver for NoProgress {
    fn epoch_started(&self, _label: &str, _batches: usize, _done: usize) {}
    fn batch_trained(&self, _loss: f64, _accuracy: f64) {}
    fn epoch_ended(&self) {}
}
