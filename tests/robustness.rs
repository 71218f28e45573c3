//! No input makes `runner` panic, abort or hang: bad specs (`tests/fixtures/bad/`, each the
//! valid `tests/fixtures/base.yaml` with one mistake) are one located error; hostile data
//! (decompression bombs, symbolic-link loops, non-UTF-8 folder names, a damaged image cache)
//! is skipped with a warning or refused with a clear error; `--set` mistakes name the override.
//! Everything goes through the real binary and its exit codes.

mod common;

use common::runner;
use rstest::rstest;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `data/{train,validation}/{cats,dogs}/i.png`: three 8x8 images per class and split.
fn make_data(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    for split in ["train", "validation"] {
        for (class, value) in [("cats", 40u8), ("dogs", 200)] {
            let folder = data.join(split).join(class);
            std::fs::create_dir_all(&folder).unwrap();
            for i in 0..3u8 {
                image::RgbImage::from_pixel(8, 8, image::Rgb([value, value + i, value]))
                    .save(folder.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
    data
}

/// A folder with the generated data and `spec.yaml` holding `text`.
fn workspace(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    make_data(dir.path());
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, text).unwrap();
    (dir, spec)
}

fn base_spec() -> String {
    std::fs::read_to_string(fixtures().join("base.yaml")).unwrap()
}

/// Fails when a run of `runner` panicked (101), aborted (134) or died by a signal.
fn assert_no_crash(out: &Output, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    let err = stderr(out);
    assert!(
        out.status.signal().is_none(),
        "{what}: killed by signal {:?}\n{err}",
        out.status.signal()
    );
    let code = out.status.code();
    assert!(
        !matches!(code, Some(101 | 134)),
        "{what}: exit {code:?}\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation of"),
        "{what}:\n{err}"
    );
}

/// Asserts exit code 2 and exactly one error, headed `spec:LOCATION: MESSAGE`, with `help`.
fn assert_one_error(out: &Output, spec: &Path, location: &str, message: &str, help: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let header = if location.is_empty() {
        format!("error: {}: {message}", spec.display())
    } else {
        format!("error: {}:{location}: {message}", spec.display())
    };
    assert!(err.contains(&header), "expected `{header}` in:\n{err}");
    assert!(err.contains(help), "expected `{help}` in:\n{err}");
    assert_eq!(
        err.matches("error:").count(),
        1,
        "one error expected:\n{err}"
    );
}

#[rstest]
#[case::input_size(
    "input_size",
    "10:39",
    "the input shape (16, 16, 3) does not fit the data: images are 8x8 RGB (`data.image_size: [8, 8]`, 3 channels)",
    "write `shape: [8, 8, 3]`"
)]
#[case::input_channels(
    "input_channels",
    "10:39",
    "the input shape (8, 8, 1) does not fit the data",
    "write `shape: [8, 8, 3]`"
)]
#[case::categorical_loss_binary_labels(
    "categorical_loss_binary_labels",
    "15:1",
    "`categorical_crossentropy` needs `data.label_mode: categorical`",
    "or use `binary_crossentropy`"
)]
#[case::categorical_loss_one_unit(
    "categorical_loss_one_unit",
    "15:1",
    "`categorical_crossentropy` needs one unit per class (at least 2), but `logits` gives (1,)",
    "end the model with `op: dense, units: <number of classes>`"
)]
#[case::categorical_loss_class_names(
    "categorical_loss_class_names",
    "16:1",
    "`categorical_crossentropy` needs 2 units, one per class of `data.class_names`, but `logits` gives (3,)",
    "end the model with `op: dense, units: <number of classes>`"
)]
#[case::binary_loss_image_output(
    "binary_loss_image_output",
    "15:1",
    "`binary_crossentropy` needs one output unit, but `conv` gives (8, 8, 4)",
    "end the model with `op: dense, units: 1`"
)]
#[case::epochs_huge(
    "epochs_huge",
    "17:27",
    "`epochs` must be <= 1000000, found 1e+30",
    "expected a value <= 1000000"
)]
#[case::filters_huge(
    "filters_huge",
    "11:55",
    "`filters` must be <= 65536, found 1600000000",
    "expected a value <= 65536"
)]
#[case::params_too_large(
    "params_too_large",
    "14:7",
    "training this model (4398050443265 parameters: 64.0 TiB with gradients and optimizer state; activations of a batch of 2 images: ",
    "make the largest layer, `wide` (4398047559680 parameters), smaller"
)]
#[case::activations_too_large(
    "activations_too_large",
    "7:15",
    "training this model (117 parameters: 1.8 KiB with gradients and optimizer state; activations of a batch of 65536 images: 28.0 TiB) needs about 28.0 TiB, more than this machine's memory (",
    "lower `data.batch_size` or `data.image_size`"
)]
#[case::duplicate_phase(
    "duplicate_phase",
    "18:12",
    "duplicate phase name `train`",
    "give every phase a unique name"
)]
#[case::two_outputs(
    "two_outputs",
    "14:21",
    "the model lists 2 outputs, but runner supports one output (the logits the loss reads)",
    "keep one node in `outputs`, e.g. `outputs: [logits]`"
)]
#[case::merge_key(
    "merge_key",
    "19:5",
    "YAML merge keys (`<<`) are not supported",
    "write the settings out in full"
)]
#[case::learning_rate(
    "learning_rate",
    "17:49",
    "unknown key `learning_rate`",
    "did you mean `lr`?"
)]
#[case::threshold_arrow(
    "threshold_arrow",
    "18:31",
    "`validation/accuracy` must be a threshold, found `=> 0.9`",
    "did you mean `>= 0.9`?"
)]
#[case::threshold_word(
    "threshold_word",
    "18:31",
    "`validation/accuracy` must be a threshold, found `>= abc`",
    "a threshold is `OP NUMBER` with OP one of `>=`, `<=`, `>`, `<`, e.g. `>= 0.9`"
)]
#[case::url_ftp(
    "url_ftp",
    "8:17",
    "`url` must be an http:// or https:// URL, found `ftp://example.com/d.zip`",
    "`ftp://` is not downloaded by runner"
)]
#[case::sha256_short(
    "sha256_short",
    "8:54",
    "`sha256` must be a SHA-256 checksum (64 hexadecimal digits), found `abc123`",
    "it has 6 characters"
)]
#[case::checksum_number(
    "checksum_number",
    "8:54",
    "wrong type for `sha256`: expected text, found `0e11111111111111111111111111111111111111111111111111111111111111`, which YAML reads as the number 0",
    "quote it: \"0e11111111111111111111111111111111111111111111111111111111111111\""
)]
#[case::validation_split_on_split_folders(
    "validation_split_on_split_folders",
    "8:3",
    "`validation_split` is set, but `",
    "remove `validation_split` to use these folders as the splits"
)]
fn bad_spec_is_one_located_error(
    #[case] fixture: &str,
    #[case] location: &str,
    #[case] message: &str,
    #[case] help: &str,
) {
    let path = fixtures().join("bad").join(format!("{fixture}.yaml"));
    let (dir, spec) = workspace(&std::fs::read_to_string(path).unwrap());
    let out = runner(dir.path(), &["validate", "spec.yaml"]);
    assert_one_error(&out, Path::new("spec.yaml"), location, message, help);
    let line: usize = location.split(':').next().unwrap().parse().unwrap();
    assert!(
        stderr(&out).contains(&format!("{line} |")),
        "line {line} not shown:\n{}",
        stderr(&out)
    );
    drop(spec);
}

