//! Decode+resize throughput on the shared photos (a benchmark, not a test).
//!
//! `cargo bench --features turbojpeg --bench data_decode -- [DIR] [THREADS] [SIZE] [PASSES] [--full|--fast] [--diff]`
//! (without the feature both modes are the pure-Rust decoder; defaults: ../shared/data/cats_and_dogs, 2 threads, 160, 3 passes, both modes). For each
//! mode, full decode (`data.fast_decode: false`, the default) then fast decode (`true`:
//! DCT-domain downscaling, like Pillow's `draft`), one untimed pass warms the page cache and
//! the allocator, then PASSES timed passes print images/s and images per CPU second (all
//! threads; less sensitive to other load on the machine). `--diff` also prints the mean
//! absolute difference between the two modes' pixels. Compare with
//! `ci/bench/pillow_decode.py`, which does the same work in Python with Pillow, with and
//! without `draft`; `ci/bench/compare.sh` runs both, alternating.

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

/// CPU seconds this process has used (user + system, all threads), from /proc/self/stat; 0
/// where that cannot be read. On a shared machine, wall-clock images/s depends on other load,
/// images per CPU second much less.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // After the command name (in parentheses), the fields from the 3rd (state) on; utime and
    // stime are the 14th and 15th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(14 - 3) + ticks(15 - 3)) / 100.0
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| all.iter().any(|a| a == f);
    let args: Vec<&String> = all.iter().filter(|a| !a.starts_with("--")).collect();
    let dir = args.first().map(|s| s.to_string()).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/cats_and_dogs").to_string()
    });
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let size: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(160);
    let passes: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut modes = Vec::new();
    if !flag("--fast") {
        modes.push((false, "full decode"));
    }
    if !flag("--full") {
        modes.push((true, "fast_decode"));
    }
    let mut paths = Vec::new();
    files(Path::new(&dir), &mut paths);
    paths.sort();
    println!(
        "ours: {} files in {dir}, {threads} threads, {size}x{size} bilinear, decoder: {}",
        paths.len(),
        decode::method(false)
    );
    let interp = Interpolation::Bilinear;
    for &(fast, mode) in &modes {
        decode::benchmark(&paths, [size, size], interp, fast, threads).expect("thread pool");
        for pass in 1..=passes {
            let cpu = cpu_seconds();
            let (ok, secs) = decode::benchmark(&paths, [size, size], interp, fast, threads)
                .expect("thread pool");
            let cpu = cpu_seconds() - cpu;
            println!(
                "ours {mode}, pass {pass}: {ok} images in {secs:.3}s ({cpu:.2} CPU s, {:.0} \
                 images per CPU s) = {:.0} images/s",
                ok as f64 / cpu,
                ok as f64 / secs
            );
        }
    }
    if flag("--diff") {
        // Mean absolute difference per channel value (0-255) between fast_decode and the full
        // decode followed by the same resize, over all images, and the worst image.
        let (a, ra) = decode::decode_all(&paths, [size, size], interp, true);
        let (b, rb) = decode::decode_all(&paths, [size, size], interp, false);
        let per = (size * size * 3) as usize;
        let (mut total, mut worst, mut worst_at, mut n) = (0f64, 0f64, 0, 0usize);
        for (i, (x, y)) in a.chunks(per).zip(b.chunks(per)).enumerate() {
            if ra[i].is_err() || rb[i].is_err() {
                continue;
            }
            let d: u64 = x.iter().zip(y).map(|(&p, &q)| p.abs_diff(q) as u64).sum();
            let m = d as f64 / per as f64;
            total += m;
            if m > worst {
                (worst, worst_at) = (m, i);
            }
            n += 1;
        }
        println!(
            "fast_decode vs full decode, {n} images: mean abs difference {:.3} per channel \
             value (0-255), worst image {worst:.3} ({})",
            total / n.max(1) as f64,
            paths[worst_at].display()
        );
    }
}
