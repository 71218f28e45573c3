//! The `model:` section: a graph in Keras functional-API form, one named node per layer, each
//! naming its input(s). Any DAG is allowed; shapes are checked by the planner.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A model graph: nodes in any order, wired by name, and the node(s) whose output is the model's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The layers, each with a unique `name`, an `op` and its input(s).
    #[schemars(length(min = 1))]
    pub nodes: Vec<NodeSpec>,
    /// Names of the nodes whose outputs are the model's outputs (the logits).
    #[schemars(length(min = 1))]
    pub outputs: Vec<String>,
}

/// One layer of the graph. `op` picks the kind; the other keys are that kind's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NodeSpec {
    /// The image input, like `keras.Input(shape=...)`.
    Input(InputNode),
    /// 2-D convolution.
    Conv2d(Conv2dNode),
    /// Depthwise 2-D convolution (one filter group per input channel).
    DepthwiseConv2d(DepthwiseConv2dNode),
    /// Batch normalization over channels.
    BatchNorm(BatchNormNode),
    /// An activation function alone.
    Activation(ActivationNode),
    /// Element-wise sum of inputs of the same shape.
    Add(MergeNode),
    /// Element-wise product of inputs of the same shape.
    Multiply(MergeNode),
    /// Concatenation along one axis.
    Concatenate(ConcatenateNode),
    /// Max pooling over windows.
    MaxPool(PoolNode),
    /// Average pooling over windows.
    AvgPool(PoolNode),
    /// Mean over height and width: image -> vector.
    GlobalAvgPool(UnaryNode),
    /// Max over height and width: image -> vector.
    GlobalMaxPool(UnaryNode),
    /// Zeros around the border of an image.
    ZeroPadding(ZeroPaddingNode),
    /// Image -> vector, row by row (height, width, channels order as in Keras).
    Flatten(UnaryNode),
    /// Fully connected layer on a vector.
    Dense(DenseNode),
    /// Randomly zeroes a fraction of values while training.
    Dropout(DropoutNode),
    /// `x * scale + offset`, like Keras `Rescaling`.
    Rescale(RescaleNode),
    /// An architecture's input scaling by name (`mobilenet_v2`, `efficientnet_lite0`...).
    Preprocess(PreprocessNode),
    /// A pretrained base: a built-in architecture or a graph file, with its weights.
    Pretrained(PretrainedNode),
}

/// The graph's image input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputNode {
    /// Unique node name.
    pub name: String,
    /// `[height, width, channels]`; height and width may be `null` (any size) in a base's graph file.
    #[schemars(inner(range(min = 1, max = 4096)))]
    pub shape: [Option<Dim>; 3],
}

/// A positive dimension.
pub type Dim = std::num::NonZeroUsize;

/// A size given once for both axes, or as `[height, width]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Size2 {
    /// Same for height and width.
    Square(#[schemars(range(min = 1, max = 4096))] Dim),
    /// `[height, width]`.
    Pair(#[schemars(inner(range(min = 1, max = 4096)))] [Dim; 2]),
}

impl Size2 {
    /// `[height, width]`.
    pub fn pair(self) -> [usize; 2] {
        match self {
            Size2::Square(n) => [n.get(), n.get()],
            Size2::Pair([h, w]) => [h.get(), w.get()],
        }
    }
}

fn one() -> Size2 {
    Size2::Square(Dim::MIN)
}

fn yes() -> bool {
    true
}

/// How a convolution or pooling window treats the border.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Padding {
    /// `same` (TensorFlow's rule: output = ceil(input / stride), the odd pixel at bottom/right)
    /// or `valid` (no padding).
    Mode(PaddingMode),
    /// The same number of zeros on every side.
    Symmetric(#[schemars(range(max = 4096))] usize),
    /// `[top, bottom, left, right]`.
    Explicit(#[schemars(inner(range(max = 4096)))] [usize; 4]),
}

/// Named padding rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaddingMode {
    /// TensorFlow "SAME".
    Same,
    /// No padding.
    Valid,
}

fn valid() -> Padding {
    Padding::Mode(PaddingMode::Valid)
}

/// Activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivationFn {
    /// Identity.
    Linear,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// Softmax over the last axis.
    Softmax,
    /// Hyperbolic tangent.
    Tanh,
    /// Gaussian error linear unit.
    Gelu,
    /// x * sigmoid(x).
    Swish,
    /// Same as `swish`.
    Silu,
    /// x * relu6(x + 3) / 6.
    HardSwish,
}

