//! Data and weights by URL: `runner fetch`, `validate`, `data`, `run` and `predict` against an
//! HTTP server on 127.0.0.1 started by the test (nothing reaches the internet), with a small
//! generated image set packed as zip or tar.gz, and the shared MobileNet v1 weights file.

mod common;

use common::http_server::{Server, refused_url};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The archive's data folder.
const SUBDIR: &str = "pets_filtered";

/// A tiny image set: `(path below the data folder, PNG bytes)`, 4 images per class and split.
fn images() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for split in ["train", "validation"] {
        for (c, class) in ["cats", "dogs"].into_iter().enumerate() {
            for i in 0..4u8 {
                let v = 40 + 150 * c as u8 + 10 * i;
                let img = image::RgbImage::from_pixel(8, 8, image::Rgb([v, v / 2, 255 - v]));
                let mut png = Vec::new();
                img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                    .unwrap();
                files.push((format!("{split}/{class}/{i}.png"), png));
            }
        }
    }
    files
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// `SHA256SUMS` text for `files`.
fn listing(files: &[(String, Vec<u8>)]) -> String {
    files
        .iter()
        .map(|(p, b)| format!("{}  {p}\n", sha256_hex(b)))
        .collect()
}

/// A zip of `entries` (names as given, so a test may write `../x`).
fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn tar_gz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// The image set below `SUBDIR/`, with a stray top-level file as real archives have.
fn archive_entries() -> Vec<(String, Vec<u8>)> {
    let mut entries: Vec<(String, Vec<u8>)> = images()
        .into_iter()
        .map(|(p, b)| (format!("{SUBDIR}/{p}"), b))
        .collect();
    entries.push((format!("{SUBDIR}/vectorize.py"), b"print('hi')\n".to_vec()));
    entries
}

