//! The graph interpreter: evaluates nodes in topological order, freeing each intermediate
//! tensor after its last reader.

use super::{GraphModel, Layer, flex_kernels};
use crate::plan::graph::{Graph, Op, Pads};
use crate::spec::model::ActivationFn;
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions, PadMode};

/// A value flowing along an edge: an NCHW image batch or an `[batch, features]` matrix.
#[derive(Clone, Debug)]
pub enum Value {
    /// NCHW images or feature maps.
    Image(Tensor<4>),
    /// `[batch, features]`.
    Vector(Tensor<2>),
}

impl Value {
    fn image(self) -> Tensor<4> {
        match self {
            Value::Image(t) => t,
            Value::Vector(_) => unreachable!("the planner only wires images into image ops"),
        }
    }

    /// Applies `image` or `vector` to the tensor, by kind.
    pub fn map(
        self,
        image: impl FnOnce(Tensor<4>) -> Tensor<4>,
        vector: impl FnOnce(Tensor<2>) -> Tensor<2>,
    ) -> Value {
        match self {
            Value::Image(t) => Value::Image(image(t)),
            Value::Vector(t) => Value::Vector(vector(t)),
        }
    }
}

fn activate(value: Value, f: ActivationFn) -> Value {
    macro_rules! both {
        ($func:expr) => {
            value.map(|t| $func(t), |t| $func(t))
        };
    }
    match f {
        ActivationFn::Linear => value,
        ActivationFn::Relu => both!(flex_kernels::relu),
        ActivationFn::Relu6 => both!(flex_kernels::relu6),
        ActivationFn::Sigmoid => both!(activation::sigmoid),
        ActivationFn::Softmax => {
            value.map(|t| activation::softmax(t, 1), |t| activation::softmax(t, 1))
        }
        ActivationFn::Tanh => both!(activation::tanh),
        ActivationFn::Gelu => both!(activation::gelu),
        ActivationFn::Swish | ActivationFn::Silu => both!(activation::silu),
        ActivationFn::HardSwish => both!(activation::hard_swish),
    }
}

fn pad_pairs([top, bottom, left, right]: Pads) -> [(usize, usize); 2] {
    [(top, bottom), (left, right)]
}

/// Runs `model` on `images`; returns its first output.
pub fn run(model: &GraphModel, images: Tensor<4>) -> Tensor<2> {
    let everything = vec![true; model.graph().nodes.len()];
    let values = run_nodes(
        model,
        Some(images),
        &everything,
        vec![None; everything.len()],
    );
    output(model, values)
}

/// Runs a training forward pass of `model` on `images` (on the autodiff device), computing
/// the nodes marked in `constant` (a prefix that does not depend on any trainable parameter
/// and has no randomness) without autodiff, on the inference copy of the model. Their values
/// enter the rest of the graph as constants: the result and the gradients are those of
/// [`run`], without recording a backward graph through a frozen base.
pub fn run_with_constant_prefix(
    model: &GraphModel,
    constant: &[bool],
    images: Tensor<4>,
) -> Tensor<2> {
    let graph = model.graph();
    if constant.iter().all(|c| !c) || constant[graph.outputs[0]] {
        return run(model, images);
    }
    run_from_prefix(model, constant, prefix_constants(model, constant, images))
}

/// The `constant` prefix's frontier values for `images` (on the autodiff device), computed on
/// the inference copy of `model` and entering the autodiff graph as constants.
pub fn prefix_constants(
    model: &GraphModel,
    constant: &[bool],
    images: Tensor<4>,
) -> Vec<(usize, Value)> {
    run_prefix(&model.valid(), constant, images.inner())
        .into_iter()
        .map(|(node, value)| (node, value.map(Tensor::autodiff, Tensor::autodiff)))
        .collect()
}