/// A node with one input and no settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnaryNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads.
    pub input: String,
}

/// `conv2d` settings (Keras `Conv2D` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conv2dNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads.
    pub input: String,
    /// Output channels.
    #[schemars(range(min = 1, max = 65536))]
    pub filters: Dim,
    /// Window size.
    pub kernel_size: Size2,
    /// Step between windows.
    #[serde(default = "one")]
    pub strides: Size2,
    /// Border rule.
    #[serde(default = "valid")]
    pub padding: Padding,
    /// Spacing between kernel elements.
    #[serde(default = "one")]
    pub dilation_rate: Size2,
    /// Channel groups; input and output channels must both divide by it.
    #[serde(default = "one_dim")]
    #[schemars(range(min = 1, max = 65536))]
    pub groups: Dim,
    /// Whether the layer adds a bias.
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Applied after the convolution.
    #[serde(default)]
    pub activation: Option<ActivationFn>,
}

fn one_dim() -> Dim {
    Dim::MIN
}

/// `depthwise_conv2d` settings (Keras `DepthwiseConv2D` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DepthwiseConv2dNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads.
    pub input: String,
    /// Window size.
    pub kernel_size: Size2,
    /// Step between windows.
    #[serde(default = "one")]
    pub strides: Size2,
    /// Border rule.
    #[serde(default = "valid")]
    pub padding: Padding,
    /// Spacing between kernel elements.
    #[serde(default = "one")]
    pub dilation_rate: Size2,
    /// Output channels per input channel.
    #[serde(default = "one_dim")]
    #[schemars(range(min = 1, max = 1024))]
    pub depth_multiplier: Dim,
    /// Whether the layer adds a bias.
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Applied after the convolution.
    #[serde(default)]
    pub activation: Option<ActivationFn>,
}

/// `batch_norm` settings (Keras `BatchNormalization` names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchNormNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads.
    pub input: String,
    /// Added to the variance before the square root.
    #[serde(default = "default_bn_epsilon")]
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub epsilon: f64,
    /// Keras convention: `running = momentum * running + (1 - momentum) * batch`.
    #[serde(default = "default_bn_momentum")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub momentum: f64,
}

fn default_bn_epsilon() -> f64 {
    1e-3
}

fn default_bn_momentum() -> f64 {
    0.99
}

/// `activation` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads.
    pub input: String,
    /// Which function.
    pub activation: ActivationFn,
}

/// `add` / `multiply` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeNode {
    /// Unique node name.
    pub name: String,
    /// Two or more nodes of the same shape.
    #[schemars(length(min = 2))]
    pub inputs: Vec<String>,
}

/// `concatenate` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcatenateNode {
    /// Unique node name.
    pub name: String,
    /// Two or more nodes whose shapes agree except along `axis`.
    #[schemars(length(min = 2))]
    pub inputs: Vec<String>,
    /// Axis in Keras order without the batch: images `[height, width, channels]`, vectors
    /// `[features]`; negative counts from the end (default -1, channels).
    #[serde(default = "last_axis")]
    #[schemars(range(min = -3, max = 2))]
    pub axis: i32,
}

fn last_axis() -> i32 {
    -1
}

/// `max_pool` / `avg_pool` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads.
    pub input: String,
    /// Window size.
    pub pool_size: Size2,
    /// Step between windows (defaults to the window size).
    #[serde(default)]
    pub strides: Option<Size2>,
    /// Border rule.
    #[serde(default = "valid")]
    pub padding: Padding,
}

/// `zero_padding` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZeroPaddingNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads.
    pub input: String,
    /// Zeros on every side, or `[top, bottom, left, right]`.
    pub padding: Padding,
}

/// `dense` settings (Keras `Dense` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenseNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads: a vector (pool or flatten an image first).
    pub input: String,
    /// Output features.
    #[schemars(range(min = 1, max = 1048576))]
    pub units: Dim,
    /// Whether the layer adds a bias.
    #[serde(default = "yes")]
    pub use_bias: bool,
    /// Applied after the layer.
    #[serde(default)]
    pub activation: Option<ActivationFn>,
}

