//! Shape inference: from a node's spec and its inputs' shapes to its resolved [`Op`] and output
//! shape, with TensorFlow's padding rules.

use super::graph::{ConvOp, Op, Pads, Shape};
use crate::spec::model::{ActivationFn, NodeSpec, Padding, PaddingMode, Size2};

/// Why a node's shape cannot be computed: a message, the key it concerns, and a fix.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeError {
    /// What is wrong.
    pub message: String,
    /// The node key the error points at (`input`, `inputs`, `kernel_size`...).
    pub key: &'static str,
    /// How to fix it.
    pub help: Option<String>,
}

fn error(key: &'static str, message: String, help: Option<&str>) -> ShapeError {
    ShapeError {
        message,
        key,
        help: help.map(str::to_string),
    }
}

fn image(shape: Shape, node: &NodeSpec) -> Result<(usize, usize, usize), ShapeError> {
    match shape {
        Shape::Image { h, w, c } => Ok((h, w, c)),
        Shape::Vector(n) => Err(error(
            "input",
            format!(
                "`{}` ({}) needs an image (height, width, channels), but its input is a vector ({n},)",
                node.name(),
                node.op_name()
            ),
            Some("image layers go before the global pooling or flatten node"),
        )),
    }
}

/// Padding and output size along one axis, TensorFlow style.
fn axis(
    size: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<(usize, usize, usize)> {
    let effective = (kernel - 1) * dilation + 1;
    let (before, after) = match padding {
        Padding::Mode(PaddingMode::Valid) => (0, 0),
        Padding::Mode(PaddingMode::Same) => {
            let out = size.div_ceil(stride);
            let total = ((out - 1) * stride + effective).saturating_sub(size);
            (total / 2, total - total / 2)
        }
        Padding::Symmetric(p) => (p, p),
        Padding::Explicit(_) => unreachable!("explicit pads are split per axis by the caller"),
    };
    let padded = size + before + after;
    (padded >= effective).then(|| (before, after, (padded - effective) / stride + 1))
}

/// Pads and output height/width of a windowed op.
fn window(
    (h, w): (usize, usize),
    kernel: [usize; 2],
    strides: [usize; 2],
    dilation: [usize; 2],
    padding: Padding,
) -> Result<(Pads, usize, usize), ShapeError> {
    let per_axis =
        |size, i: usize, padding| axis(size, kernel[i], strides[i], dilation[i], padding);
    let (rows, cols) = match padding {
        Padding::Explicit([t, b, l, r]) => (
            per_axis(h + t + b, 0, Padding::Symmetric(0)).map(|(_, _, o)| (t, b, o)),
            per_axis(w + l + r, 1, Padding::Symmetric(0)).map(|(_, _, o)| (l, r, o)),
        ),
        other => (per_axis(h, 0, other), per_axis(w, 1, other)),
    };
    match (rows, cols) {
        (Some((t, b, oh)), Some((l, r, ow))) => Ok(([t, b, l, r], oh, ow)),
        _ => Err(error(
            "kernel_size",
            format!(
                "the window {}x{} is larger than the input {h}x{w}",
                kernel[0], kernel[1]
            ),
            Some("use `padding: same`, a smaller window, or a larger input"),
        )),
    }
}

fn same_shapes(node: &NodeSpec, inputs: &[Shape]) -> Result<Shape, ShapeError> {
    let first = inputs[0];
    if let Some(other) = inputs.iter().find(|s| **s != first) {
        return Err(error(
            "inputs",
            format!(
                "`{}` ({}) needs inputs of one shape, but got {first} and {other}",
                node.name(),
                node.op_name()
            ),
            Some("element-wise ops need equal shapes; add a conv2d or dense to match channels"),
        ));
    }
    Ok(first)
}

/// Resolves `node` given its inputs' shapes.
///
/// Long by design: one arm per node kind, each the shape rule of that layer (as Keras'
/// `compute_output_shape`).
pub fn infer(node: &NodeSpec, inputs: &[Shape]) -> Result<(Op, Shape), ShapeError> {
    Ok(match node {
        NodeSpec::Input(n) => {
            let dims: Vec<usize> = n.shape.iter().map(|d| d.map_or(0, |d| d.get())).collect();
            if dims.contains(&0) {
                return Err(error(
                    "shape",
                    "the model input needs a fixed height, width and channels".into(),
                    Some("write `shape: [height, width, 3]` matching `data.image_size`"),
                ));
            }
            (
                Op::Input,
                Shape::Image {
                    h: dims[0],
                    w: dims[1],
                    c: dims[2],
                },
            )
        }
        NodeSpec::Conv2d(n) => {
            let groups = n.groups.get();
            let window = Window {
                kernel: n.kernel_size,
                strides: n.strides,
                dilation: n.dilation_rate,
                padding: n.padding,
            };
            conv(node, inputs[0], window, n.use_bias, n.activation, |c| {
                if c % groups != 0 || n.filters.get() % groups != 0 {
                    return Err(error(
                        "groups",
                        format!(
                            "`groups: {groups}` must divide both the input channels ({c}) and `filters` ({})",
                            n.filters
                        ),
                        None,
                    ));
                }
                Ok((n.filters.get(), groups))
            })?
        }
        NodeSpec::DepthwiseConv2d(n) => {
            let window = Window {
                kernel: n.kernel_size,
                strides: n.strides,
                dilation: n.dilation_rate,
                padding: n.padding,
            };
            conv(node, inputs[0], window, n.use_bias, n.activation, |c| {
                Ok((c * n.depth_multiplier.get(), c))
            })?
        }
        NodeSpec::BatchNorm(n) => {
            let channels = match inputs[0] {
                Shape::Image { c, .. } => c,
                Shape::Vector(f) => f,
            };
            (
                Op::BatchNorm {
                    channels,
                    epsilon: n.epsilon,
                    momentum: n.momentum,
                },
                inputs[0],
            )
        }
        NodeSpec::Activation(n) => (Op::Activation(n.activation), inputs[0]),
        NodeSpec::Add(_) => (Op::Add, same_shapes(node, inputs)?),
        NodeSpec::Multiply(_) => (Op::Multiply, same_shapes(node, inputs)?),
        NodeSpec::Concatenate(n) => concatenate(node, n.axis, inputs)?,
        NodeSpec::MaxPool(n) | NodeSpec::AvgPool(n) => {
            let (h, w, c) = image(inputs[0], node)?;
            let size = n.pool_size.pair();
            let strides = n.strides.map_or(size, |s| s.pair());
            let (pads, oh, ow) = window((h, w), size, strides, [1, 1], n.padding)?;
            let op = if matches!(node, NodeSpec::MaxPool(_)) {
                Op::MaxPool {
                    size,
                    strides,
                    pads,
                }
            } else {
                Op::AvgPool {
                    size,
                    strides,
                    pads,
                }
            };
            (op, Shape::Image { h: oh, w: ow, c })
        }
        NodeSpec::GlobalAvgPool(_) | NodeSpec::GlobalMaxPool(_) => {
            let (_, _, c) = image(inputs[0], node)?;
            let op = if matches!(node, NodeSpec::GlobalAvgPool(_)) {
                Op::GlobalAvgPool
            } else {
                Op::GlobalMaxPool
            };
            (op, Shape::Vector(c))
        }
        NodeSpec::ZeroPadding(n) => {
            let (h, w, c) = image(inputs[0], node)?;
            let pads = match n.padding {
                Padding::Symmetric(p) => [p; 4],
                Padding::Explicit(p) => p,
                Padding::Mode(_) => {
                    return Err(error(
                        "padding",
                        "`zero_padding` needs numbers: `padding: 1` or `padding: [top, bottom, left, right]`".into(),
                        None,
                    ));
                }
            };
            (
                Op::ZeroPadding(pads),
                Shape::Image {
                    h: h + pads[0] + pads[1],
                    w: w + pads[2] + pads[3],
                    c,
                },
            )
        }
        NodeSpec::Flatten(_) => {
            let (h, w, c) = image(inputs[0], node)?;
            (Op::Flatten, Shape::Vector(h * w * c))
        }
        NodeSpec::Dense(n) => {
            let in_features = match inputs[0] {
                Shape::Vector(f) => f,
                image @ Shape::Image { .. } => {
                    return Err(error(
                        "input",
                        format!(
                            "`{}` (dense) needs a vector, but its input is an image {image}",
                            n.name
                        ),
                        Some(
                            "add a `global_avg_pool` or `flatten` node between the image layers and the dense layer",
                        ),
                    ));
                }
            };
            let op = Op::Dense {
                in_features,
                units: n.units.get(),
                bias: n.use_bias,
                activation: n.activation,
            };
            (op, Shape::Vector(n.units.get()))
        }
        NodeSpec::Dropout(n) => (Op::Dropout { rate: n.rate }, inputs[0]),
        NodeSpec::Rescale(n) => (
            Op::Rescale {
                scale: n.scale,
                offset: n.offset,
            },
            inputs[0],
        ),
        NodeSpec::Preprocess(n) => {
            let (scale, offset) = n.preset.scale_offset();
            (Op::Rescale { scale, offset }, inputs[0])
        }
        NodeSpec::Pretrained(_) => {
            unreachable!("pretrained nodes are expanded before shape inference")
        }
    })
}

/// The window settings shared by convolutions.
struct Window {
    kernel: Size2,
    strides: Size2,
    dilation: Size2,
    padding: Padding,
}

/// A convolution whose output channels and groups follow from the input channels.
fn conv(
    node: &NodeSpec,
    input: Shape,
    window_spec: Window,
    bias: bool,
    activation: Option<ActivationFn>,
    channels: impl FnOnce(usize) -> Result<(usize, usize), ShapeError>,
) -> Result<(Op, Shape), ShapeError> {
    let (h, w, c) = image(input, node)?;
    let (out_channels, groups) = channels(c)?;
    let (kernel, strides, dilation) = (
        window_spec.kernel.pair(),
        window_spec.strides.pair(),
        window_spec.dilation.pair(),
    );
    let (pads, oh, ow) = window((h, w), kernel, strides, dilation, window_spec.padding)?;
    let op = ConvOp {
        in_channels: c,
        out_channels,
        kernel,
        strides,
        dilation,
        groups,
        pads,
        bias,
        activation,
    };
    Ok((
        Op::Conv(op),
        Shape::Image {
            h: oh,
            w: ow,
            c: out_channels,
        },
    ))
}

fn concatenate(node: &NodeSpec, axis: i32, inputs: &[Shape]) -> Result<(Op, Shape), ShapeError> {
    let mismatch = |a: Shape, b: Shape| {
        error(
            "inputs",
            format!(
                "`{}` (concatenate) cannot join {a} and {b} along axis {axis}: the other axes differ",
                node.name()
            ),
            Some("concatenate needs equal sizes on every axis but `axis`"),
        )
    };
    match inputs[0] {
        Shape::Vector(_) => {
            if !(axis == -1 || axis == 0) {
                return Err(error(
                    "axis",
                    format!("vectors have one axis; `axis: {axis}` does not exist"),
                    Some("use `axis: -1`"),
                ));
            }
            let mut total = 0;
            for s in inputs {
                match s {
                    Shape::Vector(n) => total += n,
                    other => return Err(mismatch(inputs[0], *other)),
                }
            }
            Ok((Op::Concatenate { axis: 1 }, Shape::Vector(total)))
        }
        Shape::Image { h, w, c } => {
            // Keras axes without the batch: 0 = height, 1 = width, 2 = channels.
            let keras_axis = if axis < 0 { axis + 3 } else { axis } as usize;
            let mut dims = [h, w, c];
            let mut total = 0;
            for s in inputs {
                let Shape::Image {
                    h: sh,
                    w: sw,
                    c: sc,
                } = *s
                else {
                    return Err(mismatch(inputs[0], *s));
                };
                let other = [sh, sw, sc];
                if (0..3).any(|i| i != keras_axis && other[i] != dims[i]) {
                    return Err(mismatch(inputs[0], *s));
                }
                total += other[keras_axis];
            }
            dims[keras_axis] = total;
            let nchw_axis = [2, 3, 1][keras_axis];
            Ok((
                Op::Concatenate { axis: nchw_axis },
                Shape::Image {
                    h: dims[0],
                    w: dims[1],
                    c: dims[2],
                },
            ))
        }
    }
}
