//! Errors and warnings about a spec file, located at `file:line:column` and rendered
//! rustc-style with the offending line and a marker (annotate-snippets, the renderer rustc uses).

use super::yaml::SourceMap;
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a source text; line and column count from 1, column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub col: usize,
}

/// A range of source text, `start` inclusive and `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First character.
    pub start: Pos,
    /// One past the last character.
    pub end: Pos,
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The spec cannot be used.
    Error,
    /// The spec works, but probably not as meant.
    Warning,
}

/// One located message about a spec file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// Where it is; `None` for problems of the file as a whole (empty, unreadable).
    pub span: Option<Span>,
    /// Short text under the marker: what was expected there.
    pub label: String,
    /// How to fix it, when there is a likely fix.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
        }
    }

    /// Places the diagnostic at the value (or with `key`, the key) at `pointer` of `map`; a
    /// value given by a `--set` override is reported as coming from that override.
    pub fn at(mut self, map: &SourceMap, pointer: &str, key: bool) -> Self {
        self.span = if key {
            map.key_span(pointer)
        } else {
            map.value_span(pointer)
        };
        self.from_override_of(map, pointer)
    }

    /// When the value at `pointer` of `map` was given by a `--set` override, reports the
    /// diagnostic as coming from that override instead of a place in the file.
    pub fn from_override_of(self, map: &SourceMap, pointer: &str) -> Self {
        match map.override_of(pointer) {
            Some(o) => self.from_override(o),
            None => self,
        }
    }

    /// Reports the diagnostic as coming from the `--set` override `text` (`path=value`):
    /// `--set path=value: message`, with no place in the file.
    pub fn from_override(mut self, text: &str) -> Self {
        self.message = format!("--set {text}: {}", self.message);
        self.span = None;
        self
    }

    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(message, span)
        }
    }

    /// Sets the text under the marker.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the suggested fix.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a "did you mean" help when one of `candidates` is close to `wrong`.
    pub fn with_suggestion<'a>(
        self,
        wrong: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        match did_you_mean(wrong, candidates) {
            Some(best) => self.with_help(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    /// Renders the diagnostic against the text of `file`, as `file:line:col` plus a snippet.
    pub fn render(&self, file: &Path, text: &str, color: bool) -> String {
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let path = file.display().to_string();
        let location = match self.span {
            Some(span) => format!("{path}:{}:{}", span.start.line, span.start.col),
            None => path.clone(),
        };
        let title = format!("{location}: {}", self.message);
        let mut group = Group::with_title(level.primary_title(title.as_str()));
        if let Some(span) = self.span {
            let range = byte_range(text, span);
            let mut annotation = AnnotationKind::Primary.span(range);
            if !self.label.is_empty() {
                annotation = annotation.label(self.label.as_str());
            }
            group = group.element(
                Snippet::source(text)
                    .path(path.as_str())
                    .fold(true)
                    .annotation(annotation),
            );
        }
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let report: [Group; 1] = [group];
        renderer.render(&report).to_string()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Some(span) => write!(
                f,
                "{}:{}: {}",
                span.start.line, span.start.col, self.message
            )?,
            None => write!(f, "{}", self.message)?,
        }
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Diagnostics of one spec file, with the text they point into.
#[derive(Debug, Clone)]
pub struct Report {
    /// The spec file.
    pub file: PathBuf,
    /// Its text (empty when it could not be read).
    pub text: String,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// True when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// Renders every diagnostic, separated by blank lines.
    pub fn render(&self, color: bool) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.file, &self.text, color))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The closest candidate to `wrong` by Jaro-Winkler similarity, ignoring case (`Dropout`,
/// `CPU`), if close enough to be a likely typo.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wrong = wrong.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&wrong, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Byte range in `text` of a character-based span; an empty span covers one character.
fn byte_range(text: &str, span: Span) -> std::ops::Range<usize> {
    let start = byte_offset(text, span.start);
    let mut end = byte_offset(text, span.end).max(start);
    if end == start {
        end = text[start..]
            .chars()
            .next()
            .filter(|c| *c != '\n')
            .map_or(start, |c| start + c.len_utf8());
    }
    start..end
}

fn byte_offset(text: &str, pos: Pos) -> usize {
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if index + 1 == pos.line {
            return offset
                + line
                    .char_indices()
                    .nth(pos.col.saturating_sub(1))
                    .map_or(line.trim_end_matches('\n').len(), |(i, _)| i);
        }
        offset += line.len();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("dropuot", ["dropout", "dense"]),
            Some("dropout")
        );
        assert_eq!(did_you_mean("xyz", ["dropout", "dense"]), None);
        assert_eq!(
            did_you_mean("DROPOUT", ["dropout", "dense"]),
            Some("dropout")
        );
    }

    #[test]
    fn renders_location_line_and_marker() {
        let text = "a: 1\nrate: 2\n";
        let span = Span {
            start: Pos { line: 2, col: 7 },
            end: Pos { line: 2, col: 8 },
        };
        let d = Diagnostic::error("rate too big", Some(span)).with_label("must be < 1");
        let out = d.render(Path::new("x.yaml"), text, false);
        assert!(out.contains("x.yaml:2:7: rate too big"), "{out}");
        assert!(out.contains("rate: 2"), "{out}");
        assert!(out.contains("^ must be < 1"), "{out}");
    }
}