/// The nodes of the `constant` prefix whose values the rest of the graph reads (or that are
/// outputs), in graph order: everything the rest needs to know about the images.
pub fn frontier(graph: &Graph, constant: &[bool]) -> Vec<usize> {
    let mut read_later = vec![false; graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        if !constant[i] {
            for &input in &node.inputs {
                read_later[input] = true;
            }
        }
    }
    for &output in &graph.outputs {
        read_later[output] = true;
    }
    (0..graph.nodes.len())
        .filter(|&i| constant[i] && read_later[i])
        .collect()
}

/// Evaluates the `constant` prefix of `model` on `images`; the values of its [`frontier`].
pub fn run_prefix(model: &GraphModel, constant: &[bool], images: Tensor<4>) -> Vec<(usize, Value)> {
    let mut values = run_nodes(model, Some(images), constant, vec![None; constant.len()]);
    frontier(model.graph(), constant)
        .into_iter()
        .map(|node| {
            let value = values[node].take();
            (node, value.expect("the frontier is evaluated"))
        })
        .collect()
}

/// Evaluates the nodes outside the `constant` prefix from the values of its frontier (see
/// [`run_prefix`]); the graph's first output.
pub fn run_from_prefix(
    model: &GraphModel,
    constant: &[bool],
    known: Vec<(usize, Value)>,
) -> Tensor<2> {
    let mut values = vec![None; constant.len()];
    for (node, value) in known {
        values[node] = Some(value);
    }
    let rest: Vec<bool> = constant.iter().map(|c| !c).collect();
    let values = run_nodes(model, None, &rest, values);
    output(model, values)
}

/// Evaluates the nodes marked in `selected`, in topological order, on top of the already
/// known `values`; a value is dropped after its last reader in the whole graph.
fn run_nodes(
    model: &GraphModel,
    images: Option<Tensor<4>>,
    selected: &[bool],
    mut values: Vec<Option<Value>>,
) -> Vec<Option<Value>> {
    let graph = model.graph();
    let count = graph.nodes.len();
    // Index of the last node reading each node, so its value can be dropped after that.
    let mut last_use = vec![0usize; count];
    for (i, node) in graph.nodes.iter().enumerate() {
        for &input in &node.inputs {
            last_use[input] = i;
        }
    }
    for &output in &graph.outputs {
        last_use[output] = usize::MAX;
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if !selected[i] {
            continue;
        }
        let mut take = |j: usize| -> Value {
            let v = if last_use[j] == i {
                values[j].take()
            } else {
                values[j].clone()
            };
            v.expect("inputs are evaluated before their readers")
        };
        // Only the graph's own input reads the images; a pretrained base's input node passes
        // on the value of the node it is wired to (e.g. a preprocess node).
        let inputs: Vec<Value> = if i == graph.input {
            let images = images
                .clone()
                .expect("the input node is evaluated with images");
            vec![Value::Image(images)]
        } else {
            node.inputs.iter().map(|&j| take(j)).collect()
        };
        let layer = model.layer_of(i).map(|l| &model.layers[l]);
        values[i] = Some(run_node(&node.op, layer, inputs));
    }
    values
}

/// The graph's first output from the evaluated values, as `[batch, features]`.
fn output(model: &GraphModel, mut values: Vec<Option<Value>>) -> Tensor<2> {
    match values[model.graph().outputs[0]].take() {
        Some(Value::Vector(t)) => t,
        Some(Value::Image(t)) => {
            let [n, c, h, w] = t.dims();
            t.reshape([n, c * h * w])
        }
        None => unreachable!("outputs are evaluated"),
    }
}

