//! Kernels runner gives Burn's flex CPU backend where Burn's own path is slow: ReLU and ReLU6,
//! batch norm with fixed statistics (inference mode: frozen layers, evaluation, and fine-tuning
//! with `batchnorm: inference`), forward and gradient, and the gradients of a depthwise
//! convolution, each on every core.
//!
//! Why: burn-flex 0.22 runs `relu`, `clamp`, the four broadcast operations Burn's batch norm is
//! made of, and their gradients one element at a time on one thread (below 4 Mi elements), and
//! it has no depthwise weight gradient of its own: Burn's generic fallback loops
//! over the channels (576 or 960 per MobileNetV2 block), one single-threaded convolution, slice
//! and copy each, every step. These kernels are registered through Burn's backend extension
//! API (`#[backend_extension(Autodiff, Flex)]`) with hand-written backward steps, and are used
//! only for tensors on flex ([`is_flex`]); every other backend takes Burn's operations. Upstream,
//! the same would be flex overriding `conv2d_weight_backward` / `conv2d_x_backward` for
//! `groups > 1` and running its unary and binary element-wise ops over rayon.
//!
//! Values: the forward passes are flex's own (the convolution) or the same per-element
//! operations in the same order (NaN stays NaN, `relu` turns -0 into 0, `clamp` keeps it, batch
//! norm is `((x - mean) / sqrt(var + eps)) * gamma + beta`), so they match Burn bit for bit; so
//! do the ReLU, ReLU6 and batch-norm input gradients. The depthwise gradients and the batch
//! norm's gamma and beta gradients add the same products in another order than Burn's, so they
//! differ from Burn's in the last bits (tests bound it).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::tensor::{Device, Shape, Tensor, TensorData, activation};
use rayon::prelude::*;

/// Elements per parallel task of the element-wise kernels: large enough that scheduling
/// costs nothing next to the work.
const CHUNK: usize = 1 << 15;

/// The operations runner runs its own way on flex.
#[backend_extension(Autodiff, Flex)]
pub trait FlexKernels: burn::backend::Backend {
    /// `max(x, 0)`.
    fn relu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `min(max(x, 0), 6)`.
    fn relu6(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Batch norm with fixed statistics: `x` `[N, C, ...]`, the rest `[C]`; `mean` and
    /// `variance` are constants (running statistics), `gamma` and `beta` may train.
    fn batch_norm_inference(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
    /// A depthwise convolution without bias: `x` `[N, C, H, W]`, `weight` `[C, 1, kh, kw]`,
    /// `options.groups == C`.
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
}

/// True when `tensor` is computed by flex (with or without autodiff).
fn is_flex<const D: usize>(tensor: &Tensor<D>) -> bool {
    tensor.device().inner() == Device::flex()
}

/// `activation::relu`, on every core on flex.
pub fn relu<const D: usize>(tensor: Tensor<D>) -> Tensor<D> {
    if is_flex(&tensor) {
        Tensor::from_dispatch(<Dispatch as FlexKernels>::relu(tensor.into_dispatch()))
    } else {
        activation::relu(tensor)
    }
}

/// `activation::relu6`, on every core on flex.
pub fn relu6<const D: usize>(tensor: Tensor<D>) -> Tensor<D> {
    if is_flex(&tensor) {
        Tensor::from_dispatch(<Dispatch as FlexKernels>::relu6(tensor.into_dispatch()))
    } else {
        activation::relu6(tensor)
    }
}

/// `burn::nn::BatchNorm::forward`: on flex in inference mode, runner's kernel.
pub fn batch_norm<const D: usize>(bn: &burn::nn::BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    if training || !is_flex(&x) {
        return bn.forward(x);
    }
    let device = x.device();
    let mean = bn.running_mean.value().to_device(&device);
    let variance = bn.running_var.value().to_device(&device);
    Tensor::from_dispatch(<Dispatch as FlexKernels>::batch_norm_inference(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        mean.into_dispatch(),
        variance.into_dispatch(),
        bn.epsilon,
    ))
}

/// `burn::tensor::module::conv2d` of a depthwise convolution (one filter per channel); on flex
/// with runner's gradients when autodiff records it.
pub fn depthwise_conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    if !(is_flex(&x) && x.device().is_autodiff()) {
        return burn::tensor::module::conv2d(x, weight, bias, options);
    }
    let out = Tensor::from_dispatch(<Dispatch as FlexKernels>::depthwise_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        options,
    ));
    match bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            out + bias.reshape([1, channels, 1, 1])
        }
        None => out,
    }
}

