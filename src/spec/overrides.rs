//! `--set path=value` overrides applied to a parsed spec before validation, so any value can be
//! changed from the command line (a data folder elsewhere, a learning rate for a quick try).
//! Paths are dotted keys; list items are addressed by index or, for nodes and phases, by name:
//! `data.root=/data/pets`, `model.nodes.drop.rate=0.3`, `phases.fine_tune.epochs=2`.

use super::diagnostic::Diagnostic;
use super::yaml::{self, SourceMap};
use serde_json::Value;

/// One `path=value` override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Dotted path.
    pub path: String,
    /// New value, as YAML (`0.3`, `true`, `[1, 2]`, `text`).
    pub value: String,
}

impl std::str::FromStr for Override {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (path, value) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not `path=value` (e.g. `data.root=/data/pets`)"))?;
        Ok(Override {
            path: path.trim().to_string(),
            value: value.to_string(),
        })
    }
}

/// Applies `overrides` to `document`; overridden values are recorded in `source` so that
/// problems with them are reported as coming from `--set`.
pub fn apply(
    document: &mut Value,
    source: &mut SourceMap,
    overrides: &[Override],
) -> Result<(), Diagnostic> {
    for o in overrides {
        let text = format!("{}={}", o.path, o.value);
        let fail = |message: String| Diagnostic::error(message, None).from_override(&text);
        let value =
            parse_value(&o.value).map_err(|e| fail(format!("the value is not valid YAML: {e}")))?;
        let mut pointer = String::new();
        let mut target = &mut *document;
        let segments: Vec<&str> = o.path.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            target = match target {
                Value::Object(map) => {
                    pointer.push('/');
                    pointer.push_str(&yaml::escape_pointer_segment(segment));
                    if last {
                        map.insert(segment.to_string(), Value::Null);
                    }
                    let keys: Vec<String> = map.keys().cloned().collect();
                    map.get_mut(*segment).ok_or_else(|| {
                        fail(format!("there is no `{segment}` here"))
                            .with_suggestion(segment, keys.iter().map(String::as_str))
                    })?
                }
                Value::Array(items) => {
                    let index = segment
                        .parse::<usize>()
                        .ok()
                        .or_else(|| {
                            items.iter().position(|item| {
                                item.get("name").and_then(Value::as_str) == Some(segment)
                            })
                        })
                        .filter(|i| *i < items.len())
                        .ok_or_else(|| {
                            fail(format!(
                                "no item `{segment}` (use an index or a node/phase name)"
                            ))
                        })?;
                    pointer.push_str(&format!("/{index}"));
                    &mut items[index]
                }
                _ => {
                    return Err(fail(format!(
                        "`{segment}` is inside a value that is not a mapping or list"
                    )));
                }
            };
        }
        *target = value;
        source.set_by_override(&pointer, text);
    }
    Ok(())
}

fn parse_value(text: &str) -> Result<Value, String> {
    let wrapped = format!("v: {text}\n");
    let (value, _) = yaml::parse(&wrapped).map_err(|d| d.message)?;
    Ok(value.get("v").cloned().unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_values_by_key_index_and_name() {
        let (mut doc, mut map) =
            yaml::parse("data: {root: a}\nmodel: {nodes: [{name: drop, rate: 0.2}]}\n").unwrap();
        let overrides: Vec<Override> = ["data.root=/x", "model.nodes.drop.rate=0.5"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        apply(&mut doc, &mut map, &overrides).unwrap();
        assert_eq!(
            doc,
            json!({"data": {"root": "/x"}, "model": {"nodes": [{"name": "drop", "rate": 0.5}]}})
        );
        let bad: Override = "model.nodes.nope.rate=1".parse().unwrap();
        let err = apply(&mut doc, &mut map, &[bad]).unwrap_err();
        assert_eq!(
            err.message,
            "--set model.nodes.nope.rate=1: no item `nope` (use an index or a node/phase name)"
        );
        assert_eq!(err.span, None);
        assert_eq!(
            map.override_of("/model/nodes/0/rate"),
            Some("model.nodes.drop.rate=0.5")
        );
        assert_eq!(map.override_of("/model/nodes/0"), None);
    }
}
