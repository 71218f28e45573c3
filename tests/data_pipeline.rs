//! The data pipeline end to end, on real photos from the shared cats-and-dogs set and on small
//! folders of made-up and broken files written by the tests themselves.

use image::{ImageFormat, Rgb, RgbImage};
use rstest::rstest;
use runner::data::{
    Augmentation, DataError, DataSpec, Dataset, FlipMode, LabelMode, SplitKind, overview,
};
use std::io::Cursor;
use std::path::{Path, PathBuf};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/cats_and_dogs");

fn shared(split: &str, class: &str, name: &str) -> PathBuf {
    Path::new(SHARED).join(split).join(class).join(name)
}

/// Copies `n` real photos of each class of `split` into `dst/<class>/`.
fn copy_real(dst: &Path, split: &str, n: usize) {
    for (class, stem) in [("cats", "cat"), ("dogs", "dog")] {
        let dir = dst.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        let start = if split == "train" { 0 } else { 2000 };
        for i in start..start + n {
            let name = format!("{stem}.{i}.jpg");
            std::fs::copy(shared(split, class, &name), dir.join(&name)).unwrap();
        }
    }
}

/// A tree `root/train/{cats,dogs}` (n real photos each) and `root/validation/{cats,dogs}` (m).
fn real_tree(n: usize, m: usize) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_real(&t.path().join("train"), "train", n);
    copy_real(&t.path().join("validation"), "validation", m);
    t
}

fn encode(img: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Vec::new();
    img.write_to(&mut Cursor::new(&mut buf), format).unwrap();
    buf
}

/// A JPEG with an APP1 Exif segment saying Orientation = `o` inserted after SOI.
fn with_exif_orientation(jpeg: &[u8], o: u16) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&o.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut seg = b"Exif\x00\x00".to_vec();
    seg.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Red left half, blue right half, `w` x `h`.
fn red_blue(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| {
        if x < w / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    })
}

fn spec(root: &Path, size: u32, batch: usize) -> DataSpec {
    let mut s = DataSpec::new(root, [size, size]);
    s.batch_size = batch;
    s
}

#[test]
fn real_photos_with_broken_and_odd_files() {
    let t = real_tree(6, 3);
    let cats = t.path().join("train/cats");
    let real = std::fs::read(shared("train", "cats", "cat.0.jpg")).unwrap();
    std::fs::write(cats.join("truncated.jpg"), &real[..real.len() / 3]).unwrap();
    std::fs::write(cats.join("notes.jpg"), "these are not pixels").unwrap();
    std::fs::write(cats.join("readme.txt"), "hello").unwrap();
    std::fs::write(cats.join("empty.png"), b"").unwrap();
    let one = image::DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([9, 8, 7])));
    std::fs::write(cats.join("one.png"), encode(&one, ImageFormat::Png)).unwrap();
    let gray =
        image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(30, 20, image::Luma([77])));
    std::fs::write(cats.join("gray.png"), encode(&gray, ImageFormat::Png)).unwrap();
    let deep = image::DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
        10,
        12,
        image::Rgb([65535u16, 0, 32896]),
    ));
    std::fs::write(cats.join("deep16.png"), encode(&deep, ImageFormat::Png)).unwrap();
    let la = image::DynamicImage::ImageLumaA16(image::ImageBuffer::from_pixel(
        5,
        5,
        image::LumaA([1000u16, 65535]),
    ));
    std::fs::write(cats.join("graya16.png"), encode(&la, ImageFormat::Png)).unwrap();
    std::fs::create_dir_all(cats.join("nested")).unwrap();
    std::fs::copy(
        shared("train", "cats", "cat.100.jpg"),
        cats.join("nested/cat.100.jpg"),
    )
    .unwrap();

    let s = spec(t.path(), 32, 4);
    let ds = Dataset::load(&s, Path::new("/"), 7).unwrap();
    assert_eq!(ds.class_names(), ["cats", "dogs"]);
    // 6 real + 1x1 + gray + 16-bit + gray-alpha 16-bit + nested real.
    assert_eq!(ds.class_counts(SplitKind::Train), vec![11, 6]);
    assert_eq!(ds.class_counts(SplitKind::Validation), vec![3, 3]);
    assert!(!ds.has_test());
    let reasons: Vec<(String, String)> = ds
        .skipped()
        .iter()
        .map(|s| {
            (
                s.path.file_name().unwrap().to_string_lossy().into_owned(),
                s.reason.clone(),
            )
        })
        .collect();
    let reason = |f: &str| {
        reasons
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{f} not skipped: {reasons:?}"))
    };
    assert!(reason("truncated.jpg").contains("JPEG"), "{reasons:?}");
    assert!(reason("notes.jpg").contains("not a JPEG or PNG"));
    assert!(reason("readme.txt").contains("not an image file name"));
    assert!(reason("empty.png").contains("empty"));
    assert_eq!(reasons.len(), 4);

    // Grayscale became grey RGB; the 1x1 image filled the whole 32x32 tile.
    let id_of = |name: &str| {
        ds.items(SplitKind::Train)
            .iter()
            .map(|i| i.image)
            .find(|&i| ds.path(i).ends_with(name))
            .unwrap()
    };
    assert!(ds.image(id_of("gray.png")).iter().all(|&v| v == 77));
    assert!(ds.image(id_of("one.png")).chunks(3).all(|p| p == [9, 8, 7]));
    assert_eq!(&ds.image(id_of("deep16.png"))[..3], &[255, 0, 128]);
    assert_eq!(ds.original_size(id_of("deep16.png")), Some((10, 12)));
    assert_eq!(ds.original_size(id_of("cat.0.jpg")), Some((500, 374)));
}

