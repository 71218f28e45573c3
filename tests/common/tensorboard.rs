//! Reading event files back with TensorBoard's own Python readers
//! (tests/python/read_events.py).
//!
//! Needs a Python with the `tensorboard` and `h5py` packages (the latter writes Keras `.h5`
//! files for tests/weights_loading.rs): `$RUNNER_PY`, or else
//! `${RUNNER_PY_VENV:-$HOME/.cache/runner-venv}/bin/python` as created by
//! `ci/setup-python.sh`. Without one the tests fail (they must not pass
//! silently).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RUNNER_PY") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "RUNNER_PY={} does not exist; unset it or run ci/setup-python.sh",
            p.display()
        );
        return p;
    }
    let venv = std::env::var_os("RUNNER_PY_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/runner-venv")))
        .expect("neither RUNNER_PY_VENV nor HOME is set; run ci/setup-python.sh and set RUNNER_PY");
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "no Python with tensorboard and h5py at {}: run ci/setup-python.sh (or set RUNNER_PY to a \
         python that has the tensorboard and h5py packages)",
        py.display()
    );
    py
}

/// Runs [`python`] with `args` and returns its stdout; fails the test with its stderr when it
/// fails (a missing package: run ci/setup-python.sh).
pub fn python_ok<I, S>(args: I) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(python()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} (a missing package? run ci/setup-python.sh)",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn read_back(logdir: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_events.py");
    let py = python();
    let out = Command::new(&py)
        .arg(&script)
        .arg(logdir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    assert!(
        out.status.success(),
        "{} {} failed ({}):\n{}\n(run ci/setup-python.sh if tensorboard is missing)",
        py.display(),
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "reader printed invalid JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
