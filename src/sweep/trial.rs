//! One trial of a sweep: a configuration and a seed, the `--set` overrides they make, and the
//! folder name people read in a shell and in TensorBoard: `NNN-<key=value,...>`, with each
//! parameter under the shortest tail of its path that no other parameter shares (`rate`,
//! `fine_tune.lr`), values written short, and only characters safe in file names.

use super::space::Config;
use crate::spec::overrides::Override;
use crate::track::tensorboard::HParamValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// 1-based position in the sweep.
    pub index: usize,
    /// Folder name: `NNN-key=value,...`.
    pub name: String,
    /// Value of each parameter path.
    pub config: Config,
    /// The seed replicate, when the sweep has `seeds`.
    pub seed: Option<u64>,
}

impl Trial {
    /// A trial named from its configuration, with `short` names for the parameter paths.
    pub fn new(
        index: usize,
        config: Config,
        seed: Option<u64>,
        short: &BTreeMap<String, String>,
    ) -> Self {
        let mut parts: Vec<String> = config
            .iter()
            .map(|(path, value)| format!("{}={}", short_name(short, path), label(value)))
            .collect();
        if let Some(seed) = seed {
            parts.push(format!("seed={seed}"));
        }
        let name = format!("{index:03}-{}", safe(&parts.join(",")));
        Self {
            index,
            name,
            config,
            seed,
        }
    }

    /// The `--set` overrides that make this trial's spec: a mapping value is merged into the
    /// mapping at its path (one override per key), anything else replaces the value.
    pub fn overrides(&self) -> Vec<Override> {
        let mut out = Vec::new();
        for (path, value) in &self.config {
            match value {
                Value::Object(map) => {
                    for (key, inner) in map {
                        out.push(Override {
                            path: format!("{path}.{key}"),
                            value: inner.to_string(),
                        });
                    }
                }
                other => out.push(Override {
                    path: path.clone(),
                    value: other.to_string(),
                }),
            }
        }
        if let Some(seed) = self.seed {
            out.push(Override {
                path: "seed".into(),
                value: seed.to_string(),
            });
        }
        out
    }

    /// The configuration as TensorBoard HParams, under the short names.
    pub fn hparams(&self, short: &BTreeMap<String, String>) -> Vec<(String, HParamValue)> {
        let mut out: Vec<(String, HParamValue)> = self
            .config
            .iter()
            .map(|(path, value)| {
                let value = match value {
                    Value::Number(n) => HParamValue::Num(n.as_f64().unwrap_or(f64::NAN)),
                    Value::Bool(b) => HParamValue::Bool(*b),
                    other => HParamValue::Str(label(other)),
                };
                (short_name(short, path).to_string(), value)
            })
            .collect();
        if let Some(seed) = self.seed {
            out.push(("seed".into(), HParamValue::from(seed)));
        }
        out
    }

    /// The trial's configuration without its seed: replicates share it, different
    /// configurations never do (TensorBoard's HParams group, `runner check`'s mean +- std).
    /// The readable `key=value,...` of its name, followed by `#` and a hash of the exact values
    /// when a short label stands for more than one value (a mapping, a list, a number written
    /// with 3 digits).
    pub fn group(&self) -> String {
        let readable = match self.name.find("seed=") {
            Some(at) => self.name[4..at].trim_end_matches(',').to_string(),
            None => self.name.get(4..).unwrap_or_default().to_string(),
        };
        if self.config.values().all(label_is_exact) {
            readable
        } else {
            let exact = serde_json::to_string(&self.config).expect("a configuration serializes");
            format!(
                "{readable}#{}",
                &crate::track::run_dir::spec_hash(&exact)[..8]
            )
        }
    }
}

fn short_name<'a>(short: &'a BTreeMap<String, String>, path: &'a str) -> &'a str {
    short.get(path).map_or(path, String::as_str)
}

/// The shortest tail of each dotted path that no other path ends with.
pub fn short_names<'a>(paths: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, String> {
    let paths: Vec<&String> = paths.into_iter().collect();
    paths
        .iter()
        .map(|path| {
            let segments: Vec<&str> = path.split('.').collect();
            let short = (1..=segments.len())
                .map(|n| segments[segments.len() - n..].join("."))
                .find(|tail| {
                    paths
                        .iter()
                        .filter(|other| **other == tail || other.ends_with(&format!(".{tail}")))
                        .count()
                        == 1
                })
                .unwrap_or_else(|| path.to_string());
            ((*path).clone(), short)
        })
        .collect()
}

