//! `runner data SPEC`: class counts per split, image sizes, skipped files, and a PNG contact
//! sheet of sample images and augmented variants. Data missing here is downloaded first when the
//! spec gives its `data.source`.

use super::Failure;
use super::args::{Overrides, load_and_fetch};
use runner::fetch::Fetch;
use std::path::PathBuf;

/// `runner data SPEC`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec file.
    spec: PathBuf,
    /// Where to write the contact sheet (default: `<spec name>-data.png` here).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

/// Loads the spec's data, prints the summary and writes the contact sheet to `--out`
/// (default: `<spec name>-data.png` in the current folder).
pub fn run(args: &Args) -> Result<(), Failure> {
    let spec_path = &args.spec;
    let loaded = load_and_fetch(spec_path, &args.overrides.overrides, Fetch::Missing)?.spec;
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = spec_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "spec".into());
        PathBuf::from(format!("{stem}-data.png"))
    });
    let overview =
        runner::data::overview(&loaded.spec.data, loaded.base_dir(), loaded.spec.seed, &out)
            .map_err(|e| Failure::Other(e.to_string()))?;
    println!("{overview}");
    Ok(())
}
