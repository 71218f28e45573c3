//! `runner predict`: run a trained run's model (`--run`) or a spec's model on images and print
//! the top-k classes.
//!
//! With `--run`, the run's final model (or latest checkpoint) is used, images are resized like
//! its training data (whole image, the spec's interpolation) and classes are named from its
//! `summary.json`. With `--spec`, the spec is planned as for `validate`, the model built on
//! `--device` (default: the spec's `device:`, else `cpu`) and the pretrained bases loaded from
//! their `weights:` files (`--weights` replaces the file of the spec's only pretrained node). Each image is decoded, center-cropped to a square, resized
//! (bilinear, as PIL does) to the input node's size and fed as raw 0..255 RGB pixels: the
//! spec's own `preprocess`/`rescale` node scales them. Outputs go through a softmax (a sigmoid
//! for a single logit). With `--labels`, a 1001-line file whose line 0 is `background` also
//! serves 1000-way models (index i is line i + 1).

use super::args::DeviceArg;
use super::{Failure, model_source};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use runner::data::{Interpolation, single};
use runner::device::DeviceChoice;
use runner::model::GraphModel;
use runner::track::RunDir;
use std::path::{Path, PathBuf};

/// `runner predict --run RUN IMAGE...` or `runner predict --spec SPEC IMAGE...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder whose final model to use (class names come from its data).
    #[arg(long, required_unless_present = "spec", conflicts_with_all = ["spec", "weights"])]
    run: Option<PathBuf>,
    /// The spec whose model to run (e.g. experiments/imagenet_predict.yaml).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Weights file for the spec's pretrained node, instead of its `weights:`.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Class names, one per line (line i = output i; a 1001-line file starting with
    /// `background` also fits 1000-way models).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Classes to print per image.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Image files (JPEG or PNG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    device: DeviceArg,
}

/// The model to run, how to prepare an image for it, and its class names.
struct Predictor {
    model: GraphModel,
    device: Device,
    size: [usize; 2],
    /// `Some((interpolation, fast_decode))`: decode and resize the whole image like a run's
    /// training data; `None`: center-crop a square and resize it bilinearly (ImageNet
    /// evaluation).
    resize_like_training: Option<(Interpolation, bool)>,
    labels: Vec<String>,
}

/// Runs the prediction and prints the results on stdout.
pub fn run(o: &Args) -> Result<(), Failure> {
    let device = o.device.device;
    let predictor = match (&o.run, &o.spec) {
        (Some(run_dir), _) => from_run(run_dir, device)?,
        (None, Some(spec)) => from_spec(spec, o.weights.as_deref(), device)?,
        (None, None) => return Err(Failure::Other("give --run RUN or --spec SPEC".into())),
    };
    let labels = match &o.labels {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::Other(format!("cannot read labels `{}`: {e}", path.display())))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => predictor.labels.clone(),
    };
    let [h, w] = predictor.size;
    let (model, device) = (&predictor.model, &predictor.device);
    for path in &o.images {
        let pixels = match predictor.resize_like_training {
            Some((interpolation, fast)) => single::like_training(path, [h, w], interpolation, fast),
            None => single::center_crop(path, [h, w]),
        }
        .map_err(|e| Failure::Other(e.to_string()))?;
        let input = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, h, w]), device);
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
fn from_run(run_dir: &Path, device: Option<DeviceChoice>) -> Result<Predictor, Failure> {
    let (plan, model, device) = model_source::from_run(run_dir, device)?;
    let labels = RunDir::new(run_dir)
        .read_summary()
        .map_err(|e| Failure::Other(e.to_string()))?
        .map(|summary| summary.classes)
        .unwrap_or_default();
    Ok(Predictor {
        size: model_source::input_size(&plan),
        resize_like_training: Some((
            plan.spec.spec.data.interpolation,
            plan.spec.spec.data.fast_decode,
        )),
        model,
        device,
        labels,
    })
}

/// A spec's model with its pretrained weights (`weights` replaces the file of its only
/// pretrained node).
fn from_spec(
    spec_path: &Path,
    weights: Option<&Path>,
    device: Option<DeviceChoice>,
) -> Result<Predictor, Failure> {
    let (plan, model, device) = model_source::from_spec(spec_path, weights, device)?;
    Ok(Predictor {
        size: model_source::input_size(&plan),
        resize_like_training: None,
        model,
        device,
        labels: Vec::new(),
    })
}
