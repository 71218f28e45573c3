//! Decoding one image file into resized RGB8 pixels, and decoding many in parallel.
//!
//! - The format is detected from the file's content, not its name (a text file named `.jpg` is
//!   skipped as "not a JPEG or PNG image"). JPEG and PNG are read.
//! - The EXIF orientation is applied (a phone photo stored sideways comes out upright).
//! - Every colour type (grayscale, grey+alpha, RGBA, 16-bit, CMYK JPEG) is converted to RGB8;
//!   alpha is dropped, as Keras `decode_image(channels=3)` does.
//! - Resizing uses `fast_image_resize` (SIMD). `bilinear` and `bicubic` use a fixed 2x2 / 4x4
//!   kernel without antialiasing, like `tf.image.resize` as Keras calls it; `area` averages
//!   the covered source pixels (box filter); `nearest` picks the nearest pixel.
//! - A decoder panic is caught and reported as a skip reason, never propagated.
//! - An image whose header claims more than [`MAX_PIXELS`] is skipped before anything is
//!   allocated for it (decompression bombs), by both decoders.
//! - JPEGs are decoded by libjpeg-turbo (see `turbo.rs` for why) when runner is built with
//!   the `turbojpeg` feature (the default); PNGs, CMYK JPEGs and JPEGs libjpeg-turbo reports
//!   a problem with go through the `image` crate (zune-jpeg, pure Rust), which also decides
//!   why a damaged file is skipped.
//! - `fast` decoding (`data.fast_decode`) decodes a JPEG at least twice the target size at
//!   1/2, 1/4 or 1/8 of its size in the DCT domain, the smallest of these that keeps both
//!   sides at least the target (Pillow's `Image.draft` rule), then resizes as above. This is
//!   what Pillow's `draft` + `resize` does, and it is faster, but the pixels differ slightly
//!   from a full decode followed by the resize (which is what Keras does): the DCT downscale
//!   averages the pixels it drops, where the fixed-kernel resize samples them. Without the
//!   `turbojpeg` feature there is no scaled decoding and `fast` decodes at full size.

use crate::spec::data::Interpolation;
use fast_image_resize::{self as fr, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use rayon::prelude::*;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Size of the image as stored in the file (after EXIF rotation): width, height.
pub type OriginalSize = (u32, u32);

/// Resize algorithm for an interpolation mode.
fn algorithm(interp: Interpolation) -> ResizeAlg {
    match interp {
        Interpolation::Bilinear => ResizeAlg::Interpolation(FilterType::Bilinear),
        Interpolation::Nearest => ResizeAlg::Nearest,
        Interpolation::Bicubic => ResizeAlg::Interpolation(FilterType::CatmullRom),
        Interpolation::Area => ResizeAlg::Convolution(FilterType::Box),
    }
}

/// Decodes an image file into an upright RGB8 image.
pub fn decode_rgb(path: &Path) -> Result<image::RgbImage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    decode_rgb_bytes(&bytes)
}

/// Decodes image bytes into an upright RGB8 image.
pub fn decode_rgb_bytes(bytes: &[u8]) -> Result<image::RgbImage, String> {
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    let format = image::guess_format(bytes)
        .map_err(|_| "not a JPEG or PNG image (unrecognised content)".to_string())?;
    let name = match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        other => {
            return Err(format!(
                "unsupported image format {other:?}; only JPEG and PNG are read"
            ));
        }
    };
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(
            "truncated JPEG: no end-of-image marker after the last scan \
                    (the file was cut short)"
                .into(),
        );
    }
    let result = std::panic::catch_unwind(|| -> Result<image::RgbImage, String> {
        let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
            .into_decoder()
            .map_err(|e| format!("corrupt {name}: {e}"))?;
        let (width, height) = decoder.dimensions();
        check_size(width, height)?;
        let orientation = decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut img = DynamicImage::from_decoder(decoder)
            .map_err(|e| format!("corrupt or truncated {name}: {e}"))?;
        img.apply_orientation(orientation);
        Ok(match img {
            DynamicImage::ImageRgb8(b) => b,
            other => other.to_rgb8(),
        })
    });
    let img = result.unwrap_or_else(|_| Err(format!("the {name} decoder failed on this file")))?;
    if img.width() == 0 || img.height() == 0 {
        return Err("image has no pixels (0 wide or 0 high)".into());
    }
    Ok(img)
}

/// Most pixels (width x height, as a file's header states them) an image may have: 100
/// megapixels, more than any camera photo. Decoding allocates for what the header claims, so a
/// "decompression bomb" (a small file claiming, say, 60000 x 60000 pixels) would exhaust memory.
pub const MAX_PIXELS: u64 = 100_000_000;

