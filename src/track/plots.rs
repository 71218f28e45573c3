//! PNG plots of a run: learning curves and the confusion matrix.
//!
//! Plots are drawn into memory, PNG-encoded and written with
//! [`write_atomically`](crate::track::atomic::write_atomically), so an
//! interrupted run never leaves a truncated PNG behind.

use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::track::atomic::write_atomically;

/// Why a plot could not be written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The data cannot be plotted (empty history, non-square matrix, ...).
    #[error("cannot plot {}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    /// Drawing failed (e.g. no usable font).
    #[error("cannot draw {}: {message}", path.display())]
    Draw { path: PathBuf, message: String },
    /// Encoding or writing the PNG failed (the message names the path).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Metrics of one epoch, as plotted by [`learning_curves_png`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochMetrics {
    /// Epoch number, 1-based (the metrics are those at the end of it).
    pub epoch: usize,
    pub train_loss: f64,
    /// Accuracy in [0, 1].
    pub train_accuracy: f64,
    pub val_loss: Option<f64>,
    /// Accuracy in [0, 1].
    pub val_accuracy: Option<f64>,
}

const CURVES_SIZE: (u32, u32) = (900, 900);
const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VAL_COLOR: RGBColor = RGBColor(255, 127, 14);
const MARKER_COLOR: RGBColor = RGBColor(44, 160, 44);
const FONT: &str = "sans-serif";

fn draw_err(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> PlotError + '_ {
    move |e| PlotError::Draw {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn encode_png(path: &Path, rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, PlotError> {
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        rgb,
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| PlotError::Draw {
        path: path.to_owned(),
        message: format!("PNG encoding failed: {e}"),
    })?;
    Ok(png)
}

/// Draws into an in-memory RGB buffer of `size`, then writes it as PNG to
/// `path` atomically.
fn render<F>(path: &Path, size: (u32, u32), draw: F) -> Result<(), PlotError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
{
    let mut buf = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err(path)(&e))?;
        draw(&root)?;
        root.present().map_err(|e| draw_err(path)(&e))?;
    }
    let png = encode_png(path, &buf, size)?;
    write_atomically(path, &png)?;
    Ok(())
}

struct Panel<'a> {
    title: &'a str,
    y_desc: &'a str,
    train: Vec<(f64, f64)>,
    val: Vec<(f64, f64)>,
    y_range: (f64, f64),
    legend: SeriesLabelPosition,
}

/// Learning curves as in TensorFlow's transfer-learning tutorial: accuracy
/// (top) and loss (bottom), training and validation, with a vertical line
/// labelled "Start fine-tuning" at the end of the last epoch before
/// `fine_tune_start_epoch` (the first fine-tuning epoch, 1-based).
///
/// Epochs without validation metrics are skipped in the validation line;
/// non-finite values are skipped everywhere. The parent folder must exist.
pub fn learning_curves_png(
    path: &Path,
    history: &[EpochMetrics],
    fine_tune_start_epoch: Option<usize>,
) -> Result<(), PlotError> {
    if history.is_empty() {
        return Err(PlotError::Invalid {
            path: path.to_owned(),
            reason: "no epochs in the history".into(),
        });
    }
    let finite = |v: f64| v.is_finite().then_some(v);
    let series = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|m| f(m).and_then(finite).map(|v| (m.epoch as f64, v)))
            .collect()
    };
    let train_acc = series(&|m| Some(m.train_accuracy));
    let val_acc = series(&|m| m.val_accuracy);
    let train_loss = series(&|m| Some(m.train_loss));
    let val_loss = series(&|m| m.val_loss);

    let marker = fine_tune_start_epoch.map(|e| e.saturating_sub(1) as f64);
    let mut x_min = history.iter().map(|m| m.epoch).min().unwrap_or(0) as f64;
    let mut x_max = history.iter().map(|m| m.epoch).max().unwrap_or(0) as f64;
    if let Some(x) = marker {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
    }
    if x_max - x_min < 1.0 {
        x_min -= 0.5;
        x_max += 0.5;
    }

    let values = |a: &[(f64, f64)], b: &[(f64, f64)]| -> Vec<f64> {
        a.iter().chain(b).map(|p| p.1).collect()
    };
    let accs = values(&train_acc, &val_acc);
    let acc_min = accs.iter().copied().fold(f64::INFINITY, f64::min);
    let acc_lo = if acc_min.is_finite() {
        ((acc_min - 0.05).max(0.0) * 10.0).floor() / 10.0
    } else {
        0.0
    };
    let acc_hi = accs.iter().copied().fold(1.0, f64::max);
    let losses = values(&train_loss, &val_loss);
    let loss_max = losses.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let loss_min = losses.iter().copied().fold(f64::INFINITY, f64::min);
    let loss_hi = if loss_max.is_finite() && loss_max > 0.0 {
        loss_max * 1.1
    } else {
        1.0
    };
    let loss_lo = if loss_min.is_finite() && loss_min < 0.0 {
        loss_min * 1.1
    } else {
        0.0
    };

    let panels = [
        Panel {
            title: "Training and Validation Accuracy",
            y_desc: "Accuracy",
            train: train_acc,
            val: val_acc,
            y_range: (acc_lo, acc_hi),
            legend: SeriesLabelPosition::LowerRight,
        },
        Panel {
            title: "Training and Validation Loss",
            y_desc: "Loss",
            train: train_loss,
            val: val_loss,
            y_range: (loss_lo, loss_hi),
            legend: SeriesLabelPosition::UpperRight,
        },
    ];

    render(path, CURVES_SIZE, |root| {
        let areas = root.split_evenly((2, 1));
        for (area, panel) in areas.iter().zip(&panels) {
            draw_panel(path, area, panel, (x_min, x_max), marker)?;
        }
        Ok(())
    })
}

