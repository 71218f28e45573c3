//! runner runs on a bare machine: the binary links only the C runtime (with the `cuda` feature
//! also the C++ runtime, zlib and zstd, which the statically linked LLVM needs), a whole run
//! inside a root file system that holds nothing but the binary, its libraries, the data and the
//! spec (no fonts, no fontconfig, no /proc) writes its plots, and a plot that cannot be written
//! is a warning, not a failed run.

mod common;

use common::{SWEEP_SPEC, interrupt_after, make_images, runner};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const RUNNER: &str = env!("CARGO_BIN_EXE_runner");

/// The shared libraries `ldd` lists for `binary`: (name, resolved path if any).
fn shared_libraries(binary: &Path) -> Vec<(String, Option<PathBuf>)> {
    let out = Command::new("ldd").arg(binary).output().expect("ldd runs");
    assert!(out.status.success(), "ldd failed: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let (name, rest) = match line.split_once(" => ") {
                Some((name, rest)) => (name, Some(rest)),
                None => (line.split_whitespace().next()?, None),
            };
            let path = rest
                .and_then(|r| r.split_whitespace().next())
                .filter(|p| p.starts_with('/'))
                .or_else(|| name.starts_with('/').then_some(name))
                .map(PathBuf::from);
            let name = Path::new(name).file_name()?.to_string_lossy().into_owned();
            Some((name, path))
        })
        .collect()
}

#[test]
fn the_binary_links_only_the_c_runtime() {
    let names: BTreeSet<String> = shared_libraries(Path::new(RUNNER))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut expected: BTreeSet<String> = [
        "linux-vdso.so.1",
        "libgcc_s.so.1",
        "libm.so.6",
        "libc.so.6",
        "ld-linux-x86-64.so.2",
    ]
    .map(String::from)
    .into();
    // Burn's CUDA backend compiles kernels with LLVM, linked statically; LLVM is C++ and
    // compresses with zlib and zstd (ci/setup-cuda-build.sh). The driver is loaded at run time.
    if cfg!(feature = "cuda") {
        expected.extend(["libstdc++.so.6", "libz.so.1", "libzstd.so.1"].map(String::from));
    }
    assert_eq!(
        names, expected,
        "the runner binary links libraries a bare machine may lack"
    );
}

/// Copies `from` to `root` + its absolute path.
fn copy_into_root(root: &Path, from: &Path) {
    let to = root.join(from.strip_prefix("/").unwrap());
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, &to).unwrap();
}

/// The command that runs `args` with `root` as `/`: `chroot` as root (CI), else in a user
/// namespace where the caller is root.
fn chrooted(root: &Path) -> Command {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    let mut command = if is_root {
        Command::new("chroot")
    } else {
        let mut c = Command::new("unshare");
        c.args(["--user", "--map-root-user", "chroot"]);
        c
    };
    // Nothing of this machine's environment but PATH, which finds `chroot` itself.
    command
        .arg(root)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/home");
    command
}

#[test]
fn a_run_on_a_machine_without_fonts_writes_its_plots() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    copy_into_root(root, Path::new(RUNNER));
    for (name, path) in shared_libraries(Path::new(RUNNER)) {
        // The vDSO is part of the kernel, not a file.
        if name != "linux-vdso.so.1" {
            copy_into_root(root, &path.expect("every library resolves"));
        }
    }
    for dir in ["home", "tmp", "work"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    make_images(&root.join("work/images"));
    std::fs::write(root.join("work/spec.yaml"), SWEEP_SPEC).unwrap();
    let runner_inside = Path::new("/").join(Path::new(RUNNER).strip_prefix("/").unwrap());

    let out = chrooted(root)
        .arg(&runner_inside)
        .args(["run", "/work/spec.yaml", "--runs", "/work/runs"])
        .output()
        .unwrap();
    let text = common::text(&out);
    assert!(out.status.success(), "the run failed:\n{text}");
    assert!(!text.contains("WARN"), "{text}");
    let run = only_folder(&root.join("work/runs/tiny"));
    for file in [
        "summary.json",
        "learning_curves.png",
        "confusion_matrix_validation.png",
    ] {
        assert!(run.join(file).is_file(), "no {file} in {}", run.display());
    }
    assert_has_text(&run.join("learning_curves.png"));
}

/// The one folder inside `dir`.
fn only_folder(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap()
}

/// The plot's title band (above the axes) holds dark text pixels.
fn assert_has_text(png: &Path) {
    let img = image::open(png).unwrap().to_rgb8();
    let dark = (0..40)
        .flat_map(|y| (0..img.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 100))
        .count();
    assert!(
        dark > 100,
        "{} has no title text ({dark} dark pixels)",
        png.display()
    );
}

#[test]
fn a_plot_that_cannot_be_written_is_a_warning_and_the_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    make_images(&dir.path().join("images"));
    // Enough epochs that Ctrl-C after the first lands while the run is still training.
    let spec = SWEEP_SPEC.replace("epochs: 3", "epochs: 300");
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    let status = interrupt_after(
        dir.path(),
        &["run", "spec.yaml", "--runs", "runs"],
        1,
        "-INT",
    );
    assert!(!status.success());
    let run = only_folder(&dir.path().join("runs/tiny"));
    assert!(!run.join("summary.json").exists());
    // A folder where the learning curves go: writing the PNG fails.
    std::fs::create_dir(run.join("learning_curves.png")).unwrap();

    let out = runner(dir.path(), &["resume", run.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", common::text(&out));
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("learning_curves.png"));
    assert!(warning.is_some(), "no warning about the plot:\n{stderr}");
    assert!(run.join("summary.json").is_file());
    assert!(run.join("model.safetensors").is_file());
    assert!(run.join("confusion_matrix_validation.png").is_file());
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    assert!(log.contains("learning_curves.png"), "{log}");
    let leftovers: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
