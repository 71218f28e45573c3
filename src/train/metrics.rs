//! Epoch metrics: loss, accuracy, precision, recall, F1 and ROC AUC (binary), and the confusion
//! matrix, accumulated batch by batch.

use crate::spec::Metric;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Running totals for one split over one epoch (serialisable, so a checkpoint taken in the
/// middle of an epoch resumes its totals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricAccumulator {
    classes: usize,
    loss_sum: f64,
    seen: usize,
    /// Binary: probability of class 1 per example; categorical: unused.
    scores: Vec<f32>,
    labels: Vec<u32>,
    predictions: Vec<u32>,
}

impl MetricAccumulator {
    /// An empty accumulator for `classes` classes (2 for binary).
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            loss_sum: 0.0,
            seen: 0,
            scores: Vec::new(),
            labels: Vec::new(),
            predictions: Vec::new(),
        }
    }

    /// Adds a batch: its mean loss, and per example the model output row and the label.
    /// `outputs` is row-major `[n, units]`: one logit (binary) or one logit per class.
    pub fn add(&mut self, mean_loss: f64, outputs: &[f32], labels: &[u32]) {
        let n = labels.len();
        self.loss_sum += mean_loss * n as f64;
        self.seen += n;
        let units = outputs.len() / n.max(1);
        for (row, &label) in outputs.chunks(units.max(1)).zip(labels) {
            let prediction = if units == 1 {
                let p = 1.0 / (1.0 + (-row[0]).exp());
                self.scores.push(p);
                u32::from(row[0] > 0.0)
            } else {
                row.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i as u32)
            };
            self.predictions.push(prediction);
            self.labels.push(label);
        }
    }

    /// Examples seen.
    pub fn len(&self) -> usize {
        self.seen
    }

    /// True before the first batch.
    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// Mean loss so far.
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    /// Fraction of correct predictions so far.
    pub fn accuracy(&self) -> f64 {
        let correct = self
            .labels
            .iter()
            .zip(&self.predictions)
            .filter(|(l, p)| l == p)
            .count();
        correct as f64 / self.seen.max(1) as f64
    }

    /// `matrix[true][predicted]` counts.
    pub fn confusion_matrix(&self) -> Vec<Vec<u64>> {
        let mut matrix = vec![vec![0u64; self.classes]; self.classes];
        for (&l, &p) in self.labels.iter().zip(&self.predictions) {
            if let Some(cell) = matrix
                .get_mut(l as usize)
                .and_then(|row| row.get_mut(p as usize))
            {
                *cell += 1;
            }
        }
        matrix
    }

    /// The loss plus every requested metric, by name.
    pub fn finish(&self, metrics: &[Metric]) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::from([("loss".to_string(), self.loss())]);
        fn positive(v: &[u32]) -> impl Iterator<Item = bool> + '_ {
            v.iter().map(|x| *x == 1)
        }
        let tp = positive(&self.labels)
            .zip(positive(&self.predictions))
            .filter(|(l, p)| *l && *p)
            .count() as f64;
        let predicted = self.predictions.iter().filter(|p| **p == 1).count() as f64;
        let actual = self.labels.iter().filter(|l| **l == 1).count() as f64;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        for metric in metrics {
            let value = match metric {
                Metric::Accuracy => self.accuracy(),
                Metric::Precision => ratio(tp, predicted),
                Metric::Recall => ratio(tp, actual),
                Metric::F1 => ratio(2.0 * tp, predicted + actual),
                Metric::Auc => self.auc(),
            };
            out.insert(metric.name().to_string(), value);
        }
        out
    }

    /// ROC AUC from the rank statistic (ties share ranks); 0.5 when one class is absent.
    fn auc(&self) -> f64 {
        let mut ranked: Vec<(f32, u32)> = self
            .scores
            .iter()
            .copied()
            .zip(self.labels.iter().copied())
            .collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        let positives = ranked.iter().filter(|(_, l)| *l == 1).count() as f64;
        let negatives = ranked.len() as f64 - positives;
        if positives == 0.0 || negatives == 0.0 {
            return 0.5;
        }
        let mut rank_sum = 0.0;
        let mut i = 0;
        while i < ranked.len() {
            let mut j = i;
            while j < ranked.len() && ranked[j].0 == ranked[i].0 {
                j += 1;
            }
            let mean_rank = (i + j + 1) as f64 / 2.0;
            rank_sum += ranked[i..j].iter().filter(|(_, l)| *l == 1).count() as f64 * mean_rank;
            i = j;
        }
        (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_metrics_from_logits() {
        let mut acc = MetricAccumulator::new(2);
        // logits: +, -, +, -   labels: 1, 0, 0, 1  -> tp 1, fp 1, fn 1, tn 1
        acc.add(0.5, &[2.0, -1.0, 0.5, -0.2], &[1, 0, 0, 1]);
        let m = acc.finish(&[
            Metric::Accuracy,
            Metric::Precision,
            Metric::Recall,
            Metric::F1,
            Metric::Auc,
        ]);
        assert_eq!(m["loss"], 0.5);
        assert_eq!(m["accuracy"], 0.5);
        assert_eq!(m["precision"], 0.5);
        assert_eq!(m["recall"], 0.5);
        assert_eq!(m["f1"], 0.5);
        // scores ranked: -1.0(0) -0.2(1) 0.5(0) 2.0(1): positive ranks 2 + 4 = 6 -> (6 - 3) / 4
        assert_eq!(m["auc"], 0.75);
        assert_eq!(acc.confusion_matrix(), vec![vec![1, 1], vec![1, 1]]);
    }

    #[test]
    fn categorical_predictions_take_the_largest_logit() {
        let mut acc = MetricAccumulator::new(3);
        acc.add(1.0, &[0.1, 0.9, 0.0, 3.0, 1.0, 2.0], &[1, 2]);
        assert_eq!(acc.accuracy(), 0.5);
        assert_eq!(
            acc.confusion_matrix(),
            vec![vec![0, 0, 0], vec![0, 1, 0], vec![1, 0, 0]]
        );
    }
}