fn draw_panel(
    path: &Path,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &Panel<'_>,
    (x_min, x_max): (f64, f64),
    marker: Option<f64>,
) -> Result<(), PlotError> {
    let err = draw_err(path);
    let (y_lo, y_hi) = panel.y_range;
    let mut chart = ChartBuilder::on(&area.margin(10, 10, 10, 25))
        .caption(panel.title, (FONT, 24))
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x_min..x_max, y_lo..y_hi)
        .map_err(|e| err(&e))?;
    let integer_epochs = x_max - x_min <= 20.0;
    chart
        .configure_mesh()
        .x_desc("Epoch")
        .y_desc(panel.y_desc)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_labels(if integer_epochs {
            (x_max - x_min).floor() as usize + 1
        } else {
            10
        })
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{y:.2}"))
        .draw()
        .map_err(|e| err(&e))?;

    for (points, label, color) in [
        (&panel.train, "Training", TRAIN_COLOR),
        (&panel.val, "Validation", VAL_COLOR),
    ] {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| err(&e))?;
    }
    if let Some(x) = marker {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, y_lo), (x, y_hi)],
                MARKER_COLOR.stroke_width(2),
            )))
            .map_err(|e| err(&e))?
            .label("Start fine-tuning")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], MARKER_COLOR.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(190, 190, 190))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(())
}

/// Shortens a class name for an axis label.
fn short_label(name: &str, max_chars: usize) -> String {
    if name.chars().count() <= max_chars {
        name.to_owned()
    } else {
        let mut s: String = name.chars().take(max_chars.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The confusion matrix as a heat map: rows are true classes (top to
/// bottom), columns predicted classes (left to right), `matrix[t][p]` the
/// number of examples of class `t` predicted as `p`. Cells are shaded by
/// their share of the true class's examples (so rows compare even when
/// classes are imbalanced) and, when large enough, show their count.
pub fn confusion_matrix_png(
    path: &Path,
    class_names: &[String],
    matrix: &[Vec<u64>],
) -> Result<(), PlotError> {
    let n = class_names.len();
    let invalid = |reason: String| PlotError::Invalid {
        path: path.to_owned(),
        reason,
    };
    if n == 0 {
        return Err(invalid("no classes".into()));
    }
    if matrix.len() != n || matrix.iter().any(|row| row.len() != n) {
        return Err(invalid(format!(
            "the matrix must be {n}x{n} for {n} class names, got {} rows of lengths {:?}",
            matrix.len(),
            matrix.iter().map(Vec::len).collect::<Vec<_>>()
        )));
    }

    let cell: u32 = (640 / n as u32).clamp(6, 72);
    let show_labels = cell >= 10;
    let show_counts = cell >= 26;
    let label_chars = 14;
    let label_px: u32 = if show_labels {
        let longest = class_names
            .iter()
            .map(|c| short_label(c, label_chars).chars().count())
            .max()
            .unwrap_or(1) as u32;
        (longest * 9 + 16).clamp(30, 150)
    } else {
        20
    };
    let grid = cell * n as u32;
    let size = (grid + label_px + 60 + 40, grid + label_px + 60 + 70);
    let font_px = f64::from(cell.clamp(10, 30) as i32 * 11 / 20)
        .max(10.0)
        .min(16.0);

    let totals: Vec<u64> = matrix.iter().map(|r| r.iter().sum()).collect();
    let total: u64 = totals.iter().sum();
    let correct: u64 = (0..n).map(|i| matrix[i][i]).sum();
    let caption = if total > 0 {
        format!(
            "Confusion matrix (accuracy {:.1}%, {total} examples)",
            100.0 * correct as f64 / total as f64
        )
    } else {
        "Confusion matrix (no examples)".to_owned()
    };

    render(path, size, |root| {
        let err = draw_err(path);
        let names = class_names.to_vec();
        let names_y = names.clone();
        let n_i = n as i32;
        let mut chart = ChartBuilder::on(&root.margin(10, 30, 10, 30))
            .caption(caption.as_str(), (FONT, 22))
            .x_label_area_size(label_px + 30)
            .y_label_area_size(label_px + 30)
            .build_cartesian_2d((0..n_i).into_segmented(), (0..n_i).into_segmented())
            .map_err(|e| err(&e))?;
        let x_fmt = move |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) if (0..n_i).contains(i) => {
                short_label(&names[*i as usize], label_chars)
            }
            _ => String::new(),
        };
        let y_fmt = move |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) if (0..n_i).contains(i) => {
                short_label(&names_y[(n_i - 1 - *i) as usize], label_chars)
            }
            _ => String::new(),
        };
        let label_style = (FONT, font_px.max(12.0)).into_font();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("Predicted class")
            .y_desc("True class")
            .axis_desc_style((FONT, 18))
            .x_labels(if show_labels { n } else { 0 })
            .y_labels(if show_labels { n } else { 0 })
            .x_label_style(label_style.clone().transform(FontTransform::Rotate90))
            .y_label_style(label_style)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(|e| err(&e))?;

        let cells = (0..n).flat_map(|t| (0..n).map(move |p| (t, p)));
        chart
            .draw_series(cells.clone().map(|(t, p)| {
                let share = if totals[t] > 0 {
                    matrix[t][p] as f64 / totals[t] as f64
                } else {
                    0.0
                };
                let y = n_i - 1 - t as i32;
                let x = p as i32;
                Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    blues(share).filled(),
                )
            }))
            .map_err(|e| err(&e))?;
        if show_counts {
            let count_font = (FONT, font_px).into_font();
            chart
                .draw_series(cells.map(|(t, p)| {
                    let share = if totals[t] > 0 {
                        matrix[t][p] as f64 / totals[t] as f64
                    } else {
                        0.0
                    };
                    let color = if share > 0.5 { WHITE } else { BLACK };
                    let style = count_font.clone().color(&color).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Center,
                        ),
                    );
                    Text::new(
                        matrix[t][p].to_string(),
                        (
                            SegmentValue::CenterOf(p as i32),
                            SegmentValue::CenterOf(n_i - 1 - t as i32),
                        ),
                        style,
                    )
                }))
                .map_err(|e| err(&e))?;
        }
        Ok(())
    })
}