#[test]
fn exif_rotation_is_respected() {
    let t = real_tree(2, 2);
    // Stored 40 wide x 20 high, red left, blue right; Orientation 6 = rotate 90 clockwise
    // to display, so the upright image is 20 wide x 40 high, red on top.
    let jpeg = encode(
        &image::DynamicImage::ImageRgb8(red_blue(40, 20)),
        ImageFormat::Jpeg,
    );
    std::fs::write(
        t.path().join("train/cats/rotated.jpg"),
        with_exif_orientation(&jpeg, 6),
    )
    .unwrap();
    let mut s = spec(t.path(), 40, 2);
    s.image_size = [40, 20];
    let ds = Dataset::load(&s, Path::new("/"), 1).unwrap();
    let id = ds
        .items(SplitKind::Train)
        .iter()
        .map(|i| i.image)
        .find(|&i| ds.path(i).ends_with("rotated.jpg"))
        .unwrap();
    assert_eq!(ds.original_size(id), Some((20, 40)));
    let px = ds.image(id);
    let at = |y: usize, x: usize| &px[(y * 20 + x) * 3..(y * 20 + x) * 3 + 3];
    assert!(
        at(2, 10)[0] > 200 && at(2, 10)[2] < 60,
        "top {:?}",
        at(2, 10)
    );
    assert!(
        at(37, 10)[2] > 200 && at(37, 10)[0] < 60,
        "bottom {:?}",
        at(37, 10)
    );
}

#[test]
fn shuffle_and_augmentation_are_deterministic_and_validation_is_untouched() {
    let t = real_tree(8, 4);
    let mut s = spec(t.path(), 24, 4);
    s.augment = vec![
        Augmentation::Flip(FlipMode::Horizontal),
        Augmentation::Rotate(0.1),
        Augmentation::Brightness(0.1),
    ];
    let a = Dataset::load(&s, Path::new("/"), 42).unwrap();
    let b = Dataset::load(&s, Path::new("/"), 42).unwrap();
    let c = Dataset::load(&s, Path::new("/"), 43).unwrap();
    assert_eq!(a.order(SplitKind::Train, 0), b.order(SplitKind::Train, 0));
    assert_ne!(a.order(SplitKind::Train, 0), a.order(SplitKind::Train, 1));
    assert_ne!(a.order(SplitKind::Train, 0), c.order(SplitKind::Train, 0));
    // Validation keeps file order.
    assert_eq!(
        a.order(SplitKind::Validation, 3),
        (0..8).collect::<Vec<_>>()
    );

    let ea: Vec<_> = a.batches(SplitKind::Train, 2).collect();
    let eb: Vec<_> = b.batches(SplitKind::Train, 2).collect();
    assert_eq!(ea.len(), 4);
    assert_eq!(ea, eb);
    let other_epoch: Vec<_> = a.batches(SplitKind::Train, 3).collect();
    assert_ne!(ea, other_epoch);
    // Labels match the folders.
    for batch in &ea {
        assert_eq!(batch.images.len(), batch.len * 3 * 24 * 24);
        for (k, &id) in batch.ids.iter().enumerate() {
            let folder = a.path(id).parent().unwrap().file_name().unwrap();
            assert_eq!(a.class_names()[batch.labels[k] as usize].as_str(), folder);
        }
    }
    // Training images are augmented: at least one differs from the cache.
    let first = &ea[0];
    let differs = (0..first.len).any(|k| chw(first, k) != hwc_f32(a.image(first.ids[k])));
    assert!(differs);
    // Validation is never augmented: every image equals its cached pixels.
    for v in a.batches(SplitKind::Validation, 2) {
        for k in 0..v.len {
            assert_eq!(chw(&v, k), hwc_f32(a.image(v.ids[k])));
        }
    }
}

