//! What a check compares: each metric of a run, or per configuration of a sweep the mean and
//! sample standard deviation over its seed replicates ([`Stat`]).

use crate::metric::Stat;

use crate::track::records::Summary;
use std::collections::BTreeMap;

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
