//! One image prepared for a model outside a dataset (`runner predict`): decoded and resized
//! like a run's training data, or center-cropped and resized like ImageNet evaluation.
//! Both give planar RGB `f32` pixels in 0..=255 (`[3, h, w]`), as the data loader's batches.

use super::Interpolation;
use super::decode::{self, Worker};
use super::loader::hwc_to_chw;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use std::path::{Path, PathBuf};

/// An image that could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("cannot read image `{}`: {reason}", path.display())]
pub struct ImageError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

fn image_error(path: &Path) -> impl Fn(String) -> ImageError + '_ {
    move |reason| ImageError {
        path: path.to_path_buf(),
        reason,
    }
}

/// Decodes `path` and resizes the whole image to `h`x`w` as the data pipeline does for
/// training (same decoder, interpolation and `fast_decode`).
pub fn like_training(
    path: &Path,
    [h, w]: [usize; 2],
    interpolation: Interpolation,
    fast: bool,
) -> Result<Vec<f32>, ImageError> {
    let mut hwc = vec![0u8; h * w * 3];
    decode::decode_into(
        path,
        [h as u32, w as u32],
        interpolation,
        fast,
        &mut Worker::default(),
        &mut hwc,
    )
    .map_err(image_error(path))?;
    let mut chw = vec![0.0f32; 3 * h * w];
    hwc_to_chw(&hwc, h * w, &mut chw);
    Ok(chw)
}

/// Decodes `path` as RGB (with the decoder's size limits and EXIF orientation), crops the
/// centered square and resizes it to `h`x`w` (bilinear, as PIL does for ImageNet evaluation).
pub fn center_crop(path: &Path, [h, w]: [usize; 2]) -> Result<Vec<f32>, ImageError> {
    let error = image_error(path);
    let image = image::open(path)
        .map_err(|e| error(e.to_string()))?
        .to_rgb8();
    let (iw, ih) = image.dimensions();
    let side = iw.min(ih);
    let (left, top) = ((iw - side) / 2, (ih - side) / 2);
    let mut out = image::RgbImage::new(w as u32, h as u32);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(left as f64, top as f64, side as f64, side as f64);
    Resizer::new()
        .resize(&image, &mut out, &options)
        .map_err(|e| error(format!("cannot resize: {e}")))?;
    let mut chw = vec![0.0f32; 3 * h * w];
    hwc_to_chw(out.as_raw(), h * w, &mut chw);
    Ok(chw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_give_planar_rgb_of_the_asked_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        // Left half red, right half blue, 40x20.
        image::RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        })
        .save(&path)
        .unwrap();
        let whole = like_training(&path, [4, 8], Interpolation::Bilinear, false).unwrap();
        assert_eq!(whole.len(), 3 * 4 * 8);
        assert_eq!(
            (whole[0], whole[2 * 32]),
            (255.0, 0.0),
            "top-left is red, in plane 0"
        );
        assert_eq!(whole[2 * 32 + 7], 255.0, "top-right is blue, in plane 2");
        // The centered 20x20 square straddles both halves.
        let crop = center_crop(&path, [4, 4]).unwrap();
        assert_eq!(crop.len(), 3 * 16);
        assert_eq!((crop[0], crop[2 * 16 + 3]), (255.0, 255.0));
        let missing = like_training(
            &dir.path().join("none.png"),
            [4, 4],
            Interpolation::Bilinear,
            false,
        );
        assert!(missing.unwrap_err().to_string().contains("none.png"));
    }
}
