//! Built-in architectures a `pretrained` node can name with `arch:` instead of a graph file.
//!
//! Each builder emits an ordinary [`ModelSpec`] (the same node kinds a user writes), so a
//! built-in base is planned, counted, frozen and cut exactly like a user's graph file. Node
//! names are the weight files' tensor prefixes, so `<layer>.weight` of the file belongs to node
//! `<base>.<layer>`, and freeze selectors (`base.expanded_conv_12..`) and cut points
//! (`output: Conv2d_18_1`) name real layers.
//!
//! | arch | layout | names as in |
//! | --- | --- | --- |
//! | `mobilenet_v2_<alpha>` | TF-slim / TFLite: batch norm folded into conv biases, ReLU6 fused into the convs, 1001-way `top.Conv2d_1x1_output` | `mobilenet_v2_1.0_224.safetensors` |
//! | `mobilenet_v2_keras_<alpha>` | Keras `MobileNetV2`: one node per Keras layer (batch norm, ReLU, `block_N_pad` layers), so a base index is a Keras layer index (`base.100..` is `fine_tune_at = 100`); 1000-way `predictions` | `mobilenet_v2_0.35_224_no_top.safetensors` |
//! | `mobilenet_v1_<alpha>` | Keras `MobileNet`, one node per Keras layer; 1000-way `conv_preds` (a dense layer here) | `mobilenet_v1_0.25_224.safetensors` |
//! | `efficientnet_lite0` | `efficientnet_pytorch` names (`_blocks.3._depthwise_conv`...), batch norm kept; 1000-way `_fc` | `efficientnet_lite0.safetensors` / the `.pth` |
//!
//! A `_no_top` suffix leaves out the classifier (global pool, dropout, dense) as Keras'
//! `include_top=False` does; the base then ends at its last ReLU6. With the classifier the
//! output is the logits (no softmax). Every convolution uses TensorFlow `SAME` padding (the
//! planner makes it explicit), except Keras' stride-2 depthwise layers, which are `valid`
//! after a `zero_padding` of `[0, 1, 0, 1]`: Keras' own padding for an input of unknown size,
//! and the same numbers as `SAME` on even sizes (all of 224, 160 and 128 downsample through
//! even sizes only).

mod efficientnet;
mod mobilenet_v1;
mod mobilenet_v2;

use crate::spec::model::{
    ActivationFn, ActivationNode, BatchNormNode, Conv2dNode, DenseNode, DepthwiseConv2dNode, Dim,
    DropoutNode, InputNode, MergeNode, ModelSpec, NodeSpec, Padding, PaddingMode, Size2, UnaryNode,
    ZeroPaddingNode,
};

/// A parsed `arch:` name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arch {
    /// MobileNetV2 with a width multiplier, TF-slim/TFLite (folded) or Keras layout.
    MobileNetV2 {
        /// Width multiplier (alpha).
        alpha: f64,
        /// Keras layout (batch norm layers) instead of the folded TF-slim one.
        keras: bool,
    },
    /// Keras MobileNet (v1) with a width multiplier.
    MobileNetV1 {
        /// Width multiplier (alpha).
        alpha: f64,
    },
    /// EfficientNet-Lite0.
    EfficientNetLite0,
}

/// Example names, for `did you mean` suggestions and documentation.
pub const KNOWN: &[&str] = &[
    "mobilenet_v2_1.0",
    "mobilenet_v2_1.0_no_top",
    "mobilenet_v2_0.35",
    "mobilenet_v2_keras_1.0",
    "mobilenet_v2_keras_0.35",
    "mobilenet_v2_keras_0.35_no_top",
    "mobilenet_v1_0.25",
    "mobilenet_v1_1.0",
    "efficientnet_lite0",
    "efficientnet_lite0_no_top",
];

/// Parses an `arch:` name into the architecture and whether the classifier is included.
pub fn parse(name: &str) -> Option<(Arch, bool)> {
    let (body, top) = match name.strip_suffix("_no_top") {
        Some(body) => (body, false),
        None => (name, true),
    };
    let alpha = |s: &str| -> Option<f64> {
        // Decimal numbers only (`1.0`, `0.35`), positive and sane.
        if !s.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return None;
        }
        s.parse::<f64>().ok().filter(|a| *a > 0.0 && *a <= 4.0)
    };
    let arch = if body == "efficientnet_lite0" {
        Arch::EfficientNetLite0
    } else if let Some(a) = body.strip_prefix("mobilenet_v2_keras_") {
        Arch::MobileNetV2 {
            alpha: alpha(a)?,
            keras: true,
        }
    } else if let Some(a) = body.strip_prefix("mobilenet_v2_") {
        Arch::MobileNetV2 {
            alpha: alpha(a)?,
            keras: false,
        }
    } else if let Some(a) = body.strip_prefix("mobilenet_v1_") {
        Arch::MobileNetV1 { alpha: alpha(a)? }
    } else {
        return None;
    };
    Some((arch, top))
}

/// The graph of the built-in architecture `name`, or `None` when the name is unknown.
pub fn build(name: &str) -> Option<ModelSpec> {
    let (arch, top) = parse(name)?;
    Some(match arch {
        Arch::MobileNetV2 {
            alpha,
            keras: false,
        } => mobilenet_v2::slim(alpha, top),
        Arch::MobileNetV2 { alpha, keras: true } => mobilenet_v2::keras(alpha, top),
        Arch::MobileNetV1 { alpha } => mobilenet_v1::keras(alpha, top),
        Arch::EfficientNetLite0 => efficientnet::lite0(top),
    })
}

/// Keras/TF-slim `_make_divisible`: rounds `v` to a multiple of `divisor`, never below 90 % of `v`.
pub(crate) fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new = ((v + d / 2.0) as usize / divisor * divisor).max(divisor);
    if (new as f64) < 0.9 * v {
        new += divisor;
    }
    new
}