/// A test folder: a spec `spec.yaml` (its data root `missing/` does not exist), a cache and a
/// runs folder.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    /// A spec whose `data.source` is the YAML flow mapping `source`.
    fn new(source: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!(
            "name: pets
data:
  root: missing/pets
  image_size: [8, 8]
  batch_size: 2
  label_mode: binary
  source: {source}
model:
  nodes:
    - {{name: image, op: input, shape: [8, 8, 3]}}
    - {{name: pool, op: global_avg_pool, input: image}}
    - {{name: logits, op: dense, input: pool, units: 1}}
  outputs: [logits]
loss: {{binary_crossentropy: {{from_logits: true}}}}
phases:
  - {{name: p, epochs: 1, optimizer: {{adam: {{lr: 1.0e-3}}}}}}
"
        );
        std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
        std::fs::write(dir.path().join("SHA256SUMS"), listing(&images())).unwrap();
        Case { dir }
    }

    fn spec(&self) -> PathBuf {
        self.dir.path().join("spec.yaml")
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Runs `runner <args>` in the test folder with the test's cache and no proxy.
    fn runner(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
        for proxy in [
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            command.env_remove(proxy);
        }
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("RUNNER_CACHE", self.cache())
            .output()
            .unwrap()
    }

    /// `runner <args>`, which must succeed; returns stdout and stderr together.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.runner(args);
        let text = text(&out);
        assert!(out.status.success(), "runner {args:?} failed:\n{text}");
        text
    }

    /// `runner <args>`, which must fail; returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.runner(args);
        let text = text(&out);
        assert!(!out.status.success(), "runner {args:?} succeeded:\n{text}");
        text
    }

    /// Every file under the cache, relative to it.
    fn cache_files(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                out.push(path.strip_prefix(base).unwrap().display().to_string());
                if path.is_dir() {
                    walk(&path, base, out);
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.cache(), &self.cache(), &mut files);
        files.sort();
        files
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The README's main command on a machine without the data: validate says it is missing and
/// downloads nothing, fetch downloads, verifies and extracts it, data and run use it, and a
/// second fetch finds it in the cache.
#[test]
fn a_spec_whose_data_is_missing_fetches_it_and_runs() {
    let server = Server::start();
    let archive = zip(&archive_entries());
    server.serve("/pets.zip", archive.clone());
    let case = Case::new(&format!(
        "{{url: {}/pets.zip, sha256: {}, sha256sums: SHA256SUMS, subdir: {SUBDIR}}}",
        server.url,
        sha256_hex(&archive)
    ));
    let spec = case.spec();
    let spec = spec.to_str().unwrap();

    let out = case.ok(&["validate", spec]);
    assert!(
        out.contains("not on this machine yet") && out.contains("runner fetch"),
        "{out}"
    );
    assert!(
        server.requests().is_empty(),
        "validate downloaded something"
    );

    let out = case.ok(&["fetch", spec]);
    assert!(
        out.contains("data: downloaded") && out.contains("16 files match the listing"),
        "{out}"
    );
    assert_eq!(server.requests().len(), 1);
    let files = case.cache_files();
    assert!(
        files
            .iter()
            .all(|f| !f.ends_with(".part") && !f.contains(".tmp-") && !f.ends_with(".zip")),
        "the archive, a partial download or a temporary folder was left: {files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.ends_with(&format!("{SUBDIR}/train/cats/0.png"))),
        "{files:?}"
    );

    let out = case.ok(&["data", spec, "--out", "sheet.png"]);
    assert!(out.contains("cats") && out.contains("dogs"), "{out}");
    let out = case.ok(&["run", spec, "--runs", "runs"]);
    assert!(out.contains("run folder"), "{out}");
    let out = case.ok(&["fetch", spec]);
    assert!(
        out.contains("data: cached") && out.contains("16 files match"),
        "{out}"
    );
    assert_eq!(server.requests().len(), 1, "the cache was not used");
}

/// A connection that drops mid-way is resumed with a range request, in the same invocation;
/// a tar.gz archive checked only by its listing works the same.
#[test]
fn a_dropped_download_resumes_with_a_range_request() {
    let server = Server::start();
    let archive = tar_gz(&archive_entries());
    server.serve("/pets.tar.gz", archive.clone());
    server.drop_connections(1, archive.len() / 3);
    let case = Case::new(&format!(
        "{{url: {}/pets.tar.gz, sha256sums: SHA256SUMS, subdir: {SUBDIR}}}",
        server.url
    ));
    let out = case.ok(&["fetch", case.spec().to_str().unwrap()]);
    assert!(out.contains("data: downloaded"), "{out}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    assert_eq!(
        requests[1].range.as_deref(),
        Some(format!("bytes={}-", archive.len() / 3).as_str())
    );
}

/// A server that drops every connection: a clear error, the partial file kept; the next
/// invocation resumes it.
#[test]
fn a_download_dropped_every_time_is_an_error_and_the_next_run_resumes_it() {
    let server = Server::start();
    let archive = zip(&archive_entries());
    server.serve("/pets.zip", archive.clone());
    server.drop_connections(usize::MAX, 200);
    let url = format!("{}/pets.zip", server.url);
    let case = Case::new(&format!(
        "{{url: {url}, sha256: {}, subdir: {SUBDIR}}}",
        sha256_hex(&archive)
    ));
    let spec = case.spec();
    let spec = spec.to_str().unwrap();
    let err = case.fails(&["fetch", spec]);
    for expected in [
        url.as_str(),
        "the connection dropped after",
        "resumes it when run again",
        "or download",
        "missing/pets",
    ] {
        assert!(err.contains(expected), "`{expected}` not in:\n{err}");
    }
    assert!(
        case.cache_files()
            .iter()
            .any(|f| f.ends_with("pets.zip.part"))
    );
    let before = server.requests().len();

    server.drop_connections(0, 0);
    case.ok(&["fetch", spec]);
    let requests = server.requests();
    assert_eq!(requests.len(), before + 1);
    let range = requests.last().unwrap().range.clone().unwrap_or_default();
    assert!(
        range.starts_with("bytes=") && range != "bytes=0-",
        "{range}"
    );
}

/// Checksum mismatch, 404, connection refused, a damaged archive, a listing that does not
/// match: each an error that names the URL and says where to put the data by hand, and leaves
/// no data folder behind.
#[test]
fn every_failure_is_a_clear_error_and_leaves_nothing_half_done() {
    let server = Server::start();
    let archive = zip(&archive_entries());
    server.serve("/pets.zip", archive.clone());
    server.serve("/damaged.zip", archive[..archive.len() * 2 / 3].to_vec());
    let mut wrong = images();
    wrong[0].1.push(0);
    server.serve(
        "/wrong.zip",
        zip(&wrong
            .iter()
            .map(|(p, b)| (format!("{SUBDIR}/{p}"), b.clone()))
            .collect::<Vec<_>>()),
    );
    let refused = refused_url("/pets.zip");
    let actual = sha256_hex(&archive);
    let cases = [
        (
            format!(
                "{{url: {}/pets.zip, sha256: {}}}",
                server.url,
                "a".repeat(64)
            ),
            vec![
                "has SHA-256",
                actual.as_str(),
                "but the spec says aaaa",
                "the download was removed",
            ],
        ),
        (
            format!(
                "{{url: {}/nothing.zip, sha256sums: SHA256SUMS}}",
                server.url
            ),
            vec!["HTTP 404", "not found"],
        ),
        (
            format!("{{url: {refused}, sha256sums: SHA256SUMS}}"),
            vec!["cannot connect", "no network"],
        ),
        (
            format!(
                "{{url: {}/damaged.zip, sha256sums: SHA256SUMS, subdir: {SUBDIR}}}",
                server.url
            ),
            vec!["the archive is damaged", "the download was removed"],
        ),
        (
            format!(
                "{{url: {}/wrong.zip, sha256sums: SHA256SUMS, subdir: {SUBDIR}}}",
                server.url
            ),
            vec![
                "1 of the 16 listed files do not match",
                "train/cats/0.png differs",
            ],
        ),
        (
            format!(
                "{{url: {}/pets.zip, sha256sums: SHA256SUMS, subdir: elsewhere}}",
                server.url
            ),
            vec![
                "the archive has no folder `elsewhere`",
                "its top level holds: pets_filtered",
            ],
        ),
    ];
    for (source, expected) in cases {
        let case = Case::new(&source);
        let url = source[6..].split([',', '}']).next().unwrap().to_string();
        let err = case.fails(&["data", case.spec().to_str().unwrap()]);
        for e in expected
            .iter()
            .chain([&url.as_str(), &"or download", &"missing/pets"])
        {
            assert!(err.contains(e), "`{e}` not in:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        let files = case.cache_files();
        assert!(
            !files
                .iter()
                .any(|f| f.starts_with("data/") || f.ends_with(".zip") || f.ends_with(".part")),
            "a data folder, temporary folder or unverified download was left: {files:?}"
        );
    }
}

/// An archive entry that would be written outside the folder is refused, and nothing is
/// written there.
#[test]
fn an_archive_entry_leaving_the_folder_is_refused() {
    let server = Server::start();
    let mut entries = archive_entries();
    entries.push(("../escaped.txt".into(), b"x".to_vec()));
    server.serve("/evil.zip", zip(&entries));
    let case = Case::new(&format!(
        "{{url: {}/evil.zip, sha256sums: SHA256SUMS, subdir: {SUBDIR}}}",
        server.url
    ));
    let err = case.fails(&["fetch", case.spec().to_str().unwrap()]);
    assert!(
        err.contains("`../escaped.txt` is refused") && err.contains("`..`"),
        "{err}"
    );
    let files = case.cache_files();
    assert!(!files.iter().any(|f| f.contains("escaped")), "{files:?}");
    assert!(!case.cache().join("data").join("escaped.txt").exists());
}

/// Weights by URL: `runner predict --spec` downloads the file (checked) into the cache and
/// classifies with it; a wrong checksum is an error naming the file to place by hand.
#[test]
fn weights_are_downloaded_and_used() {
    let weights_file = common::shared("mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.safetensors");
    let weights = std::fs::read(&weights_file).unwrap();
    let server = Server::start();
    server.serve("/w/mobilenet_v1.safetensors", weights.clone());
    let case = Case::new("{url: http://127.0.0.1:1/unused.zip, sha256sums: SHA256SUMS}");
    let photo = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/cats_and_dogs/train/cats/cat.0.jpg"
    );
    let write_spec = |sha256: &str| {
        let spec = format!(
            "name: classify
data: {{root: ., image_size: [224, 224]}}
model:
  nodes:
    - {{name: image, op: input, shape: [224, 224, 3]}}
    - {{name: scale, op: preprocess, input: image, preset: mobilenet_v2}}
    - name: base
      op: pretrained
      input: scale
      arch: mobilenet_v1_0.25
      weights: weights/mobilenet_v1.safetensors
      weights_source: {{url: {}/w/mobilenet_v1.safetensors, sha256: {sha256}}}
  outputs: [base]
loss: {{categorical_crossentropy: {{from_logits: true}}}}
phases:
  - {{name: p, epochs: 1, freeze: [base], optimizer: {{adam: {{lr: 1.0e-3}}}}}}
",
            server.url
        );
        std::fs::write(case.dir.path().join("classify.yaml"), spec).unwrap();
    };

    write_spec(&"f".repeat(64));
    let err = case.fails(&["predict", "--spec", "classify.yaml", photo]);
    for e in [
        "weights of node `base`",
        "has SHA-256",
        "or download",
        "weights/mobilenet_v1.safetensors",
    ] {
        assert!(err.contains(e), "`{e}` not in:\n{err}");
    }

    write_spec(&sha256_hex(&weights));
    let out = case.ok(&["predict", "--spec", "classify.yaml", photo]);
    assert!(out.contains("cat.0.jpg"), "{out}");
    let cached: Vec<String> = case
        .cache_files()
        .into_iter()
        .filter(|f| f.ends_with(".safetensors"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(
        std::fs::read(case.cache().join(&cached[0])).unwrap(),
        weights
    );
    let out = case.ok(&["fetch", "classify.yaml"]);
    assert!(
        out.contains("weights of node `base`: cached") && out.contains("SHA-256 matches"),
        "{out}"
    );
}

/// The tutorial spec names the public sources of its dataset (with the committed listing)
/// and of its weights (with their SHA-256); here the shared copies are used (no network) and
/// checked against them.
#[test]
fn the_tutorial_spec_uses_the_shared_copy_and_it_matches_the_listing() {
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/mobilenet_ft.yaml");
    let case = Case::new("{url: http://127.0.0.1:1/unused.zip, sha256sums: SHA256SUMS}");
    let out = case.ok(&["fetch", spec]);
    assert!(
        out.contains("data: local") && out.contains("3000 files match the listing"),
        "{out}"
    );
    assert!(
        out.contains("weights of node `base`: local") && out.contains("SHA-256 matches"),
        "{out}"
    );
    assert!(case.cache_files().is_empty());
}

/// The README's main command on a machine without `../shared`: experiments/mobilenet_ft.yaml
/// downloads the photos (the tutorial's zip, checked against the committed listing) and the
/// base's original TFLite weights from their sources (here a server on 127.0.0.1 with the
/// same files) and trains (at 32x32 and one epoch per phase, to keep the test short).
#[test]
fn the_tutorial_spec_runs_where_shared_is_missing() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let photos = shared.join("data/cats_and_dogs");
    let mut entries = Vec::new();
    for line in std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("experiments/checksums/cats_and_dogs_filtered.SHA256SUMS"),
    )
    .unwrap()
    .lines()
    {
        let file = line
            .split_whitespace()
            .nth(1)
            .unwrap()
            .trim_start_matches('*');
        let bytes = std::fs::read(photos.join(file)).unwrap();
        entries.push((format!("cats_and_dogs_filtered/{file}"), bytes));
    }
    let server = Server::start();
    server.serve("/cats_and_dogs_filtered.zip", zip(&entries));
    let tflite = "weights/mobilenet_v2_1.0_224/tf2_mobilenet_v2_1.0_224_ptq.tflite";
    server.serve(
        "/mobilenet_v2.tflite",
        std::fs::read(shared.join(tflite)).unwrap(),
    );

    // The spec and its listing, two folders below a folder without `shared/`.
    let case = Case::new("{url: http://127.0.0.1:1/unused.zip, sha256sums: SHA256SUMS}");
    let experiments = case.dir.path().join("work/experiments");
    std::fs::create_dir_all(experiments.join("checksums")).unwrap();
    for file in [
        "mobilenet_ft.yaml",
        "checksums/cats_and_dogs_filtered.SHA256SUMS",
    ] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("experiments")
                .join(file),
            experiments.join(file),
        )
        .unwrap();
    }
    let data_url = format!("data.source.url={}/cats_and_dogs_filtered.zip", server.url);
    let weights_url = format!(
        "model.nodes.base.weights_source.url={}/mobilenet_v2.tflite",
        server.url
    );
    let out = case.ok(&[
        "run",
        "work/experiments/mobilenet_ft.yaml",
        "--quiet",
        "--set",
        &data_url,
        "--set",
        &weights_url,
        "--set",
        "data.image_size=[32, 32]",
        "--set",
        "model.nodes.image.shape=[32, 32, 3]",
        "--set",
        "phases.feature_extraction.epochs=1",
        "--set",
        "phases.fine_tune.epochs=1",
    ]);
    assert!(out.contains("\"test\""), "{out}");
    let files = case.cache_files();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("cats_and_dogs_filtered/train/cats/cat.0.jpg")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with(".tflite")), "{files:?}");
}

/// An archive vouched for only by a SHA256SUMS listing: a file the listing does not name is
/// not used, and the output names it.
#[test]
fn files_the_listing_does_not_name_are_named_and_not_used() {
    let server = Server::start();
    server.serve("/pets.tar.gz", tar_gz(&archive_entries()));
    let case = Case::new(&format!(
        "{{url: {}/pets.tar.gz, sha256sums: SHA256SUMS, subdir: {SUBDIR}}}",
        server.url
    ));
    let out = case.ok(&["fetch", case.spec().to_str().unwrap()]);
    assert!(
        out.contains("1 file(s) the listing does not name were removed, not used (vectorize.py)"),
        "{out}"
    );
    let files = case.cache_files();
    assert!(
        !files.iter().any(|f| f.ends_with("vectorize.py")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with(".png")), "{files:?}");
}