/// `dropout` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropoutNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads.
    pub input: String,
    /// Fraction of values zeroed while training, in [0, 1).
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub rate: f64,
}

/// `rescale` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RescaleNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads.
    pub input: String,
    /// Multiplier (1/127.5 maps pixels to [0, 2]).
    pub scale: f64,
    /// Added after scaling.
    #[serde(default)]
    pub offset: f64,
}

/// `preprocess` settings: the input scaling an architecture was trained with, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreprocessNode {
    /// Unique node name.
    pub name: String,
    /// The node this one reads (raw pixels, 0..255).
    pub input: String,
    /// Which architecture's convention.
    pub preset: PreprocessPreset,
}

/// Named input scalings; each compiles to `x * scale + offset` (see [`PreprocessPreset::scale_offset`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreprocessPreset {
    /// `pixel / 127.5 - 1` (range [-1, 1]), Keras `mobilenet_v2.preprocess_input`.
    MobilenetV2,
    /// `pixel / 127.5 - 1` (range [-1, 1]), Keras `mobilenet.preprocess_input`.
    MobilenetV1,
    /// `(pixel - 127) / 128`, the TensorFlow EfficientNet-Lite convention.
    EfficientnetLite0,
}

impl PreprocessPreset {
    /// `(scale, offset)` such that the model input is `pixel * scale + offset`.
    pub fn scale_offset(self) -> (f64, f64) {
        match self {
            PreprocessPreset::MobilenetV2 | PreprocessPreset::MobilenetV1 => (1.0 / 127.5, -1.0),
            PreprocessPreset::EfficientnetLite0 => (1.0 / 128.0, -127.0 / 128.0),
        }
    }
}

/// `pretrained` settings: a base network whose layers become nodes named `<name>.<layer>`.
/// Give exactly one of `arch` (a built-in architecture) and `graph` (a graph file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PretrainedNode {
    /// Unique node name; the base's layers are addressed as `<name>.<layer>`.
    pub name: String,
    /// The node this one reads.
    pub input: String,
    /// A built-in architecture: `mobilenet_v2_<alpha>` (TF-slim/TFLite names, batch norm
    /// folded into conv biases, 1001-way classifier), `mobilenet_v2_keras_<alpha>` (Keras names,
    /// batch norm layers, 1000-way classifier), `mobilenet_v1_<alpha>` (Keras), or
    /// `efficientnet_lite0`; add `_no_top` to leave out the classifier, e.g.
    /// `mobilenet_v2_keras_0.35_no_top`.
    #[serde(default)]
    pub arch: Option<String>,
    /// A YAML file holding the base's graph (a `model:` section of its own: `nodes` and
    /// `outputs`), resolved against the spec's folder.
    #[serde(default)]
    pub graph: Option<PathBuf>,
    /// Weights for the base (`.safetensors`, a PyTorch `.pt`/`.pth` state dict, Keras `.h5`
    /// weights as `tf.keras.applications` downloads them, or a `.tflite` model), resolved
    /// against the spec's folder. Tensors are `<layer>.weight`, `<layer>.bias` and, for batch
    /// norm, `<layer>.running_mean` / `<layer>.running_var`.
    #[serde(default)]
    pub weights: Option<PathBuf>,
    /// Where to download the weights file when `weights` is not given or does not exist: a
    /// URL and the file's SHA-256. The file is kept in runner's cache and used instead of
    /// `weights` (`runner fetch SPEC` downloads it ahead of time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_source: Option<super::source::FileSource>,
    /// Cut point: the base layer whose output this node gives (default: the graph's output).
    #[serde(default)]
    pub output: Option<String>,
    /// Rename rules applied in order to every tensor name of the weights file before matching,
    /// e.g. `{from: "^features\\.", to: ""}`.
    #[serde(default)]
    pub rename: Vec<RenameRule>,
}

/// One key-mapping rule: a regular expression and its replacement (`$1` refers to groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRule {
    /// Regular expression matched against each tensor name (anchor it with `^...$`).
    pub from: String,
    /// Replacement for every match.
    pub to: String,
}