/// Image `k` of a batch as HWC f32.
fn chw(b: &runner::data::Batch, k: usize) -> Vec<f32> {
    let hw = b.height * b.width;
    let img = &b.images[k * 3 * hw..(k + 1) * 3 * hw];
    (0..hw)
        .flat_map(|p| [img[p], img[hw + p], img[2 * hw + p]])
        .collect()
}

fn hwc_f32(px: &[u8]) -> Vec<f32> {
    px.iter().map(|&v| v as f32).collect()
}

#[test]
fn horizontal_flip_mirrors_or_keeps() {
    let t = real_tree(6, 2);
    let mut s = spec(t.path(), 16, 2);
    s.augment = vec![Augmentation::Flip(FlipMode::Horizontal)];
    let ds = Dataset::load(&s, Path::new("/"), 5).unwrap();
    let (mut kept, mut flipped) = (0, 0);
    for epoch in 0..4 {
        for it in ds.items(SplitKind::Train) {
            let orig = ds.image(it.image);
            let aug = ds.augmented(it.image, epoch);
            let mut mirror = orig.to_vec();
            runner::data::augment::flip_horizontal(&mut mirror, 16, 16);
            if aug == orig {
                kept += 1;
            } else {
                assert_eq!(aug, mirror);
                flipped += 1;
            }
        }
    }
    assert!(kept > 5 && flipped > 5, "kept {kept} flipped {flipped}");
}

#[test]
fn splits_are_stratified_and_drawn_from_the_split_seed_not_the_run_seed() {
    let t = tempfile::tempdir().unwrap();
    copy_real(t.path(), "train", 10);
    let mut s = spec(t.path(), 16, 2);
    s.validation_split = Some(0.2);
    s.test_from_validation = 0.5;
    let a = Dataset::load(&s, Path::new("/"), 1).unwrap();
    assert_eq!(a.class_counts(SplitKind::Train), vec![8, 8]);
    assert_eq!(a.class_counts(SplitKind::Validation), vec![1, 1]);
    assert_eq!(a.class_counts(SplitKind::Test), vec![1, 1]);
    let b = Dataset::load(&s, Path::new("/"), 1).unwrap();
    assert_eq!(
        a.items(SplitKind::Validation),
        b.items(SplitKind::Validation)
    );
    // No image is in two splits.
    let mut ids: Vec<usize> = SplitKind::ALL
        .iter()
        .flat_map(|&k| a.items(k).iter().map(|i| i.image))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    // The run's seed does not move the splits: seed replicates share them.
    let splits = |ds: &Dataset| {
        [SplitKind::Train, SplitKind::Validation, SplitKind::Test].map(|k| ds.items(k).to_vec())
    };
    for seed in 2..10 {
        let other = Dataset::load(&s, Path::new("/"), seed).unwrap();
        assert_eq!(splits(&other), splits(&a), "seed {seed} moved the splits");
    }
    // `split_seed` does.
    let split_seeds_differ = (1..10).any(|split_seed| {
        let t = DataSpec {
            split_seed,
            ..s.clone()
        };
        splits(&Dataset::load(&t, Path::new("/"), 1).unwrap()) != splits(&a)
    });
    assert!(split_seeds_differ);
}

#[test]
fn file_cache_is_written_then_read() {
    let t = real_tree(3, 2);
    let cache = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), 20, 2);
    s.cache_dir = Some(cache.path().to_path_buf());
    let a = Dataset::load(&s, Path::new("/"), 1).unwrap();
    assert!(matches!(
        a.cache_status(),
        runner::data::CacheStatus::Written(_)
    ));
    let b = Dataset::load(&s, Path::new("/"), 1).unwrap();
    assert!(matches!(
        b.cache_status(),
        runner::data::CacheStatus::Hit(_)
    ));
    for it in a.items(SplitKind::Train) {
        assert_eq!(a.image(it.image), b.image(it.image));
    }
    // Another size is another cache file.
    s.image_size = [21, 20];
    let c = Dataset::load(&s, Path::new("/"), 1).unwrap();
    assert!(matches!(
        c.cache_status(),
        runner::data::CacheStatus::Written(_)
    ));
}

