//! JPEG decoding with libjpeg-turbo, at full size or scaled down in the DCT domain.
//!
//! Why libjpeg-turbo, through the `turbojpeg` crate (cargo feature `turbojpeg`, on by default):
//!
//! - Speed. On the 3000 shared photos (about 450x370, baseline 4:2:0) it decodes about 1.4x
//!   faster than zune-jpeg (the `image` crate's decoder) at full size, and it can decode at 1/2,
//!   1/4 or 1/8 of the size in the DCT domain (`data.fast_decode`), which skips most of the
//!   inverse DCT, upsampling and colour conversion work. zune-jpeg has no scaled decoding; the
//!   pure-Rust decoder that has one (`jpeg-decoder`, `Decoder::scale`) was measured slower
//!   scaled than zune-jpeg at full size, so it would not help.
//! - Same pixels as Pillow, which decodes with libjpeg-turbo too (accurate integer DCT, smooth
//!   chroma upsampling, the defaults used here): a full decode here is bit-identical to
//!   Pillow's `Image.open(..).convert("RGB")`, and a scaled decode to Pillow's after
//!   `Image.draft("RGB", size)` (checked on shared photos). TensorFlow's `decode_jpeg` is
//!   libjpeg-turbo as well; its pixels were not compared.
//! - No unsafe code here and no system library: the `turbojpeg` crate wraps the C API safely,
//!   and its `turbojpeg-sys` builds the libjpeg-turbo 3.1 sources it bundles (with cmake, nasm
//!   for the SIMD code and a C compiler, which `ci/setup.sh` installs) and links them
//!   statically. A build with `--no-default-features` leaves all this out and decodes every
//!   image with the `image` crate.
//!
//! What goes elsewhere: images whose header claims more pixels than
//! [`super::decode::MAX_PIXELS`] (checked before anything is allocated), CMYK and YCCK JPEGs
//! (libjpeg-turbo only gives CMYK pixels for them) and any JPEG libjpeg-turbo reports an error
//! or a warning about (a warning means damaged data) are left to the `image` crate, which
//! converts them or gives the reason for skipping them.

use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};

/// A decompressor and the pixel buffer it decodes into, reused from image to image (one per
/// decoding thread).
pub(super) struct Turbo {
    decompressor: Decompressor,
    pixels: Vec<u8>,
}

/// What [`Turbo::decode`] produced: the size stored in the file (before any EXIF rotation)
/// and the size of the decoded pixels, both width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decoded {
    pub stored: (u32, u32),
    pub decoded: (u32, u32),
}

impl Turbo {
    /// A decompressor, or `None` if libjpeg-turbo cannot make one (out of memory).
    pub fn new() -> Option<Turbo> {
        Some(Turbo {
            decompressor: Decompressor::new().ok()?,
            pixels: Vec::new(),
        })
    }

    /// Decodes a JPEG into RGB8 pixels (read them with [`Turbo::pixels`]). With `target`
    /// (width, height, in the file's stored axes), decodes at the smallest DCT scale (1/8,
    /// 1/4, 1/2) that keeps both sides at least the target, as Pillow's `Image.draft` does;
    /// without, at full size. `None` when libjpeg-turbo cannot or should not decode it (CMYK,
    /// YCCK, an error, a warning): the caller then asks the `image` crate.
    pub fn decode(&mut self, bytes: &[u8], target: Option<(u32, u32)>) -> Option<Decoded> {
        let header = self.decompressor.read_header(bytes).ok()?;
        if matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK) {
            return None;
        }
        let stored = (
            u32::try_from(header.width).ok()?,
            u32::try_from(header.height).ok()?,
        );
        // Too large to decode: the `image` crate path gives the reason.
        super::decode::check_size(stored.0, stored.1).ok()?;
        let denom = match target {
            // Lossless JPEGs cannot be scaled.
            Some((tw, th)) if !header.is_lossless => {
                scale_denominator(stored.0, stored.1, tw, th) as usize
            }
            _ => 1,
        };
        let factor = ScalingFactor::new(1, denom);
        self.decompressor.set_scaling_factor(factor).ok()?;
        let scaled = header.scaled(factor);
        let (w, h) = (scaled.width, scaled.height);
        let len = w.checked_mul(h)?.checked_mul(3)?;
        // Every byte is written by the decoder; the buffer keeps its largest size so far.
        self.pixels.resize(len, 0);
        let image = Image {
            pixels: &mut self.pixels[..len],
            width: w,
            pitch: w * 3,
            height: h,
            format: PixelFormat::RGB,
        };
        self.decompressor.decompress(bytes, image).ok()?;
        Some(Decoded {
            stored,
            decoded: (u32::try_from(w).ok()?, u32::try_from(h).ok()?),
        })
    }

    /// The pixels of the last successful [`Turbo::decode`] (`width * height * 3` bytes, HWC).
    pub fn pixels(&self, decoded: &Decoded) -> &[u8] {
        let (w, h) = decoded.decoded;
        &self.pixels[..w as usize * h as usize * 3]
    }
}

/// The DCT scale denominator (1, 2, 4 or 8) for a `width` x `height` JPEG that will be
/// resized to `target_w` x `target_h`: the largest whose reduced image keeps both sides at
/// least the target. This is Pillow's rule in `JpegImageFile.draft` (the largest scale `s`
/// with `width // target_w >= s` and `height // target_h >= s`).
pub(super) fn scale_denominator(width: u32, height: u32, target_w: u32, target_h: u32) -> u32 {
    [8u32, 4, 2]
        .into_iter()
        .find(|&d| {
            u64::from(width) >= u64::from(d) * u64::from(target_w)
                && u64::from(height) >= u64::from(d) * u64::from(target_h)
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_pillows_draft_rule() {
        // 447x374 (a typical shared photo) to 160x160: 1/2 (224x187), not 1/4.
        assert_eq!(scale_denominator(447, 374, 160, 160), 2);
        // Just below twice the target on one side: full size.
        assert_eq!(scale_denominator(500, 319, 160, 160), 1);
        assert_eq!(scale_denominator(320, 320, 160, 160), 2);
        assert_eq!(scale_denominator(4000, 3000, 160, 160), 8);
        assert_eq!(scale_denominator(1300, 700, 160, 160), 4);
        assert_eq!(scale_denominator(100, 100, 160, 160), 1);
        assert_eq!(scale_denominator(5000, 5000, 0, 0), 8);
    }

    #[test]
    fn not_a_jpeg_is_none() {
        let mut t = Turbo::new().unwrap();
        assert!(t.decode(b"not a jpeg at all", None).is_none());
        assert!(
            t.decode(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16], Some((8, 8)))
                .is_none()
        );
    }
}
