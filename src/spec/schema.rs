//! The JSON Schema of a spec, generated from the Rust types (schemars) so that schema and code
//! cannot drift, and validation of a parsed document against it (jsonschema) with every error
//! mapped back to `line:column` and phrased for a person.
//!
//! JSON Schema reports tagged unions (`op: conv2d`, `optimizer: {adam: ...}`) as "valid under
//! none of the oneOf schemas". [`Schema::validate`] picks the branch the user meant (by the tag, the single
//! key, or the JSON type) and reports that branch's errors instead, so a typo in a dropout node
//! gives "unknown key `rato`", not a list of 18 mismatched node kinds.

use super::diagnostic::{Diagnostic, did_you_mean};
use super::yaml::SourceMap;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;
use std::sync::OnceLock;

/// A generated JSON Schema, its compiled validator, and what its string patterns mean to a
/// person.
pub struct Schema {
    /// The schema; error paths point into it.
    value: Value,
    validator: Validator,
    patterns: Vec<PatternHelp>,
}

/// What a value must look like when a `pattern` of the schema rejects it, instead of the
/// regular expression: e.g. "a threshold: `OP NUMBER` ..." for `^\s*(>=|<=|>|<)...`.
pub struct PatternHelp {
    /// The schema's regular expression, exactly.
    pub pattern: &'static str,
    /// What the value is, e.g. "a threshold".
    pub what: &'static str,
    /// The form it takes, with an example.
    pub form: &'static str,
    /// What is wrong with a rejected value in particular, when that can be said ("did you
    /// mean `>= 0.9`?", "it has 63 characters").
    pub hint: fn(&str) -> Option<String>,
}

impl PatternHelp {
    /// Nothing particular to say.
    pub fn no_hint(_: &str) -> Option<String> {
        None
    }
}

impl Schema {
    /// Compiles `value` (a schema runner generated, so it always compiles); `patterns` say
    /// what its string patterns mean.
    pub fn new(value: Value, patterns: Vec<PatternHelp>) -> Self {
        let validator = jsonschema::validator_for(&value).expect("a generated schema compiles");
        Schema {
            value,
            validator,
            patterns,
        }
    }

    /// The schema as JSON.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The schema as pretty JSON with a trailing newline, exactly as committed.
    pub fn text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.value).expect("schema serializes");
        text.push('\n');
        text
    }

    /// Validates a parsed document; returns one diagnostic per problem, in source order.
    pub fn validate(&'static self, document: &Value, source: &SourceMap) -> Vec<Diagnostic> {
        let mut found = Vec::new();
        ROOT_SCHEMA.set(Some(self));
        for error in self.validator.iter_errors(document) {
            explain(&error, document, source, &mut found);
        }
        ROOT_SCHEMA.set(None);
        drop_missing_explained_by_typos(&mut found);
        found.sort_by_key(|d| d.span.map(|s| (s.start.line, s.start.col)));
        found.dedup_by(|a, b| a.message == b.message && a.span == b.span);
        found
    }
}

/// The JSON Schema (draft 2020-12) of `T`, with integer fields bounded by their Rust types.
pub fn generate<T: schemars::JsonSchema>() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .with_transform(schemars::transform::RecursiveTransform(bound_integer))
        .into_generator()
        .into_root_schema_for::<T>();
    serde_json::to_value(schema).expect("a generated schema is valid JSON")
}

/// The spec's JSON Schema, as written to `schemas/experiment.schema.json`.
pub fn experiment_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::new(generate::<super::Spec>(), spec_pattern_helps()))
}

/// The schema of a base graph file (the `model:` layout): the experiment schema's `$defs`,
/// so error locations point into the same definitions.
pub fn model_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema = experiment_schema().value().clone();
        if let Some(root) = schema.as_object_mut() {
            root.retain(|k, _| k == "$schema" || k == "$defs");
            root.insert("$ref".into(), Value::String("#/$defs/ModelSpec".into()));
        }
        Schema::new(schema, spec_pattern_helps())
    })
}

/// What the spec's string patterns mean.
fn spec_pattern_helps() -> Vec<PatternHelp> {
    let mut helps = vec![super::checks::threshold_help()];
    helps.extend(super::source::pattern_helps());
    helps
}

