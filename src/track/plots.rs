//! PNG plots of a run (learning curves, confusion matrix) and of a comparison of runs
//! (validation curves overlaid, the ranking metric against each swept parameter).
//!
//! Plots are drawn into memory, PNG-encoded and written with
//! [`crate::track::atomic::write_atomically`], so an
//! interrupted run never leaves a truncated PNG behind.

use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::track::atomic::write_atomically;
use crate::track::font::{self, FAMILY as FONT};

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
    font::ensure_registered().map_err(|e| draw_err(path)(&e))?;
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
///
/// Long by design: a drawing script, the two panels and the fine-tuning marker on one canvas.
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

/// Draws one panel of the learning curves into `area`.
/// Long by design: a drawing script for one panel: axes, both series, legend.
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

/// One run's curve in a comparison plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Legend text (the run's name).
    pub label: String,
    /// (epoch, value) points.
    pub points: Vec<(f64, f64)>,
}

/// The ranking metric against one parameter: one point per run; `categories` names the x
/// positions of a parameter that is not a number.
#[derive(Clone, Debug, PartialEq)]
pub struct Scatter {
    /// The parameter's name.
    pub parameter: String,
    /// (parameter value or category index, metric) points.
    pub points: Vec<(f64, f64)>,
    /// Category names for non-numeric parameters (empty for numbers).
    pub categories: Vec<String>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// A comparison of runs: `metric` per epoch for each run (dashed lines where a phase
/// starts, `phase_starts` epochs), and below, one panel per parameter with the runs' final
/// metric against it.
///
/// Long by design: a drawing script, the curves panel then one panel per parameter, on one
/// canvas.
pub fn comparison_png(
    path: &Path,
    metric: &str,
    curves: &[Curve],
    phase_starts: &[f64],
    scatters: &[Scatter],
) -> Result<(), PlotError> {
    let all: Vec<(f64, f64)> = curves
        .iter()
        .flat_map(|c| c.points.iter().copied())
        .chain(scatters.iter().flat_map(|s| s.points.iter().copied()))
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    if all.is_empty() {
        return Err(PlotError::Invalid {
            path: path.to_owned(),
            reason: format!("no run has values of `{metric}` yet"),
        });
    }
    let (y_lo, y_hi) = padded(all.iter().map(|p| p.1));
    let epochs = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0));
    let (x_lo, x_hi) = padded(epochs.chain(phase_starts.iter().copied()));
    let rows = scatters.len().div_ceil(2);
    let size = (1000, 480 + 320 * rows as u32);
    render(path, size, |root| {
        let err = draw_err(path);
        let (top, bottom) = root.split_vertically(480);
        let mut chart = ChartBuilder::on(&top.margin(10, 10, 10, 25))
            .caption(format!("{metric} per epoch"), (FONT, 24))
            .x_label_area_size(40)
            .y_label_area_size(65)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("Epoch")
            .y_desc(metric)
            .label_style((FONT, 14))
            .draw()
            .map_err(|e| err(&e))?;
        for &x in phase_starts {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x - 0.5, y_lo), (x - 0.5, y_hi)],
                    6,
                    4,
                    MARKER_COLOR.stroke_width(1),
                ))
                .map_err(|e| err(&e))?;
        }
        for (i, curve) in curves.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    curve.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(&e))?
                .label(short_label(&curve.label, 40))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        if curves.len() <= 12 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(190, 190, 190))
                .draw()
                .map_err(|e| err(&e))?;
        }
        if rows == 0 {
            return Ok(());
        }
        let panels = bottom.split_evenly((rows, 2));
        for (area, scatter) in panels.iter().zip(scatters) {
            let (sx_lo, sx_hi) = padded(scatter.points.iter().map(|p| p.0));
            let categories = scatter.categories.clone();
            let mut chart = ChartBuilder::on(&area.margin(10, 10, 10, 25))
                .caption(format!("{metric} vs {}", scatter.parameter), (FONT, 18))
                .x_label_area_size(40)
                .y_label_area_size(65)
                .build_cartesian_2d(sx_lo..sx_hi, y_lo..y_hi)
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc(scatter.parameter.as_str())
                .label_style((FONT, 13))
                .x_label_formatter(&|x| {
                    let x = *x;
                    if categories.is_empty() {
                        format!("{x:.3}")
                    } else if (x - x.round()).abs() < 1e-9 && x >= 0.0 {
                        categories
                            .get(x.round() as usize)
                            .cloned()
                            .unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .draw()
                .map_err(|e| err(&e))?;
            chart
                .draw_series(
                    scatter
                        .points
                        .iter()
                        .map(|&p| Circle::new(p, 5, PALETTE[0].filled())),
                )
                .map_err(|e| err(&e))?;
        }
        Ok(())
    })
}

