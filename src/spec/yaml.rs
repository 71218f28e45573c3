//! YAML text to a JSON value plus a map from JSON pointers to source spans.
//!
//! Built on saphyr-parser's event stream (the maintained successor of yaml-rust) rather than a
//! serde deserializer, because the rest of the pipeline needs what serde hides: the location of
//! every key and value (to point schema errors at `line:column`), duplicate keys as errors, and
//! hard bounds on size, nesting depth and alias expansion (a "billion laughs" document must fail
//! fast instead of eating memory).

use super::diagnostic::{Diagnostic, Pos, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// Largest spec file accepted, in bytes.
pub const MAX_BYTES: usize = 4 << 20;
/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 64;
/// Most values (scalars, mappings, sequences, counting alias expansions) in one document.
pub const MAX_VALUES: usize = 200_000;

/// Where a value (and, for mapping entries, its key) sits in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The value.
    pub value: Span,
    /// The key naming the value, when it is a mapping entry.
    pub key: Option<Span>,
}

/// Source locations of every value of a parsed document, by JSON pointer (`/model/nodes/3/rate`).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    locations: HashMap<String, Location>,
    /// Values replaced by `--set`: their pointer and the override as written (`path=value`).
    overrides: Vec<(String, String)>,
    /// Unquoted scalars read as numbers, as written (`0e5f...` is the number 0).
    number_texts: HashMap<String, String>,
}

impl SourceMap {
    /// The location of the value at `pointer`, or of its closest located ancestor.
    pub fn locate(&self, pointer: &str) -> Option<Location> {
        let mut pointer = pointer;
        loop {
            if let Some(location) = self.locations.get(pointer) {
                return Some(*location);
            }
            pointer = &pointer[..pointer.rfind('/')?];
        }
    }

    /// Drops the locations of `pointer` and everything under it (the value was replaced).
    pub fn forget(&mut self, pointer: &str) {
        let prefix = format!("{pointer}/");
        self.locations
            .retain(|p, _| p != pointer && !p.starts_with(&prefix));
    }

    /// Records that the value at `pointer` was replaced by the `--set` override `text`
    /// (`path=value`); its old locations are dropped.
    pub fn set_by_override(&mut self, pointer: &str, text: String) {
        self.forget(pointer);
        self.overrides.push((pointer.to_string(), text));
    }

    /// The `--set` override (`path=value`) that gave the value at `pointer`, if any: the last
    /// one that replaced it or a value around it.
    pub fn override_of(&self, pointer: &str) -> Option<&str> {
        self.overrides
            .iter()
            .rev()
            .find(|(p, _)| {
                pointer == p
                    || (pointer.starts_with(p.as_str()) && pointer[p.len()..].starts_with('/'))
            })
            .map(|(_, text)| text.as_str())
    }

    /// How the number at `pointer` was written, when it was an unquoted scalar.
    pub fn number_text(&self, pointer: &str) -> Option<&str> {
        self.number_texts.get(pointer).map(String::as_str)
    }

    /// The span of the value at `pointer` (or its closest located ancestor).
    pub fn value_span(&self, pointer: &str) -> Option<Span> {
        self.locate(pointer).map(|l| l.value)
    }

    /// The span of the key naming the value at `pointer`, else of the value.
    pub fn key_span(&self, pointer: &str) -> Option<Span> {
        self.locate(pointer).map(|l| l.key.unwrap_or(l.value))
    }
}

/// Escapes one JSON-pointer segment (`~` and `/`).
pub fn escape_pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The key a JSON-pointer segment stands for (the inverse of [`escape_pointer_segment`]).
pub fn unescape_pointer_segment(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// The text without a UTF-8 byte-order mark at its start (some editors write one; YAML
/// allows it, but the parser would make it part of the first key).
pub fn strip_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Parses one YAML document into a JSON value and its source map.
pub fn parse(text: &str) -> Result<(Value, SourceMap), Diagnostic> {
    if text.len() > MAX_BYTES {
        return Err(Diagnostic::error(
            format!(
                "the file is {} bytes; specs are limited to {MAX_BYTES} bytes",
                text.len()
            ),
            None,
        )
        .with_help("a spec describes an experiment; data and weights belong in their own files"));
    }
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(Diagnostic::error("the file is empty", None)
            .with_help("a spec needs at least `name`, `data`, `model`, `loss` and `phases`; see experiments/quickstart.yaml"));
    }
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        map: SourceMap::default(),
        anchors: HashMap::new(),
        values: 0,
    };
    let value = builder.document()?;
    Ok((value, builder.map))
}

