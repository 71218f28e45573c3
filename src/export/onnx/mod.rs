//! A model as an ONNX file (opset 17), for deployment with ONNX Runtime, TensorRT, OpenVINO...
//!
//! The graph is runner's graph IR node by node: each node becomes the ONNX operators that
//! compute exactly what runner's interpreter computes, with its parameters as initializers
//! named like runner's weight files (`<node>.weight`, ...):
//!
//! | runner | ONNX |
//! | --- | --- |
//! | conv, depthwise conv | `Conv` (`group`; TensorFlow `SAME` padding as the explicit, possibly uneven `pads`) |
//! | batch norm | `BatchNormalization` (inference: running statistics) |
//! | dense | `Gemm` (`transB`) |
//! | activations | `Relu`, `Clip` (ReLU6), `Sigmoid`, `Tanh`, `Softmax` (channels), `HardSwish`; GELU with `Erf`, swish as `x * Sigmoid(x)` |
//! | add, multiply, concatenate | `Add`/`Sum`, `Mul`, `Concat` |
//! | max / average pooling | `MaxPool`, `AveragePool` (`count_include_pad = 0`, TensorFlow's rule) |
//! | global pooling | `GlobalAveragePool`/`GlobalMaxPool`, then `Flatten` |
//! | zero padding | `Pad` |
//! | flatten | `Transpose` to NHWC, then `Flatten` (Keras' order) |
//! | dropout | `Identity` (inference) |
//! | rescale, preprocess | `Mul`, `Add` |
//!
//! The input is what runner's model takes: float32 RGB pixels in 0..255, `[N, 3, H, W]`, with
//! the spec's own preprocessing inside the model; the output is the first output node's
//! values (logits for a classifier), `[N, features]`. The batch size `N` is free.

mod proto;

use crate::model::GraphModel;
use crate::model::save::{NamedTensor, named_tensors};
use crate::plan::graph::{Node, Op, Shape};
use crate::spec::model::ActivationFn;
use proto::*;
use std::collections::{BTreeMap, BTreeSet};

/// The ONNX operator set the file uses.
pub const OPSET: i64 = 17;
/// ONNX IR version of opset 17 (ONNX 1.12).
const IR_VERSION: i64 = 8;