/// Gives every integer field without declared bounds the bounds of its Rust type (from the
/// `format` schemars writes), so that a number too large for the field (`epochs: 1e30`) is a
/// located schema error rather than a failure to read a validated spec.
fn bound_integer(schema: &mut schemars::Schema) {
    let (min, max): (Value, Value) = match schema.get("format").and_then(Value::as_str) {
        Some("uint32") => (0.into(), u32::MAX.into()),
        Some("uint64" | "uint") => (0.into(), u64::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        Some("int64" | "int") => (i64::MIN.into(), i64::MAX.into()),
        _ => return,
    };
    for (key, bound) in [("minimum", min), ("maximum", max)] {
        if schema.get(key).is_none() {
            schema.insert(key.into(), bound);
        }
    }
}

thread_local! {
    /// The root schema of the validation in progress on this thread, for did-you-mean lists.
    static ROOT_SCHEMA: std::cell::Cell<Option<&'static Schema>> = const { std::cell::Cell::new(None) };
}

/// A misspelt required key shows up twice: as an unknown key and as a missing one. Keep only
/// the unknown key, whose did-you-mean already names the missing one.
fn drop_missing_explained_by_typos(found: &mut Vec<Diagnostic>) {
    let suggested: Vec<String> = found
        .iter()
        .filter(|d| d.message.starts_with("unknown key"))
        .filter_map(|d| {
            d.help
                .as_deref()?
                .strip_prefix("did you mean ")
                .map(str::to_string)
        })
        .collect();
    found.retain(|d| {
        !(d.message.starts_with("missing key")
            && suggested.iter().any(|s| {
                d.message
                    .starts_with(&format!("missing key {}", s.trim_end_matches('?')))
            }))
    });
}

/// The JSON value at `pointer` in `document`.
fn value_at<'v>(document: &'v Value, pointer: &str) -> Option<&'v Value> {
    document.pointer(pointer)
}

/// The last segment of a JSON pointer, unescaped: the key or index a value sits under
/// (`validation/accuracy` for `/checks/validation~1accuracy`).
fn last_segment(pointer: &str) -> String {
    super::yaml::unescape_pointer_segment(pointer.rsplit('/').next().unwrap_or(""))
}

