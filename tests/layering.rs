//! The library's modules form layers that follow the data flow, and a module only uses
//! modules of lower layers: no cycles, and shared vocabulary below everything that uses it.
//! This test reads every `crate::` path in `src/` (code, not comments) and fails on an edge
//! against the declared order, naming the file and line. The command line (`src/cli/`, in the
//! binary) sits above every layer. Why one crate with this test instead of a workspace of
//! crates: `src/lib.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    // Shared vocabulary: metric names and goals, tables, the machine's memory.
    &["metric", "table", "machine"],
    // What a user writes, and what a run leaves behind.
    &["spec", "track"],
    // Downloads, and built-in architectures.
    &["fetch", "zoo"],
    &["data"],
    &["plan"],
    &["device"],
    &["model"],
    &["train", "export"],
    &["bench", "verify", "sweep"],
    &["check", "compare"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The line without its `//` comment (a `//` inside a string ends the scan early, which only
/// hides an edge a string names).
fn code_of(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// The modules a line of module `own` uses: `crate::NAME`, and `super::NAME` in a file
/// directly under `src/` (whose parent is the crate root).
fn used_modules(line: &str, top_level_file: bool) -> Vec<&str> {
    let mut used = Vec::new();
    let prefixes: &[&str] = if top_level_file {
        &["crate::", "super::"]
    } else {
        &["crate::"]
    };
    for prefix in prefixes {
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let preceded_by_ident = rest[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            rest = &rest[at + prefix.len()..];
            let name: &str = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            if !preceded_by_ident && !name.is_empty() {
                used.push(name);
            }
        }
    }
    used
}

#[test]
fn modules_only_use_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut edges: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let own = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if ["lib", "main", "cli"].contains(&own.as_str()) {
            continue;
        }
        let own_layer = layer_of(&own).unwrap_or_else(|| {
            panic!(
                "module `{own}` ({}) is in no layer: add it to LAYERS",
                relative.display()
            )
        });
        let top_level_file = relative.components().count() == 1;
        for (number, line) in std::fs::read_to_string(file).unwrap().lines().enumerate() {
            for used in used_modules(code_of(line), top_level_file) {
                if used == own {
                    continue;
                }
                let Some(used_layer) = layer_of(used) else {
                    continue; // an item of the crate root, not a module
                };
                let at = format!("{}:{}", relative.display(), number + 1);
                edges
                    .entry((own.clone(), used.to_string()))
                    .or_insert(at.clone());
                if used_layer >= own_layer {
                    violations.push(format!(
                        "src/{at}: `{own}` (layer {own_layer}) uses `{used}` (layer {used_layer})"
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "edges against the layering (tests/layering.rs):\n{}",
        violations.join("\n")
    );
    assert!(edges.len() > 20, "too few edges found: the scan is broken");
}

#[test]
fn the_scan_sees_crate_and_super_paths_in_code_only() {
    assert_eq!(
        used_modules(code_of("use crate::spec::Spec; // crate::train"), false),
        ["spec"]
    );
    assert_eq!(
        used_modules(
            "let x = crate::metric::Goal::of(m) + super::plan::f();",
            true
        ),
        ["metric", "plan"]
    );
    assert!(used_modules("let a = othercrate::spec::x;", false).is_empty());
}