/// The range of `values` with 5% room on each side (one unit when they are all equal).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(if hi > lo { 0.0 } else { 0.5 });
    (lo - pad, hi + pad)
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

/// Pixel layout of the confusion-matrix image.
struct CmLayout {
    size: (u32, u32),
    /// Top-left corner of the grid.
    grid_origin: (i32, i32),
    cell: i32,
    label_font: f64,
    count_font: f64,
    show_labels: bool,
    show_counts: bool,
}

const CM_MARGIN: i32 = 20;
const CM_TITLE_H: i32 = 50;
const CM_DESC_H: i32 = 34;
const CM_COLORBAR_W: i32 = 90;
const CM_LABEL_CHARS: usize = 16;

/// Widest of `texts` in pixels at `size` (measured with the plot font;
/// estimated at 0.6 em per character if the font cannot be loaded).
fn text_width(texts: &[String], size: f64) -> i32 {
    let _ = font::ensure_registered();
    let mut buf = [255u8; 3];
    let area = BitMapBackend::with_buffer(&mut buf, (1, 1)).into_drawing_area();
    let font = (FONT, size).into_font().into_text_style(&area);
    texts
        .iter()
        .map(|t| {
            area.estimate_text_size(t, &font)
                .map(|(w, _)| w as i32)
                .unwrap_or((t.chars().count() as f64 * size * 0.6) as i32)
        })
        .max()
        .unwrap_or(0)
}

fn cm_layout(n: usize, labels: &[String], caption: &str) -> CmLayout {
    let cell: i32 = (640 / n as i32).clamp(4, 72);
    let show_labels = cell >= 11;
    let show_counts = cell >= 28;
    let label_font = f64::from(cell).mul_add(0.5, 0.0).clamp(11.0, 16.0);
    let count_font = f64::from(cell).mul_add(0.3, 0.0).clamp(11.0, 17.0);
    let label_px = if show_labels {
        text_width(labels, label_font) + 12
    } else {
        0
    };
    let grid = cell * n as i32;
    let left = CM_MARGIN + CM_DESC_H + label_px;
    let top = CM_MARGIN + CM_TITLE_H;
    let width = (left + grid + CM_COLORBAR_W + CM_MARGIN)
        .max(text_width(&[caption.to_owned()], 22.0) + 2 * CM_MARGIN);
    let height = top + grid + label_px + CM_DESC_H + CM_MARGIN;
    CmLayout {
        size: (width as u32, height as u32),
        grid_origin: (left, top),
        cell,
        label_font,
        count_font,
        show_labels,
        show_counts,
    }
}

