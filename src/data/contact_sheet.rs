//! A PNG contact sheet: sample training images of each class with their labels, a row of
//! validation samples, and a row of augmented variants of one training image (the cached
//! image, then its augmented versions in epochs 0, 1, 2, …), so a person can look at the data
//! and the augmentation.
//!
//! The tiles are composed with the `image` crate; the captions are drawn with `plotters`
//! (already a dependency for charts) in the font compiled into runner
//! ([`crate::track::font`]), so no system fonts are needed. The user asked for this picture:
//! if any part of it cannot be made, the command fails and nothing is left at the path.

use super::{DataError, Dataset, SplitKind};
use image::{RgbImage, imageops};
use std::path::Path;

/// Images per row.
const COLUMNS: usize = 8;
/// Largest tile side; bigger images are scaled down for the sheet.
const MAX_TILE: u32 = 160;
/// Height of the caption strip under each tile.
const CAPTION: u32 = 18;
/// Gap between tiles.
const GAP: u32 = 4;
/// At most this many class rows.
const MAX_CLASS_ROWS: usize = 12;

/// One row of the sheet: a title and (image, caption) tiles.
struct Row {
    title: String,
    tiles: Vec<(RgbImage, String)>,
}

/// Writes the contact sheet of `ds` to `out_png`.
pub fn write(ds: &Dataset, out_png: &Path) -> Result<(), DataError> {
    let [h, w] = ds.image_size();
    let to_img = |px: Vec<u8>| RgbImage::from_raw(w as u32, h as u32, px).expect("image size");
    let mut rows = Vec::new();
    let train = ds.items(SplitKind::Train);
    for (label, name) in ds.class_names().iter().enumerate().take(MAX_CLASS_ROWS) {
        let ids: Vec<usize> = train
            .iter()
            .filter(|i| i.label as usize == label)
            .map(|i| i.image)
            .collect();
        let tiles = spread(&ids, COLUMNS)
            .into_iter()
            .map(|id| (to_img(ds.image(id).to_vec()), name.clone()))
            .collect();
        rows.push(Row {
            title: format!("train: {name} (label {label})"),
            tiles,
        });
    }
    let val: Vec<usize> = ds
        .items(SplitKind::Validation)
        .iter()
        .map(|i| i.image)
        .collect();
    let val_items = ds.items(SplitKind::Validation);
    rows.push(Row {
        title: "validation samples".into(),
        tiles: spread(&(0..val.len()).collect::<Vec<_>>(), COLUMNS)
            .into_iter()
            .map(|p| {
                let it = val_items[p];
                (
                    to_img(ds.image(it.image).to_vec()),
                    ds.class_names()[it.label as usize].clone(),
                )
            })
            .collect(),
    });
    if let Some(first) = train.first() {
        let id = first.image;
        let mut tiles = vec![(to_img(ds.image(id).to_vec()), "original".to_string())];
        for epoch in 0..(COLUMNS as u64 - 1) {
            tiles.push((to_img(ds.augmented(id, epoch)), format!("epoch {epoch}")));
        }
        let file = ds
            .path(id)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let title = if ds.augmentations().is_empty() {
            format!("augmentation of {file}: none declared (data.augment)")
        } else {
            format!("augmentation of {file}")
        };
        rows.push(Row { title, tiles });
    }
    render(&rows, out_png)
}

/// Up to `k` items spread evenly over `ids`.
fn spread(ids: &[usize], k: usize) -> Vec<usize> {
    if ids.len() <= k {
        return ids.to_vec();
    }
    (0..k).map(|i| ids[i * ids.len() / k]).collect()
}

fn render(rows: &[Row], out_png: &Path) -> Result<(), DataError> {
    let tile_dims = |img: &RgbImage| {
        let (w, h) = img.dimensions();
        let s = (MAX_TILE as f64 / w.max(h) as f64).min(1.0);
        (
            ((w as f64 * s).round() as u32).max(1),
            ((h as f64 * s).round() as u32).max(1),
        )
    };
    let (tw, th) = rows
        .iter()
        .flat_map(|r| r.tiles.first())
        .map(|(img, _)| tile_dims(img))
        .next()
        .unwrap_or((MAX_TILE, MAX_TILE));
    let title_h = CAPTION + 2;
    let row_h = title_h + th + CAPTION + GAP;
    let width = (tw.max(40) + GAP) * COLUMNS as u32 + GAP;
    let height = row_h * rows.len() as u32 + GAP;
    let mut sheet = RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut texts: Vec<(String, i32, i32, bool)> = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let y0 = GAP + r as u32 * row_h;
        texts.push((row.title.clone(), GAP as i32, y0 as i32 + 2, true));
        for (c, (img, caption)) in row.tiles.iter().enumerate() {
            let x = GAP + c as u32 * (tw.max(40) + GAP);
            let small = if img.dimensions() == (tw, th) {
                img.clone()
            } else {
                imageops::resize(img, tw, th, imageops::FilterType::Triangle)
            };
            imageops::replace(&mut sheet, &small, x as i64, (y0 + title_h) as i64);
            texts.push((
                caption.clone(),
                x as i32,
                (y0 + title_h + th + 2) as i32,
                false,
            ));
        }
    }
    let failed = |reason: String| DataError::ContactSheet {
        path: out_png.to_path_buf(),
        reason,
    };
    draw_texts(&mut sheet, &texts).map_err(|e| failed(format!("cannot draw its captions: {e}")))?;
    let mut png = Vec::new();
    sheet
        .write_with_encoder(image::codecs::png::PngEncoder::new(&mut png))
        .map_err(|e| failed(format!("PNG encoding failed: {e}")))?;
    crate::track::write_atomically(out_png, &png)
        .map_err(|e| failed(format!("{e}: check the folder exists and is writable")))
}

fn draw_texts(sheet: &mut RgbImage, texts: &[(String, i32, i32, bool)]) -> Result<(), String> {
    use crate::track::font::{FAMILY, ensure_registered};
    use plotters::prelude::*;
    ensure_registered()?;
    let (w, h) = sheet.dimensions();
    let buf: &mut [u8] = sheet;
    let backend = BitMapBackend::with_buffer(buf, (w, h));
    let area = backend.into_drawing_area();
    let caption = (FAMILY, 13).into_font().color(&BLACK);
    let title = (FAMILY, 14).into_font().color(&RGBColor(30, 30, 120));
    for (text, x, y, is_title) in texts {
        let style = if *is_title { &title } else { &caption };
        area.draw_text(text, style, (*x, *y))
            .map_err(|e| e.to_string())?;
    }
    area.present().map_err(|e| e.to_string())
}
