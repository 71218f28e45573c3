//! runner: run transfer-learning experiments declared in YAML.

pub mod spec;
pub mod track;