/// The confusion matrix as a heat map: rows are true classes (top to
/// bottom), columns predicted classes (left to right), `matrix[t][p]` the
/// number of examples of class `t` predicted as `p`. Cells are shaded by
/// their share of the true class's examples (so rows compare even when
/// classes are imbalanced) and, when large enough, show their count. Class
/// names are shown when cells are large enough (up to about 55 classes).
///
/// Long by design: a drawing script, title, cells, labels and colour bar in order on one
/// canvas.
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

    let totals: Vec<u64> = matrix.iter().map(|r| r.iter().sum()).collect();
    let total: u64 = totals.iter().sum();
    let correct: u64 = (0..n).map(|i| matrix[i][i]).sum();
    let caption = if total > 0 {
        format!(
            "Confusion matrix: accuracy {:.1}% of {total}",
            100.0 * correct as f64 / total as f64
        )
    } else {
        "Confusion matrix (no examples)".to_owned()
    };
    let labels: Vec<String> = class_names
        .iter()
        .map(|c| short_label(c, CM_LABEL_CHARS))
        .collect();
    let layout = cm_layout(n, &labels, &caption);
    let share = |t: usize, p: usize| {
        if totals[t] > 0 {
            matrix[t][p] as f64 / totals[t] as f64
        } else {
            0.0
        }
    };

    render(path, layout.size, |root| {
        let err = draw_err(path);
        let (gx, gy) = layout.grid_origin;
        let c = layout.cell;
        let grid = c * n as i32;
        let (w, h) = (layout.size.0 as i32, layout.size.1 as i32);
        let centered = |size: f64| {
            (FONT, size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center))
        };

        root.draw(&Text::new(
            caption.clone(),
            (w / 2, CM_MARGIN + CM_TITLE_H / 2 - 6),
            centered(22.0),
        ))
        .map_err(|e| err(&e))?;

        for (t, row) in matrix.iter().enumerate() {
            for (p, count) in row.iter().enumerate() {
                let (x, y) = (gx + p as i32 * c, gy + t as i32 * c);
                let v = share(t, p);
                root.draw(&Rectangle::new([(x, y), (x + c, y + c)], blues(v).filled()))
                    .map_err(|e| err(&e))?;
                if layout.show_counts {
                    let color = if v > 0.5 { WHITE } else { BLACK };
                    root.draw(&Text::new(
                        count.to_string(),
                        (x + c / 2, y + c / 2),
                        centered(layout.count_font).color(&color),
                    ))
                    .map_err(|e| err(&e))?;
                }
            }
        }
        let frame = RGBColor(120, 120, 120);
        root.draw(&Rectangle::new([(gx, gy), (gx + grid, gy + grid)], frame))
            .map_err(|e| err(&e))?;

        if layout.show_labels {
            for (i, label) in labels.iter().enumerate() {
                let mid = i as i32 * c + c / 2;
                // True class, right-aligned left of its row.
                root.draw(&Text::new(
                    label.clone(),
                    (gx - 6, gy + mid),
                    (FONT, layout.label_font)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Right, VPos::Center)),
                ))
                .map_err(|e| err(&e))?;
                // Predicted class, vertical, reading upwards, ending below
                // its column.
                root.draw(&Text::new(
                    label.clone(),
                    (gx + mid, gy + grid + 6),
                    (FONT, layout.label_font)
                        .into_font()
                        .transform(FontTransform::Rotate270)
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Right, VPos::Center)),
                ))
                .map_err(|e| err(&e))?;
            }
        }
        let desc_font = 18.0;
        root.draw(&Text::new(
            "Predicted class",
            (gx + grid / 2, h - CM_MARGIN - CM_DESC_H / 2),
            centered(desc_font),
        ))
        .map_err(|e| err(&e))?;
        root.draw(&Text::new(
            "True class",
            (CM_MARGIN + CM_DESC_H / 2, gy + grid / 2),
            (FONT, desc_font)
                .into_font()
                .transform(FontTransform::Rotate270)
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(|e| err(&e))?;

        // Colour bar: share of the true class.
        let bx = gx + grid + 20;
        let bar_w = 16;
        let steps = grid.max(1);
        for k in 0..steps {
            let v = 1.0 - f64::from(k) / f64::from(steps);
            root.draw(&Rectangle::new(
                [(bx, gy + k), (bx + bar_w, gy + k + 1)],
                blues(v).filled(),
            ))
            .map_err(|e| err(&e))?;
        }
        root.draw(&Rectangle::new([(bx, gy), (bx + bar_w, gy + grid)], frame))
            .map_err(|e| err(&e))?;
        for (v, label) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
            let y = gy + ((1.0 - v) * f64::from(grid)) as i32;
            root.draw(&Text::new(
                label,
                (bx + bar_w + 5, y),
                (FONT, 13.0)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
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

    /// Set `RUNNER_KEEP_PLOTS=<folder>` to keep the test plots for a look.
    fn keep(path: &Path) {
        if let Some(dir) = std::env::var_os("RUNNER_KEEP_PLOTS") {
            let dest = Path::new(&dir).join(path.file_name().unwrap());
            std::fs::copy(path, dest).unwrap();
        }
    }

    fn png_size(path: &Path) -> (u32, u32) {
        keep(path);
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
