//! `runner fetch SPEC`: download and verify the spec's data and weights sources, and nothing
//! else (for CI caches and for filling a cache to carry to a machine without network).

use super::Failure;
use super::args::{Overrides, load_and_fetch};
use runner::fetch::{Fetch, Origin};
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
    let resolved = load_and_fetch(spec_path, &args.overrides.overrides, Fetch::Verify)?;
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