/// Refuses, before decoding, an image whose header claims more than [`MAX_PIXELS`].
pub(crate) fn check_size(width: u32, height: u32) -> Result<(), String> {
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(format!(
            "the header claims {width}x{height} pixels, more than the limit of {} megapixels \
             (a decompression bomb, or a picture far larger than training needs: downscale it)",
            MAX_PIXELS / 1_000_000
        ));
    }
    Ok(())
}

/// Whether a JPEG has an end-of-image marker (FF D9) after its last start-of-scan marker
/// (FF DA). Neither can occur inside entropy-coded data (byte stuffing), so a file cut short
/// anywhere after the headers fails this test. The decoder alone accepts such files and
/// fills the missing part with grey, which would put a corrupt image into training.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    // Scanning back from the end, the first of the two markers met decides: an EOI means there
    // is one after the last SOS. A complete file ends with its EOI, so this reads a few bytes
    // (a forward search for the last SOS read the whole file, about 3% of the decode time).
    for p in (0..bytes.len().saturating_sub(1)).rev() {
        if bytes[p] == 0xFF {
            match bytes[p + 1] {
                0xD9 => return true,
                0xDA => return false,
                _ => {}
            }
        }
    }
    false
}

/// Resizes RGB8 pixels into `out` (`height * width * 3` bytes, HWC).
pub fn resize_into(
    img: &image::RgbImage,
    size: [u32; 2],
    interp: Interpolation,
    resizer: &mut Resizer,
    out: &mut [u8],
) -> Result<(), String> {
    resize_pixels(
        (img.width(), img.height()),
        img.as_raw(),
        size,
        interp,
        resizer,
        out,
    )
}

/// Resizes `width x height` RGB8 pixels (HWC) into `out` (`height * width * 3` bytes, HWC).
fn resize_pixels(
    (width, height): (u32, u32),
    pixels: &[u8],
    size: [u32; 2],
    interp: Interpolation,
    resizer: &mut Resizer,
    out: &mut [u8],
) -> Result<(), String> {
    let [h, w] = size;
    if width == w && height == h {
        out.copy_from_slice(pixels);
        return Ok(());
    }
    let src = fr::images::ImageRef::new(width, height, pixels, PixelType::U8x3)
        .map_err(|e| format!("cannot resize: {e}"))?;
    let mut dst = fr::images::Image::from_slice_u8(w, h, out, PixelType::U8x3)
        .map_err(|e| format!("cannot resize: {e}"))?;
    let opts = ResizeOptions::new().resize_alg(algorithm(interp));
    resizer
        .resize(&src, &mut dst, &opts)
        .map_err(|e| format!("cannot resize: {e}"))
}

/// Which decoder a JPEG goes to: names the decoding in the file-cache key, so that a cache
/// written by another decoder (other pixels) is not reused.
pub fn method(fast: bool) -> &'static str {
    if cfg!(feature = "turbojpeg") {
        if fast {
            "libjpeg-turbo, DCT-scaled"
        } else {
            "libjpeg-turbo"
        }
    } else {
        "image crate"
    }
}

/// Per-thread decoding state, reused from image to image: the resizer and, with the
/// `turbojpeg` feature, a libjpeg-turbo decompressor and its pixel buffer (made on first use).
#[derive(Default)]
pub struct Worker {
    resizer: Resizer,
    #[cfg(feature = "turbojpeg")]
    turbo: Option<super::turbo::Turbo>,
}

/// Whether an EXIF orientation swaps width and height.
#[cfg(feature = "turbojpeg")]
fn swaps_axes(o: image::metadata::Orientation) -> bool {
    use image::metadata::Orientation::*;
    matches!(o, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH)
}

/// The EXIF orientation of a JPEG, from its last APP1 "Exif" segment before the first scan
/// (as zune-jpeg, and so the `image` crate, reads it).
#[cfg(feature = "turbojpeg")]
fn jpeg_orientation(bytes: &[u8]) -> image::metadata::Orientation {
    let mut found = image::metadata::Orientation::NoTransforms;
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            break;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        let end = (i + 2 + len).min(bytes.len());
        if marker == 0xE1
            && len >= 8
            && let Some(chunk) = bytes[i + 4..end].strip_prefix(b"Exif\0\0")
            && let Some(o) = image::metadata::Orientation::from_exif_chunk(chunk)
        {
            found = o;
        }
        i = end;
    }
    found
}