/// `tensor`'s f32 values, contiguous (a copy only when it is a strided view).
fn values(tensor: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match tensor.as_slice::<f32>() {
        Some(slice) => std::borrow::Cow::Borrowed(slice),
        None => std::borrow::Cow::Owned(tensor.to_contiguous().storage::<f32>().to_vec()),
    }
}

/// A contiguous f32 flex tensor of `shape` holding `values`.
fn tensor_of(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `kernel` applied to every element of `x`: in place when nothing else holds `x`'s buffer,
/// else into a new one; over all cores either way.
fn map(mut x: FlexTensor, kernel: impl Fn(f32) -> f32 + Sync) -> FlexTensor {
    if x.is_contiguous()
        && x.layout().contiguous_offsets() == Some((0, x.layout().shape().num_elements()))
        && let Some(values) = x.try_storage_mut::<f32>()
    {
        values.par_chunks_mut(CHUNK).for_each(|chunk| {
            for v in chunk {
                *v = kernel(*v);
            }
        });
        return x;
    }
    let input = values(&x);
    let mut out = vec![0.0f32; input.len()];
    out.par_chunks_mut(CHUNK)
        .zip(input.par_chunks(CHUNK))
        .for_each(|(out, input)| {
            for (o, v) in out.iter_mut().zip(input) {
                *o = kernel(*v);
            }
        });
    tensor_of(out, x.layout().shape().clone())
}

/// `grad` where `keep(reference)`, else 0, element by element, over all cores.
fn masked(
    reference: &FlexTensor,
    grad: FlexTensor,
    keep: impl Fn(f32) -> bool + Sync,
) -> FlexTensor {
    let reference = values(reference);
    let shape = grad.layout().shape().clone();
    let grad = values(&grad).into_owned();
    let mut out = grad;
    out.par_chunks_mut(CHUNK)
        .zip(reference.par_chunks(CHUNK))
        .for_each(|(g, r)| {
            for (g, r) in g.iter_mut().zip(r) {
                if !keep(*r) {
                    *g = 0.0;
                }
            }
        });
    tensor_of(out, shape)
}

/// As flex's `relu`: NaN stays NaN, -0 becomes 0.
fn relu_value(x: f32) -> f32 {
    if x <= 0.0 { 0.0 } else { x }
}

/// As flex's `clamp(0, 6)`: NaN stays NaN, -0 stays -0.
fn relu6_value(x: f32) -> f32 {
    x.clamp(0.0, 6.0)
}

/// The per-channel constants of a batch norm: `(mean, sqrt(variance + eps))`, computed as
/// flex computes them.
fn channel_stats(mean: &FlexTensor, variance: &FlexTensor, epsilon: f64) -> (Vec<f32>, Vec<f32>) {
    let eps = epsilon as f32;
    let std = values(variance).iter().map(|v| (v + eps).sqrt()).collect();
    (values(mean).into_owned(), std)
}

/// Batch norm of `x` (`[N, C, rest...]`) with the per-channel `mean`, `std`, `gamma`, `beta`,
/// in parallel over the `N * C` planes.
fn batch_norm_values(
    x: &FlexTensor,
    mean: &[f32],
    std: &[f32],
    gamma: &[f32],
    beta: &[f32],
) -> FlexTensor {
    let shape = x.layout().shape().clone();
    let channels = mean.len();
    let input = values(x);
    let plane = input.len() / (shape.as_slice()[0] * channels).max(1);
    let mut out = vec![0.0f32; input.len()];
    out.par_chunks_mut(plane.max(1))
        .zip(input.par_chunks(plane.max(1)))
        .enumerate()
        .for_each(|(i, (out, input))| {
            let c = i % channels;
            let (m, s, g, b) = (mean[c], std[c], gamma[c], beta[c]);
            for (o, x) in out.iter_mut().zip(input) {
                *o = ((x - m) / s) * g + b;
            }
        });
    tensor_of(out, shape)
}

impl FlexKernels for Flex {
    fn batch_norm_inference(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let (mean, std) = channel_stats(&mean, &variance, epsilon);
        batch_norm_values(&x, &mean, &std, &values(&gamma), &values(&beta))
    }

    fn relu(x: FlexTensor) -> FlexTensor {
        map(x, relu_value)
    }

    fn relu6(x: FlexTensor) -> FlexTensor {
        map(x, relu6_value)
    }

    fn depthwise_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        Flex::conv2d(x, weight, None, options)
    }
}