impl NodeSpec {
    /// The node's unique name.
    pub fn name(&self) -> &str {
        match self {
            NodeSpec::Input(n) => &n.name,
            NodeSpec::Conv2d(n) => &n.name,
            NodeSpec::DepthwiseConv2d(n) => &n.name,
            NodeSpec::BatchNorm(n) => &n.name,
            NodeSpec::Activation(n) => &n.name,
            NodeSpec::Add(n) | NodeSpec::Multiply(n) => &n.name,
            NodeSpec::Concatenate(n) => &n.name,
            NodeSpec::MaxPool(n) | NodeSpec::AvgPool(n) => &n.name,
            NodeSpec::GlobalAvgPool(n) | NodeSpec::GlobalMaxPool(n) | NodeSpec::Flatten(n) => {
                &n.name
            }
            NodeSpec::ZeroPadding(n) => &n.name,
            NodeSpec::Dense(n) => &n.name,
            NodeSpec::Dropout(n) => &n.name,
            NodeSpec::Rescale(n) => &n.name,
            NodeSpec::Preprocess(n) => &n.name,
            NodeSpec::Pretrained(n) => &n.name,
        }
    }

    /// The names of the nodes this one reads, in order.
    pub fn inputs(&self) -> Vec<&str> {
        fn one(s: &str) -> Vec<&str> {
            vec![s]
        }
        match self {
            NodeSpec::Input(_) => vec![],
            NodeSpec::Conv2d(n) => one(&n.input),
            NodeSpec::DepthwiseConv2d(n) => one(&n.input),
            NodeSpec::BatchNorm(n) => one(&n.input),
            NodeSpec::Activation(n) => one(&n.input),
            NodeSpec::Add(n) | NodeSpec::Multiply(n) => {
                n.inputs.iter().map(String::as_str).collect()
            }
            NodeSpec::Concatenate(n) => n.inputs.iter().map(String::as_str).collect(),
            NodeSpec::MaxPool(n) | NodeSpec::AvgPool(n) => one(&n.input),
            NodeSpec::GlobalAvgPool(n) | NodeSpec::GlobalMaxPool(n) | NodeSpec::Flatten(n) => {
                one(&n.input)
            }
            NodeSpec::ZeroPadding(n) => one(&n.input),
            NodeSpec::Dense(n) => one(&n.input),
            NodeSpec::Dropout(n) => one(&n.input),
            NodeSpec::Rescale(n) => one(&n.input),
            NodeSpec::Preprocess(n) => one(&n.input),
            NodeSpec::Pretrained(n) => one(&n.input),
        }
    }

    /// The key that holds the inputs: `input` or `inputs` (none for an input node).
    pub fn input_key(&self) -> Option<&'static str> {
        match self {
            NodeSpec::Input(_) => None,
            NodeSpec::Add(_) | NodeSpec::Multiply(_) | NodeSpec::Concatenate(_) => Some("inputs"),
            _ => Some("input"),
        }
    }

    /// The `op` name as written in a spec.
    pub fn op_name(&self) -> &'static str {
        match self {
            NodeSpec::Input(_) => "input",
            NodeSpec::Conv2d(_) => "conv2d",
            NodeSpec::DepthwiseConv2d(_) => "depthwise_conv2d",
            NodeSpec::BatchNorm(_) => "batch_norm",
            NodeSpec::Activation(_) => "activation",
            NodeSpec::Add(_) => "add",
            NodeSpec::Multiply(_) => "multiply",
            NodeSpec::Concatenate(_) => "concatenate",
            NodeSpec::MaxPool(_) => "max_pool",
            NodeSpec::AvgPool(_) => "avg_pool",
            NodeSpec::GlobalAvgPool(_) => "global_avg_pool",
            NodeSpec::GlobalMaxPool(_) => "global_max_pool",
            NodeSpec::ZeroPadding(_) => "zero_padding",
            NodeSpec::Flatten(_) => "flatten",
            NodeSpec::Dense(_) => "dense",
            NodeSpec::Dropout(_) => "dropout",
            NodeSpec::Rescale(_) => "rescale",
            NodeSpec::Preprocess(_) => "preprocess",
            NodeSpec::Pretrained(_) => "pretrained",
        }
    }
}