#[rstest]
#[case::missing_validation("no_validation", "validation split")]
#[case::class_missing("class_missing", "class \"dogs\" is in the training split")]
#[case::empty_class("empty_class", "has no usable image (1 file(s) skipped)")]
#[case::small("small", "fewer than one batch")]
#[case::extra_class("extra_class", "training split does not have")]
#[case::binary_three("binary_three", "binary needs exactly 2")]
fn bad_layouts_fail_with_clear_errors(#[case] what: &str, #[case] expect: &str) {
    let t = real_tree(2, 2);
    let root = t.path();
    let mut s = spec(root, 16, 2);
    match what {
        "no_validation" => std::fs::remove_dir_all(root.join("validation")).unwrap(),
        "class_missing" => std::fs::remove_dir_all(root.join("validation/dogs")).unwrap(),
        "empty_class" => {
            std::fs::create_dir_all(root.join("train/birds")).unwrap();
            std::fs::write(root.join("train/birds/bird.jpg"), "no").unwrap();
            std::fs::create_dir_all(root.join("validation/birds")).unwrap();
            s.label_mode = LabelMode::Categorical;
        }
        "small" => s.batch_size = 5,
        "extra_class" => {
            copy_real(&root.join("validation/x"), "validation", 1);
            std::fs::rename(
                root.join("validation/x/cats"),
                root.join("validation/birds"),
            )
            .unwrap();
        }
        "binary_three" => {
            copy_real(&root.join("train/x"), "train", 1);
            std::fs::rename(root.join("train/x/cats"), root.join("train/birds")).unwrap();
            s.label_mode = LabelMode::Binary;
        }
        _ => unreachable!(),
    }
    let e: DataError = Dataset::load(&s, Path::new("/"), 1).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(expect), "{msg}");
    if what != "small" && what != "binary_three" {
        assert!(msg.contains(&root.display().to_string()), "{msg}");
    }
}

#[test]
fn overview_writes_contact_sheet_and_summary() {
    let t = real_tree(4, 2);
    std::fs::write(t.path().join("train/dogs/bad.jpg"), "x").unwrap();
    let mut s = spec(t.path(), 48, 2);
    s.augment = vec![Augmentation::Rotate(0.2), Augmentation::Zoom(0.2)];
    let out = t.path().join("sheet.png");
    let r = overview(&s, Path::new("/"), 3, &out).unwrap();
    let text = r.to_string();
    assert!(text.contains("files skipped: 1"), "{text}");
    assert!(text.contains("bad.jpg: not a JPEG or PNG"), "{text}");
    assert!(text.contains("train"), "{text}");
    let sheet = image::open(&out).unwrap();
    assert!(sheet.width() > 8 * 48 && sheet.height() > 4 * 48);
}

/// The whole shared data set, as the tutorial uses it (20% of validation moved to test).
#[test]
fn shared_dataset_overview() {
    let mut s = DataSpec::new("cats_and_dogs", [64, 64]);
    s.test_from_validation = 0.2;
    s.label_mode = LabelMode::Binary;
    let out = tempfile::tempdir().unwrap();
    let base = Path::new(SHARED).parent().unwrap();
    let r = overview(&s, base, 123, &out.path().join("sheet.png")).unwrap();
    let counts: Vec<(String, Vec<usize>)> = r
        .splits
        .iter()
        .map(|c| (c.split.to_string(), c.per_class.clone()))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("train".into(), vec![1000, 1000]),
            ("validation".into(), vec![400, 400]),
            ("test".into(), vec![100, 100]),
        ]
    );
    assert!(r.skipped.is_empty());
}

/// An 8x8 pure-red CMYK JPEG (Adobe APP14) written by Pillow:
/// `Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(f, "JPEG", quality=95)`.
const CMYK_RED_JPEG: &str = "ffd8ffee000e41646f626500640000000000ffdb0043000201010101010201010102020202020403020202020504040304060506060605060606070908060709070606080b08090a0a0a0a0a06080b0c0b0a0c090a0a0affc000140800080008044311004d11005911004b1100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000e0443004d0059004b00003f00fdfcafe7febf9ffafdfcafffd9";

#[test]
fn cmyk_jpeg_becomes_rgb() {
    let bytes: Vec<u8> = (0..CMYK_RED_JPEG.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&CMYK_RED_JPEG[i..i + 2], 16).unwrap())
        .collect();
    let img = runner::data::decode::decode_rgb_bytes(&bytes).unwrap();
    assert_eq!(img.dimensions(), (8, 8));
    let p = img.get_pixel(3, 3).0;
    assert!(p[0] > 230 && p[1] < 30 && p[2] < 30, "{p:?}");
}
