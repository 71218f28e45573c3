//! The training parts of a spec: loss, metrics and the schedule of phases.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The loss to minimise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LossSpec {
    /// Two classes, one output unit (Keras `BinaryCrossentropy`).
    BinaryCrossentropy(BinaryCrossentropy),
    /// One output unit per class (Keras `CategoricalCrossentropy`).
    CategoricalCrossentropy(CategoricalCrossentropy),
}

/// Binary cross-entropy settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BinaryCrossentropy {
    /// True when the model outputs logits (no sigmoid at the end), as in the tutorial.
    #[serde(default)]
    pub from_logits: bool,
}

/// Categorical cross-entropy settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoricalCrossentropy {
    /// True when the model outputs logits (no softmax at the end).
    #[serde(default)]
    pub from_logits: bool,
    /// Mixes the one-hot targets with the uniform distribution by this much.
    #[serde(default)]
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub label_smoothing: f64,
}

/// A metric computed on each split at the end of each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Fraction of correct predictions.
    Accuracy,
    /// Of the predicted positives, the fraction that are positive (binary).
    Precision,
    /// Of the positives, the fraction predicted positive (binary).
    Recall,
    /// Harmonic mean of precision and recall (binary).
    F1,
    /// Area under the ROC curve (binary).
    Auc,
}

/// One stage of training, e.g. feature extraction with a frozen base, then fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Name used in logs and TensorBoard tags.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]+$"))]
    pub name: String,
    /// Passes over the training data; epoch numbers continue across phases.
    #[schemars(range(min = 1))]
    pub epochs: u32,
    /// How parameters are updated.
    pub optimizer: OptimizerSpec,
    /// Nodes whose parameters do not train in this phase. Each phase starts from everything
    /// trainable, freezes these, then unfreezes `unfreeze`. Selectors: `node`, `base.layer`
    /// (a layer inside a pretrained base and everything under that name), `base.layer..`
    /// (from that layer to the end of the base, like Keras' `fine_tune_at`), `base.100..`
    /// (from layer index 100 to the end).
    #[serde(default)]
    pub freeze: Vec<String>,
    /// Nodes made trainable again after `freeze` (same selectors).
    #[serde(default)]
    pub unfreeze: Vec<String>,
    /// How trainable batch-norm layers behave: `train` updates running statistics from each
    /// batch; `inference` keeps them fixed while gamma/beta still train (the tutorial's
    /// fine-tuning). Frozen batch-norm layers always run in inference mode.
    #[serde(default)]
    pub batchnorm: BatchNormMode,
}

/// Batch-norm behaviour of trainable layers during a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchNormMode {
    /// Normalise with batch statistics and update the running ones.
    #[default]
    Train,
    /// Normalise with the running statistics and leave them unchanged.
    Inference,
}

/// The optimizer of a phase, e.g. `{adam: {lr: 1.0e-4}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// Adam (Keras defaults).
    Adam(AdamSpec),
    /// Adam with decoupled weight decay.
    Adamw(AdamSpec),
    /// RMSprop (Keras defaults).
    Rmsprop(RmsPropSpec),
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd(SgdSpec),
}

impl OptimizerSpec {
    /// The base learning rate.
    pub fn learning_rate(&self) -> f64 {
        match self {
            OptimizerSpec::Adam(o) | OptimizerSpec::Adamw(o) => o.lr,
            OptimizerSpec::Rmsprop(o) => o.lr,
            OptimizerSpec::Sgd(o) => o.lr,
        }
    }
}

/// Adam / AdamW settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdamSpec {
    /// Learning rate, > 0.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub lr: f64,
    /// Decay of the first-moment estimate.
    #[serde(default = "default_beta_1")]
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub beta_1: f64,
    /// Decay of the second-moment estimate.
    #[serde(default = "default_beta_2")]
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub beta_2: f64,
    /// Added to the denominator.
    #[serde(default = "default_epsilon")]
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub epsilon: f64,
    /// L2 penalty (Adam) or decoupled decay (AdamW).
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub weight_decay: f64,
}

/// RMSprop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RmsPropSpec {
    /// Learning rate, > 0.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub lr: f64,
    /// Decay of the moving average of squared gradients.
    #[serde(default = "default_rho")]
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub rho: f64,
    /// Momentum.
    #[serde(default)]
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub momentum: f64,
    /// Added to the denominator.
    #[serde(default = "default_epsilon")]
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub epsilon: f64,
}

/// SGD settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SgdSpec {
    /// Learning rate, > 0.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub lr: f64,
    /// Momentum.
    #[serde(default)]
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub momentum: f64,
    /// Nesterov momentum.
    #[serde(default)]
    pub nesterov: bool,
}

fn default_beta_1() -> f64 {
    0.9
}

fn default_beta_2() -> f64 {
    0.999
}

fn default_epsilon() -> f64 {
    1e-7
}

fn default_rho() -> f64 {
    0.9
}