/// The gradient of an activation that passes the incoming gradient where `keep` holds for the
/// saved tensor (its input or its output) and zeroes it elsewhere.
#[derive(Debug)]
struct MaskBackward {
    keep: fn(f32) -> bool,
}

/// ReLU's gradient from its output, as flex's `relu_backward`: kept where the output is
/// positive or NaN.
const RELU_BACKWARD: MaskBackward = MaskBackward {
    keep: |y| y.is_nan() || y > 0.0,
};

/// ReLU6's gradient from its input, as Burn's `clamp_max` then `clamp_min`: zero where the
/// input is below 0 or above 6, kept elsewhere (the bounds and NaN included).
const RELU6_BACKWARD: MaskBackward = MaskBackward {
    keep: |x| x.is_nan() || (0.0..=6.0).contains(&x),
};

impl Backward<Flex, 1> for MaskBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            let out = masked(&ops.state, grad, self.keep);
            grads.register::<Flex>(parent.id, out);
        }
    }
}

/// The gradients of a batch norm with fixed statistics, for `x`, `gamma` and `beta`.
#[derive(Debug)]
struct BatchNormBackward;

/// What the batch norm's backward step needs: the input, gamma, the per-channel mean and
/// standard deviation.
type BatchNormState = (FlexTensor, FlexTensor, Vec<f32>, Vec<f32>);

impl Backward<Flex, 3> for BatchNormBackward {
    type State = BatchNormState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, gamma_node, beta_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, gamma, mean, std) = ops.state;
        let channels = mean.len();
        let shape = x.layout().shape().clone();
        let (x, gamma, grad) = (values(&x), values(&gamma), values(&grad));
        let plane = (x.len() / (shape.as_slice()[0] * channels).max(1)).max(1);
        if let Some(node) = x_node {
            // As Burn's chain rule through `* gamma` then `/ std`: (g * gamma) * (1 / std).
            let inverse: Vec<f32> = std.iter().map(|s| 1.0 / s).collect();
            let mut dx = vec![0.0f32; x.len()];
            dx.par_chunks_mut(plane)
                .zip(grad.par_chunks(plane))
                .enumerate()
                .for_each(|(i, (dx, g))| {
                    let c = i % channels;
                    for (d, g) in dx.iter_mut().zip(g) {
                        *d = (g * gamma[c]) * inverse[c];
                    }
                });
            grads.register::<Flex>(node.id, tensor_of(dx, shape.clone()));
        }
        if gamma_node.is_some() || beta_node.is_some() {
            // Per channel: sum of g * normalized x, and sum of g, over the batch and positions.
            let sums: Vec<(f32, f32)> = (0..channels)
                .into_par_iter()
                .map(|c| {
                    let (mut dgamma, mut dbeta) = (0.0f32, 0.0f32);
                    for i in (c..x.len() / plane).step_by(channels) {
                        let (xs, gs) = (
                            &x[i * plane..(i + 1) * plane],
                            &grad[i * plane..(i + 1) * plane],
                        );
                        for (x, g) in xs.iter().zip(gs) {
                            dgamma += g * ((x - mean[c]) / std[c]);
                            dbeta += g;
                        }
                    }
                    (dgamma, dbeta)
                })
                .collect();
            let channel_shape = Shape::new([channels]);
            if let Some(node) = gamma_node {
                let dgamma = sums.iter().map(|s| s.0).collect();
                grads.register::<Flex>(node.id, tensor_of(dgamma, channel_shape.clone()));
            }
            if let Some(node) = beta_node {
                let dbeta = sums.iter().map(|s| s.1).collect();
                grads.register::<Flex>(node.id, tensor_of(dbeta, channel_shape));
            }
        }
    }
}

