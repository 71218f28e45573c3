//! The graph IR: nodes with resolved inputs, in topological order, each with its operation
//! (all sizes resolved) and output shape.

use crate::spec::model::ActivationFn;
use std::fmt;

/// Index of a node in [`Graph::nodes`].
pub type NodeId = usize;

/// A tensor shape without the batch axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An image: height, width, channels (stored NCHW by the model).
    Image {
        /// Rows.
        h: usize,
        /// Columns.
        w: usize,
        /// Channels.
        c: usize,
    },
    /// A feature vector.
    Vector(usize),
}

impl Shape {
    /// Values of one image's tensor of this shape.
    pub fn elements(&self) -> usize {
        match *self {
            Shape::Image { h, w, c } => h * w * c,
            Shape::Vector(n) => n,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Image { h, w, c } => write!(f, "({h}, {w}, {c})"),
            Shape::Vector(n) => write!(f, "({n},)"),
        }
    }
}

/// Zeros added on each side: top, bottom, left, right.
pub type Pads = [usize; 4];

/// A convolution with every size resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvOp {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Steps.
    pub strides: [usize; 2],
    /// Dilation.
    pub dilation: [usize; 2],
    /// Channel groups (equal to `in_channels` for depthwise).
    pub groups: usize,
    /// Explicit padding computed from the input size.
    pub pads: Pads,
    /// Whether there is a bias.
    pub bias: bool,
    /// Applied after the convolution.
    pub activation: Option<ActivationFn>,
}

/// What a node computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// The image input.
    Input,
    /// Convolution (depthwise when `groups == in_channels` and the spec said so).
    Conv(ConvOp),
    /// Batch normalization; momentum in Keras convention.
    BatchNorm {
        /// Channels.
        channels: usize,
        /// Variance epsilon.
        epsilon: f64,
        /// Keras momentum.
        momentum: f64,
    },
    /// Element-wise activation.
    Activation(ActivationFn),
    /// Element-wise sum.
    Add,
    /// Element-wise product.
    Multiply,
    /// Concatenation along an NCHW axis (1 = channels, 2 = height, 3 = width; 1 for vectors).
    Concatenate {
        /// Axis in the model's NCHW (or N,features) layout.
        axis: usize,
    },
    /// Max pooling.
    MaxPool {
        /// Window.
        size: [usize; 2],
        /// Steps.
        strides: [usize; 2],
        /// Padding (padded cells never win).
        pads: Pads,
    },
    /// Average pooling; padded cells are not counted (TensorFlow's rule).
    AvgPool {
        /// Window.
        size: [usize; 2],
        /// Steps.
        strides: [usize; 2],
        /// Padding.
        pads: Pads,
    },
    /// Mean over height and width.
    GlobalAvgPool,
    /// Max over height and width.
    GlobalMaxPool,
    /// Zeros around the border.
    ZeroPadding(Pads),
    /// Image to vector in Keras (height, width, channels) order.
    Flatten,
    /// Fully connected.
    Dense {
        /// Input features.
        in_features: usize,
        /// Output features.
        units: usize,
        /// Whether there is a bias.
        bias: bool,
        /// Applied after the layer.
        activation: Option<ActivationFn>,
    },
    /// Dropout while training.
    Dropout {
        /// Fraction zeroed.
        rate: f64,
    },
    /// `x * scale + offset`.
    Rescale {
        /// Multiplier.
        scale: f64,
        /// Offset.
        offset: f64,
    },
}

impl Op {
    /// Number of parameters (running statistics of batch norm included, as Keras counts them);
    /// saturates instead of overflowing for sizes no machine could hold.
    pub fn param_count(&self) -> usize {
        match self {
            Op::Conv(c) => (c.kernel[0] * c.kernel[1])
                .saturating_mul(c.in_channels / c.groups)
                .saturating_mul(c.out_channels)
                .saturating_add(if c.bias { c.out_channels } else { 0 }),
            Op::BatchNorm { channels, .. } => channels.saturating_mul(4),
            Op::Dense {
                in_features,
                units,
                bias,
                ..
            } => in_features
                .saturating_mul(*units)
                .saturating_add(if *bias { *units } else { 0 }),
            _ => 0,
        }
    }

    /// Parameters an optimizer can train (batch-norm running statistics excluded).
    pub fn trainable_param_count(&self) -> usize {
        match self {
            Op::BatchNorm { channels, .. } => 2 * channels,
            other => other.param_count(),
        }
    }
}

/// One node of the resolved graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Unique name; layers of a pretrained base are `<base>.<layer>`.
    pub name: String,
    /// The `op` the user wrote (`depthwise_conv2d`, `pretrained`...), for summaries.
    pub kind: &'static str,
    /// What it computes.
    pub op: Op,
    /// Nodes it reads, in order.
    pub inputs: Vec<NodeId>,
    /// Output shape.
    pub shape: Shape,
    /// The pretrained base this layer belongs to, and its index in that base (Keras layer index).
    pub base: Option<(String, usize)>,
}

/// A resolved model graph in topological order.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Nodes; every node's inputs come before it.
    pub nodes: Vec<Node>,
    /// The image input.
    pub input: NodeId,
    /// Model outputs.
    pub outputs: Vec<NodeId>,
}

impl Graph {
    /// The node named `name`.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Total parameters.
    pub fn param_count(&self) -> usize {
        self.nodes
            .iter()
            .fold(0, |sum, n| sum.saturating_add(n.op.param_count()))
    }
}