struct Anchored {
    value: Value,
    /// Locations of the anchored subtree, relative to its root pointer.
    locations: Vec<(String, Location)>,
    size: usize,
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    map: SourceMap,
    anchors: HashMap<usize, Anchored>,
    values: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), Diagnostic> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => Ok((event, convert_span(span))),
            Some(Err(error)) => {
                let m = error.marker();
                let pos = Pos {
                    line: m.line(),
                    col: m.col() + 1,
                };
                Err(Diagnostic::error(
                    format!("this is not valid YAML: {}", error.info()),
                    Some(Span {
                        start: pos,
                        end: pos,
                    }),
                )
                .with_label("the YAML parser stopped here"))
            }
            None => Err(Diagnostic::error("unexpected end of the YAML text", None)),
        }
    }

    fn document(&mut self) -> Result<Value, Diagnostic> {
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentStart(_) => continue,
                Event::StreamEnd => {
                    return Err(Diagnostic::error("the file holds no YAML document", None));
                }
                _ => {
                    let value = self.value(event, span, "", None, 0)?;
                    return self.end_of_document(value);
                }
            }
        }
    }

    fn end_of_document(&mut self, value: Value) -> Result<Value, Diagnostic> {
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::DocumentEnd => continue,
                Event::StreamEnd => return Ok(value),
                _ => {
                    return Err(Diagnostic::error(
                        "the file holds more than one YAML document",
                        Some(span),
                    )
                    .with_label("a second document starts here")
                    .with_help("put one experiment in each file"));
                }
            }
        }
    }

    fn count(&mut self, n: usize, span: Span) -> Result<(), Diagnostic> {
        self.values += n;
        if self.values > MAX_VALUES {
            return Err(Diagnostic::error(
                format!("the document has more than {MAX_VALUES} values (aliases count each time they are used)"),
                Some(span),
            )
            .with_label("limit reached here")
            .with_help("specs are small; check for aliases that expand recursively"));
        }
        Ok(())
    }

    /// Reads the value that starts at the next event into JSON, recording its location at `pointer`.
    /// Long by design: one arm per YAML event kind, each recording its value and location.
    fn value(
        &mut self,
        event: Event<'a>,
        span: Span,
        pointer: &str,
        key: Option<Span>,
        depth: usize,
    ) -> Result<Value, Diagnostic> {
        if depth > MAX_DEPTH {
            return Err(Diagnostic::error(
                format!("the document is nested more than {MAX_DEPTH} levels deep"),
                Some(span),
            )
            .with_label("too deep"));
        }
        self.count(1, span)?;
        let first_location = self.map.locations.len();
        let (value, anchor, end) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(tag) = tag.filter(|t| !(t.handle == "!!" && t.suffix == "str")) {
                    return Err(Diagnostic::error(
                        format!(
                            "YAML tags are not supported here (`{}{}`)",
                            tag.handle, tag.suffix
                        ),
                        Some(span),
                    )
                    .with_help("remove the tag; quote the value if it must stay a string"));
                }
                let value = if style == ScalarStyle::Plain {
                    let value = resolve_plain(&text);
                    if value.is_number() {
                        self.map
                            .number_texts
                            .insert(pointer.to_string(), text.to_string());
                    }
                    value
                } else {
                    Value::String(text.into_owned())
                };
                (value, anchor, span.end)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                let end = loop {
                    let (event, item_span) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break item_span.end;
                    }
                    let item_pointer = format!("{pointer}/{}", items.len());
                    items.push(self.value(event, item_span, &item_pointer, None, depth + 1)?);
                };
                (Value::Array(items), anchor, end)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries = Map::new();
                let mut key_spans: HashMap<String, Span> = HashMap::new();
                let end = loop {
                    let (event, key_span) = self.next()?;
                    let name = match event {
                        Event::MappingEnd => break key_span.end,
                        Event::Scalar(text, ..) => text.into_owned(),
                        _ => {
                            return Err(Diagnostic::error(
                                "mapping keys must be plain names",
                                Some(key_span),
                            )
                            .with_label("a key that is a list or mapping"));
                        }
                    };
                    if name == "<<" {
                        return Err(Diagnostic::error(
                            "YAML merge keys (`<<`) are not supported",
                            Some(key_span),
                        )
                        .with_label("merge key")
                        .with_help(
                            "write the settings out in full; an alias (`*name`) can still stand \
                             for a whole value",
                        ));
                    }
                    if let Some(first) = key_spans.get(&name) {
                        return Err(Diagnostic::error(
                            format!("duplicate key `{name}`"),
                            Some(key_span),
                        )
                        .with_label(format!(
                            "`{name}` was already set on line {}",
                            first.start.line
                        ))
                        .with_help("remove one of the two entries"));
                    }
                    key_spans.insert(name.clone(), key_span);
                    let entry_pointer = format!("{pointer}/{}", escape_pointer_segment(&name));
                    let (event, value_span) = self.next()?;
                    let value =
                        self.value(event, value_span, &entry_pointer, Some(key_span), depth + 1)?;
                    entries.insert(name, value);
                };
                (Value::Object(entries), anchor, end)
            }
            Event::Alias(id) => {
                let anchored = self.anchors.get(&id).ok_or_else(|| {
                    Diagnostic::error("this alias names no anchor defined before it", Some(span))
                })?;
                let (value, size) = (anchored.value.clone(), anchored.size);
                let copied: Vec<(String, Location)> = anchored
                    .locations
                    .iter()
                    .map(|(rel, loc)| (format!("{pointer}{rel}"), *loc))
                    .collect();
                self.count(size, span)?;
                for (p, loc) in copied {
                    self.map.locations.entry(p).or_insert(loc);
                }
                self.map
                    .locations
                    .insert(pointer.to_string(), Location { value: span, key });
                return Ok(value);
            }
            _ => {
                return Err(Diagnostic::error("unexpected YAML structure", Some(span)));
            }
        };
        let value_span = Span {
            start: span.start,
            end: end.max(span.start),
        };
        self.map.locations.insert(
            pointer.to_string(),
            Location {
                value: value_span,
                key,
            },
        );
        if anchor > 0 {
            let size = self.map.locations.len() - first_location;
            let locations = self
                .map
                .locations
                .iter()
                .filter(|(p, _)| {
                    p.starts_with(pointer)
                        && (p.len() == pointer.len() || p.as_bytes()[pointer.len()] == b'/')
                })
                .map(|(p, l)| (p[pointer.len()..].to_string(), *l))
                .collect();
            self.anchors.insert(
                anchor,
                Anchored {
                    value: value.clone(),
                    locations,
                    size: size.max(1),
                },
            );
        }
        Ok(value)
    }
}