/// The gradients of a depthwise convolution.
#[derive(Debug)]
struct DepthwiseBackward;

impl Backward<Flex, 2> for DepthwiseBackward {
    /// The input, the weight and the options.
    type State = (FlexTensor, FlexTensor, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, weight_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, options) = ops.state;
        let geometry = Geometry::of(&x, &weight, &grad, &options);
        let grad = values(&grad);
        if let Some(node) = x_node {
            let dx = geometry.input_grad(&values(&weight), &grad);
            grads.register::<Flex>(node.id, tensor_of(dx, x.layout().shape().clone()));
        }
        if let Some(node) = weight_node {
            let dw = geometry.weight_grad(&values(&x), &grad);
            grads.register::<Flex>(node.id, tensor_of(dw, weight.layout().shape().clone()));
        }
    }
}

impl<C: CheckpointStrategy> FlexKernels for Autodiff<Flex, C> {
    fn batch_norm_inference(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let prep = BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let (mean, std) =
            channel_stats(&mean.into_primitive(), &variance.into_primitive(), epsilon);
        let out = batch_norm_values(&x, &mean, &std, &values(&gamma), &values(&beta));
        match prep {
            OpsKind::Tracked(prep) => prep.finish((x, gamma, mean, std), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match RELU_BACKWARD
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = map(x.into_primitive(), relu_value);
                prep.finish(out.clone(), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(map(x.into_primitive(), relu_value)),
        }
    }

    fn relu6(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match RELU6_BACKWARD
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input = x.into_primitive();
                let out = map(input.clone(), relu6_value);
                prep.finish(input, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(map(x.into_primitive(), relu6_value)),
        }
    }

    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match DepthwiseBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.into_primitive(), weight.into_primitive());
                let out = Flex::conv2d(x.clone(), weight.clone(), None, options.clone());
                prep.finish((x, weight, options), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                None,
                options,
            )),
        }
    }
}

/// The sizes of a depthwise convolution and how an output position maps to an input one:
/// input row `oh * stride + i * dilation - pad_top` for output row `oh` and kernel row `i`.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    channels: usize,
    input: [usize; 2],
    output: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: [usize; 2],
}

impl Geometry {
    fn of(
        x: &FlexTensor,
        weight: &FlexTensor,
        grad: &FlexTensor,
        options: &ConvOptions<2>,
    ) -> Self {
        let [batch, channels, h, w] = dims4(x);
        let [_, _, kh, kw] = dims4(weight);
        let [_, _, oh, ow] = dims4(grad);
        Geometry {
            batch,
            channels,
            input: [h, w],
            output: [oh, ow],
            kernel: [kh, kw],
            stride: options.stride,
            dilation: options.dilation,
            pad: options.padding_begin(),
        }
    }

    /// For kernel offset `k` along `axis`: the output positions whose input position is
    /// inside the input, and the input position of output position 0 (may be negative).
    fn valid(&self, axis: usize, k: usize) -> (std::ops::Range<usize>, isize) {
        let offset = (k * self.dilation[axis]) as isize - self.pad[axis] as isize;
        let stride = self.stride[axis] as isize;
        let size = self.input[axis] as isize;
        let first = if offset >= 0 {
            0
        } else {
            (-offset + stride - 1) / stride
        };
        let last = if size - 1 - offset < 0 {
            0
        } else {
            (size - 1 - offset) / stride + 1
        };
        let last = last.min(self.output[axis] as isize).max(first);
        (first as usize..last as usize, offset)
    }

