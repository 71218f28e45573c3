//! Records the version of Burn that Cargo.lock resolved, so run summaries can say which Burn
//! ran them (Cargo exposes only the package's own version to the code), and the build's
//! identity (`RUNNER_BUILD_ID`): a hash of the sources, Cargo.toml, Cargo.lock, the features
//! and the profile, so stored results of one build (the frozen-prefix cache) are never read
//! by another. With the `tch` feature, also records where libtorch is in the binary (rpath),
//! so it runs without `LD_LIBRARY_PATH`.

use std::hash::{Hash, Hasher};
use std::path::Path;

/// Hashes every file under `dir` (path and bytes), in path order.
fn hash_tree(dir: &Path, hasher: &mut impl Hasher) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            hash_tree(&path, hasher);
        } else {
            path.hash(hasher);
            std::fs::read(&path).unwrap_or_default().hash(hasher);
        }
    }
}

/// A hash of what this build's numbers depend on: sources, manifest, lock file, features,
/// profile and compiler. Deterministic for one toolchain (SipHash with fixed keys).
fn build_id() -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hash_tree(Path::new("src"), &mut hasher);
    for file in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        std::fs::read(file).unwrap_or_default().hash(&mut hasher);
    }
    let mut settings: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("CARGO_FEATURE_")
                || ["PROFILE", "OPT_LEVEL", "DEBUG", "TARGET"].contains(&k.as_str())
        })
        .collect();
    settings.sort();
    settings.hash(&mut hasher);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc).arg("-vV").output();
    version
        .map(|o| o.stdout)
        .unwrap_or_default()
        .hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rustc-env=RUNNER_BUILD_ID={}", build_id());
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut lines = lock.lines();
    let mut version = "unknown".to_string();
    while let Some(line) = lines.next() {
        if line == "name = \"burn\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
            {
                version = v.to_string();
            }
            break;
        }
    }
    println!("cargo:rustc-env=RUNNER_BURN_VERSION={version}");
    // torch-sys (`links = "tch"`) tells its dependents where the libtorch it linked is.
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
