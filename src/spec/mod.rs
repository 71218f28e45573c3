//! The experiment spec: the typed form of a YAML file, and its loading with located errors.

pub mod data;
