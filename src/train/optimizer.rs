//! Spec optimizers to Burn's `ModuleOptimizer`, with Keras defaults and conventions.

use crate::spec::OptimizerSpec;
use crate::spec::train::GradientClippingSpec;
use burn::grad_clipping::GradientClipping;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

/// Builds the optimizer a phase asks for, with its gradient clipping.
pub fn build(spec: &OptimizerSpec, clipping: Option<GradientClippingSpec>) -> ModuleOptimizer {
    let optimizer = match spec {
        OptimizerSpec::Adam(a) => AdamConfig::new()
            .with_beta_1(a.beta_1 as f32)
            .with_beta_2(a.beta_2 as f32)
            .with_epsilon(a.epsilon as f32)
            .with_weight_decay(weight_decay(a.weight_decay))
            .init(),
        OptimizerSpec::Adamw(a) => AdamWConfig::new()
            .with_beta_1(a.beta_1 as f32)
            .with_beta_2(a.beta_2 as f32)
            .with_epsilon(a.epsilon as f32)
            .with_weight_decay(a.weight_decay as f32)
            .init(),
        OptimizerSpec::Rmsprop(r) => RmsPropConfig::new()
            .with_alpha(r.rho as f32)
            .with_momentum(r.momentum as f32)
            .with_epsilon(r.epsilon as f32)
            .with_weight_decay(weight_decay(r.weight_decay))
            .init(),
        OptimizerSpec::Sgd(s) => SgdConfig::new()
            .with_momentum((s.momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(s.momentum)
                    .with_dampening(0.0)
                    .with_nesterov(s.nesterov)
            }))
            .with_weight_decay(weight_decay(s.weight_decay))
            .init(),
    };
    match clipping {
        Some(GradientClippingSpec::Norm(n)) => {
            optimizer.with_grad_clipping(GradientClipping::Norm(n as f32))
        }
        Some(GradientClippingSpec::Value(v)) => {
            optimizer.with_grad_clipping(GradientClipping::Value(v as f32))
        }
        None => optimizer,
    }
}

fn weight_decay(penalty: f64) -> Option<WeightDecayConfig> {
    (penalty > 0.0).then(|| WeightDecayConfig::new(penalty as f32))
}
