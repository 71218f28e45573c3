//! `runner predict`: run a trained run's model (`--run`) or a spec's model on images and print
//! the top-k classes.
//!
//! With `--run`, the run's final model (or latest checkpoint) is used, images are resized like
//! its training data (whole image, the spec's interpolation) and classes are named from its
//! `summary.json`. With `--spec`, the spec is planned as for `validate`, the model built on the flex CPU backend and the
//! pretrained bases loaded from their `weights:` files (`--weights` replaces the file of the
//! spec's only pretrained node). Each image is decoded, center-cropped to a square, resized
//! (bilinear, as PIL does) to the input node's size and fed as raw 0..255 RGB pixels: the
//! spec's own `preprocess`/`rescale` node scales them. Outputs go through a softmax (a sigmoid
//! for a single logit). With `--labels`, a 1001-line file whose line 0 is `background` also
//! serves 1000-way models (index i is line i + 1).

use super::Failure;
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use runner::data::{Interpolation, decode};
use runner::model::GraphModel;
use runner::model::weights::load_pretrained;
use runner::plan::{self, Plan, graph::Shape};
use runner::spec::{self, NodeSpec};
use runner::track::run::SUMMARY_FILE;
use runner::train::reopen;
use std::path::{Path, PathBuf};

/// Options of `runner predict`.
pub struct Options<'a> {
    /// A run folder (instead of `spec`).
    pub run: Option<&'a Path>,
    /// The spec.
    pub spec: Option<&'a Path>,
    /// Replaces the weights file of the spec's pretrained node.
    pub weights: Option<&'a Path>,
    /// Class names, one per line.
    pub labels: Option<&'a Path>,
    /// How many classes to print per image.
    pub top: usize,
    /// The images.
    pub images: &'a [PathBuf],
}

/// The model to run, how to prepare an image for it, and its class names.
struct Predictor {
    model: GraphModel,
    size: [usize; 2],
    /// `Some((interpolation, fast_decode))`: decode and resize the whole image like a run's
    /// training data; `None`: center-crop a square and resize it bilinearly (ImageNet
    /// evaluation).
    resize_like_training: Option<(Interpolation, bool)>,
    labels: Vec<String>,
}

/// Runs the prediction and prints the results on stdout.
pub fn run(o: &Options) -> Result<(), Failure> {
    let device = Device::flex();
    let predictor = match (o.run, o.spec) {
        (Some(run_dir), _) => from_run(run_dir, &device)?,
        (None, Some(spec)) => from_spec(spec, o.weights, &device)?,
        (None, None) => return Err(Failure::Other("give --run RUN or --spec SPEC".into())),
    };
    let labels = match o.labels {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::Other(format!("cannot read labels `{}`: {e}", path.display())))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => predictor.labels.clone(),
    };
    let [h, w] = predictor.size;
    let model = &predictor.model;
    for path in o.images {
        let pixels = match predictor.resize_like_training {
            Some((interpolation, fast)) => load_like_training(path, h, w, interpolation, fast),
            None => load_image(path, h, w),
        }
        .map_err(Failure::Other)?;
        let input = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, h, w]), &device);
        let logits = model.forward(input);
        let classes = logits.dims()[1];
        let probs = if classes == 1 {
            sigmoid(logits)
        } else {
            softmax(logits, 1)
        };
        let probs: Vec<f32> = probs
            .into_data()
            .try_to_vec()
            .map_err(|e| Failure::Other(format!("{e:?}")))?;
        println!("{}", path.display());
        if classes == 1 {
            let name = |i: usize| labels.get(i).map_or(format!("class {i}"), String::clone);
            let (class, p) = if probs[0] >= 0.5 {
                (1, probs[0])
            } else {
                (0, 1.0 - probs[0])
            };
            println!(
                "  {:.4}  {}  (p({}) = {:.4})",
                p,
                name(class),
                name(1),
                probs[0]
            );
            continue;
        }
        let offset = usize::from(
            labels.len() == classes + 1 && labels.first().is_some_and(|l| l == "background"),
        );
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|a, b| probs[*b].total_cmp(&probs[*a]));
        for (rank, &i) in order.iter().take(o.top).enumerate() {
            let name = labels.get(i + offset).map_or("", String::as_str);
            println!("  {:>2}. {:.4}  {:>4}  {name}", rank + 1, probs[i], i);
        }
    }
    Ok(())
}

