//! `runner fetch SPEC`: download and verify the spec's data and weights sources, and nothing
//! else (for CI caches and for filling a cache to carry to a machine without network).

use super::Failure;
use super::args::Overrides;
use runner::fetch::{self, Fetch, Origin};
use runner::spec;
use std::path::PathBuf;

/// `runner fetch SPEC`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec file.
    spec: PathBuf,
    #[command(flatten)]
    overrides: Overrides,
}

/// Downloads what the spec's sources name and is missing, checks what is there against its
/// checksums, and prints one line per source.
pub fn run(args: &Args) -> Result<(), Failure> {
    let spec_path = &args.spec;
    let loaded = spec::load(spec_path, &args.overrides.overrides)
        .map_err(|r| Failure::InvalidSpec(vec![r]))?;
    let resolved = fetch::resolve(&loaded, Fetch::Verify)
        .map_err(|e| Failure::InvalidSpec(vec![loaded.report(vec![e.diagnostic(&loaded)])]))?;
    if resolved.items.is_empty() {
        println!(
            "{}: no `data.source` or `weights_source`: nothing to fetch",
            spec_path.display()
        );
    }
    for item in &resolved.items {
        let origin = match item.origin {
            Origin::Local => "local",
            Origin::Cached => "cached",
            Origin::Downloaded => "downloaded",
            Origin::Missing => "missing",
        };
        let checked = if item.checked.is_empty() {
            String::new()
        } else {
            format!(" ({})", item.checked)
        };
        println!("{}: {origin} {}{checked}", item.what, item.path.display());
    }
    Ok(())
}
