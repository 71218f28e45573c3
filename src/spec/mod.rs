//! The experiment spec: the typed form of a YAML file, and its loading with located errors.
//!
//! Loading runs in stages, each reporting `file:line:column` diagnostics: YAML text to a JSON
//! value with a source map ([`yaml`]), validation against the JSON Schema generated from these
//! types ([`schema`]), then typed deserialization. Graph-level checks (unknown inputs, cycles,
//! shapes) belong to the planner, which reuses the same source map.

pub mod checks;
pub mod data;
pub mod device;
pub mod diagnostic;
pub mod model;
pub mod overrides;
pub mod schema;
pub mod source;
pub mod train;
pub mod yaml;

use diagnostic::{Diagnostic, Report};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use data::DataSpec;
pub use model::{ModelSpec, NodeSpec};
pub use train::{LossSpec, Metric, OptimizerSpec, PhaseSpec};

/// One experiment: data, model graph, loss, metrics and the phases that train it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runner experiment")]
pub struct Spec {
    /// Experiment name; runs are stored under `runs/<name>/`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"))]
    pub name: String,
    /// Free text shown in summaries and TensorBoard.
    #[serde(default)]
    pub description: Option<String>,
    /// Seed for weight initialisation, shuffling, augmentation and dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Where to compute (`cpu`, `cuda[:N]`, `wgpu[:N]`, `tch-cpu`, `tch-cuda[:N]`; default
    /// `cpu`, Burn's embedded flex backend); `--device` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<device::DeviceChoice>,
    /// The images and how they are split, resized and augmented.
    pub data: DataSpec,
    /// The network, in functional-API form.
    pub model: ModelSpec,
    /// The loss to minimise.
    pub loss: LossSpec,
    /// Metrics reported for every split and epoch (the loss is always reported).
    #[serde(default = "default_metrics")]
    pub metrics: Vec<Metric>,
    /// Training stages, run in order. A spec used only by `runner predict --spec` may leave
    /// them out; `runner run` needs at least one.
    #[serde(default)]
    pub phases: Vec<PhaseSpec>,
    /// Regression checks on the final metrics, by metric name (`test/accuracy`,
    /// `validation/loss`, ...): `">= 0.95"` or `{baseline: FILE, max_drop: 0.01}` (see
    /// [`checks`]); `runner check RUN` evaluates them.
    #[serde(default)]
    pub checks: BTreeMap<String, checks::CheckSpec>,
}

impl Spec {
    /// Every metric name this spec's runs report ([`crate::metric::names`]): for checks,
    /// sweeps and compare.
    pub fn metric_names(&self) -> Vec<String> {
        crate::metric::names(&self.epoch_metrics(), self.data.has_test())
    }

    /// The metrics every epoch records: `loss` and the spec's `metrics`.
    pub fn epoch_metrics(&self) -> Vec<&str> {
        std::iter::once("loss")
            .chain(self.metrics.iter().map(|m| m.name()))
            .collect()
    }
}

fn default_seed() -> u64 {
    42
}

fn default_metrics() -> Vec<Metric> {
    vec![Metric::Accuracy]
}

/// A spec read from a file, with what is needed to point later errors at its text.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The typed spec.
    pub spec: Spec,
    /// The file it came from.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// Locations of every value in the text, by JSON pointer.
    pub source: yaml::SourceMap,
}

impl LoadedSpec {
    /// The folder relative paths in the spec are resolved against: the spec file's folder.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Resolves a path written in the spec against [`Self::base_dir`].
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir().join(path)
        }
    }

    /// A report holding `diagnostics` against this spec's text.
    pub fn report(&self, diagnostics: Vec<Diagnostic>) -> Report {
        Report {
            file: self.path.clone(),
            text: self.text.clone(),
            diagnostics,
        }
    }
}