    /// dL/dweight `[C, 1, kh, kw]`: per channel, in parallel over channels, the sum over the
    /// batch and the output positions of `grad * x` at the position each kernel tap reads.
    fn weight_grad(&self, x: &[f32], grad: &[f32]) -> Vec<f32> {
        let [h, w] = self.input;
        let [oh_n, ow_n] = self.output;
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let mut out = vec![0.0f32; self.channels * kh * kw];
        out.par_chunks_mut(kh * kw)
            .enumerate()
            .for_each(|(c, taps)| {
                for n in 0..self.batch {
                    let plane = n * self.channels + c;
                    let xp = &x[plane * h * w..(plane + 1) * h * w];
                    let gp = &grad[plane * oh_n * ow_n..(plane + 1) * oh_n * ow_n];
                    for i in 0..kh {
                        let (rows, row_offset) = self.valid(0, i);
                        for j in 0..kw {
                            let (cols, col_offset) = self.valid(1, j);
                            let mut sum = 0.0f32;
                            for oh in rows.clone() {
                                let ih = (oh * sh) as isize + row_offset;
                                let x_row = &xp[ih as usize * w..(ih as usize + 1) * w];
                                let g_row = &gp[oh * ow_n..(oh + 1) * ow_n];
                                for ow in cols.clone() {
                                    let iw = (ow * sw) as isize + col_offset;
                                    sum += g_row[ow] * x_row[iw as usize];
                                }
                            }
                            taps[i * kw + j] += sum;
                        }
                    }
                }
            });
        out
    }

    /// dL/dx `[N, C, H, W]`: per image and channel, in parallel over them, every output
    /// gradient spread back to the input positions its kernel taps read, weighted by the taps.
    fn input_grad(&self, weight: &[f32], grad: &[f32]) -> Vec<f32> {
        let [h, w] = self.input;
        let [oh_n, ow_n] = self.output;
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let mut out = vec![0.0f32; self.batch * self.channels * h * w];
        out.par_chunks_mut(h * w)
            .enumerate()
            .for_each(|(plane, dx)| {
                let c = plane % self.channels;
                let taps = &weight[c * kh * kw..(c + 1) * kh * kw];
                let gp = &grad[plane * oh_n * ow_n..(plane + 1) * oh_n * ow_n];
                for i in 0..kh {
                    let (rows, row_offset) = self.valid(0, i);
                    for j in 0..kw {
                        let (cols, col_offset) = self.valid(1, j);
                        let tap = taps[i * kw + j];
                        for oh in rows.clone() {
                            let ih = ((oh * sh) as isize + row_offset) as usize;
                            let dx_row = &mut dx[ih * w..(ih + 1) * w];
                            let g_row = &gp[oh * ow_n..(oh + 1) * ow_n];
                            for ow in cols.clone() {
                                let iw = ((ow * sw) as isize + col_offset) as usize;
                                dx_row[iw] += tap * g_row[ow];
                            }
                        }
                    }
                }
            });
        out
    }
}

