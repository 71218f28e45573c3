//! The model as Burn modules: one [`Layer`] per node that holds state (parameters or a training
//! flag) and one interpreter that walks the planned graph in topological order. The backend is
//! picked at run time by the [`Device`] the model is built on (flex CPU by default).

mod flex_kernels;
mod interpret;
pub mod keras_h5;
pub mod save;
pub mod tflite;
pub mod weights;

pub use interpret::Value;

use crate::plan::graph::{Graph, Op};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::{Device, Tensor};
use std::sync::Arc;

/// A node's stateful part.
#[derive(Module, Debug)]
pub enum Layer {
    /// Convolution (plain, grouped or depthwise); padding is explicit, from the plan.
    Conv(Conv2d),
    /// Batch normalization.
    BatchNorm(BatchNorm),
    /// Fully connected.
    Dense(Linear),
    /// Dropout (only its training flag is state).
    Dropout(Dropout),
}

/// A planned graph built as Burn modules.
#[derive(Module, Debug)]
pub struct GraphModel {
    /// Stateful layers, in graph order; see [`GraphModel::layer_of`].
    pub layers: Vec<Layer>,
    /// The graph being interpreted.
    #[module(skip)]
    graph: Arc<Graph>,
    /// For each graph node, its index in `layers` (stateless nodes have none).
    #[module(skip)]
    layer_of: Vec<Option<usize>>,
}

impl GraphModel {
    /// Builds freshly initialised layers for `graph` on `device`.
    pub fn new(graph: &Graph, device: &Device) -> Self {
        let mut layers = Vec::new();
        let mut layer_of = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let layer = match &node.op {
                Op::Conv(c) => {
                    let [top, bottom, left, right] = c.pads;
                    Some(Layer::Conv(
                        Conv2dConfig::new([c.in_channels, c.out_channels], c.kernel)
                            .with_stride(c.strides)
                            .with_dilation(c.dilation)
                            .with_groups(c.groups)
                            .with_bias(c.bias)
                            .with_padding(PaddingConfig2d::Explicit(top, left, bottom, right))
                            .init(device),
                    ))
                }
                Op::BatchNorm {
                    channels,
                    epsilon,
                    momentum,
                } => Some(Layer::BatchNorm(
                    // Burn's momentum weighs the new batch (PyTorch); the spec's is Keras' (weighs the old).
                    BatchNormConfig::new(*channels)
                        .with_epsilon(*epsilon)
                        .with_momentum(1.0 - momentum)
                        .init(device),
                )),
                Op::Dense {
                    in_features,
                    units,
                    bias,
                    ..
                } => Some(Layer::Dense(
                    LinearConfig::new(*in_features, *units)
                        .with_bias(*bias)
                        .init(device),
                )),
                Op::Dropout { rate } => Some(Layer::Dropout(DropoutConfig::new(*rate).init())),
                _ => None,
            };
            layer_of.push(layer.map(|l| {
                layers.push(l);
                layers.len() - 1
            }));
        }
        Self {
            layers,
            graph: Arc::new(graph.clone()),
            layer_of,
        }
    }

    /// The graph this model runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The stateful layer of graph node `node`, if it has one.
    pub fn layer_of(&self, node: usize) -> Option<usize> {
        self.layer_of[node]
    }

    /// Runs the graph on a batch of NCHW images; returns the first output, `[batch, features]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        interpret::run(self, images)
    }

    /// A training forward pass that computes the `constant` nodes (see
    /// [`crate::plan::PhasePlan::constant`]) without autodiff: same result and gradients as
    /// [`GraphModel::forward`], less work when a frozen base comes first.
    pub fn forward_with_constant_prefix(&self, constant: &[bool], images: Tensor<4>) -> Tensor<2> {
        interpret::run_with_constant_prefix(self, constant, images)
    }

    /// The nodes of the `constant` prefix whose values the rest of the graph reads: what
    /// [`GraphModel::forward_prefix`] returns.
    pub fn prefix_frontier(&self, constant: &[bool]) -> Vec<usize> {
        interpret::frontier(&self.graph, constant)
    }

    /// Whether storing the `constant` prefix's outputs saves work: it computes a layer (not
    /// only preprocessing), the rest of the graph does not read the images themselves, and
    /// something is left to train.
    pub fn prefix_worth_storing(&self, constant: &[bool]) -> bool {
        let graph = &self.graph;
        let computes = (0..graph.nodes.len()).any(|n| constant[n] && self.layer_of[n].is_some());
        computes
            && !constant[graph.outputs[0]]
            && !self.prefix_frontier(constant).contains(&graph.input)
    }

    /// Runs only the `constant` prefix on a batch of images; the values of its frontier, by
    /// node. Call it on the inference copy ([`Module::valid`]), as training does.
    pub fn forward_prefix(&self, constant: &[bool], images: Tensor<4>) -> Vec<(usize, Value)> {
        interpret::run_prefix(self, constant, images)
    }

    /// The `constant` prefix's frontier values for a training batch (on the autodiff device),
    /// computed without autodiff and entering the backward graph as constants.
    pub fn prefix_constants(&self, constant: &[bool], images: Tensor<4>) -> Vec<(usize, Value)> {
        interpret::prefix_constants(self, constant, images)
    }

    /// Runs the rest of the graph from the prefix's frontier values (computed earlier by
    /// [`GraphModel::forward_prefix`]); the first output.
    pub fn forward_from_prefix(&self, constant: &[bool], known: Vec<(usize, Value)>) -> Tensor<2> {
        interpret::run_from_prefix(self, constant, known)
    }
}