/// The model of a run folder and its class names.
fn from_run(run_dir: &Path, device: &Device) -> Result<Predictor, Failure> {
    let other = |e: runner::train::RunError| Failure::Other(e.to_string());
    let plan = reopen::plan(run_dir).map_err(other)?;
    let (model, progress) = reopen::model(run_dir, &plan, device).map_err(other)?;
    if !progress.finished {
        eprintln!(
            "note: the run has not finished; using its latest checkpoint (after epoch {})",
            progress.epoch
        );
    }
    let labels = std::fs::read(run_dir.join(SUMMARY_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|summary| serde_json::from_value(summary["classes"].clone()).ok())
        .unwrap_or_default();
    Ok(Predictor {
        size: input_size(&plan),
        resize_like_training: Some((
            plan.spec.spec.data.interpolation,
            plan.spec.spec.data.fast_decode,
        )),
        model,
        labels,
    })
}

/// A spec's model with its pretrained weights (`weights` replaces the file of its only
/// pretrained node).
fn from_spec(
    spec_path: &Path,
    weights: Option<&Path>,
    device: &Device,
) -> Result<Predictor, Failure> {
    let mut loaded = spec::load(spec_path, &[]).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    if let Some(weights) = weights {
        let mut bases = loaded.spec.model.nodes.iter_mut().filter_map(|n| match n {
            NodeSpec::Pretrained(p) => Some(p),
            _ => None,
        });
        match (bases.next(), bases.next()) {
            (Some(p), None) => {
                p.weights = Some(std::path::absolute(weights).unwrap_or(weights.into()))
            }
            _ => {
                return Err(Failure::Other(
                    "--weights needs a spec with exactly one `pretrained` node".into(),
                ));
            }
        }
    }
    let plan = plan::plan(&loaded).map_err(Failure::InvalidSpec)?;
    let mut model = GraphModel::new(&plan.graph, device);
    let reports =
        load_pretrained(&mut model, &plan, device).map_err(|e| Failure::Other(e.to_string()))?;
    for r in &reports {
        tracing::info!("weights: {r}");
    }
    Ok(Predictor {
        size: input_size(&plan),
        resize_like_training: None,
        model,
        labels: Vec::new(),
    })
}

fn input_size(plan: &Plan) -> [usize; 2] {
    match plan.graph.nodes[plan.graph.input].shape {
        Shape::Image { h, w, .. } => [h, w],
        Shape::Vector(_) => unreachable!("the planner makes the input an image"),
    }
}

/// Decodes `path` and resizes the whole image to `h`x`w` as the data pipeline does for
/// training; returns CHW pixels in 0..255.
fn load_like_training(
    path: &Path,
    h: usize,
    w: usize,
    interpolation: Interpolation,
    fast: bool,
) -> Result<Vec<f32>, String> {
    let mut hwc = vec![0u8; h * w * 3];
    decode::decode_into(
        path,
        [h as u32, w as u32],
        interpolation,
        fast,
        &mut decode::Worker::default(),
        &mut hwc,
    )
    .map_err(|e| format!("cannot read image `{}`: {e}", path.display()))?;
    Ok(chw(&hwc, h, w))
}

/// Decodes `path` as RGB, crops the centered square and resizes it to `h`x`w` (bilinear);
/// returns CHW pixels in 0..255.
pub fn load_image(path: &Path, h: usize, w: usize) -> Result<Vec<f32>, String> {
    let image = decode::decode_rgb(path)
        .map_err(|e| format!("cannot read image `{}`: {e}", path.display()))?;
    let (iw, ih) = image.dimensions();
    let side = iw.min(ih);
    let (left, top) = ((iw - side) / 2, (ih - side) / 2);
    let mut out = image::RgbImage::new(w as u32, h as u32);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(left as f64, top as f64, side as f64, side as f64);
    Resizer::new()
        .resize(&image, &mut out, &options)
        .map_err(|e| format!("cannot resize `{}`: {e}", path.display()))?;
    Ok(chw(&out.into_raw(), h, w))
}

/// HWC `u8` pixels to CHW `f32`.
fn chw(hwc: &[u8], h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; 3 * h * w];
    for (p, px) in hwc.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * h * w + p] = f32::from(px[c]);
        }
    }
    out
}