/// Reads, parses and validates a spec file, with `overrides` applied before validation.
pub fn load(path: &Path, overrides: &[overrides::Override]) -> Result<LoadedSpec, Report> {
    let fail = |text: String, diagnostic: Diagnostic| Report {
        file: path.to_path_buf(),
        text,
        diagnostics: vec![diagnostic],
    };
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                return Err(fail(
                    String::new(),
                    Diagnostic::error("the file is not UTF-8 text, so it is not a YAML spec", None)
                        .with_help(
                            "check that the path names a .yaml spec, not an image or weights file",
                        ),
                ));
            }
        },
        Err(e) => {
            let help = if e.kind() == std::io::ErrorKind::NotFound {
                "check the path; example specs are in experiments/"
            } else {
                "check the file's permissions"
            };
            return Err(fail(
                String::new(),
                Diagnostic::error(format!("cannot read the spec: {e}"), None).with_help(help),
            ));
        }
    };
    parse(path, text, overrides)
}

/// Reads a base graph file (the `model:` layout: `nodes` and `outputs`), as used by
/// `pretrained` nodes; returns the graph, its text and its source map.
pub fn load_model_file(path: &Path) -> Result<(ModelSpec, String, yaml::SourceMap), Report> {
    let text = std::fs::read_to_string(path)
        .map(yaml::strip_bom)
        .map_err(|e| Report {
            file: path.to_path_buf(),
            text: String::new(),
            diagnostics: vec![Diagnostic::error(e.to_string(), None)],
        })?;
    let fail = |text: &String, diagnostics| Report {
        file: path.to_path_buf(),
        text: text.clone(),
        diagnostics,
    };
    let (document, source) = yaml::parse(&text).map_err(|d| fail(&text, vec![d]))?;
    let diagnostics = schema::model_schema().validate(&document, &source);
    if !diagnostics.is_empty() {
        return Err(fail(&text, diagnostics));
    }
    let mut document = document;
    integral_floats_to_integers(&mut document);
    let model = serde_json::from_value(document)
        .map_err(|e| fail(&text, vec![Diagnostic::error(e.to_string(), None)]))?;
    Ok((model, text, source))
}

/// Parses and validates spec `text` that came from `path`.
pub fn parse(
    path: &Path,
    text: String,
    overrides: &[overrides::Override],
) -> Result<LoadedSpec, Report> {
    let text = yaml::strip_bom(text);
    let (mut document, mut source) = match yaml::parse(&text) {
        Ok(parsed) => parsed,
        Err(diagnostic) => {
            return Err(Report {
                file: path.to_path_buf(),
                text,
                diagnostics: vec![diagnostic],
            });
        }
    };
    if !document.is_object() {
        let span = source.value_span("");
        return Err(Report {
            file: path.to_path_buf(),
            text,
            diagnostics: vec![
                Diagnostic::error("a spec must be a YAML mapping of settings", span)
                    .with_label("expected `name: ...`, `data: ...`, `model: ...`")
                    .with_help("see experiments/quickstart.yaml for the layout"),
            ],
        });
    }
    if let Err(diagnostic) = overrides::apply(&mut document, &mut source, overrides) {
        return Err(Report {
            file: path.to_path_buf(),
            text,
            diagnostics: vec![diagnostic],
        });
    }
    integral_floats_to_integers(&mut document);
    let diagnostics = schema::experiment_schema().validate(&document, &source);
    if !diagnostics.is_empty() {
        return Err(Report {
            file: path.to_path_buf(),
            text,
            diagnostics,
        });
    }
    match serde_json::from_value::<Spec>(document) {
        Ok(spec) => Ok(LoadedSpec {
            spec,
            path: path.to_path_buf(),
            text,
            source,
        }),
        Err(e) => Err(Report {
            file: path.to_path_buf(),
            text,
            diagnostics: vec![Diagnostic::error(format!("the spec passed the schema but could not be read: {e}"), None)
                .with_help("this is a bug in runner: the schema and the types disagree; please report it with the spec")],
        }),
    }
}

/// Writes whole numbers written as floats (`epochs: 3.0`, `filters: 1e3`) as integers, as
/// JSON Schema already counts them (`integer` accepts `3.0`), so that integer fields read them;
/// float fields read integers as well. Values beyond the 64-bit range stay floats and are
/// refused by the schema's bounds.
fn integral_floats_to_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                let integer = if f < 0.0 && f >= i64::MIN as f64 {
                    Some(serde_json::Number::from(f as i64))
                } else if f >= 0.0 && f < u64::MAX as f64 {
                    Some(serde_json::Number::from(f as u64))
                } else {
                    None
                };
                if let Some(i) = integer {
                    *n = i;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}
