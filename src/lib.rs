//! runner: run transfer-learning experiments declared in YAML.
//!
//! Data flow: [`spec`] (YAML text to a typed, validated spec with source locations) ->
//! [`plan`] (graph IR with shapes, phases with trainable sets) -> [`model`] (Burn modules).
//! Built-in architectures for `pretrained` nodes live in [`zoo`]; data and weights named by URL
//! are downloaded by [`fetch`]; images become batches in [`data`]. [`train`] runs a plan on a
//! [`device`] and writes its run folder ([`track`]); [`mod@bench`] measures a plan's speed;
//! [`sweep`] runs many plans of one spec, [`compare`] reads run folders back into tables and
//! plots, and [`check`] holds runs to their spec's `checks:` and to baselines (regression
//! checks for CI); [`export`] writes a model as ONNX or safetensors for use outside runner.
//! The vocabulary all of these share sits below them: [`metric`] (metric names, which way is
//! better, statistics over seeds), [`table`] (tables and their text forms) and [`machine`]
//! (the machine's memory).
//!
//! Layers, lowest first; a module uses only modules of lower layers, so there are no cycles:
//!
//! 1. `metric`, `table`, `machine`
//! 2. `spec`, `track`
//! 3. `fetch`, `zoo`
//! 4. `data`
//! 5. `plan`
//! 6. `device`
//! 7. `model`
//! 8. `train`, `export`
//! 9. `bench`, `verify`, `sweep`
//! 10. `check`, `compare`
//!
//! The command line (`src/cli/`, in the binary) is above all of them and is the only place
//! that turns errors into text and exit codes. `tests/layering.rs` reads every `crate::` path
//! and fails on an edge against this order. Why one crate and a test rather than a workspace
//! of crates: the layers would be enforced by the compiler, but every crate boundary would
//! make `pub(crate)` items public and the test and bench targets depend on many crates, while
//! Burn's generics are compiled in whichever crate instantiates them, so splitting would not
//! shorten the 10-20 minute builds; the test gives the same guarantee at no build cost.

pub mod bench;
pub mod check;
pub mod compare;
pub mod data;
pub mod device;
pub mod export;
pub mod fetch;
pub mod machine;
pub mod metric;
pub mod model;
pub mod plan;
pub mod spec;
pub mod sweep;
pub mod table;
pub mod track;
pub mod train;
pub mod verify;
pub mod zoo;