/// Decodes a JPEG with libjpeg-turbo, upright, and resizes it into `out`. `None` when
/// libjpeg-turbo should not decode it (not a complete JPEG, CMYK, a problem in the data): the
/// caller then uses the `image` crate, which decodes it or says why not.
#[cfg(feature = "turbojpeg")]
fn decode_turbo_into(
    bytes: &[u8],
    size: [u32; 2],
    interp: Interpolation,
    fast: bool,
    worker: &mut Worker,
    out: &mut [u8],
) -> Option<Result<OriginalSize, String>> {
    use image::metadata::Orientation;
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) || !jpeg_is_complete(bytes) {
        return None;
    }
    if worker.turbo.is_none() {
        worker.turbo = super::turbo::Turbo::new();
    }
    let turbo = worker.turbo.as_mut()?;
    let orientation = jpeg_orientation(bytes);
    let swap = swaps_axes(orientation);
    let [th, tw] = size;
    // The target in the file's stored axes, before the EXIF rotation.
    let target = fast.then_some(if swap { (th, tw) } else { (tw, th) });
    let d = turbo.decode(bytes, target)?;
    let (sw, sh) = d.stored;
    let original = if swap { (sh, sw) } else { (sw, sh) };
    let pixels = turbo.pixels(&d);
    let resized = if orientation == Orientation::NoTransforms {
        resize_pixels(d.decoded, pixels, size, interp, &mut worker.resizer, out)
    } else {
        let (w, h) = d.decoded;
        let mut img = DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, pixels.to_vec())?);
        img.apply_orientation(orientation);
        resize_into(&img.into_rgb8(), size, interp, &mut worker.resizer, out)
    };
    Some(resized.map(|()| original))
}

/// Decodes and resizes one file into `out` (`height * width * 3` bytes, HWC). `fast`: decode
/// large JPEGs at a DCT-domain scale first (see the module documentation).
pub fn decode_into(
    path: &Path,
    size: [u32; 2],
    interp: Interpolation,
    fast: bool,
    worker: &mut Worker,
    out: &mut [u8],
) -> Result<OriginalSize, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    #[cfg(feature = "turbojpeg")]
    if let Some(result) = decode_turbo_into(&bytes, size, interp, fast, worker, out) {
        return result;
    }
    #[cfg(not(feature = "turbojpeg"))]
    let _ = fast;
    let img = decode_rgb_bytes(&bytes)?;
    resize_into(&img, size, interp, &mut worker.resizer, out)?;
    Ok((img.width(), img.height()))
}

/// Decodes and resizes every file in parallel (on the current rayon pool) into one
/// contiguous HWC buffer, `height * width * 3` bytes per file in file order. A file that
/// cannot be used leaves zeros in its slot and an `Err(reason)` in the returned list.
pub fn decode_all(
    paths: &[PathBuf],
    size: [u32; 2],
    interp: Interpolation,
    fast: bool,
) -> (Vec<u8>, Vec<Result<OriginalSize, String>>) {
    let per = size[0] as usize * size[1] as usize * 3;
    let mut pixels = vec![0u8; per * paths.len()];
    let mut results: Vec<Result<OriginalSize, String>> = Vec::with_capacity(paths.len());
    pixels
        .par_chunks_mut(per.max(1))
        .zip(paths.par_iter())
        .map_init(Worker::default, |worker, (out, path)| {
            decode_into(path, size, interp, fast, worker, out)
        })
        .collect_into_vec(&mut results);
    (pixels, results)
}