fn dim(n: usize) -> Dim {
    Dim::new(n).expect("architectures have positive sizes")
}

/// Appends nodes; each method returns the new node's name for chaining.
#[derive(Default)]
pub(crate) struct Builder {
    nodes: Vec<NodeSpec>,
}

/// Convolution settings shared by [`Builder::conv`] and [`Builder::depthwise`].
#[derive(Clone, Copy)]
pub(crate) struct Conv {
    pub kernel: usize,
    pub stride: usize,
    pub padding: PaddingMode,
    pub bias: bool,
    pub activation: Option<ActivationFn>,
}

impl Conv {
    /// `kernel`x`kernel`, stride `stride`, `same` padding, no bias, no activation.
    pub fn new(kernel: usize, stride: usize) -> Self {
        Conv {
            kernel,
            stride,
            padding: PaddingMode::Same,
            bias: false,
            activation: None,
        }
    }

    /// With a bias and an activation (the folded layout).
    pub fn folded(self, activation: Option<ActivationFn>) -> Self {
        Conv {
            bias: true,
            activation,
            ..self
        }
    }

    /// With `valid` padding.
    pub fn valid(self) -> Self {
        Conv {
            padding: PaddingMode::Valid,
            ..self
        }
    }
}

impl Builder {
    fn push(&mut self, node: NodeSpec) -> String {
        let name = node.name().to_string();
        self.nodes.push(node);
        name
    }

    pub fn input(&mut self, name: &str) -> String {
        self.push(NodeSpec::Input(InputNode {
            name: name.into(),
            shape: [None, None, Some(dim(3))],
        }))
    }

    pub fn conv(&mut self, name: &str, input: &str, filters: usize, c: Conv) -> String {
        self.push(NodeSpec::Conv2d(Conv2dNode {
            name: name.into(),
            input: input.into(),
            filters: dim(filters),
            kernel_size: Size2::Square(dim(c.kernel)),
            strides: Size2::Square(dim(c.stride)),
            padding: Padding::Mode(c.padding),
            dilation_rate: Size2::Square(Dim::MIN),
            groups: Dim::MIN,
            use_bias: c.bias,
            activation: c.activation,
        }))
    }

    pub fn depthwise(&mut self, name: &str, input: &str, c: Conv) -> String {
        self.push(NodeSpec::DepthwiseConv2d(DepthwiseConv2dNode {
            name: name.into(),
            input: input.into(),
            kernel_size: Size2::Square(dim(c.kernel)),
            strides: Size2::Square(dim(c.stride)),
            padding: Padding::Mode(c.padding),
            dilation_rate: Size2::Square(Dim::MIN),
            depth_multiplier: Dim::MIN,
            use_bias: c.bias,
            activation: c.activation,
        }))
    }

    pub fn batch_norm(&mut self, name: &str, input: &str, momentum: f64) -> String {
        self.push(NodeSpec::BatchNorm(BatchNormNode {
            name: name.into(),
            input: input.into(),
            epsilon: 1e-3,
            momentum,
        }))
    }

    pub fn relu6(&mut self, name: &str, input: &str) -> String {
        self.push(NodeSpec::Activation(ActivationNode {
            name: name.into(),
            input: input.into(),
            activation: ActivationFn::Relu6,
        }))
    }

    pub fn add(&mut self, name: &str, a: &str, b: &str) -> String {
        self.push(NodeSpec::Add(MergeNode {
            name: name.into(),
            inputs: vec![a.into(), b.into()],
        }))
    }

    /// Keras' `ZeroPadding2D(((0, 1), (0, 1)))` before a stride-2 `valid` layer.
    pub fn pad_bottom_right(&mut self, name: &str, input: &str) -> String {
        self.push(NodeSpec::ZeroPadding(ZeroPaddingNode {
            name: name.into(),
            input: input.into(),
            padding: Padding::Explicit([0, 1, 0, 1]),
        }))
    }

    pub fn global_avg_pool(&mut self, name: &str, input: &str) -> String {
        self.push(NodeSpec::GlobalAvgPool(UnaryNode {
            name: name.into(),
            input: input.into(),
        }))
    }

    pub fn dropout(&mut self, name: &str, input: &str, rate: f64) -> String {
        self.push(NodeSpec::Dropout(DropoutNode {
            name: name.into(),
            input: input.into(),
            rate,
        }))
    }

    pub fn dense(&mut self, name: &str, input: &str, units: usize) -> String {
        self.push(NodeSpec::Dense(DenseNode {
            name: name.into(),
            input: input.into(),
            units: dim(units),
            use_bias: true,
            activation: None,
        }))
    }

    /// The finished graph, whose output is `output`.
    pub fn finish(self, output: String) -> ModelSpec {
        ModelSpec {
            nodes: self.nodes,
            outputs: vec![output],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        for name in KNOWN {
            assert!(build(name).is_some(), "{name}");
        }
        assert_eq!(
            parse("mobilenet_v2_keras_0.35_no_top"),
            Some((
                Arch::MobileNetV2 {
                    alpha: 0.35,
                    keras: true
                },
                false
            ))
        );
        assert!(parse("mobilenet_v2").is_none());
        assert!(parse("mobilenet_v2_x").is_none());
        assert!(parse("resnet50").is_none());
    }

    #[test]
    fn make_divisible_matches_keras() {
        assert_eq!(make_divisible(32.0 * 0.35, 8), 16);
        assert_eq!(make_divisible(5.0, 8), 8);
        assert_eq!(make_divisible(33.0, 8), 32);
        assert_eq!(make_divisible(56.0, 8), 56);
        assert_eq!(make_divisible(96.0, 8), 96);
    }
}
