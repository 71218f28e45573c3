//! What a check compares: each metric of a run, or per configuration of a sweep the mean and
//! sample standard deviation over its seed replicates ([`Stat`]).

use crate::track::records::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A metric over `n` runs (one run: the value, std 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub std: f64,
    /// Runs with a value.
    pub n: usize,
}

impl Stat {
    /// Mean and sample standard deviation of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Stat> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Stat { mean, std, n })
    }
}

/// Metric name -> value.
pub type Values = BTreeMap<String, Stat>;

/// Configuration (a sweep trial's [`group`](crate::sweep::trial::Trial::group); `""` for a
/// single run) -> its values.
pub type Groups = BTreeMap<String, Values>;

/// Every metric of the `(group, summary)` runs, aggregated per group.
pub fn groups<'a>(runs: impl IntoIterator<Item = (String, &'a Summary)>) -> Groups {
    let mut raw: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    for (group, summary) in runs {
        let values = raw.entry(group).or_default();
        for name in summary.metric_names() {
            if let Some(x) = summary.metric(&name).filter(|x| x.is_finite()) {
                values.entry(name).or_default().push(x);
            }
        }
    }
    raw.into_iter()
        .map(|(group, values)| {
            let stats = values
                .into_iter()
                .filter_map(|(name, xs)| Some((name, Stat::of(&xs)?)))
                .collect();
            (group, stats)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_mean_and_sample_std() {
        let s = Stat::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.std, s.n), (2.0, 1.0, 3));
        assert_eq!(Stat::of(&[0.5]).unwrap().std, 0.0);
        assert!(Stat::of(&[]).is_none());
    }
}