/// Turns one validation error into located diagnostics in `out`, phrased for a person.
/// Long by design: one arm per kind of JSON Schema error, each phrasing it for a person; a
/// table read arm by arm.
fn explain(
    error: &ValidationError<'_>,
    document: &Value,
    source: &SourceMap,
    out: &mut Vec<Diagnostic>,
) {
    let path = error.instance_path().as_str().to_string();
    let field = last_segment(&path);
    let found = value_at(document, &path).map(describe).unwrap_or_default();
    let at_value = source.value_span(&path);
    let diagnostic = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let object = object_schema(error.schema_path().as_str());
            let allowed = allowed_properties(object);
            // A lone unknown key next to a lone missing required key is most likely that key
            // misspelt, however far apart the spellings (`learning_rate` for `lr`).
            let missing: Vec<&str> = object
                .and_then(|o| o.get("required"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|k| value_at(document, &path).is_some_and(|v| v.get(k).is_none()))
                .collect();
            let only_missing = match (unexpected.len(), missing.as_slice()) {
                (1, [one]) => Some(*one),
                _ => None,
            };
            for key in unexpected {
                let key_path = format!("{path}/{}", super::yaml::escape_pointer_segment(key));
                let mut d = Diagnostic::error(format!("unknown key `{key}`"), None)
                    .with_label("not a setting here")
                    .at(source, &key_path, true);
                let guess = did_you_mean(key, allowed.iter().map(String::as_str)).or(only_missing);
                d = match guess {
                    Some(best) => d.with_help(format!("did you mean `{best}`?")),
                    None if !allowed.is_empty() => {
                        d.with_help(format!("expected one of: {}", quote_list(&allowed)))
                    }
                    None => d,
                };
                out.push(d);
            }
            return;
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            explain_union(&path, context, document, source, out);
            return;
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let named = value_at(document, &path)
                .and_then(|v| v.get("name"))
                .and_then(Value::as_str);
            let place = match named {
                Some(node) => format!("`{node}`"),
                None if path.is_empty() => "the spec".to_string(),
                None => format!("`{field}`"),
            };
            Diagnostic::error(
                format!("missing key `{name}` in {place}"),
                source.key_span(&path),
            )
            .with_label(format!("`{name}` is required here"))
        }
        ValidationErrorKind::Type { kind }
            if expects_string(kind) && source.number_text(&path).is_some() =>
        {
            let written = source.number_text(&path).unwrap_or_default();
            Diagnostic::error(
                format!(
                    "wrong type for `{field}`: expected text, found `{written}`, which YAML reads \
                     as the number {found}"
                ),
                at_value,
            )
            .with_label("read as a number")
            .with_help(format!("quote it: \"{written}\""))
        }
        ValidationErrorKind::Type { kind } => Diagnostic::error(
            format!(
                "wrong type for `{field}`: expected {}, found {found}",
                type_names(kind)
            ),
            at_value,
        )
        .with_label(format!("expected {}", type_names(kind))),
        ValidationErrorKind::Minimum { limit } => {
            range_error(&field, &found, format!(">= {}", number(limit)), at_value)
        }
        ValidationErrorKind::Maximum { limit } => {
            range_error(&field, &found, format!("<= {}", number(limit)), at_value)
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            range_error(&field, &found, format!("> {}", number(limit)), at_value)
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            range_error(&field, &found, format!("< {}", number(limit)), at_value)
        }
        ValidationErrorKind::MinItems { limit } => Diagnostic::error(
            format!("`{field}` needs at least {limit} item(s), found {found}"),
            at_value,
        )
        .with_label(format!("at least {limit} item(s)")),
        ValidationErrorKind::MaxItems { limit } => Diagnostic::error(
            format!("`{field}` takes at most {limit} item(s), found {found}"),
            at_value,
        )
        .with_label(format!("at most {limit} item(s)")),
        ValidationErrorKind::UniqueItems => {
            let items = value_at(document, &path)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let twice = items
                .iter()
                .enumerate()
                .find(|(i, item)| items[..*i].contains(item))
                .map_or(String::new(), |(_, item)| format!(" ({})", describe(item)));
            Diagnostic::error(
                format!("`{field}` lists the same value twice{twice}"),
                at_value,
            )
            .with_label("each value once")
            .with_help("remove the repeated value: a repeat would run the same thing again")
        }
        ValidationErrorKind::Enum { options } => choice_error(
            &field,
            value_at(document, &path),
            options_list(options),
            at_value,
        ),
        ValidationErrorKind::Constant { expected_value } => choice_error(
            &field,
            value_at(document, &path),
            options_list(expected_value),
            at_value,
        ),
        ValidationErrorKind::Pattern { pattern } if pattern.starts_with("^(train|validation)/") => {
            Diagnostic::error(
                format!("`{field}` must look like `split/metric`, e.g. `validation/accuracy`, found {found}"),
                at_value,
            )
            .with_label("not a metric of a split")
            .with_help("the split is `train` or `validation`; the metric is `loss`, `accuracy`, `precision`, `recall`, `f1` or `auc`")
        }
        ValidationErrorKind::Pattern { pattern } if pattern == super::device::DEVICE_PATTERN => {
            let found_text = value_at(document, &path).and_then(Value::as_str).unwrap_or("");
            let why = found_text
                .parse::<super::device::DeviceChoice>()
                .err()
                .map_or(String::new(), |e| e.to_string());
            Diagnostic::error(format!("`{field}`: {why}"), at_value)
                .with_label("not a device")
                .with_help("`runner devices` lists the devices this runner has and what each finds here")
        }
        ValidationErrorKind::Pattern { pattern } if pattern_help(pattern).is_some() => {
            let help = pattern_help(pattern).expect("checked");
            let found_text = value_at(document, &path).and_then(Value::as_str).unwrap_or("");
            let d = Diagnostic::error(
                format!("`{field}` must be {}, found {found}", help.what),
                at_value,
            )
            .with_label(format!("not {}", help.what));
            match (help.hint)(found_text) {
                Some(hint) => d.with_help(format!("{hint} ({})", help.form)),
                None => d.with_help(help.form),
            }
        }
        ValidationErrorKind::Pattern { pattern } => Diagnostic::error(
            format!("`{field}` is {found}, which does not match the pattern `{pattern}`"),
            at_value,
        )
        .with_label("use letters, digits, `_`, `.` and `-`"),
        _ => Diagnostic::error(format!("`{field}`: {}", error.masked()), at_value),
    };
    out.push(diagnostic.from_override_of(source, &path));
}

/// How the schema being validated explains `pattern`.
fn pattern_help(pattern: &str) -> Option<&'static PatternHelp> {
    ROOT_SCHEMA
        .get()?
        .patterns
        .iter()
        .find(|help| help.pattern == pattern)
}

fn range_error(
    field: &str,
    found: &str,
    bound: String,
    span: Option<super::diagnostic::Span>,
) -> Diagnostic {
    Diagnostic::error(format!("`{field}` must be {bound}, found {found}"), span)
        .with_label(format!("expected a value {bound}"))
}

