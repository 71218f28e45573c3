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

/// Whether a JPEG has an end-of-image marker (FF D9) after its last start-of-scan marker
/// (FF DA). Neither can occur inside entropy-coded data (byte stuffing), so a file cut short
/// anywhere after the headers fails this test. The decoder alone accepts such files and
/// fills the missing part with grey, which would put a corrupt image into training.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(p) => bytes[p..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

/// Resizes RGB8 pixels into `out` (`height * width * 3` bytes, HWC).
pub fn resize_into(
    img: &image::RgbImage,
    size: [u32; 2],
    interp: Interpolation,
    resizer: &mut Resizer,
    out: &mut [u8],
) -> Result<(), String> {
    let [h, w] = size;
    if img.width() == w && img.height() == h {
        out.copy_from_slice(img.as_raw());
        return Ok(());
    }
    let src = fr::images::ImageRef::new(img.width(), img.height(), img.as_raw(), PixelType::U8x3)
        .map_err(|e| format!("cannot resize: {e}"))?;
    let mut dst = fr::images::Image::from_slice_u8(w, h, out, PixelType::U8x3)
        .map_err(|e| format!("cannot resize: {e}"))?;
    let opts = ResizeOptions::new().resize_alg(algorithm(interp));
    resizer
        .resize(&src, &mut dst, &opts)
        .map_err(|e| format!("cannot resize: {e}"))
}

/// Decodes and resizes one file into `out` (`height * width * 3` bytes, HWC).
pub fn decode_into(
    path: &Path,
    size: [u32; 2],
    interp: Interpolation,
    resizer: &mut Resizer,
    out: &mut [u8],
) -> Result<OriginalSize, String> {
    let img = decode_rgb(path)?;
    resize_into(&img, size, interp, resizer, out)?;
    Ok((img.width(), img.height()))
}

/// Decodes and resizes every file in parallel (on the current rayon pool) into one
/// contiguous HWC buffer, `height * width * 3` bytes per file in file order. A file that
/// cannot be used leaves zeros in its slot and an `Err(reason)` in the returned list.
pub fn decode_all(
    paths: &[PathBuf],
    size: [u32; 2],
    interp: Interpolation,
) -> (Vec<u8>, Vec<Result<OriginalSize, String>>) {
    let per = size[0] as usize * size[1] as usize * 3;
    let mut pixels = vec![0u8; per * paths.len()];
    let mut results: Vec<Result<OriginalSize, String>> = Vec::with_capacity(paths.len());
    pixels
        .par_chunks_mut(per.max(1))
        .zip(paths.par_iter())
        .map_init(Resizer::new, |resizer, (out, path)| {
            decode_into(path, size, interp, resizer, out)
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
    threads: usize,
) -> Result<(usize, f64), String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| e.to_string())?;
    let start = std::time::Instant::now();
    let (_, results) = pool.install(|| decode_all(paths, size, interp));
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
}
