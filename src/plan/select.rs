//! Freeze selectors: which nodes a phase's `freeze` / `unfreeze` entries name.
//!
//! - `node`: a node, or every layer of the pretrained base of that name;
//! - `base.layer`: a layer of a base, or every layer whose name starts with `base.layer.`;
//! - `base.layer..`: from that layer to the end of its base (Keras' `fine_tune_at` by name);
//! - `base.100..`: from layer index 100 of the base to its end (Keras' `fine_tune_at`).

use super::graph::{Graph, NodeId};

/// Why a selector matched nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct NoMatch {
    /// Closest existing names, for a did-you-mean.
    pub candidates: Vec<String>,
}

/// The nodes `selector` names, in graph order.
pub fn select(graph: &Graph, selector: &str) -> Result<Vec<NodeId>, NoMatch> {
    let (head, to_end) = match selector.strip_suffix("..") {
        Some(head) => (head, true),
        None => (selector, false),
    };
    let matched = prefix_matches(graph, head).or_else(|| index_match(graph, head));
    let Some(matched) = matched else {
        return Err(NoMatch {
            candidates: names(graph),
        });
    };
    if !to_end {
        return Ok(matched);
    }
    let first = matched[0];
    Ok(match &graph.nodes[first].base {
        Some((base, start)) => (0..graph.nodes.len())
            .filter(|id| matches!(&graph.nodes[*id].base, Some((b, i)) if b == base && i >= start))
            .collect(),
        None => (first..graph.nodes.len())
            .filter(|id| graph.nodes[*id].base.is_none())
            .collect(),
    })
}

/// Nodes named `head`, in base `head`, or under the dotted prefix `head.`.
fn prefix_matches(graph: &Graph, head: &str) -> Option<Vec<NodeId>> {
    let dotted = format!("{head}.");
    let ids: Vec<NodeId> = (0..graph.nodes.len())
        .filter(|id| {
            let node = &graph.nodes[*id];
            node.name == head
                || node.name.starts_with(&dotted)
                || node.base.as_ref().is_some_and(|(b, _)| b == head)
        })
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// `base.N`: layer N of a base (Keras layer index).
fn index_match(graph: &Graph, head: &str) -> Option<Vec<NodeId>> {
    let (base, index) = head.rsplit_once('.')?;
    let index: usize = index.parse().ok()?;
    let bases: Vec<NodeId> = (0..graph.nodes.len())
        .filter(|id| {
            graph.nodes[*id]
                .base
                .as_ref()
                .is_some_and(|(b, _)| b == base)
        })
        .collect();
    let last = bases
        .iter()
        .filter_map(|id| graph.nodes[*id].base.as_ref().map(|(_, i)| *i))
        .max()?;
    let first = (index..=last).find_map(|i| {
        bases
            .iter()
            .copied()
            .find(|id| graph.nodes[*id].base.as_ref().is_some_and(|(_, j)| *j == i))
    })?;
    Some(vec![first])
}

/// Every node name plus every base name, for suggestions.
fn names(graph: &Graph) -> Vec<String> {
    let mut names: Vec<String> = graph.nodes.iter().map(|n| n.name.clone()).collect();
    names.extend(
        graph
            .nodes
            .iter()
            .filter_map(|n| n.base.as_ref().map(|(b, _)| b.clone())),
    );
    names.dedup();
    names
}
