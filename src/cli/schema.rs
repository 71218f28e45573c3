//! `runner schema`: write (or check) `schemas/experiment.schema.json` and, next to it,
//! `sweep.schema.json`.

use super::Failure;
use runner::spec::schema::experiment_schema;
use runner::sweep::spec::sweep_schema;
use std::path::{Path, PathBuf};

/// `runner schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write it.
    #[arg(long, default_value = "schemas/experiment.schema.json")]
    out: PathBuf,
    /// Fail instead of writing when the file differs from the code's schema.
    #[arg(long)]
    check: bool,
}

/// Writes the experiment schema to `--out` and the sweep schema next to it, or with
/// `--check` fails when either is stale.
pub fn run(args: &Args) -> Result<(), Failure> {
    let (out, check) = (&args.out, args.check);
    write_or_check(out, &experiment_schema().text(), check)?;
    let sweep = out.with_file_name("sweep.schema.json");
    write_or_check(&sweep, &sweep_schema().text(), check)
}

fn write_or_check(out: &Path, text: &str, check: bool) -> Result<(), Failure> {
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