/// Runs one node's operation on its input values.
/// Long by design: one arm per node kind, each the layer's forward pass.
fn run_node(op: &Op, layer: Option<&Layer>, mut inputs: Vec<Value>) -> Value {
    let first = inputs.swap_remove(0);
    match (op, layer) {
        (Op::Input, _) => first,
        (Op::Conv(c), Some(Layer::Conv(conv))) => {
            let out = Value::Image(
                if c.groups > 1 && c.groups == c.in_channels && c.groups == c.out_channels {
                    let [top, bottom, left, right] = c.pads;
                    let options = ConvOptions::new_with_padding(
                        c.strides,
                        [(top, bottom), (left, right)],
                        c.dilation,
                        c.groups,
                    );
                    let bias = conv.bias.as_ref().map(|b| b.val());
                    flex_kernels::depthwise_conv2d(first.image(), conv.weight.val(), bias, options)
                } else {
                    conv.forward(first.image())
                },
            );
            match c.activation {
                Some(f) => activate(out, f),
                None => out,
            }
        }
        (Op::BatchNorm { .. }, Some(Layer::BatchNorm(bn))) => first.map(
            |t| flex_kernels::batch_norm(bn, t),
            |t| flex_kernels::batch_norm(bn, t),
        ),
        (Op::Dense { activation: f, .. }, Some(Layer::Dense(linear))) => {
            let out = first.map(|t| t, |t| linear.forward(t));
            match f {
                Some(f) => activate(out, *f),
                None => out,
            }
        }
        (Op::Dropout { .. }, Some(Layer::Dropout(dropout))) => {
            first.map(|t| dropout.forward(t), |t| dropout.forward(t))
        }
        (Op::Activation(f), _) => activate(first, *f),
        (Op::Add, _) => inputs.into_iter().fold(first, |acc, v| match (acc, v) {
            (Value::Image(a), Value::Image(b)) => Value::Image(a + b),
            (Value::Vector(a), Value::Vector(b)) => Value::Vector(a + b),
            _ => unreachable!("the planner checks equal shapes"),
        }),
        (Op::Multiply, _) => inputs.into_iter().fold(first, |acc, v| match (acc, v) {
            (Value::Image(a), Value::Image(b)) => Value::Image(a * b),
            (Value::Vector(a), Value::Vector(b)) => Value::Vector(a * b),
            _ => unreachable!("the planner checks equal shapes"),
        }),
        (Op::Concatenate { axis }, _) => {
            let all = std::iter::once(first).chain(inputs);
            match op {
                _ if matches!(all.clone().next(), Some(Value::Vector(_))) => {
                    Value::Vector(Tensor::cat(
                        all.map(|v| match v {
                            Value::Vector(t) => t,
                            Value::Image(_) => unreachable!(),
                        })
                        .collect(),
                        *axis,
                    ))
                }
                _ => Value::Image(Tensor::cat(all.map(Value::image).collect(), *axis)),
            }
        }
        (
            Op::MaxPool {
                size,
                strides,
                pads,
            },
            _,
        ) => Value::Image(max_pool2d(
            first.image(),
            MaxPoolOptions::new(*size)
                .with_stride(*strides)
                .with_padding_pairs(pad_pairs(*pads)),
        )),
        (
            Op::AvgPool {
                size,
                strides,
                pads,
            },
            _,
        ) => Value::Image(avg_pool2d(
            first.image(),
            AvgPoolOptions::new(*size)
                .with_stride(*strides)
                .with_padding_pairs(pad_pairs(*pads))
                .with_count_include_pad(false),
        )),
        (Op::GlobalAvgPool, _) => {
            let t = first.image();
            let [n, c, _, _] = t.dims();
            Value::Vector(t.mean_dim(3).mean_dim(2).reshape([n, c]))
        }
        (Op::GlobalMaxPool, _) => {
            let t = first.image();
            let [n, c, _, _] = t.dims();
            Value::Vector(t.max_dim(3).max_dim(2).reshape([n, c]))
        }
        (Op::ZeroPadding(pads), _) => {
            Value::Image(first.image().pad(pad_pairs(*pads), PadMode::Constant(0.0)))
        }
        (Op::Flatten, _) => {
            // Keras order: height, width, channels.
            let t = first.image();
            let [n, c, h, w] = t.dims();
            Value::Vector(t.permute([0, 2, 3, 1]).reshape([n, h * w * c]))
        }
        (Op::Rescale { scale, offset }, _) => {
            first.map(|t| t * *scale + *offset, |t| t * *scale + *offset)
        }
        (op, layer) => unreachable!("node {op:?} built with layer {layer:?}"),
    }
}