/// The 4 sizes of a 4-D tensor.
fn dims4(tensor: &FlexTensor) -> [usize; 4] {
    tensor.layout().shape().dims::<4>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        t.into_data()
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect()
    }

    /// Values on both sides of 0 and 6, the bounds themselves, and the odd floats.
    fn awkward(n: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 3.0) * 2e-4).collect();
        v.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            6.0,
            6.5,
            -1.0,
        ]);
        v
    }

    #[test]
    fn relu_and_relu6_match_burn_bit_for_bit_forward_and_backward() {
        let v = awkward(3 * CHUNK);
        let len = v.len();
        for device in [Device::flex(), Device::flex().autodiff()] {
            type Activation = fn(Tensor<2>) -> Tensor<2>;
            let pairs: [(Activation, Activation); 2] =
                [(relu, activation::relu), (relu6, activation::relu6)];
            for (ours, burns) in pairs {
                let input = || {
                    let t = Tensor::<2>::from_data(TensorData::new(v.clone(), [1, len]), &device);
                    if device.is_autodiff() {
                        t.require_grad()
                    } else {
                        t
                    }
                };
                let (a, b) = (input(), input());
                let (ya, yb) = (ours(a.clone()), burns(b.clone()));
                assert_eq!(bits(ya.clone()), bits(yb.clone()));
                if device.is_autodiff() {
                    let weights = Tensor::<2>::from_data(
                        TensorData::new((0..len).map(|i| i as f32 * 0.5 - 3.0).collect(), [1, len]),
                        &device,
                    );
                    let (ga, gb) = (
                        (ya * weights.clone()).sum().backward(),
                        (yb * weights).sum().backward(),
                    );
                    let grad_a = a.grad(&ga).unwrap();
                    let grad_b = b.grad(&gb).unwrap();
                    assert_eq!(bits(grad_a), bits(grad_b));
                }
            }
        }
    }

    /// A depthwise convolution's gradients against Burn's own, over strides, dilations and
    /// asymmetric padding.
    #[test]
    fn depthwise_gradients_match_burns() {
        let device = Device::flex().autodiff();
        let cases = [
            ([1, 1], [1, 1], [(1, 1), (1, 1)], [8, 8]),
            ([2, 2], [1, 1], [(0, 1), (0, 1)], [9, 8]),
            ([2, 1], [2, 1], [(2, 0), (1, 2)], [7, 10]),
            ([1, 1], [1, 1], [(0, 0), (0, 0)], [5, 5]),
        ];
        for (stride, dilation, padding, [h, w]) in cases {
            let (n, c, k) = (3, 5, 3);
            let x_values: Vec<f32> = (0..n * c * h * w)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let w_values: Vec<f32> = (0..c * k * k)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 5.0)
                .collect();
            let options = ConvOptions::new_with_padding(stride, padding, dilation, c);
            let run = |ours: bool| {
                let x = Tensor::<4>::from_data(
                    TensorData::new(x_values.clone(), [n, c, h, w]),
                    &device,
                )
                .require_grad();
                let weight = Tensor::<4>::from_data(
                    TensorData::new(w_values.clone(), [c, 1, k, k]),
                    &device,
                )
                .require_grad();
                let y = if ours {
                    depthwise_conv2d(x.clone(), weight.clone(), None, options.clone())
                } else {
                    burn::tensor::module::conv2d(x.clone(), weight.clone(), None, options.clone())
                };
                let scale = Tensor::<4>::from_data(
                    TensorData::new(
                        (0..y.shape().num_elements())
                            .map(|i| (i % 7) as f32 - 3.0)
                            .collect(),
                        y.dims(),
                    ),
                    &device,
                );
                let grads = (y.clone() * scale).sum().backward();
                let flat = |t: Tensor<4>| t.into_data().as_slice::<f32>().unwrap().to_vec();
                (
                    flat(y),
                    flat(x.grad(&grads).unwrap()),
                    flat(weight.grad(&grads).unwrap()),
                )
            };
            let (ours, burns) = (run(true), run(false));
            assert_eq!(ours.0, burns.0, "the forward is flex's own");
            for (what, a, b) in [("input", &ours.1, &burns.1), ("weight", &ours.2, &burns.2)] {
                let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                let worst = a
                    .iter()
                    .zip(b)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(
                    worst <= 1e-5 * scale,
                    "{what} gradient differs by {worst} (scale {scale}) for {stride:?} {dilation:?} {padding:?}"
                );
            }
        }
    }

    /// The kernels against the definition, written as plainly as possible.
    #[test]
    fn depthwise_kernels_follow_the_definition() {
        let g = Geometry {
            batch: 2,
            channels: 3,
            input: [7, 6],
            output: [4, 3],
            kernel: [3, 2],
            stride: [2, 2],
            dilation: [1, 2],
            pad: [1, 0],
        };
        let x: Vec<f32> = (0..2 * 3 * 7 * 6).map(|i| (i % 11) as f32 - 5.0).collect();
        let w: Vec<f32> = (0..3 * 3 * 2).map(|i| (i % 5) as f32 - 2.0).collect();
        let grad: Vec<f32> = (0..2 * 3 * 4 * 3).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut dw = vec![0.0f32; w.len()];
        let mut dx = vec![0.0f32; x.len()];
        for n in 0..2 {
            for c in 0..3 {
                for oh in 0..4 {
                    for ow in 0..3 {
                        for i in 0..3 {
                            for j in 0..2 {
                                let ih = (oh * 2 + i) as isize - 1;
                                let iw = (ow * 2 + j * 2) as isize;
                                if !(0..7).contains(&ih) || !(0..6).contains(&iw) {
                                    continue;
                                }
                                let xi = ((n * 3 + c) * 7 + ih as usize) * 6 + iw as usize;
                                let gi = ((n * 3 + c) * 4 + oh) * 3 + ow;
                                let wi = (c * 3 + i) * 2 + j;
                                dw[wi] += grad[gi] * x[xi];
                                dx[xi] += w[wi] * grad[gi];
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(g.weight_grad(&x, &grad), dw);
        assert_eq!(g.input_grad(&w, &grad), dx);
    }

    /// Batch norm with fixed statistics against Burn's: the output and the input gradient bit
    /// for bit, gamma's and beta's gradients to rounding.
    #[test]
    fn batch_norm_in_inference_mode_matches_burns() {
        use burn::nn::BatchNormConfig;
        let (n, c, h, w) = (3, 4, 5, 6);
        for device in [Device::flex(), Device::flex().autodiff()] {
            let mut bn = BatchNormConfig::new(c).with_epsilon(1e-3).init(&device);
            let stats = |offset: f32| {
                Tensor::<1>::from_data(
                    TensorData::new((0..c).map(|i| i as f32 * 0.7 + offset).collect(), [c]),
                    &device,
                )
            };
            bn.running_mean = burn::module::RunningState::new(stats(-0.3));
            bn.running_var = burn::module::RunningState::new(stats(0.2));
            bn.gamma = burn::module::Param::from_tensor(stats(0.9));
            bn.beta = burn::module::Param::from_tensor(stats(-1.1));
            // Inference mode with trainable gamma and beta (`batchnorm: inference`).
            bn.training = burn::module::Param::from_bool(false);
            let input = || {
                let t = Tensor::<4>::from_data(
                    TensorData::new(
                        (0..n * c * h * w)
                            .map(|i| ((i * 29 % 97) as f32 - 48.0) / 13.0)
                            .collect(),
                        [n, c, h, w],
                    ),
                    &device,
                );
                if device.is_autodiff() {
                    t.require_grad()
                } else {
                    t
                }
            };
            let (a, b) = (input(), input());
            let (ya, yb) = (batch_norm(&bn, a.clone()), bn.forward(b.clone()));
            assert_eq!(bits(ya.clone()), bits(yb.clone()), "forward");
            if device.is_autodiff() {
                let scale = Tensor::<4>::from_data(
                    TensorData::new(
                        (0..n * c * h * w).map(|i| (i % 5) as f32 - 2.0).collect(),
                        [n, c, h, w],
                    ),
                    &device,
                );
                let (ga, gb) = (
                    (ya * scale.clone()).sum().backward(),
                    (yb * scale).sum().backward(),
                );
                assert_eq!(
                    bits(a.grad(&ga).unwrap()),
                    bits(b.grad(&gb).unwrap()),
                    "input gradient"
                );
                for (ours, burns) in [
                    (bn.gamma.val().grad(&ga), bn.gamma.val().grad(&gb)),
                    (bn.beta.val().grad(&ga), bn.beta.val().grad(&gb)),
                ] {
                    let flat = |t: Tensor<1>| t.into_data().as_slice::<f32>().unwrap().to_vec();
                    let (ours, burns) = (flat(ours.unwrap()), flat(burns.unwrap()));
                    for (x, y) in ours.iter().zip(&burns) {
                        assert!(
                            (x - y).abs() <= 1e-5 * y.abs().max(1.0),
                            "{ours:?} vs {burns:?}"
                        );
                    }
                }
            }
        }
    }
}
