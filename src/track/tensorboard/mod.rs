//! A small TensorBoard event-file writer.
//!
//! Event files are TFRecord streams ([`record`]) of serialized `Event` protos
//! ([`proto`]). [`EventWriter`] writes scalars, images, text (text plugin),
//! histograms and HParams-plugin entries in the formats TensorBoard's own
//! summary APIs produce, so `tensorboard --logdir runs` reads them.

pub mod proto;
pub mod record;
mod writer;

pub use writer::{EventWriter, HParamDomain, HParamValue, SessionStatus, image_grid};
