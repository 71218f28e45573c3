//! Loading pretrained weights into the layers of a base.
//!
//! A weights file (safetensors, a PyTorch `.pt`/`.pth` state dict read with burn-store's
//! pickle reader, Keras HDF5 `.h5` weights, see [`super::keras_h5`], or a TensorFlow Lite
//! model, see [`super::tflite`]) is read into named float32 tensors; the optional rename rules of the
//! `pretrained` node are applied to every file name, in order. Each layer of base `B` (graph
//! node `B.<layer>`) then expects, with PyTorch layouts:
//!
//! | layer | tensors |
//! | --- | --- |
//! | conv / depthwise | `<layer>.weight` `[out, in / groups, kh, kw]`, `<layer>.bias` `[out]` if it has one |
//! | batch norm | `<layer>.weight` (gamma), `.bias` (beta), `.running_mean`, `.running_var`, all `[channels]` |
//! | dense | `<layer>.weight` `[units, in]` (transposed here for Burn's `[in, out]`), `<layer>.bias` `[units]` |
//!
//! The loader matches names itself instead of going through burn-store's module-path
//! matching, so that every tensor is reported by its file name and its graph node: the
//! [`LoadReport`] lists applied, missing, mismatched (wrong shape) and unused tensors. Missing
//! or mismatched tensors are an error ([`WeightsError::Incomplete`]) naming each tensor, node
//! and shape; unused ones (a classifier the spec cut off) are only reported. New parameters are
//! built for every layer first and swapped into the model only when all of them are complete,
//! so a failed load leaves the model exactly as it was. Loaded batch-norm layers keep the
//! model's epsilon and momentum; the running statistics come from the file.

use super::{GraphModel, Layer};
use crate::plan::Plan;
use crate::plan::graph::{Graph, Op};
use crate::spec::model::{NodeSpec, RenameRule};
use burn::module::{Param, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A tensor read from a weights file: shape and float32 values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values.
    pub values: Vec<f32>,
}

impl RawTensor {
    /// This 4-d tensor with its axes reordered (axis `i` of the result is axis `order[i]`),
    /// for files whose layouts differ from runner's; other ranks are returned unchanged.
    pub fn permuted(self, order: [usize; 4]) -> RawTensor {
        let dims: [usize; 4] = match self.shape.as_slice() {
            &[a, b, c, d] => [a, b, c, d],
            _ => return self,
        };
        let mut strides = [1; 4];
        for axis in (0..3).rev() {
            strides[axis] = strides[axis + 1] * dims[axis + 1];
        }
        let shape: Vec<usize> = order.iter().map(|&a| dims[a]).collect();
        let mut values = Vec::with_capacity(self.values.len());
        for i0 in 0..shape[0] {
            for i1 in 0..shape[1] {
                for i2 in 0..shape[2] {
                    for i3 in 0..shape[3] {
                        let index = i0 * strides[order[0]]
                            + i1 * strides[order[1]]
                            + i2 * strides[order[2]]
                            + i3 * strides[order[3]];
                        values.push(self.values[index]);
                    }
                }
            }
        }
        RawTensor { shape, values }
    }
}

/// A tensor whose shape differs from what its layer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Tensor name (after renaming).
    pub tensor: String,
    /// Graph node that needs it.
    pub node: String,
    /// Shape the layer needs.
    pub expected: Vec<usize>,
    /// Shape in the file.
    pub actual: Vec<usize>,
}

/// A tensor a layer needs that the file lacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    /// Tensor name the layer looks for.
    pub tensor: String,
    /// Graph node that needs it.
    pub node: String,
    /// Shape the layer needs.
    pub expected: Vec<usize>,
}

/// What loading one base's weights did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// The pretrained node.
    pub base: String,
    /// The weights file.
    pub path: PathBuf,
    /// Tensors copied into the model (file names after renaming).
    pub applied: Vec<String>,
    /// Tensors the model needs that the file lacks.
    pub missing: Vec<Missing>,
    /// Tensors in the file that no layer of the (possibly cut) base uses.
    pub unused: Vec<String>,
    /// Tensors present with the wrong shape.
    pub mismatched: Vec<Mismatch>,
    /// Values copied.
    pub values: usize,
    /// Time to read the file and build the parameters.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Whether every needed tensor was found with the right shape.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.mismatched.is_empty()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` from {}: {} tensors applied ({} values), {} missing, {} mismatched, {} unused, {:.0} ms",
            self.base,
            self.path.display(),
            self.applied.len(),
            self.values,
            self.missing.len(),
            self.mismatched.len(),
            self.unused.len(),
            self.elapsed.as_secs_f64() * 1e3
        )?;
        if !self.unused.is_empty() {
            write!(f, "; unused: {}", self.unused.join(", "))?;
        }
        Ok(())
    }
}