fn choice_error(
    field: &str,
    value: Option<&Value>,
    options: Vec<String>,
    span: Option<super::diagnostic::Span>,
) -> Diagnostic {
    let wrong = value.and_then(Value::as_str).unwrap_or_default();
    let found = value.map(describe).unwrap_or_default();
    let d = Diagnostic::error(format!("unknown `{field}` {found}"), span)
        .with_label(format!("expected one of: {}", quote_list(&options)));
    d.with_suggestion(wrong, options.iter().map(String::as_str))
}

/// Picks the branch of a `oneOf`/`anyOf` the user meant and explains its errors.
///
/// Long by design: the rules that pick the meant branch (tag, single key, JSON type) are tried
/// in order, each falling through to the next.
fn explain_union(
    path: &str,
    branches: &[Vec<ValidationError<'static>>],
    document: &Value,
    source: &SourceMap,
    out: &mut Vec<Diagnostic>,
) {
    let value = value_at(document, path);
    // 1. A tag property (`op: conv2d`): branches whose tag constant failed are not meant.
    let tag_error = |branch: &Vec<ValidationError<'static>>| {
        branch.iter().find_map(|e| {
            let p = e.instance_path().as_str();
            let is_child =
                p.len() > path.len() && p.starts_with(path) && !p[path.len() + 1..].contains('/');
            match e.kind() {
                ValidationErrorKind::Constant { expected_value } if is_child => Some((
                    p.to_string(),
                    expected_value.as_str().unwrap_or_default().to_string(),
                )),
                _ => None,
            }
        })
    };
    let tags: Vec<Option<(String, String)>> = branches.iter().map(tag_error).collect();
    if tags.iter().filter(|t| t.is_some()).count() >= 2 {
        let untagged: Vec<usize> = (0..branches.len()).filter(|i| tags[*i].is_none()).collect();
        if untagged.is_empty() {
            let (tag_path, _) = tags[0].clone().unwrap_or_default();
            let names: Vec<String> = tags.iter().flatten().map(|(_, n)| n.clone()).collect();
            let tag_key = last_segment(&tag_path);
            let wrong = value_at(document, &tag_path);
            let d = Diagnostic::error(
                format!(
                    "unknown {tag_key} {}",
                    wrong.map(describe).unwrap_or_default()
                ),
                source.value_span(&tag_path),
            )
            .with_label(format!("not a known {tag_key}"));
            let help_base = d.clone();
            let d = d.with_suggestion(
                wrong.and_then(Value::as_str).unwrap_or_default(),
                names.iter().map(String::as_str),
            );
            let d = if d == help_base {
                d.with_help(format!("known: {}", quote_list(&names)))
            } else {
                d
            };
            out.push(d.from_override_of(source, &tag_path));
            return;
        }
        return explain_best(path, branches, &untagged, document, source, out);
    }
    // 2. The JSON type: drop branches that reject the value's type outright.
    let rejects_type = |branch: &Vec<ValidationError<'static>>| {
        branch.iter().any(|e| {
            e.instance_path().as_str() == path
                && matches!(
                    e.kind(),
                    ValidationErrorKind::Type { .. }
                        | ValidationErrorKind::Enum { .. }
                        | ValidationErrorKind::Constant { .. }
                )
        })
    };
    let mut candidates: Vec<usize> = (0..branches.len())
        .filter(|i| !rejects_type(&branches[*i]))
        .collect();
    // 3. A single-key mapping (`{adam: {lr: ...}}`): branches requiring another key are not meant.
    if let Some(Value::Object(map)) = value {
        let requires_other = |branch: &Vec<ValidationError<'static>>| {
            branch.iter().any(|e| {
                e.instance_path().as_str() == path
                    && matches!(e.kind(), ValidationErrorKind::Required { property } if property.as_str().is_some_and(|p| !map.contains_key(p)))
            })
        };
        let keyed: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| !requires_other(&branches[*i]))
            .collect();
        let variant_names: Vec<String> = candidates
            .iter()
            .flat_map(|i| required_names(&branches[*i], path))
            .collect();
        if keyed.is_empty() && map.len() == 1 && !variant_names.is_empty() {
            let key = map.keys().next().cloned().unwrap_or_default();
            let key_path = format!("{path}/{}", super::yaml::escape_pointer_segment(&key));
            let field = last_segment(path);
            let d = Diagnostic::error(
                format!("unknown `{field}` kind `{key}`"),
                source.key_span(&key_path),
            )
            .with_label(format!("expected one of: {}", quote_list(&variant_names)));
            out.push(
                d.with_suggestion(&key, variant_names.iter().map(String::as_str))
                    .from_override_of(source, &key_path),
            );
            return;
        }
        if !keyed.is_empty() {
            candidates = keyed;
        }
    }
    if candidates.is_empty() {
        let field = last_segment(path);
        let expected: Vec<String> = branches
            .iter()
            .flat_map(|b| b.iter())
            .filter(|e| e.instance_path().as_str() == path)
            .filter_map(|e| match e.kind() {
                ValidationErrorKind::Type { kind } => Some(type_names(kind)),
                ValidationErrorKind::Enum { options } => Some(quote_list(&options_list(options))),
                ValidationErrorKind::Constant { expected_value } => {
                    Some(quote_list(&options_list(expected_value)))
                }
                _ => None,
            })
            .collect();
        let found = value.map(describe).unwrap_or_default();
        let wrong = value.and_then(Value::as_str).unwrap_or_default();
        let choices: Vec<String> = branches
            .iter()
            .flat_map(|b| b.iter())
            .filter(|e| e.instance_path().as_str() == path)
            .flat_map(|e| match e.kind() {
                ValidationErrorKind::Enum { options } => options_list(options),
                ValidationErrorKind::Constant { expected_value } => options_list(expected_value),
                _ => vec![],
            })
            .collect();
        let d = Diagnostic::error(
            format!("wrong value for `{field}`: found {found}"),
            source.value_span(path),
        )
        .with_label(format!("expected {}", expected.join(" or ")));
        out.push(
            d.with_suggestion(wrong, choices.iter().map(String::as_str))
                .from_override_of(source, path),
        );
        return;
    }
    explain_best(path, branches, &candidates, document, source, out);
}