/// White to dark blue, like matplotlib's "Blues".
fn blues(share: f64) -> RGBColor {
    let t = share.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(n: usize) -> Vec<EpochMetrics> {
        (1..=n)
            .map(|e| {
                let t = e as f64;
                EpochMetrics {
                    epoch: e,
                    train_loss: 1.2 / t,
                    train_accuracy: 1.0 - 0.5 / t,
                    val_loss: Some(1.0 / t + 0.1),
                    val_accuracy: Some(0.95 - 0.45 / t),
                }
            })
            .collect()
    }

    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
        (img.width(), img.height())
    }

    #[test]
    fn learning_curves_written_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("curves.png");
        learning_curves_png(&p, &history(10), Some(6)).unwrap();
        assert_eq!(png_size(&p), CURVES_SIZE);
        // Only the PNG, no temporary file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn learning_curves_edge_cases() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("one.png");
        let mut h = history(1);
        h[0].val_loss = None;
        h[0].val_accuracy = Some(f64::NAN);
        learning_curves_png(&p, &h, None).unwrap();
        assert_eq!(png_size(&p), CURVES_SIZE);
        let err = learning_curves_png(&p, &[], None).unwrap_err();
        assert!(err.to_string().contains("one.png"), "{err}");
    }

    #[test]
    fn confusion_matrix_written_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cm.png");
        let names: Vec<String> = ["cat", "dog", "horse with a very long name"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = vec![vec![50, 3, 1], vec![4, 40, 0], vec![0, 0, 0]];
        confusion_matrix_png(&p, &names, &m).unwrap();
        let (w, h) = png_size(&p);
        assert!(w > 200 && h > 200, "{w}x{h}");

        // Many classes: no labels or counts, still a valid image.
        let names: Vec<String> = (0..200).map(|i| format!("c{i}")).collect();
        let m: Vec<Vec<u64>> = (0..200)
            .map(|i| (0..200).map(|j| u64::from(i == j) * 10).collect())
            .collect();
        let p2 = dir.path().join("cm200.png");
        confusion_matrix_png(&p2, &names, &m).unwrap();
        png_size(&p2);
    }

    #[test]
    fn confusion_matrix_rejects_bad_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cm.png");
        let names = vec!["a".to_string(), "b".to_string()];
        let err = confusion_matrix_png(&p, &names, &[vec![1, 2]]).unwrap_err();
        assert!(matches!(err, PlotError::Invalid { .. }));
        assert!(err.to_string().contains("cm.png"));
        assert!(!p.exists());
    }
}