/// Why weights could not be loaded. The model is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file cannot be read.
    #[error("cannot read the weights file `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a readable safetensors / PyTorch file, or holds non-float tensors.
    #[error("`{path}` is not a usable weights file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A rename rule is not a valid regular expression.
    #[error("rename rule `{from}` of `{base}` is not a valid regular expression: {message}")]
    Rename {
        /// The pretrained node.
        base: String,
        /// The pattern.
        from: String,
        /// Parser message.
        message: String,
    },
    /// Tensors are missing or have the wrong shape.
    #[error("{}", incomplete_message(.0))]
    Incomplete(Box<LoadReport>),
}

fn incomplete_message(r: &LoadReport) -> String {
    let mut lines = vec![format!(
        "the weights file `{}` does not fit base `{}`: {} tensor(s) missing, {} with the wrong shape",
        r.path.display(),
        r.base,
        r.missing.len(),
        r.mismatched.len()
    )];
    const SHOWN: usize = 10;
    for m in r.missing.iter().take(SHOWN) {
        lines.push(format!(
            "  missing `{}` (shape {:?}) for node `{}`",
            m.tensor, m.expected, m.node
        ));
    }
    if r.missing.len() > SHOWN {
        lines.push(format!(
            "  ... and {} more missing",
            r.missing.len() - SHOWN
        ));
    }
    for m in r.mismatched.iter().take(SHOWN) {
        lines.push(format!(
            "  `{}` for node `{}` has shape {:?}, expected {:?}",
            m.tensor, m.node, m.actual, m.expected
        ));
    }
    if r.mismatched.len() > SHOWN {
        lines.push(format!(
            "  ... and {} more with the wrong shape",
            r.mismatched.len() - SHOWN
        ));
    }
    if !r.unused.is_empty() {
        let some: Vec<&str> = r.unused.iter().take(5).map(String::as_str).collect();
        lines.push(format!(
            "  the file has {} tensor(s) no layer uses, e.g. {}; if names differ, add `rename:` rules to the pretrained node",
            r.unused.len(),
            some.join(", ")
        ));
    }
    lines.join("\n")
}

