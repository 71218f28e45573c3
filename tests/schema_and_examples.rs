//! The committed JSON Schema matches the code, and every example spec validates.

use std::process::Command;

#[test]
fn committed_schema_is_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/experiment.schema.json"
    );
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == runner::spec::schema::experiment_schema().text(),
        "schemas/experiment.schema.json is stale: run `cargo run --release -- schema` and commit it"
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/sweep.schema.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == runner::sweep::spec::sweep_schema().text(),
        "schemas/sweep.schema.json is stale: run `cargo run --release -- schema` and commit it"
    );
}

#[test]
fn example_specs_validate() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments");
    let mut specs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    specs.sort();
    assert!(!specs.is_empty());
    for spec in specs {
        let first = std::fs::read_to_string(&spec).unwrap();
        let schema = if first.lines().any(|l| l.starts_with("parameters:")) {
            "sweep"
        } else {
            "experiment"
        };
        assert!(
            first.starts_with(&format!(
                "# yaml-language-server: $schema=../schemas/{schema}.schema.json"
            )),
            "{} lacks the schema line for editors",
            spec.display()
        );
        let out = Command::new(env!("CARGO_BIN_EXE_runner"))
            .arg("validate")
            .arg(&spec)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}:\n{}",
            spec.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