/// True when [`label`] writes `value` without losing anything: strings, booleans, null, and
/// numbers whose label reads back as the same number.
fn label_is_exact(value: &Value) -> bool {
    match value {
        Value::Number(n) => label(value).parse::<f64>().ok() == n.as_f64(),
        Value::String(_) | Value::Bool(_) | Value::Null => true,
        Value::Object(_) | Value::Array(_) => false,
    }
}

/// A value written short: numbers with at most 3 significant digits in scientific notation
/// when small or large, strings as they are, a mapping by its first text value.
pub fn label(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if x != 0.0 && (x.abs() < 1e-2 || x.abs() >= 1e4) {
                let text = format!("{x:.2e}");
                // 1.00e-4 -> 1e-4, 2.50e-4 -> 2.5e-4
                match text.split_once('e') {
                    Some((mantissa, exponent)) => {
                        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
                        format!("{mantissa}e{exponent}")
                    }
                    None => text,
                }
            } else {
                let text = format!("{x:.3}");
                text.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        }
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Object(map) => map
            .values()
            .find_map(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "mapping".into()),
        Value::Array(items) => items.iter().map(label).collect::<Vec<_>>().join("x"),
    }
}

/// `text` with every character that is unsafe or awkward in file names replaced by `_`.
fn safe(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=,+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    cleaned.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_use_unique_short_keys_and_short_values() {
        let paths = [
            "model.nodes.drop.rate".to_string(),
            "phases.head.optimizer.adam.lr".to_string(),
            "phases.tune.optimizer.rmsprop.lr".to_string(),
        ];
        let short = short_names(&paths);
        assert_eq!(short["model.nodes.drop.rate"], "rate");
        assert_eq!(short["phases.head.optimizer.adam.lr"], "adam.lr");
        let config = Config::from([
            (paths[0].clone(), json!(0.2)),
            (paths[1].clone(), json!(0.0001)),
            (paths[2].clone(), json!(2.5e-5)),
        ]);
        let trial = Trial::new(7, config, Some(3), &short);
        assert_eq!(
            trial.name,
            "007-rate=0.2,adam.lr=1e-4,rmsprop.lr=2.5e-5,seed=3"
        );
        assert_eq!(trial.group(), "rate=0.2,adam.lr=1e-4,rmsprop.lr=2.5e-5");
    }

    #[test]
    fn configurations_with_the_same_labels_are_different_groups() {
        let short = short_names(["data.augment".to_string()].iter());
        let augment = |rotate: f64| {
            let config = Config::from([(
                "data.augment".to_string(),
                json!([{"flip": "horizontal"}, {"rotate": rotate}]),
            )]);
            Trial::new(1, config, Some(1), &short)
        };
        let (a, b) = (augment(0.1), augment(0.2));
        assert_eq!(a.name, b.name, "the labels are the same");
        assert_ne!(a.group(), b.group());
        assert_eq!(
            a.group(),
            Trial {
                seed: Some(2),
                ..augment(0.1)
            }
            .group()
        );
        let lr = |x: f64| Trial::new(1, Config::from([("lr".into(), json!(x))]), None, &short);
        assert_ne!(lr(1.2341e-4).group(), lr(1.2342e-4).group());
        assert_eq!(lr(1e-4).group(), "lr=1e-4");
    }

    #[test]
    fn mappings_merge_key_by_key_and_names_stay_file_safe() {
        let config = Config::from([(
            "model.nodes.base".to_string(),
            json!({"arch": "mobilenet_v2_1.0", "weights": "w/a b.safetensors"}),
        )]);
        let short = short_names(config.keys());
        let trial = Trial::new(1, config, None, &short);
        assert_eq!(trial.name, "001-base=mobilenet_v2_1.0");
        let overrides = trial.overrides();
        assert_eq!(overrides.len(), 2);
        assert_eq!(overrides[0].path, "model.nodes.base.arch");
        assert_eq!(overrides[1].value, "\"w/a b.safetensors\"");
        let odd = Trial::new(
            2,
            Config::from([("x".into(), json!("a/b c"))]),
            None,
            &short,
        );
        assert_eq!(odd.name, "002-x=a_b_c");
    }
}
