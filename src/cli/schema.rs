//! `runner schema`: write (or check) `schemas/experiment.schema.json`.

use super::Failure;
use runner::spec::schema::experiment_schema_text;
use std::path::Path;

/// Writes the schema to `out`, or with `check` fails when `out` is stale.
pub fn run(out: &Path, check: bool) -> Result<(), Failure> {
    let text = experiment_schema_text();
    if check {
        let current = std::fs::read_to_string(out).unwrap_or_default();
        if current != text {
            return Err(Failure::Other(format!(
                "{} is out of date; run `runner schema` and commit it",
                out.display()
            )));
        }
        println!("{} is up to date", out.display());
        return Ok(());
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Other(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(out, text)
        .map_err(|e| Failure::Other(format!("cannot write {}: {e}", out.display())))?;
    println!("wrote {}", out.display());
    Ok(())
}
