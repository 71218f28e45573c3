//! The Keras-like model summary `runner validate` prints: one row per node (a pretrained base
//! folded into one row unless asked for every layer), shapes, parameters, and per phase whether
//! the node trains.

use super::Plan;
use super::graph::{Graph, NodeId};
use std::fmt::Write;

/// Renders the summary table of `plan`; `layers` lists every layer of pretrained bases.
///
/// Long by design: one table, its columns and its rows of nodes and base layers written in
/// order.
pub fn render(plan: &Plan, layers: bool) -> String {
    let graph = &plan.graph;
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut trains: Vec<Vec<String>> = Vec::new();
    let mut i = 0;
    while i < graph.nodes.len() {
        let node = &graph.nodes[i];
        let group: Vec<NodeId> = match (&node.base, layers) {
            (Some((base, _)), false) => (i..graph.nodes.len())
                .take_while(|j| {
                    graph.nodes[*j]
                        .base
                        .as_ref()
                        .is_some_and(|(b, _)| b == base)
                })
                .collect(),
            _ => vec![i],
        };
        let last = &graph.nodes[*group.last().unwrap_or(&i)];
        let (name, kind) = match (&node.base, layers) {
            (Some((base, _)), false) => {
                (base.clone(), format!("pretrained ({} layers)", group.len()))
            }
            _ => (node.name.clone(), node.kind.to_string()),
        };
        let inputs = input_names(graph, group[0], &node.base, layers);
        let params: usize = group.iter().map(|j| graph.nodes[*j].op.param_count()).sum();
        rows.push([
            name,
            kind,
            inputs,
            last.shape.to_string(),
            thousands(params),
        ]);
        trains.push(
            plan.phases
                .iter()
                .map(|p| trainable_cell(graph, &group, &p.trainable))
                .collect(),
        );
        i += group.len();
    }
    let mut header = vec![
        "node".to_string(),
        "op".into(),
        "inputs".into(),
        "output shape".into(),
        "params".into(),
    ];
    header.extend(plan.phases.iter().map(|p| p.spec.name.clone()));
    let table: Vec<Vec<String>> = rows
        .into_iter()
        .zip(trains)
        .map(|(r, t)| r.into_iter().chain(t).collect())
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c == 4 {
                    format!("{s:>w$}", w = widths[c])
                } else {
                    format!("{s:<w$}", w = widths[c])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let rule = "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1));
    let mut out = String::new();
    let _ = writeln!(out, "Model: \"{}\"", plan.spec.spec.name);
    let _ = writeln!(out, "{rule}\n{}\n{rule}", line(&header));
    for row in &table {
        let _ = writeln!(out, "{}", line(row));
    }
    let _ = writeln!(out, "{rule}");
    let total = graph.param_count();
    let trainable_total: usize = graph
        .nodes
        .iter()
        .map(|n| n.op.trainable_param_count())
        .sum();
    let _ = writeln!(
        out,
        "Total params: {} (non-trainable statistics: {})",
        thousands(total),
        thousands(total - trainable_total)
    );
    for p in &plan.phases {
        let _ = writeln!(
            out,
            "Phase {:<w$} trainable params: {}",
            format!("`{}`", p.spec.name),
            thousands(p.trainable_params(graph)),
            w = 2 + plan
                .phases
                .iter()
                .map(|p| p.spec.name.len())
                .max()
                .unwrap_or(0)
        );
    }
    out
}

fn input_names(graph: &Graph, id: NodeId, base: &Option<(String, usize)>, layers: bool) -> String {
    graph.nodes[id]
        .inputs
        .iter()
        .map(|i| {
            let n = &graph.nodes[*i];
            match (&n.base, layers) {
                (Some((b, _)), false) if Some(b) != base.as_ref().map(|(b, _)| b) => b.clone(),
                _ => n.name.clone(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "yes", "frozen", "12 of 53" (layers with parameters that train), or "" without parameters.
fn trainable_cell(graph: &Graph, group: &[NodeId], trainable: &[bool]) -> String {
    let with_params: Vec<NodeId> = group
        .iter()
        .copied()
        .filter(|j| graph.nodes[*j].op.param_count() > 0)
        .collect();
    let training = with_params.iter().filter(|j| trainable[**j]).count();
    match (with_params.len(), training) {
        (0, _) => String::new(),
        (n, t) if t == n => "yes".into(),
        (_, 0) => "frozen".into(),
        (n, t) => format!("{t} of {n} layers"),
    }
}

/// 3489097 -> "3,489,097".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