/// Explains the errors of the candidate branch with the fewest errors.
fn explain_best(
    _path: &str,
    branches: &[Vec<ValidationError<'static>>],
    candidates: &[usize],
    document: &Value,
    source: &SourceMap,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(best) = candidates.iter().min_by_key(|i| branches[**i].len()) {
        for error in &branches[*best] {
            explain(error, document, source, out);
        }
    }
}

fn required_names(branch: &[ValidationError<'static>], path: &str) -> Vec<String> {
    branch
        .iter()
        .filter(|e| e.instance_path().as_str() == path)
        .filter_map(|e| match e.kind() {
            ValidationErrorKind::Required { property } => property.as_str().map(str::to_string),
            _ => None,
        })
        .collect()
}

/// The schema of the object whose `additionalProperties` keyword is at `keyword_path` (a
/// pointer into the root schema).
fn object_schema(keyword_path: &str) -> Option<&'static Value> {
    let object_path = &keyword_path[..keyword_path.rfind('/').unwrap_or(0)];
    ROOT_SCHEMA
        .get()
        .unwrap_or(experiment_schema())
        .value()
        .pointer(object_path)
}

/// The property names an object schema allows.
fn allowed_properties(object: Option<&Value>) -> Vec<String> {
    object
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn options_list(options: &Value) -> Vec<String> {
    match options {
        Value::Array(items) => items.iter().map(plain).collect(),
        other => vec![plain(other)],
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "a string `abc`", "the number 1.5", "a list of 3 items"...
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_string(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) => format!("`{s}`"),
        Value::Array(a) => format!("a list of {} item(s)", a.len()),
        Value::Object(_) => "a mapping".to_string(),
    }
}

/// A schema limit as a person writes it: `1`, not `1.0`.
fn number(limit: &Value) -> String {
    match limit.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => limit.to_string(),
    }
}

/// True when a type error's expected types include a string.
fn expects_string(kind: &TypeKind) -> bool {
    match kind {
        TypeKind::Single(t) => *t == jsonschema::JsonType::String,
        TypeKind::Multiple(types) => types.contains(jsonschema::JsonType::String),
    }
}

fn type_names(kind: &TypeKind) -> String {
    let name = |t: jsonschema::JsonType| match t {
        jsonschema::JsonType::Array => "a list",
        jsonschema::JsonType::Boolean => "true or false",
        jsonschema::JsonType::Integer => "a whole number",
        jsonschema::JsonType::Null => "nothing (null)",
        jsonschema::JsonType::Number => "a number",
        jsonschema::JsonType::Object => "a mapping",
        jsonschema::JsonType::String => "a string",
    };
    match kind {
        TypeKind::Single(t) => name(*t).to_string(),
        TypeKind::Multiple(set) => set.iter().map(name).collect::<Vec<_>>().join(" or "),
    }
}