/// Reads every tensor of a safetensors, PyTorch (`.pt`, `.pth`, `.bin`), Keras HDF5 (`.h5`)
/// or TFLite (`.tflite`) file as float32. The format is chosen by content: HDF5, TFLite, a
/// PyTorch zip or pickle, else safetensors.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, RawTensor>, WeightsError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let format = |message: String| WeightsError::Format {
        path: path.to_path_buf(),
        message,
    };
    if bytes.starts_with(super::keras_h5::SIGNATURE) {
        return super::keras_h5::read(bytes).map_err(format);
    }
    if bytes.get(4..8) == Some(super::tflite::IDENTIFIER) {
        return super::tflite::read(&bytes).map_err(format);
    }
    // Zip archives (PyTorch >= 1.6) start with `PK`, legacy pickles with the PROTO opcode 0x80.
    let pytorch = bytes.starts_with(b"PK\x03\x04") || bytes.first() == Some(&0x80);
    if pytorch {
        drop(bytes);
        return read_pytorch(path).map_err(format);
    }
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
        format(format!(
            "not safetensors ({e}), and not a PyTorch zip or pickle either"
        ))
    })?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        let values = to_f32(view.dtype(), view.data()).ok_or_else(|| {
            format(format!(
                "tensor `{name}` has dtype {:?}; only F32, F64, F16 and BF16 are read",
                view.dtype()
            ))
        })?;
        out.insert(
            name,
            RawTensor {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok(out)
}

fn to_f32(dtype: safetensors::Dtype, data: &[u8]) -> Option<Vec<f32>> {
    use safetensors::Dtype;
    Some(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
            .collect(),
        _ => return None,
    })
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

fn read_pytorch(path: &Path) -> Result<BTreeMap<String, RawTensor>, String> {
    use burn::store::pytorch_reader::{DType, PytorchReader};
    let reader = PytorchReader::new(path).map_err(|e| format!("cannot read it as PyTorch: {e}"))?;
    let mut out = BTreeMap::new();
    for (name, tensor) in reader.into_tensors() {
        let bytes = tensor
            .read()
            .map_err(|e| format!("cannot read tensor `{name}`: {e}"))?;
        let dtype = match tensor.dtype() {
            DType::F32 => safetensors::Dtype::F32,
            DType::F64 => safetensors::Dtype::F64,
            DType::F16 => safetensors::Dtype::F16,
            DType::BF16 => safetensors::Dtype::BF16,
            // Integer buffers (e.g. batch norm's `num_batches_tracked`) are not weights.
            _ => continue,
        };
        let values = to_f32(dtype, &bytes).ok_or_else(|| format!("tensor `{name}`"))?;
        out.insert(
            name,
            RawTensor {
                shape: tensor.shape().to_vec(),
                values,
            },
        );
    }
    Ok(out)
}

/// Applies `rules` in order to every name; a rule that does not match leaves the name alone.
pub fn rename(
    base: &str,
    tensors: BTreeMap<String, RawTensor>,
    rules: &[RenameRule],
) -> Result<BTreeMap<String, RawTensor>, WeightsError> {
    let compiled = rules
        .iter()
        .map(|r| {
            regex::Regex::new(&r.from)
                .map(|re| (re, r.to.as_str()))
                .map_err(|e| WeightsError::Rename {
                    base: base.to_string(),
                    from: r.from.clone(),
                    message: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tensors
        .into_iter()
        .map(|(mut name, t)| {
            for (re, to) in &compiled {
                name = re.replace_all(&name, *to).into_owned();
            }
            (name, t)
        })
        .collect())
}

/// One needed tensor of one layer.
struct Need {
    suffix: &'static str,
    shape: Vec<usize>,
}

fn needs(op: &Op) -> Vec<Need> {
    let need = |suffix, shape| Need { suffix, shape };
    match op {
        Op::Conv(c) => {
            let mut v = vec![need(
                "weight",
                vec![
                    c.out_channels,
                    c.in_channels / c.groups,
                    c.kernel[0],
                    c.kernel[1],
                ],
            )];
            if c.bias {
                v.push(need("bias", vec![c.out_channels]));
            }
            v
        }
        Op::BatchNorm { channels, .. } => ["weight", "bias", "running_mean", "running_var"]
            .into_iter()
            .map(|s| need(s, vec![*channels]))
            .collect(),
        Op::Dense {
            in_features,
            units,
            bias,
            ..
        } => {
            let mut v = vec![need("weight", vec![*units, *in_features])];
            if *bias {
                v.push(need("bias", vec![*units]));
            }
            v
        }
        _ => vec![],
    }
}

/// Whether a tensor of shape `actual` holds a layer's tensor of shape `expected`: the same
/// shape, or a 1x1 convolution kernel `[units, in, 1, 1]` for a dense layer's `[units, in]`
/// (Keras MobileNet's classifier `conv_preds` is such a convolution).
fn fits(actual: &[usize], expected: &[usize]) -> bool {
    actual == expected
        || (expected.len() == 2
            && actual.len() == 4
            && actual[..2] == *expected
            && actual[2..] == [1, 1])
}

/// Loads `tensors` (already renamed) into the layers of base `base` of `model`. On error the
/// model is untouched.
pub fn load_base(
    model: &mut GraphModel,
    base: &str,
    path: &Path,
    mut tensors: BTreeMap<String, RawTensor>,
    device: &Device,
) -> Result<LoadReport, WeightsError> {
    let start = Instant::now();
    let graph: &Graph = model.graph();
    let mut report = LoadReport {
        base: base.to_string(),
        path: path.to_path_buf(),
        ..Default::default()
    };
    let prefix = format!("{base}.");
    let mut used = BTreeSet::new();
    // (layer index, the tensors it gets in `needs` order)
    let mut found: Vec<(usize, Vec<RawTensor>)> = Vec::new();
    for (id, node) in graph.nodes.iter().enumerate() {
        if node.base.as_ref().is_none_or(|(b, _)| b != base) {
            continue;
        }
        let Some(layer) = model.layer_of(id) else {
            continue;
        };
        let wanted = needs(&node.op);
        if wanted.is_empty() {
            continue;
        }
        let short = node.name.strip_prefix(&prefix).unwrap_or(&node.name);
        let mut got = Vec::new();
        for need in wanted {
            let name = format!("{short}.{}", need.suffix);
            match tensors.get(&name) {
                None => report.missing.push(Missing {
                    tensor: name,
                    node: node.name.clone(),
                    expected: need.shape,
                }),
                Some(t) if !fits(&t.shape, &need.shape) => {
                    used.insert(name.clone());
                    report.mismatched.push(Mismatch {
                        tensor: name,
                        node: node.name.clone(),
                        expected: need.shape,
                        actual: t.shape.clone(),
                    });
                }
                Some(_) => {
                    let mut t = tensors.remove(&name).expect("just found");
                    t.shape = need.shape;
                    report.values += t.values.len();
                    report.applied.push(name);
                    got.push(t);
                }
            }
        }
        found.push((layer, got));
    }
    report.unused = tensors.into_keys().filter(|k| !used.contains(k)).collect();
    if !report.is_complete() {
        report.elapsed = start.elapsed();
        return Err(WeightsError::Incomplete(Box::new(report)));
    }
    // Build every new layer before touching the model.
    let mut built = Vec::with_capacity(found.len());
    for (layer, got) in found {
        built.push((layer, with_tensors(&model.layers[layer], got, device)));
    }
    for (layer, new) in built {
        model.layers[layer] = new;
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

fn tensor<const D: usize>(t: RawTensor, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(t.values, t.shape), device)
}

/// A copy of `layer` with its parameters replaced by `got` (in [`needs`] order).
fn with_tensors(layer: &Layer, got: Vec<RawTensor>, device: &Device) -> Layer {
    let mut got = got.into_iter();
    let mut next = || got.next().expect("checked by load_base");
    match layer.clone() {
        Layer::Conv(mut conv) => {
            conv.weight = Param::from_tensor(tensor(next(), device));
            if conv.bias.is_some() {
                conv.bias = Some(Param::from_tensor(tensor(next(), device)));
            }
            Layer::Conv(conv)
        }
        Layer::BatchNorm(mut bn) => {
            bn.gamma = Param::from_tensor(tensor(next(), device));
            bn.beta = Param::from_tensor(tensor(next(), device));
            bn.running_mean = RunningState::new(tensor(next(), device));
            bn.running_var = RunningState::new(tensor(next(), device));
            Layer::BatchNorm(bn)
        }
        Layer::Dense(mut linear) => {
            // File [units, in] -> Burn [in, units].
            let w = next();
            let (units, inputs) = (w.shape[0], w.shape[1]);
            let mut t = vec![0.0f32; w.values.len()];
            for o in 0..units {
                for i in 0..inputs {
                    t[i * units + o] = w.values[o * inputs + i];
                }
            }
            linear.weight = Param::from_tensor(tensor(
                RawTensor {
                    shape: vec![inputs, units],
                    values: t,
                },
                device,
            ));
            if linear.bias.is_some() {
                linear.bias = Some(Param::from_tensor(tensor(next(), device)));
            }
            Layer::Dense(linear)
        }
        other => other,
    }
}

/// Loads the weights of every pretrained node of `plan` that names a file, in spec order.
/// Returns one report per base; the first failure stops, and no base is changed unless all of
/// them load.
pub fn load_pretrained(
    model: &mut GraphModel,
    plan: &Plan,
    device: &Device,
) -> Result<Vec<LoadReport>, WeightsError> {
    let mut staged = model.clone();
    let mut reports = Vec::new();
    for node in &plan.spec.spec.model.nodes {
        let NodeSpec::Pretrained(p) = node else {
            continue;
        };
        let Some(weights) = &p.weights else {
            continue;
        };
        let path = plan.spec.resolve(weights);
        reports.push(load_file(&mut staged, &p.name, &path, &p.rename, device)?);
    }
    *model = staged;
    Ok(reports)
}

/// Reads `path`, renames its tensors with `rules` and loads them into base `base`.
pub fn load_file(
    model: &mut GraphModel,
    base: &str,
    path: &Path,
    rules: &[RenameRule],
    device: &Device,
) -> Result<LoadReport, WeightsError> {
    let start = Instant::now();
    let tensors = rename(base, read_tensors(path)?, rules)?;
    let mut report = load_base(model, base, path, tensors, device)?;
    report.elapsed = start.elapsed();
    Ok(report)
}
