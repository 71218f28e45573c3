//! Spec optimizers to Burn's `ModuleOptimizer`, with Keras defaults and conventions.

use crate::spec::OptimizerSpec;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

/// Builds the optimizer a phase asks for.
pub fn build(spec: &OptimizerSpec) -> ModuleOptimizer {
    match spec {
        OptimizerSpec::Adam(a) => AdamConfig::new()
            .with_beta_1(a.beta_1 as f32)
            .with_beta_2(a.beta_2 as f32)
            .with_epsilon(a.epsilon as f32)
            .with_weight_decay(
                (a.weight_decay > 0.0).then(|| WeightDecayConfig::new(a.weight_decay as f32)),
            )
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
            .init(),
        OptimizerSpec::Sgd(s) => SgdConfig::new()
            .with_momentum((s.momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(s.momentum)
                    .with_dampening(0.0)
                    .with_nesterov(s.nesterov)
            }))
            .init(),
    }
}
