//! `runner predict`: run a spec's model on images and print the top-k classes.
//!
//! The spec is planned as for `validate`, the model built on the flex CPU backend and the
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
use runner::model::GraphModel;
use runner::model::weights::load_pretrained;
use runner::plan::{self, graph::Shape};
use runner::spec::{self, NodeSpec};
use std::path::{Path, PathBuf};

/// Options of `runner predict`.
pub struct Options<'a> {
    /// The spec.
    pub spec: &'a Path,
    /// Replaces the weights file of the spec's pretrained node.
    pub weights: Option<&'a Path>,
    /// Class names, one per line.
    pub labels: Option<&'a Path>,
    /// How many classes to print per image.
    pub top: usize,
    /// The images.
    pub images: &'a [PathBuf],
}

/// Runs the prediction and prints the results on stdout.
pub fn run(o: &Options) -> Result<(), Failure> {
    let mut loaded = spec::load(o.spec, &[]).map_err(|r| Failure::InvalidSpec(vec![r]))?;
    if let Some(weights) = o.weights {
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
    let device = Device::flex();
    let mut model = GraphModel::new(&plan.graph, &device);
    let reports =
        load_pretrained(&mut model, &plan, &device).map_err(|e| Failure::Other(e.to_string()))?;
    for r in &reports {
        tracing::info!("weights: {r}");
    }
    let [h, w] = match plan.graph.nodes[plan.graph.input].shape {
        Shape::Image { h, w, .. } => [h, w],
        Shape::Vector(_) => unreachable!("the input is an image"),
    };
    let labels = match o.labels {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::Other(format!("cannot read labels `{}`: {e}", path.display())))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    for path in o.images {
        let pixels = load_image(path, h, w).map_err(Failure::Other)?;
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
            println!("  p(class 1) = {:.4}", probs[0]);
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

/// Decodes `path` as RGB, crops the centered square and resizes it to `h`x`w` (bilinear);
/// returns CHW pixels in 0..255.
pub fn load_image(path: &Path, h: usize, w: usize) -> Result<Vec<f32>, String> {
    let image = image::open(path)
        .map_err(|e| format!("cannot read image `{}`: {e}", path.display()))?
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
        .map_err(|e| format!("cannot resize `{}`: {e}", path.display()))?;
    let raw = out.into_raw();
    let mut chw = vec![0.0f32; 3 * h * w];
    for (p, px) in raw.chunks_exact(3).enumerate() {
        for c in 0..3 {
            chw[c * h * w + p] = f32::from(px[c]);
        }
    }
    Ok(chw)
}
