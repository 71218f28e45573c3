//! `runner devices`: the backends compiled in and the devices each finds (see
//! `runner::device::listing`).

use super::Failure;
use runner::device::listing;

/// `runner devices`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the list as JSON.
    #[arg(long)]
    json: bool,
}

/// Prints the listing (a table, or JSON).
pub fn run(args: &Args) -> Result<(), Failure> {
    let report = listing::report();
    if args.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", listing::render(&report));
    }
    Ok(())
}