#[test]
fn every_bad_fixture_is_in_the_table() {
    let source = std::fs::read_to_string(file!()).unwrap();
    for entry in std::fs::read_dir(fixtures().join("bad")).unwrap() {
        let name = entry.unwrap().path();
        let stem = name.file_stem().unwrap().to_str().unwrap().to_string();
        assert!(
            source.contains(&format!("#[case::{stem}(")),
            "{stem}.yaml has no case in bad_spec_is_one_located_error"
        );
    }
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let (dir, _) = workspace(&format!("\u{feff}{}", base_spec()));
    let out = runner(dir.path(), &["validate", "spec.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_image_output_with_categorical_loss_is_a_warning() {
    let (dir, _) = workspace(&three_class_spec().replace("outputs: [logits]", "outputs: [conv]"));
    let out = runner(dir.path(), &["validate", "spec.yaml"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "warning: spec.yaml:16:1: `conv` gives an image (8, 8, 4), not one unit per class"
        ),
        "{err}"
    );
}

#[test]
fn whole_numbers_written_as_floats_are_read() {
    let (dir, _) = workspace(&base_spec().replace("epochs: 1,", "epochs: 2.0,"));
    let out = runner(dir.path(), &["validate", "spec.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[rstest]
#[case::bad_value("model.nodes.conv.filters=0", "`filters` must be >= 1, found 0")]
#[case::wrong_type(
    "phases.train.epochs=ten",
    "wrong type for `epochs`: expected a whole number, found `ten`"
)]
#[case::unknown_leaf_key("model.nodes.conv.filtres=3", "unknown key `filtres`")]
#[case::unknown_inner_key("data.rooot.x=1", "there is no `rooot` here")]
#[case::unknown_item("phases.tune.epochs=1", "no item `tune`")]
#[case::not_yaml("data.image_size=[8, 8", "the value is not valid YAML")]
#[case::planning_error(
    "model.nodes.image.shape=[16, 16, 3]",
    "the input shape (16, 16, 3) does not fit the data"
)]
fn set_mistakes_name_the_override(#[case] set: &str, #[case] message: &str) {
    let (dir, _) = workspace(&base_spec());
    let out = runner(dir.path(), &["validate", "--set", set, "spec.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let header = format!("error: spec.yaml: --set {set}: {message}");
    assert!(err.contains(&header), "expected `{header}` in:\n{err}");
    assert!(
        !err.contains("--> "),
        "no place in the file is shown:\n{err}"
    );
}

/// The standard CRC-32 of PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid 1x1 PNG whose header then claims `width` x `height` pixels (CRC fixed).
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut png = Vec::new();
    image::RgbImage::new(1, 1)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), ... CRC after 13 bytes.
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// A valid 8x8 JPEG whose frame header then claims `width` x `height` pixels.
fn jpeg_bomb(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::RgbImage::from_pixel(8, 8, image::Rgb([90, 90, 90]))
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG");
    // FF C0, length (2), precision (1), height (2), width (2).
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

/// Adds hostile files to the generated data: image bombs, symbolic-link loops, a file
/// reached twice, and a class folder whose name is not UTF-8 (in both splits).
fn add_hostile_files(data: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let cats = data.join("train/cats");
    std::fs::write(cats.join("bomb.png"), png_bomb(60_000, 60_000)).unwrap();
    std::fs::write(cats.join("bomb.jpg"), jpeg_bomb(65_000, 65_000)).unwrap();
    std::os::unix::fs::symlink("..", cats.join("loop")).unwrap();
    std::fs::create_dir(cats.join("sub")).unwrap();
    std::os::unix::fs::symlink("../..", cats.join("sub/loop2")).unwrap();
    std::os::unix::fs::symlink("0.png", cats.join("again.png")).unwrap();
    for split in ["train", "validation"] {
        let odd = data
            .join(split)
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
        std::fs::create_dir(&odd).unwrap();
        for i in 0..3u8 {
            image::RgbImage::from_pixel(8, 8, image::Rgb([120, i, 0]))
                .save(odd.join(format!("{i}.png")))
                .unwrap();
        }
    }
}

/// The base spec with three classes (cats, dogs and the non-UTF-8 one of the hostile files).
fn three_class_spec() -> String {
    base_spec()
        .replace("label_mode: binary", "label_mode: categorical")
        .replace("units: 1}", "units: 3}")
        .replace("binary_crossentropy", "categorical_crossentropy")
}

#[test]
fn hostile_data_is_skipped_with_warnings() {
    let (dir, _) = workspace(&three_class_spec());
    add_hostile_files(&dir.path().join("data"));
    let out = runner(dir.path(), &["data", "spec.yaml", "--out", "sheet.png"]);
    assert_no_crash(&out, "runner data");
    let err = stderr(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{err}");
    for bomb in ["bomb.png", "bomb.jpg"] {
        let warning = format!("{bomb}: the header claims");
        assert!(err.contains(&warning), "expected `{warning}` in:\n{err}");
    }
    assert!(
        err.contains("60000x60000 pixels, more than the limit of 100 megapixels"),
        "{err}"
    );
    assert!(err.contains("a symbolic link loop"), "{err}");
    // cats: 3 images (bombs skipped, again.png is 0.png, the loops add nothing); the
    // non-UTF-8 class is read from its real folder.
    assert!(text.contains("caf\u{fffd}"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("cats") && l.contains(" 3 ")),
        "{text}"
    );
}

#[test]
fn a_damaged_image_cache_is_rebuilt() {
    let spec = base_spec().replace("  batch_size: 2\n", "  batch_size: 2\n  cache_dir: cache\n");
    let (dir, _) = workspace(&spec);
    let first = runner(dir.path(), &["data", "spec.yaml", "--out", "sheet.png"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let cache = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&cache).unwrap();
    bytes[39] = 0x40; // the JSON length field now claims about 2^62 bytes
    std::fs::write(&cache, &bytes).unwrap();
    let second = runner(dir.path(), &["data", "spec.yaml", "--out", "sheet.png"]);
    assert_no_crash(&second, "runner data with a damaged cache");
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("ignoring image cache")
            && stderr(&second).contains("damaged: its header does not match its size"),
        "{}",
        stderr(&second)
    );
    let third = runner(dir.path(), &["data", "spec.yaml", "--out", "sheet.png"]);
    assert!(
        third.status.success() && !stderr(&third).contains("ignoring"),
        "the cache was not rewritten:\n{}",
        stderr(&third)
    );
}

#[test]
fn validation_split_on_split_folders_is_refused_by_runner_data() {
    let text =
        std::fs::read_to_string(fixtures().join("bad/validation_split_on_split_folders.yaml"))
            .unwrap();
    let (dir, _) = workspace(&text);
    let out = runner(dir.path(), &["data", "spec.yaml", "--out", "sheet.png"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("data.validation_split is set, but ")
            && err.contains("holds train/ and validation/ folders"),
        "{err}"
    );
}

#[test]
fn a_decoded_cache_larger_than_memory_is_refused() {
    // Enough empty files that 4096x4096 RGB each exceeds the machine's memory: the count is
    // checked before anything is decoded.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    let per_class = (kib * 1024.0 / (4096.0 * 4096.0 * 3.0) / 2.0) as usize + 1;
    let spec = base_spec()
        .replace("[8, 8]", "[4096, 4096]")
        .replace("[8, 8, 3]", "[4096, 4096, 3]");
    let (dir, _) = workspace(&spec);
    for class in ["cats", "dogs"] {
        let folder = dir.path().join("data/train").join(class);
        for i in 0..per_class {
            std::fs::write(folder.join(format!("big{i}.png")), b"").unwrap();
        }
    }
    let out = runner(dir.path(), &["data", "spec.yaml", "--out", "sheet.png"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("images decoded at 4096x4096 (50331648 bytes each) needs about")
            && err.contains("more than this machine's memory")
            && err.contains("lower data.image_size, or train on fewer images"),
        "{err}"
    );
}

/// Every bad fixture, and the valid spec over hostile data, through `validate`, `data` and
/// `run`: whatever the outcome, never a panic, an abort or a signal.
#[test]
fn no_input_panics_or_aborts() {
    let mut specs: Vec<(String, String)> = std::fs::read_dir(fixtures().join("bad"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    specs.sort();
    specs.push(("three classes over hostile data".into(), three_class_spec()));
    for (name, text) in &specs {
        let (dir, _) = workspace(text);
        add_hostile_files(&dir.path().join("data"));
        for args in [
            &["validate", "spec.yaml"][..],
            &["data", "spec.yaml", "--out", "sheet.png"],
            &["run", "spec.yaml", "--runs", "runs"],
            &[
                "predict",
                "--spec",
                "spec.yaml",
                "data/train/cats/bomb.png",
                "data/train/cats/bomb.jpg",
            ],
        ] {
            let out = runner(dir.path(), args);
            assert_no_crash(&out, &format!("{name}: runner {}", args.join(" ")));
        }
    }
}
