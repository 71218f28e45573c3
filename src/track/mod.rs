//! Run tracking output: what a run leaves behind for people to look at.
//!
//! - [`tensorboard`]: a small, self-contained TensorBoard event-file writer
//!   ([`tensorboard::EventWriter`]) for scalars, images, text, histograms and
//!   HParams-plugin entries, so `tensorboard --logdir runs` can compare runs.
//! - [`plots`]: PNG learning curves (accuracy and loss, train and validation,
//!   with a marker where fine-tuning starts) and a confusion matrix, with text in the
//!   [`font`] compiled into the binary.
//! - [`atomic`]: write-to-temp-then-rename helpers, so an interrupted or failed
//!   run never leaves a half-written file in place of a complete one.
//! - [`run_dir`]: run folders named by a hash of the resolved spec, every file name in
//!   them, and their typed [`records`] (epochs, summary, failure); [`lock`]: one
//!   writer per run folder; [`log_file`]: the log copied into the run folder.
//!
//! Nothing here panics on bad input or I/O failure; errors carry the path
//! they concern.

pub mod atomic;
pub mod font;
pub mod lock;
pub mod log_file;
pub mod plots;
pub mod records;
pub mod run_dir;
pub mod tensorboard;

pub use atomic::{write_atomically, write_atomically_with};
pub use run_dir::{RunDir, RunStatus};
