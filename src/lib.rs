//! runner: run transfer-learning experiments declared in YAML.
//!
//! Data flow: [`spec`] (YAML text to a typed, validated spec with source locations) ->
//! [`plan`] (graph IR with shapes, phases with trainable sets) -> `model` (Burn modules).
//! Built-in architectures for `pretrained` nodes live in [`zoo`]; data and weights named by URL
//! are downloaded by [`fetch`]. [`train`] runs a plan and writes its run folder ([`track`]);
//! [`sweep`] runs many plans of one spec, and [`compare`] reads run folders back into tables
//! and plots;
//! [`check`] holds runs to their spec's `checks:` and to baselines (regression checks for CI);
//! [`export`] writes a model as ONNX or safetensors for use outside runner. [`device`] is
//! where all of it computes (flex CPU by default; wgpu and libtorch as cargo features).

pub mod bench;
pub mod check;
pub mod compare;
pub mod data;
pub mod device;
pub mod export;
pub mod fetch;
pub mod model;
pub mod plan;
pub mod spec;
pub mod sweep;
pub mod track;
pub mod train;
pub mod zoo;