/// `model` (with its current parameters) as the bytes of an ONNX file.
pub fn to_onnx(model: &GraphModel, name: &str) -> Vec<u8> {
    let graph = model.graph();
    let mut builder = Builder {
        tensors: named_tensors(model),
        nodes: Vec::new(),
        initializers: Vec::new(),
        constants: BTreeSet::new(),
    };
    for node in &graph.nodes {
        let inputs: Vec<String> = node
            .inputs
            .iter()
            .map(|&i| graph.nodes[i].name.clone())
            .collect();
        builder.translate(node, inputs);
    }
    let input = &graph.nodes[graph.input];
    let output = &graph.nodes[graph.outputs[0]];
    let output_name = match output.shape {
        Shape::Vector(_) => output.name.clone(),
        Shape::Image { .. } => {
            // runner flattens an image output in NCHW order, as ONNX `Flatten` does.
            let flat = format!("{}:flat", output.name);
            builder.node("Flatten", &[&output.name], &flat, vec![int("axis", 1)]);
            flat
        }
    };
    let (channels, h, w) = match input.shape {
        Shape::Image { h, w, c } => (c, h, w),
        Shape::Vector(n) => (n, 1, 1),
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "runner".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "{name}: input `{}` float32 RGB pixels 0..255 [N, {channels}, {h}, {w}]; output \
             `{output_name}` [N, {}]",
            input.name,
            output.shape.elements()
        ),
        graph: Some(GraphProto {
            node: builder.nodes,
            name: name.into(),
            initializer: builder.initializers,
            input: vec![value_info(
                &input.name,
                &[None, Some(channels), Some(h), Some(w)],
            )],
            output: vec![value_info(
                &output_name,
                &[None, Some(output.shape.elements())],
            )],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
    };
    prost::Message::encode_to_vec(&model)
}

/// The ONNX nodes and initializers written so far.
struct Builder {
    /// Parameters not yet written, by runner name.
    tensors: BTreeMap<String, NamedTensor>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// Names of the shared constants already written.
    constants: BTreeSet<String>,
}

impl Builder {
    /// Appends the operators of runner node `node`, whose inputs are the values `inputs`;
    /// its result is the value named like the node.
    ///
    /// Long by design: one arm per node kind, each its ONNX operators.
    fn translate(&mut self, node: &Node, inputs: Vec<String>) {
        let name = node.name.as_str();
        // Every node but the input reads at least one value.
        let x = inputs.first().map_or("", String::as_str);
        match &node.op {
            // The graph input; a pretrained base's own input node passes its value on.
            Op::Input if inputs.is_empty() => {}
            Op::Input | Op::Dropout { .. } => self.node("Identity", &[x], name, vec![]),
            Op::Conv(c) => {
                let [top, bottom, left, right] = c.pads;
                let mut operands = vec![x.to_string(), self.param(name, "weight")];
                if c.bias {
                    operands.push(self.param(name, "bias"));
                }
                let conv = pre_activation(name, c.activation);
                self.node(
                    "Conv",
                    &operands.iter().map(String::as_str).collect::<Vec<_>>(),
                    &conv,
                    vec![
                        ints("kernel_shape", &c.kernel),
                        ints("strides", &c.strides),
                        ints("dilations", &c.dilation),
                        int("group", c.groups as i64),
                        ints("pads", &[top, left, bottom, right]),
                    ],
                );
                self.activation(c.activation, &conv, name);
            }
            Op::BatchNorm { epsilon, .. } => {
                let operands = ["weight", "bias", "running_mean", "running_var"]
                    .map(|suffix| self.param(name, suffix));
                let mut all = vec![x];
                all.extend(operands.iter().map(String::as_str));
                self.node(
                    "BatchNormalization",
                    &all,
                    name,
                    vec![float("epsilon", *epsilon as f32)],
                );
            }
            Op::Activation(f) => self.activation(Some(*f), x, name),
            Op::Add if inputs.len() == 2 => self.node("Add", &[x, &inputs[1]], name, vec![]),
            Op::Add => {
                let all: Vec<&str> = inputs.iter().map(String::as_str).collect();
                self.node("Sum", &all, name, vec![]);
            }
            Op::Multiply => {
                let mut product = x.to_string();
                for (i, factor) in inputs.iter().enumerate().skip(1) {
                    let out = if i + 1 == inputs.len() {
                        name.to_string()
                    } else {
                        format!("{name}:product{i}")
                    };
                    self.node("Mul", &[&product, factor], &out, vec![]);
                    product = out;
                }
            }
            Op::Concatenate { axis } => {
                let all: Vec<&str> = inputs.iter().map(String::as_str).collect();
                self.node("Concat", &all, name, vec![int("axis", *axis as i64)]);
            }
            Op::MaxPool {
                size,
                strides,
                pads,
            } => self.node("MaxPool", &[x], name, pool_attributes(size, strides, pads)),
            Op::AvgPool {
                size,
                strides,
                pads,
            } => {
                let mut attributes = pool_attributes(size, strides, pads);
                attributes.push(int("count_include_pad", 0));
                self.node("AveragePool", &[x], name, attributes);
            }
            Op::GlobalAvgPool => self.global_pool("GlobalAveragePool", x, name),
            Op::GlobalMaxPool => self.global_pool("GlobalMaxPool", x, name),
            Op::ZeroPadding([top, bottom, left, right]) => {
                let pads = format!("{name}:pads");
                let values = [0, 0, *top, *left, 0, 0, *bottom, *right].map(|p| p as i64);
                self.initializers.push(TensorProto {
                    dims: vec![8],
                    data_type: TENSOR_INT64,
                    name: pads.clone(),
                    raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                });
                self.node("Pad", &[x, &pads], name, vec![]);
            }
            Op::Flatten => {
                let nhwc = format!("{name}:nhwc");
                self.node("Transpose", &[x], &nhwc, vec![ints("perm", &[0, 2, 3, 1])]);
                self.node("Flatten", &[&nhwc], name, vec![int("axis", 1)]);
            }
            Op::Dense {
                bias, activation, ..
            } => {
                let mut operands = vec![x.to_string(), self.param(name, "weight")];
                if *bias {
                    operands.push(self.param(name, "bias"));
                }
                let gemm = pre_activation(name, *activation);
                self.node(
                    "Gemm",
                    &operands.iter().map(String::as_str).collect::<Vec<_>>(),
                    &gemm,
                    vec![int("transB", 1)],
                );
                self.activation(*activation, &gemm, name);
            }
            Op::Rescale { scale, offset } => {
                let scaled = format!("{name}:scaled");
                let factor = self.scalar(&format!("{name}:scale"), *scale as f32);
                let shift = self.scalar(&format!("{name}:offset"), *offset as f32);
                self.node("Mul", &[x, &factor], &scaled, vec![]);
                self.node("Add", &[&scaled, &shift], name, vec![]);
            }
        }
    }

    /// Appends the operators of activation `f` from value `x` to value `out`.
    fn activation(&mut self, f: Option<ActivationFn>, x: &str, out: &str) {
        let Some(f) = f else {
            return;
        };
        match f {
            ActivationFn::Linear => self.node("Identity", &[x], out, vec![]),
            ActivationFn::Relu => self.node("Relu", &[x], out, vec![]),
            ActivationFn::Relu6 => {
                let low = self.scalar("const:0", 0.0);
                let high = self.scalar("const:6", 6.0);
                self.node("Clip", &[x, &low, &high], out, vec![]);
            }
            ActivationFn::Sigmoid => self.node("Sigmoid", &[x], out, vec![]),
            ActivationFn::Tanh => self.node("Tanh", &[x], out, vec![]),
            ActivationFn::Softmax => self.node("Softmax", &[x], out, vec![int("axis", 1)]),
            ActivationFn::HardSwish => self.node("HardSwish", &[x], out, vec![]),
            ActivationFn::Swish | ActivationFn::Silu => {
                let gate = format!("{out}:sigmoid");
                self.node("Sigmoid", &[x], &gate, vec![]);
                self.node("Mul", &[x, &gate], out, vec![]);
            }
            ActivationFn::Gelu => {
                // x * 0.5 * (1 + erf(x / sqrt(2))), the exact GELU runner computes.
                let root2 = self.scalar("const:sqrt2", std::f32::consts::SQRT_2);
                let one = self.scalar("const:1", 1.0);
                let half = self.scalar("const:0.5", 0.5);
                let steps = ["scaled", "erf", "plus1", "times_x"].map(|s| format!("{out}:{s}"));
                self.node("Div", &[x, &root2], &steps[0], vec![]);
                self.node("Erf", &[&steps[0]], &steps[1], vec![]);
                self.node("Add", &[&steps[1], &one], &steps[2], vec![]);
                self.node("Mul", &[x, &steps[2]], &steps[3], vec![]);
                self.node("Mul", &[&steps[3], &half], out, vec![]);
            }
        }
    }

    /// Appends global pooling `pool` from `x` to the vector `out` (`[N, C]`, as runner's).
    fn global_pool(&mut self, pool: &str, x: &str, out: &str) {
        let pooled = format!("{out}:pooled");
        self.node(pool, &[x], &pooled, vec![]);
        self.node("Flatten", &[&pooled], out, vec![int("axis", 1)]);
    }

    /// Appends one ONNX node.
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: output.to_string(),
            op_type: op.to_string(),
            attribute,
        });
    }

    /// Writes parameter `<node>.<suffix>` as an initializer; its name.
    fn param(&mut self, node: &str, suffix: &str) -> String {
        let name = format!("{node}.{suffix}");
        let (shape, values) = self
            .tensors
            .remove(&name)
            .unwrap_or_else(|| unreachable!("every layer of the graph has `{name}`"));
        self.initializers.push(float_tensor(&name, &shape, &values));
        name
    }

    /// A scalar float constant named `name` (written once); its name.
    fn scalar(&mut self, name: &str, value: f32) -> String {
        if self.constants.insert(name.to_string()) {
            self.initializers.push(float_tensor(name, &[], &[value]));
        }
        name.to_string()
    }
}

/// The value an activation reads: the node's own name when there is nothing to apply.
fn pre_activation(name: &str, activation: Option<ActivationFn>) -> String {
    match activation {
        Some(_) => format!("{name}:linear"),
        None => name.to_string(),
    }
}

fn pool_attributes(
    size: &[usize; 2],
    strides: &[usize; 2],
    [top, bottom, left, right]: &[usize; 4],
) -> Vec<AttributeProto> {
    vec![
        ints("kernel_shape", size),
        ints("strides", strides),
        ints("pads", &[*top, *left, *bottom, *right]),
    ]
}

fn float_tensor(name: &str, shape: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: TENSOR_FLOAT,
        name: name.to_string(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(size) => DimensionValue::DimValue(*size as i64),
                None => DimensionValue::DimParam("N".into()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: TENSOR_FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: ATTRIBUTE_INT,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: values.iter().map(|&v| v as i64).collect(),
        r#type: ATTRIBUTE_INTS,
        ..Default::default()
    }
}

fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f,
        r#type: ATTRIBUTE_FLOAT,
        ..Default::default()
    }
}
