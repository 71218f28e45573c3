//! Decode+resize throughput on the shared photos (a benchmark, not a test).
//!
//! `cargo bench --bench data_decode -- [DIR] [THREADS] [SIZE]`
//! (defaults: ../shared/data/cats_and_dogs, 2 threads, 160). Prints images/s for each of
//! three passes (the first also warms the page cache). Compare with
//! `ci/bench/pillow_decode.py`, which does the same work in Python with Pillow.

use runner::data::Interpolation;
use runner::data::decode;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("png"))
        {
            out.push(p);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = args.first().cloned().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/cats_and_dogs").to_string()
    });
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let size: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(160);
    let mut paths = Vec::new();
    files(Path::new(&dir), &mut paths);
    paths.sort();
    println!(
        "{} files in {dir}, {threads} threads, {size}x{size} bilinear",
        paths.len()
    );
    // One thread first: on a shared machine, the N-thread figure depends on other load.
    for (pass, n) in [(1, 1), (2, threads), (3, threads), (4, threads)] {
        let (ok, secs) = decode::benchmark(&paths, [size, size], Interpolation::Bilinear, n)
            .expect("thread pool");
        println!(
            "pass {pass}, {n} thread(s): {ok} images in {secs:.3}s = {:.0} images/s",
            ok as f64 / secs
        );
    }
}
