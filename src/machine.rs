//! The machine's memory, for refusing work that cannot fit before it is allocated (instead of
//! the process aborting with "memory allocation failed" mid-run), and byte counts written for
//! people.

/// The machine's memory in bytes (`MemTotal` of `/proc/meminfo`); `None` where it cannot be
/// read (not Linux), and then nothing is refused.
pub fn total_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// A byte count for people: `1.5 GiB`, `320.0 MiB`.
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `Err(message)` when `bytes` (what `what` needs) is more than the machine's memory; the
/// message says what, how much, and ends with `reduce` (how to need less).
pub fn check_fits(what: &str, bytes: f64, reduce: &str) -> Result<(), String> {
    match total_memory() {
        Some(total) if bytes > total => Err(format!(
            "{what} needs about {}, more than this machine's memory ({}); {reduce}",
            human(bytes),
            human(total)
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(human(512.0), "512 bytes");
        assert_eq!(human(1536.0), "1.5 KiB");
        assert_eq!(human(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
    }

    #[test]
    fn more_than_the_machine_is_refused() {
        assert!(total_memory().is_some_and(|m| m > 0.0));
        assert!(check_fits("x", 1.0, "less").is_ok());
        let e = check_fits("the cache", 1e30, "use fewer images").unwrap_err();
        assert!(e.starts_with("the cache needs about "), "{e}");
        assert!(e.ends_with("; use fewer images"), "{e}");
    }
}