/// Decode+resize throughput of `paths` with `threads` threads: (images decoded, seconds).
/// Used by the benchmark (`benches/data_decode.rs`); the lead may expose it as a command.
pub fn benchmark(
    paths: &[PathBuf],
    size: [u32; 2],
    interp: Interpolation,
    fast: bool,
    threads: usize,
) -> Result<(usize, f64), String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| e.to_string())?;
    let start = std::time::Instant::now();
    let (_, results) = pool.install(|| decode_all(paths, size, interp, fast));
    let secs = start.elapsed().as_secs_f64();
    Ok((results.iter().filter(|r| r.is_ok()).count(), secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_reason_not_a_panic() {
        assert!(decode_rgb_bytes(b"").unwrap_err().contains("empty"));
        assert!(
            decode_rgb_bytes(b"hello, not an image")
                .unwrap_err()
                .contains("not a JPEG or PNG")
        );
        // A JPEG header and nothing else.
        let e = decode_rgb_bytes(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16]).unwrap_err();
        assert!(e.contains("JPEG"), "{e}");
    }

    #[test]
    fn resize_gray_one_pixel() {
        let mut buf = Vec::new();
        image::GrayImage::from_pixel(1, 1, image::Luma([200]))
            .write_to(&mut Cursor::new(&mut buf), ImageFormat::Png)
            .unwrap();
        let img = decode_rgb_bytes(&buf).unwrap();
        let mut out = vec![0u8; 4 * 5 * 3];
        resize_into(
            &img,
            [4, 5],
            Interpolation::Bilinear,
            &mut Resizer::new(),
            &mut out,
        )
        .unwrap();
        assert!(out.iter().all(|&v| v == 200), "{out:?}");
    }

    /// A few shared photos: (bytes, path) of cat.0..3 and dog.0..3 from the training split.
    #[cfg(feature = "turbojpeg")]
    fn shared_photos() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cats_and_dogs/train");
        (0..4)
            .flat_map(|i| {
                [
                    root.join(format!("cats/cat.{i}.jpg")),
                    root.join(format!("dogs/dog.{i}.jpg")),
                ]
            })
            .collect()
    }

    /// Mean absolute difference per channel value (0-255) of two pixel buffers.
    #[cfg(feature = "turbojpeg")]
    fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let d: u64 = a
            .iter()
            .zip(b)
            .map(|(&p, &q)| u64::from(p.abs_diff(q)))
            .sum();
        d as f64 / a.len() as f64
    }

    /// Decodes a file at 160x160 bilinear: with libjpeg-turbo (`fast` or not) and with the
    /// `image` crate (the pure-Rust path).
    #[cfg(feature = "turbojpeg")]
    fn three_ways(path: &Path) -> [Vec<u8>; 3] {
        let (size, interp) = ([160, 160], Interpolation::Bilinear);
        let mut worker = Worker::default();
        let out = || vec![0u8; 160 * 160 * 3];
        let (mut full, mut fast, mut pure) = (out(), out(), out());
        decode_into(path, size, interp, false, &mut worker, &mut full).unwrap();
        decode_into(path, size, interp, true, &mut worker, &mut fast).unwrap();
        let img = decode_rgb(path).unwrap();
        resize_into(&img, size, interp, &mut worker.resizer, &mut pure).unwrap();
        [full, fast, pure]
    }

    #[cfg(feature = "turbojpeg")]
    #[test]
    fn fast_decode_stays_close_to_full_decode() {
        // Measured on all 3000 shared photos at 160x160: mean 2.4 per channel value.
        let mut total = 0.0;
        let photos = shared_photos();
        for p in &photos {
            let [full, fast, pure] = three_ways(p);
            let d = mean_abs_diff(&full, &fast);
            assert!(d < 6.0, "{}: fast vs full {d:.3}", p.display());
            total += d;
            // libjpeg-turbo and zune-jpeg round the inverse DCT and upsampling a little
            // differently; at full size they nearly agree.
            let d = mean_abs_diff(&full, &pure);
            assert!(
                d < 0.5,
                "{}: libjpeg-turbo vs image crate {d:.3}",
                p.display()
            );
        }
        let mean = total / photos.len() as f64;
        assert!((0.5..4.0).contains(&mean), "fast vs full, mean {mean:.3}");
    }

    #[cfg(feature = "turbojpeg")]
    #[test]
    fn fast_decode_is_upright_and_reports_the_upright_size() {
        // 400 wide x 200 high, red left, blue right, with EXIF Orientation 6 (rotate 90
        // clockwise to display): upright 200 x 400, red on top. At 40 high x 20 wide, the
        // stored image is decoded at 1/8 (50 x 25).
        let img = image::RgbImage::from_fn(400, 200, |x, _| {
            if x < 200 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        const APP1_ORIENTATION_6: [u8; 36] = [
            0xFF, 0xE1, 0, 34, b'E', b'x', b'i', b'f', 0, 0, b'M', b'M', 0, 0x2A, 0, 0, 0, 8, 0, 1,
            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0,
        ];
        let bytes = [&jpeg[..2], &APP1_ORIENTATION_6, &jpeg[2..]].concat();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rotated.jpg");
        std::fs::write(&path, &bytes).unwrap();
        let mut out = vec![0u8; 40 * 20 * 3];
        for fast in [true, false] {
            let size = decode_into(
                &path,
                [40, 20],
                Interpolation::Bilinear,
                fast,
                &mut Worker::default(),
                &mut out,
            )
            .unwrap();
            assert_eq!(size, (200, 400));
            let at = |y: usize| &out[(y * 20 + 10) * 3..(y * 20 + 10) * 3 + 3];
            assert!(
                at(2)[0] > 200 && at(2)[2] < 60,
                "fast {fast}: top {:?}",
                at(2)
            );
            assert!(
                at(37)[2] > 200 && at(37)[0] < 60,
                "fast {fast}: bottom {:?}",
                at(37)
            );
        }
    }

    #[test]
    fn completeness_is_decided_by_the_last_marker() {
        assert!(jpeg_is_complete(&[
            0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 0xFF, 0xD9
        ]));
        assert!(jpeg_is_complete(&[0xFF, 0xDA, 1, 0xFF, 0xD9, 0, 0]));
        assert!(!jpeg_is_complete(&[0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 3]));
        assert!(!jpeg_is_complete(&[0xFF, 0xD9, 0xFF, 0xDA, 1]));
        assert!(!jpeg_is_complete(&[0xFF]));
        assert!(!jpeg_is_complete(&[]));
    }
}
