//! runner: run transfer-learning experiments declared in YAML.

pub mod data;
pub mod spec;
