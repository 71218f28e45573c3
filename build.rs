//! Records the version of Burn that Cargo.lock resolved, so run summaries can say which Burn
//! ran them (Cargo exposes only the package's own version to the code). With the `tch`
//! feature, also records where libtorch is in the binary (rpath), so it runs without
//! `LD_LIBRARY_PATH`.

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
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
