//! Random augmentations on cached u8 HWC RGB images, deterministic from a seed.
//!
//! Each image gets its own random stream, seeded from (run seed, epoch, image id), so the
//! result does not depend on thread scheduling or batch composition, and a resumed run sees
//! the same augmented images. The generator is SplitMix64, written here so that the streams
//! never change with a dependency's version.
//!
//! Geometric augmentations (rotate, zoom, translate, crop) map each output pixel centre back
//! into the source image, sample it bilinearly, and read positions outside the image by
//! reflecting about the edge (`d c b a | a b c d | d c b a`, Keras `fill_mode="reflect"`, its
//! default). Each augmentation in the list is applied in turn, like stacked Keras layers.

use crate::spec::data::{Augmentation, FlipMode};

/// SplitMix64: a tiny, fast, well-mixed generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A generator whose stream is determined by several numbers.
    pub fn from_parts(parts: &[u64]) -> Self {
        let mut s = 0x243F_6A88_85A3_08D3u64;
        for &p in parts {
            s = Rng(s ^ p).next_u64();
        }
        Rng(s)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n) (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// True with probability 1/2.
    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }
}

/// Fisher-Yates shuffle from a generator.
pub fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}

/// Applies `augs` in order to `img` (`h * w * 3` bytes, HWC), using `scratch` as working space.
pub fn apply(
    augs: &[Augmentation],
    img: &mut [u8],
    h: usize,
    w: usize,
    rng: &mut Rng,
    scratch: &mut Vec<u8>,
) {
    for a in augs {
        match *a {
            Augmentation::Flip(mode) => {
                let (hz, vt) = match mode {
                    FlipMode::Horizontal => (rng.coin(), false),
                    FlipMode::Vertical => (false, rng.coin()),
                    FlipMode::HorizontalAndVertical => (rng.coin(), rng.coin()),
                };
                if hz {
                    flip_horizontal(img, h, w);
                }
                if vt {
                    flip_vertical(img, h, w);
                }
            }
            Augmentation::Rotate(f) => {
                let t = rng.uniform(-f, f) * std::f64::consts::TAU;
                let (s, c) = t.sin_cos();
                // Output point p maps to source c + R(-t) (p - c).
                let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
                warp(img, h, w, [c, s, cx, -s, c, cy], (cx, cy), scratch);
            }
            Augmentation::Zoom(f) => {
                let z = rng.uniform(1.0 - f, 1.0 + f);
                let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
                warp(img, h, w, [z, 0.0, cx, 0.0, z, cy], (cx, cy), scratch);
            }
            Augmentation::Translate(f) => {
                let dy = rng.uniform(-f, f) * h as f64;
                let dx = rng.uniform(-f, f) * w as f64;
                warp(
                    img,
                    h,
                    w,
                    [1.0, 0.0, -dx, 0.0, 1.0, -dy],
                    (0.0, 0.0),
                    scratch,
                );
            }
            Augmentation::Crop(f) => {
                let (ch, cw) = (f * h as f64, f * w as f64);
                let oy = rng.uniform(0.0, h as f64 - ch);
                let ox = rng.uniform(0.0, w as f64 - cw);
                warp(img, h, w, [f, 0.0, ox, 0.0, f, oy], (0.0, 0.0), scratch);
            }
            Augmentation::Contrast(f) => {
                let k = rng.uniform(1.0 - f, 1.0 + f);
                contrast(img, k);
            }
            Augmentation::Brightness(f) => {
                let d = rng.uniform(-f, f) * 255.0;
                for v in img.iter_mut() {
                    *v = (*v as f64 + d).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
}

/// Mirrors left-right in place.
pub fn flip_horizontal(img: &mut [u8], h: usize, w: usize) {
    for row in img.chunks_exact_mut(w * 3).take(h) {
        for x in 0..w / 2 {
            let (a, b) = (x * 3, (w - 1 - x) * 3);
            for c in 0..3 {
                row.swap(a + c, b + c);
            }
        }
    }
}

/// Mirrors top-bottom in place.
pub fn flip_vertical(img: &mut [u8], h: usize, w: usize) {
    let stride = w * 3;
    for y in 0..h / 2 {
        let (top, bottom) = img.split_at_mut((h - 1 - y) * stride);
        top[y * stride..(y + 1) * stride].swap_with_slice(&mut bottom[..stride]);
    }
}

fn contrast(img: &mut [u8], k: f64) {
    let n = (img.len() / 3).max(1) as f64;
    let mut sum = [0f64; 3];
    for px in img.chunks_exact(3) {
        for c in 0..3 {
            sum[c] += px[c] as f64;
        }
    }
    let mean = sum.map(|s| s / n);
    for px in img.chunks_exact_mut(3) {
        for c in 0..3 {
            px[c] = ((px[c] as f64 - mean[c]) * k + mean[c])
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
}

/// Reflects an integer index into [0, n): `d c b a | a b c d | d c b a`.
#[inline]
fn reflect(i: i64, n: i64) -> usize {
    let period = 2 * n;
    let mut m = i.rem_euclid(period);
    if m >= n {
        m = period - 1 - m;
    }
    m as usize
}

/// Resamples `img` in place: the output point p (continuous coordinates, pixel centres at
/// +0.5) reads the source at `(m[0] * (px - o.0) + m[1] * (py - o.1) + m[2],
/// m[3] * (px - o.0) + m[4] * (py - o.1) + m[5])`, bilinearly, with reflection outside.
fn warp(img: &mut [u8], h: usize, w: usize, m: [f64; 6], o: (f64, f64), scratch: &mut Vec<u8>) {
    scratch.clear();
    scratch.extend_from_slice(img);
    let src = &scratch[..];
    let (hi, wi) = (h as i64, w as i64);
    for y in 0..h {
        let py = y as f64 + 0.5 - o.1;
        for x in 0..w {
            let px = x as f64 + 0.5 - o.0;
            let sx = m[0] * px + m[1] * py + m[2] - 0.5;
            let sy = m[3] * px + m[4] * py + m[5] - 0.5;
            let (fx, fy) = (sx.floor(), sy.floor());
            let (ax, ay) = ((sx - fx) as f32, (sy - fy) as f32);
            let (x0, y0) = (fx as i64, fy as i64);
            let (xa, xb) = (reflect(x0, wi), reflect(x0 + 1, wi));
            let (ya, yb) = (reflect(y0, hi), reflect(y0 + 1, hi));
            let p = |yy: usize, xx: usize| (yy * w + xx) * 3;
            let (i00, i01, i10, i11) = (p(ya, xa), p(ya, xb), p(yb, xa), p(yb, xb));
            let out = (y * w + x) * 3;
            for c in 0..3 {
                let top = src[i00 + c] as f32 * (1.0 - ax) + src[i01 + c] as f32 * ax;
                let bot = src[i10 + c] as f32 * (1.0 - ax) + src[i11 + c] as f32 * ax;
                img[out + c] = (top * (1.0 - ay) + bot * ay).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> Vec<u8> {
        (0..h * w * 3).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn flips_mirror_pixels() {
        let (h, w) = (3, 4);
        let img = ramp(h, w);
        let mut f = img.clone();
        flip_horizontal(&mut f, h, w);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    assert_eq!(f[(y * w + x) * 3 + c], img[(y * w + w - 1 - x) * 3 + c]);
                }
            }
        }
        let mut v = img.clone();
        flip_vertical(&mut v, h, w);
        assert_eq!(&v[..w * 3], &img[(h - 1) * w * 3..]);
        flip_vertical(&mut v, h, w);
        assert_eq!(v, img);
    }

    #[test]
    fn zero_factors_keep_image() {
        let (h, w) = (5, 6);
        let img = ramp(h, w);
        let augs = [
            Augmentation::Rotate(0.0),
            Augmentation::Zoom(0.0),
            Augmentation::Translate(0.0),
            Augmentation::Crop(1.0),
            Augmentation::Contrast(0.0),
            Augmentation::Brightness(0.0),
        ];
        let mut out = img.clone();
        apply(&augs, &mut out, h, w, &mut Rng::new(1), &mut Vec::new());
        assert_eq!(out, img);
    }

    #[test]
    fn half_turn_rotation_is_point_mirror() {
        let (h, w) = (4, 6);
        let img = ramp(h, w);
        let mut out = img.clone();
        // A stream for which the angle is close to +-pi is hard to pick; call warp directly.
        let (s, c) = std::f64::consts::PI.sin_cos();
        let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
        warp(
            &mut out,
            h,
            w,
            [c, s, cx, -s, c, cy],
            (cx, cy),
            &mut Vec::new(),
        );
        for y in 0..h {
            for x in 0..w {
                assert_eq!(
                    out[(y * w + x) * 3],
                    img[((h - 1 - y) * w + (w - 1 - x)) * 3]
                );
            }
        }
    }

    #[test]
    fn reflect_indices() {
        let r: Vec<usize> = (-3..7).map(|i| reflect(i, 3)).collect();
        assert_eq!(r, vec![2, 1, 0, 0, 1, 2, 2, 1, 0, 0]);
    }

    #[test]
    fn same_seed_same_result_and_shuffle_is_permutation() {
        let (h, w) = (8, 8);
        let augs = [
            Augmentation::Rotate(0.2),
            Augmentation::Brightness(0.2),
            Augmentation::Translate(0.1),
        ];
        let run = |seed| {
            let mut a = ramp(h, w);
            apply(
                &augs,
                &mut a,
                h,
                w,
                &mut Rng::from_parts(&[seed, 0, 3]),
                &mut Vec::new(),
            );
            a
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        let mut v: Vec<u32> = (0..100).collect();
        shuffle(&mut v, &mut Rng::new(9));
        let mut s = v.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_ne!(v, s);
    }
}
