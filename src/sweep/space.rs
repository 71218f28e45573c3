//! The search space: every combination of a grid, independent random draws, or TPE draws.
//! A configuration maps each parameter path to one value.
//!
//! Random draws are a function of (sampler seed, trial index), so re-running a sweep draws the
//! same trials. TPE uses the `tpe` crate (a small, dependency-light port of the estimator
//! Optuna uses by default): one optimizer per parameter, told each finished trial's metric,
//! with the first draws random until enough trials have finished.

use super::spec::{Distribution, Domain, SweepSpec};
use crate::metric::Goal;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use std::collections::BTreeMap;

/// One point of the space: a value per parameter path.
pub type Config = BTreeMap<String, Value>;

/// Finished trials TPE needs before it stops drawing at random.
const TPE_STARTUP_TRIALS: usize = 5;

/// Every combination of the parameters' values, in order (the last parameter varies fastest).
/// Integer ranges are listed; continuous ranges are not allowed in a grid (checked on load).
pub fn grid(sweep: &SweepSpec) -> Vec<Config> {
    let mut configs = vec![Config::new()];
    for (path, domain) in &sweep.parameters {
        let values: Vec<Value> = match domain {
            Domain::Distribution(Distribution::Int([low, high])) => {
                (*low..=*high).map(Value::from).collect()
            }
            other => other.values().map(<[Value]>::to_vec).unwrap_or_default(),
        };
        configs = configs
            .into_iter()
            .flat_map(|config| {
                values.iter().map(move |value| {
                    let mut next = config.clone();
                    next.insert(path.clone(), value.clone());
                    next
                })
            })
            .collect();
    }
    configs
}

/// The configurations that bound the space: for each parameter, each listed value and both
/// ends of a range, with every other parameter at its first value or lower bound. Checking
/// these before a random or TPE sweep starts catches a value that makes an invalid spec.
pub fn corners(sweep: &SweepSpec) -> Vec<Config> {
    let ends = |domain: &Domain| -> Vec<Value> {
        match domain {
            Domain::Distribution(Distribution::Uniform([a, b]))
            | Domain::Distribution(Distribution::LogUniform([a, b])) => {
                vec![Value::from(*a), Value::from(*b)]
            }
            Domain::Distribution(Distribution::Int([a, b])) => {
                vec![Value::from(*a), Value::from(*b)]
            }
            other => other.values().map(<[Value]>::to_vec).unwrap_or_default(),
        }
    };
    let base: Config = sweep
        .parameters
        .iter()
        .filter_map(|(path, domain)| Some((path.clone(), ends(domain).first()?.clone())))
        .collect();
    let mut out = vec![base.clone()];
    for (path, domain) in &sweep.parameters {
        for value in ends(domain).into_iter().skip(1) {
            let mut config = base.clone();
            config.insert(path.clone(), value);
            out.push(config);
        }
    }
    out
}

/// Draws configurations for `random` and `tpe` sweeps.
pub struct Sampler {
    parameters: Vec<(String, Domain)>,
    seed: u64,
    goal: Goal,
    tpe: Option<Vec<tpe::TpeOptimizer>>,
    told: usize,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("parameters", &self.parameters)
            .field("told", &self.told)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// A sampler for `sweep`; `adaptive` selects TPE, otherwise draws are independent.
    pub fn new(sweep: &SweepSpec, adaptive: bool) -> Self {
        let parameters: Vec<(String, Domain)> = sweep
            .parameters
            .iter()
            .map(|(p, d)| (p.clone(), d.clone()))
            .collect();
        let tpe = adaptive.then(|| parameters.iter().map(|(_, d)| optimizer(d)).collect());
        Self {
            parameters,
            seed: sweep.sampler_seed,
            goal: sweep.goal(),
            tpe,
            told: 0,
        }
    }

    /// Whether draws learn from the trials told (TPE).
    pub fn adaptive(&self) -> bool {
        self.tpe.is_some()
    }