fn convert_span(span: YamlSpan) -> Span {
    let pos = |m: saphyr_parser::Marker| Pos {
        line: m.line(),
        col: m.col() + 1,
    };
    Span {
        start: pos(span.start),
        end: pos(span.end),
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema: null, booleans, integers, floats, else a string.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_integer(text) {
        return Value::Number(n);
    }
    if is_core_float(text)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

fn parse_integer(text: &str) -> Option<Number> {
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(oct) = text.strip_prefix("0o") {
        (oct, 8)
    } else {
        (text, 10)
    };
    let unsigned = digits.strip_prefix(['-', '+']).unwrap_or(digits);
    if unsigned.is_empty()
        || !unsigned.chars().all(|c| c.is_digit(radix))
        || (radix != 10 && unsigned.len() != digits.len())
    {
        return None;
    }
    if let Ok(v) = i64::from_str_radix(digits.trim_start_matches('+'), radix) {
        return Some(Number::from(v));
    }
    u64::from_str_radix(digits.trim_start_matches('+'), radix)
        .ok()
        .map(Number::from)
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match frac {
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
        None => !int.is_empty() && digits(int),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_core_schema_scalars() {
        let (v, _) =
            parse("a: 1\nb: 1.0e-4\nc: true\nd: ~\ne: '1'\nf: 1e-5\ng: abc\nh: .5\n").unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": 1.0e-4, "c": true, "d": null, "e": "1", "f": 1e-5, "g": "abc", "h": 0.5})
        );
    }

    #[test]
    fn locates_keys_and_values() {
        let (_, map) = parse("model:\n  nodes:\n    - {name: a, rate: 0.5}\n").unwrap();
        let loc = map.locate("/model/nodes/0/rate").unwrap();
        assert_eq!(loc.key.unwrap().start, Pos { line: 3, col: 17 });
        assert_eq!(loc.value.start, Pos { line: 3, col: 23 });
    }

    #[test]
    fn rejects_duplicate_keys() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.message, "duplicate key `a`");
        assert_eq!(err.span.unwrap().start, Pos { line: 3, col: 1 });
    }

    #[test]
    fn bounds_alias_expansion() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("more than"), "{}", err.message);
    }

    #[test]
    fn rejects_merge_keys() {
        let err = parse("a: &a {x: 1}\nb:\n  <<: *a\n  y: 2\n").unwrap_err();
        assert_eq!(err.message, "YAML merge keys (`<<`) are not supported");
        assert_eq!(err.span.unwrap().start, Pos { line: 3, col: 3 });
    }

    #[test]
    fn strips_a_byte_order_mark() {
        assert_eq!(strip_bom("\u{feff}a: 1\n".into()), "a: 1\n");
        assert_eq!(strip_bom("a: 1\n".into()), "a: 1\n");
    }

    #[test]
    fn bounds_depth() {
        let text = format!("a: {}1{}\n", "[".repeat(200), "]".repeat(200));
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("nested more than"), "{}", err.message);
    }
}
