//! `runner devices`: the backends compiled in and the devices each finds (see
//! `runner::device::listing`).

use super::Failure;
use runner::device::listing;

/// Prints the listing (a table, or JSON).
pub fn run(json: bool) -> Result<(), Failure> {
    let report = listing::report();
    if json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", listing::render(&report));
    }
    Ok(())
}