    /// The configuration of trial `index` (0-based).
    pub fn draw(&mut self, index: usize) -> Config {
        let mut rng = StdRng::seed_from_u64(
            self.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let use_tpe = self.told >= TPE_STARTUP_TRIALS;
        let mut config = Config::new();
        for (i, (path, domain)) in self.parameters.iter().enumerate() {
            let encoded = match self.tpe.as_mut() {
                Some(optimizers) if use_tpe => optimizers[i].ask(&mut rng).ok(),
                _ => None,
            }
            .unwrap_or_else(|| random_encoded(domain, &mut rng));
            config.insert(path.clone(), decode(domain, encoded));
        }
        config
    }

    /// Tells TPE the metric of a finished configuration (ignored by random draws).
    pub fn tell(&mut self, config: &Config, metric: f64) {
        let Some(optimizers) = self.tpe.as_mut() else {
            return;
        };
        if !metric.is_finite() {
            return;
        }
        // TPE minimises.
        let objective = match self.goal {
            Goal::Max => -metric,
            Goal::Min => metric,
        };
        for (optimizer, (path, domain)) in optimizers.iter_mut().zip(&self.parameters) {
            if let Some(encoded) = config.get(path).and_then(|v| encode(domain, v)) {
                let _ = optimizer.tell(encoded, objective);
            }
        }
        self.told += 1;
    }
}

/// A TPE optimizer over the parameter's encoded range.
fn optimizer(domain: &Domain) -> tpe::TpeOptimizer {
    let range = match domain {
        Domain::Distribution(Distribution::Uniform([a, b])) => tpe::range(*a, *b),
        Domain::Distribution(Distribution::LogUniform([a, b])) => tpe::range(a.ln(), b.ln()),
        Domain::Distribution(Distribution::Int([a, b])) => tpe::range(*a as f64, *b as f64 + 1.0),
        other => tpe::categorical_range(other.values().map_or(1, <[Value]>::len).max(1)),
    }
    .unwrap_or_else(|_| tpe::range(0.0, 1.0).expect("0..1 is a valid range"));
    let estimator = if domain.values().is_some() {
        tpe::histogram_estimator()
    } else {
        tpe::parzen_estimator()
    };
    tpe::TpeOptimizer::new(estimator, range)
}

/// A uniform draw in the parameter's encoded range.
fn random_encoded(domain: &Domain, rng: &mut StdRng) -> f64 {
    let u: f64 = rng.random();
    match domain {
        Domain::Distribution(Distribution::Uniform([a, b])) => a + (b - a) * u,
        Domain::Distribution(Distribution::LogUniform([a, b])) => a.ln() + (b.ln() - a.ln()) * u,
        Domain::Distribution(Distribution::Int([a, b])) => rng.random_range(*a..=*b) as f64,
        other => rng.random_range(0..other.values().map_or(1, <[Value]>::len).max(1)) as f64,
    }
}

/// The value of an encoded draw.
fn decode(domain: &Domain, encoded: f64) -> Value {
    match domain {
        Domain::Distribution(Distribution::Uniform(_)) => Value::from(encoded),
        Domain::Distribution(Distribution::LogUniform(_)) => Value::from(encoded.exp()),
        Domain::Distribution(Distribution::Int([a, b])) => {
            Value::from((encoded.floor() as i64).clamp(*a, *b))
        }
        other => {
            let values = other.values().unwrap_or_default();
            let index = (encoded.max(0.0) as usize).min(values.len().saturating_sub(1));
            values.get(index).cloned().unwrap_or(Value::Null)
        }
    }
}

/// The encoded form of a value (inverse of [`decode`]); `None` when it is not in the domain.
fn encode(domain: &Domain, value: &Value) -> Option<f64> {
    match domain {
        Domain::Distribution(Distribution::Uniform(_))
        | Domain::Distribution(Distribution::Int(_)) => value.as_f64(),
        Domain::Distribution(Distribution::LogUniform(_)) => value.as_f64().map(f64::ln),
        other => other
            .values()?
            .iter()
            .position(|v| v == value)
            .map(|i| i as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sweep(parameters: Value) -> SweepSpec {
        serde_json::from_value(json!({"spec": "s.yaml", "parameters": parameters})).unwrap()
    }

    #[test]
    fn a_grid_is_the_cartesian_product_with_integer_ranges_listed() {
        let s = sweep(json!({"a": [1, 2], "b": {"int": [0, 2]}}));
        let configs = grid(&s);
        assert_eq!(configs.len(), 6);
        assert_eq!(
            configs[0],
            Config::from([("a".into(), json!(1)), ("b".into(), json!(0))])
        );
        assert_eq!(
            configs[5],
            Config::from([("a".into(), json!(2)), ("b".into(), json!(2))])
        );
    }

    #[test]
    fn random_draws_stay_in_range_and_repeat_for_the_same_index() {
        let s = sweep(json!({
            "lr": {"log_uniform": [1.0e-6, 1.0e-2]},
            "rate": {"uniform": [0.0, 0.5]},
            "units": {"int": [1, 3]},
            "opt": {"choice": ["adam", "sgd"]},
        }));
        let mut sampler = Sampler::new(&s, false);
        for index in 0..50 {
            let c = sampler.draw(index);
            let lr = c["lr"].as_f64().unwrap();
            assert!((1.0e-6..=1.0e-2).contains(&lr), "{lr}");
            assert!((0.0..=0.5).contains(&c["rate"].as_f64().unwrap()));
            assert!((1..=3).contains(&c["units"].as_i64().unwrap()));
            assert!(c["opt"] == "adam" || c["opt"] == "sgd");
            assert_eq!(Sampler::new(&s, false).draw(index), c);
        }
        assert_ne!(sampler.draw(0), sampler.draw(1));
    }

    #[test]
    fn tpe_moves_towards_the_better_region() {
        // The metric is best near x = 0.9; after its random start-up TPE draws there more
        // often than uniform draws would (mean of the last draws above 0.6).
        let s = sweep(json!({"x": {"uniform": [0.0, 1.0]}}));
        let mut sampler = Sampler::new(&s, true);
        let mut late = Vec::new();
        for index in 0..60 {
            let config = sampler.draw(index);
            let x = config["x"].as_f64().unwrap();
            if index >= 40 {
                late.push(x);
            }
            sampler.tell(&config, -(x - 0.9).powi(2));
        }
        let mean = late.iter().sum::<f64>() / late.len() as f64;
        assert!(mean > 0.6, "late TPE draws average {mean}");
    }

    #[test]
    fn corners_cover_every_listed_value_and_range_end() {
        let s = sweep(json!({"a": [1, 2, 3], "lr": {"log_uniform": [1.0e-5, 1.0e-3]}}));
        let configs = corners(&s);
        assert_eq!(configs.len(), 1 + 2 + 1);
        assert!(configs.iter().any(|c| c["a"] == json!(3)));
        assert!(configs.iter().any(|c| c["lr"] == json!(1.0e-3)));
    }
}
