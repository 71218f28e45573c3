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

impl Metric {
    /// The name a metric has in logs, TensorBoard, summaries and `monitor` values.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::F1 => "f1",
            Metric::Auc => "auc",
        }
    }
}

/// One stage of training, e.g. feature extraction with a frozen base, then fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Name used in logs and TensorBoard tags.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.-]+$"))]
    pub name: String,
    /// Passes over the training data; epoch numbers continue across phases.
    #[schemars(range(min = 1, max = 1000000))]
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
    /// How the learning rate changes during the phase (after any warmup).
    #[serde(default)]
    pub schedule: ScheduleSpec,
    /// Epochs (fractions allowed) over which the learning rate rises linearly from near zero
    /// to the optimizer's `lr`, step by step, at the start of the phase.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub warmup_epochs: f64,
    /// Whether optimizer state (moments, momentum) of the previous phase carries over to this
    /// one. `reset` (default) starts fresh, as Keras does when the model is compiled again;
    /// `carry` keeps it, and needs the same optimizer kind as the previous phase.
    #[serde(default)]
    pub optimizer_state: OptimizerState,
    /// Limits each parameter's gradient before the update, e.g. `{norm: 1.0}` (Keras
    /// `clipnorm`) or `{value: 0.5}` (Keras `clipvalue`).
    #[serde(default)]
    pub gradient_clipping: Option<GradientClippingSpec>,
    /// Stops the phase when a monitored metric stops improving.
    #[serde(default)]
    pub early_stopping: Option<EarlyStoppingSpec>,
}

/// A learning-rate schedule within a phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// The optimizer's `lr` throughout.
    #[default]
    Constant,
    /// Multiplies the rate by `factor` every `every_epochs` epochs of the phase.
    Step(StepSchedule),
    /// Cosine decay from `lr` to `min_lr` over the phase (after warmup), step by step.
    Cosine(CosineSchedule),
    /// Multiplies the rate by `factor` when `monitor` has not improved for `patience` epochs
    /// (Keras `ReduceLROnPlateau`).
    ReduceOnPlateau(PlateauSchedule),
}

/// Step decay settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSchedule {
    /// Epochs between two reductions.
    #[schemars(range(min = 1))]
    pub every_epochs: u32,
    /// Multiplier applied at each reduction.
    #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 1.0))]
    pub factor: f64,
}

/// Cosine decay settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CosineSchedule {
    /// The rate at the end of the phase.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub min_lr: f64,
}

/// Reduce-on-plateau settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlateauSchedule {
    /// The metric to watch, e.g. `validation/loss` (lower is better) or
    /// `validation/accuracy` (higher is better).
    #[serde(default = "default_plateau_monitor")]
    pub monitor: Monitor,
    /// Multiplier applied at each reduction.
    #[serde(default = "default_plateau_factor")]
    #[schemars(extend("exclusiveMinimum" = 0.0, "exclusiveMaximum" = 1.0))]
    pub factor: f64,
    /// Epochs without improvement before a reduction.
    #[serde(default = "default_patience")]
    #[schemars(range(min = 1))]
    pub patience: u32,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub min_delta: f64,
    /// The rate never goes below this.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub min_lr: f64,
}

/// Whether optimizer state carries over from the previous phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerState {
    /// A fresh optimizer (Keras: compiling the model again).
    #[default]
    Reset,
    /// Keep moments/momentum of parameters that stay trainable.
    Carry,
}

/// Per-parameter gradient clipping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GradientClippingSpec {
    /// Rescale a parameter's gradient so its L2 norm is at most this.
    Norm(#[schemars(extend("exclusiveMinimum" = 0.0))] f64),
    /// Clamp each gradient element to [-value, value].
    Value(#[schemars(extend("exclusiveMinimum" = 0.0))] f64),
}

/// Early stopping settings (Keras `EarlyStopping`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingSpec {
    /// The metric to watch, e.g. `validation/accuracy` or `validation/loss`.
    #[serde(default = "default_plateau_monitor")]
    pub monitor: Monitor,
    /// Epochs without improvement before the phase stops.
    #[serde(default = "default_patience")]
    #[schemars(range(min = 1))]
    pub patience: u32,
    /// Smallest change that counts as an improvement.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub min_delta: f64,
    /// At the end of the phase (stopped early or not), go back to the weights of its best
    /// epoch.
    #[serde(default)]
    pub restore_best: bool,
}

/// A metric of a split, written `split/metric`, e.g. `validation/accuracy`. Loss is better
/// when lower, every other metric when higher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Monitor(
    #[schemars(regex(pattern = r"^(train|validation)/(loss|accuracy|precision|recall|f1|auc)$"))]
    pub String,
);

impl Monitor {
    /// The split part: `train` or `validation`.
    pub fn split(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }

    /// The metric part, e.g. `accuracy`.
    pub fn metric(&self) -> &str {
        self.0.split('/').nth(1).unwrap_or_default()
    }

    /// True when a lower value is better (the loss).
    pub fn lower_is_better(&self) -> bool {
        self.metric() == "loss"
    }
}

fn default_plateau_monitor() -> Monitor {
    Monitor("validation/loss".to_string())
}

fn default_plateau_factor() -> f64 {
    0.1
}

fn default_patience() -> u32 {
    3
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
    /// The optimizer's name as written in a spec, e.g. `adam`.
    pub fn kind(&self) -> &'static str {
        match self {
            OptimizerSpec::Adam(_) => "adam",
            OptimizerSpec::Adamw(_) => "adamw",
            OptimizerSpec::Rmsprop(_) => "rmsprop",
            OptimizerSpec::Sgd(_) => "sgd",
        }
    }

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
    /// L2 penalty added to the gradient.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub weight_decay: f64,
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
    /// L2 penalty added to the gradient.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub weight_decay: f64,
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
