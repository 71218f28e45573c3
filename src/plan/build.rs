//! From the spec's node list to a [`Graph`]: pretrained bases expanded into their layers, inputs
//! resolved by name, cycles rejected, nodes sorted topologically and shapes inferred.

use super::graph::{Graph, Node, NodeId, Shape};
use super::shape;
use super::{Sources, located};
use crate::spec::diagnostic::Diagnostic;
use crate::spec::model::{ModelSpec, NodeSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A node before resolution, with where it was written.
struct Pending<'a> {
    spec: &'a NodeSpec,
    name: String,
    inputs: Vec<String>,
    file: usize,
    pointer: String,
    base: Option<(String, usize)>,
}

/// Diagnostics collected while building, each tagged with its file index.
pub type Found = Vec<(usize, Diagnostic)>;

/// Builds the graph of `model` (file 0 of `sources`); pretrained bases are read into `sources`.
///
/// Long by design: one pass over the nodes in spec order, each step (name, inputs, base
/// expansion, shape) reading the table the earlier nodes filled; split, the steps would pass
/// that state around.
pub fn build(model: &ModelSpec, sources: &mut Sources, found: &mut Found) -> Option<Graph> {
    let bases = load_bases(model, sources, found);
    let mut pending = Vec::new();
    let mut aliases: HashMap<String, String> = HashMap::new();
    for (i, spec) in model.nodes.iter().enumerate() {
        let pointer = format!("/model/nodes/{i}");
        match spec {
            NodeSpec::Pretrained(p) => {
                let Some((file, base)) = bases.get(&p.name) else {
                    continue;
                };
                let output = expand_base(p, *file, base, sources, &pointer, &mut pending, found);
                if let Some(output) = output {
                    aliases.insert(p.name.clone(), output);
                }
            }
            _ => pending.push(Pending {
                spec,
                name: spec.name().to_string(),
                inputs: spec.inputs().iter().map(|s| s.to_string()).collect(),
                file: 0,
                pointer,
                base: None,
            }),
        }
    }
    // A base that could not be read has been reported; what reads it cannot be checked.
    let unread_base = model
        .nodes
        .iter()
        .any(|n| matches!(n, NodeSpec::Pretrained(p) if !aliases.contains_key(&p.name)));
    if unread_base {
        return None;
    }
    let before = found.len();
    validate_unique_names(model, sources, found);
    let index: HashMap<&str, usize> = pending
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let resolve = |name: &str| -> Option<usize> {
        let target = aliases.get(name).map(String::as_str).unwrap_or(name);
        index.get(target).copied()
    };
    // Resolve inputs.
    let mut edges: Vec<Vec<usize>> = Vec::with_capacity(pending.len());
    for p in &pending {
        let mut ids = Vec::new();
        for (j, input) in p.inputs.iter().enumerate() {
            match resolve(input) {
                Some(id) => ids.push(id),
                None => {
                    let key = p.spec.input_key().unwrap_or("input");
                    let pointer = if key == "inputs" {
                        format!("{}/inputs/{j}", p.pointer)
                    } else {
                        format!("{}/input", p.pointer)
                    };
                    let names = pending
                        .iter()
                        .filter(|q| q.file == p.file)
                        .map(|q| q.name.as_str())
                        .chain(aliases.keys().map(String::as_str));
                    let d = Diagnostic::error(
                        format!("`{}` reads `{input}`, but no node has that name", p.name),
                        None,
                    )
                    .with_label("unknown node")
                    .with_suggestion(input, names);
                    push_at(found, sources, p.file, &pointer, d);
                }
            }
        }
        edges.push(ids);
    }
    let inputs: Vec<usize> = (0..pending.len())
        .filter(|i| pending[*i].base.is_none() && matches!(pending[*i].spec, NodeSpec::Input(_)))
        .collect();
    if inputs.len() != 1 {
        let d = Diagnostic::error(
            format!(
                "the model needs exactly one `input` node, found {}",
                inputs.len()
            ),
            None,
        )
        .with_help("add `- {name: image, op: input, shape: [160, 160, 3]}` as the first node");
        let pointer = inputs
            .get(1)
            .map_or("/model/nodes".to_string(), |i| pending[*i].pointer.clone());
        push_at(found, sources, 0, &pointer, d);
    }
    let outputs: Vec<Option<usize>> = model
        .outputs
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let id = resolve(name);
            if id.is_none() {
                let d = Diagnostic::error(format!("output `{name}` names no node"), None)
                    .with_label("unknown node")
                    .with_suggestion(
                        name,
                        pending
                            .iter()
                            .filter(|q| q.file == 0)
                            .map(|q| q.name.as_str()),
                    );
                push_at(found, sources, 0, &format!("/model/outputs/{j}"), d);
            }
            id
        })
        .collect();
    if model.outputs.len() > 1 {
        let d = Diagnostic::error(
            format!(
                "the model lists {} outputs, but runner supports one output (the logits the loss reads)",
                model.outputs.len()
            ),
            None,
        )
        .with_label("second output")
        .with_help(format!(
            "keep one node in `outputs`, e.g. `outputs: [{}]`",
            model.outputs[0]
        ));
        push_at(found, sources, 0, "/model/outputs/1", d);
    }
    if found.len() > before {
        return None;
    }
    let order = topological_order(&pending, &edges, sources, found)?;
    // Keep only nodes that feed an output.
    let mut needed = vec![false; pending.len()];
    let mut stack: Vec<usize> = outputs.iter().flatten().copied().collect();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut needed[i], true) {
            stack.extend(&edges[i]);
        }
    }
    for (i, p) in pending.iter().enumerate() {
        if !needed[i] && p.base.is_none() {
            let d = Diagnostic::warning(
                format!(
                    "node `{}` does not feed any output and will not be built",
                    p.name
                ),
                None,
            )
            .with_label("unused")
            .with_help("wire it into the graph or remove it");
            push_at(found, sources, p.file, &format!("{}/name", p.pointer), d);
        }
    }
    // Infer shapes in order.
    let mut graph = Graph {
        nodes: Vec::new(),
        input: 0,
        outputs: Vec::new(),
    };
    let mut id_of: HashMap<usize, NodeId> = HashMap::new();
    for i in order.into_iter().filter(|i| needed[*i]) {
        let p = &pending[i];
        let ids: Vec<NodeId> = edges[i].iter().map(|e| id_of[e]).collect();
        let shapes: Vec<Shape> = ids.iter().map(|id| graph.nodes[*id].shape).collect();
        let result = if p.base.is_some() && matches!(p.spec, NodeSpec::Input(_)) {
            Ok((super::graph::Op::Input, shapes[0]))
        } else {
            shape::infer(p.spec, &shapes)
        };
        match result {
            Ok((op, shape)) => {
                id_of.insert(i, graph.nodes.len());
                graph.nodes.push(Node {
                    name: p.name.clone(),
                    kind: p.spec.op_name(),
                    op,
                    inputs: ids,
                    shape,
                    base: p.base.clone(),
                });
            }
            Err(e) => {
                let mut d = Diagnostic::error(e.message, None).with_label("shape mismatch");
                if let Some(help) = e.help {
                    d = d.with_help(help);
                }
                push_at(
                    found,
                    sources,
                    p.file,
                    &format!("{}/{}", p.pointer, e.key),
                    d,
                );
                return None;
            }
        }
    }
    graph.input = id_of[&inputs[0]];
    graph.outputs = outputs.iter().flatten().map(|i| id_of[i]).collect();
    Some(graph)
}

fn validate_unique_names(model: &ModelSpec, sources: &Sources, found: &mut Found) {
    let names: Vec<&str> = model.nodes.iter().map(NodeSpec::name).collect();
    super::duplicate_names(sources, "/model/nodes", "node", &names, found);
}

/// Reads each pretrained node's graph file; returns its file index and model by node name.
fn load_bases(
    model: &ModelSpec,
    sources: &mut Sources,
    found: &mut Found,
) -> HashMap<String, (usize, ModelSpec)> {
    let mut bases = HashMap::new();
    for (i, node) in model.nodes.iter().enumerate() {
        let NodeSpec::Pretrained(p) = node else {
            continue;
        };
        let pointer = format!("/model/nodes/{i}");
        match (&p.arch, &p.graph) {
            (Some(arch), None) => match crate::zoo::build(arch) {
                Some(base) => {
                    // The generated graph as JSON text (valid YAML), so that any problem in it
                    // is still reported against a text with locations.
                    let text = serde_json::to_string_pretty(&base).unwrap_or_default();
                    let map = crate::spec::yaml::parse(&text)
                        .map(|(_, map)| map)
                        .unwrap_or_default();
                    let file = sources.add(PathBuf::from(format!("<arch {arch}>")), text, map);
                    bases.insert(p.name.clone(), (file, base));
                }
                None => {
                    let help = match crate::spec::diagnostic::did_you_mean(
                        arch,
                        crate::zoo::KNOWN.iter().copied(),
                    ) {
                        Some(best) => format!("did you mean `{best}`? "),
                        None => String::new(),
                    };
                    let d = Diagnostic::error(format!("unknown architecture `{arch}`"), None)
                        .with_label("not a built-in architecture")
                        .with_help(format!(
                            "{help}built-in: mobilenet_v2_<alpha> (TF-slim, folded), \
                             mobilenet_v2_keras_<alpha>, mobilenet_v1_<alpha>, efficientnet_lite0, \
                             each optionally with `_no_top`; or give `graph: FILE` instead"
                        ));
                    push_at(found, sources, 0, &format!("{pointer}/arch"), d);
                }
            },
            (None, Some(graph)) => load_graph_file(sources, found, &pointer, p, graph, &mut bases),
            (arch, _) => {
                let (message, key) = if arch.is_some() {
                    ("give either `arch` or `graph`, not both", "/graph")
                } else {
                    (
                        "a pretrained node needs `arch` (a built-in architecture) or `graph` (a graph file)",
                        "/name",
                    )
                };
                let d = Diagnostic::error(format!("`{}`: {message}", p.name), None)
                    .with_label(if arch.is_some() {
                        "second source of the graph"
                    } else {
                        "no graph"
                    })
                    .with_help("e.g. `arch: mobilenet_v2_1.0` or `graph: bases/my_net.yaml`");
                push_at(found, sources, 0, &format!("{pointer}{key}"), d);
            }
        }
    }
    bases
}

/// Reads a base graph file named by `graph:` of pretrained node `p`.
fn load_graph_file(
    sources: &mut Sources,
    found: &mut Found,
    pointer: &str,
    p: &crate::spec::model::PretrainedNode,
    graph: &Path,
    bases: &mut HashMap<String, (usize, ModelSpec)>,
) {
    let path = sources.resolve(graph);
    match crate::spec::load_model_file(&path) {
        Ok((base, text, map)) => {
            let file = sources.add(path, text, map);
            bases.insert(p.name.clone(), (file, base));
        }
        Err(report) => {
            if report.text.is_empty() {
                let d = Diagnostic::error(
                    format!(
                        "cannot read the base graph `{}`: {}",
                        path.display(),
                        report.diagnostics[0].message
                    ),
                    None,
                )
                .with_label("graph file")
                .with_help("paths are relative to the spec file's folder");
                push_at(found, sources, 0, &format!("{pointer}/graph"), d);
            } else {
                let file = sources.add(report.file, report.text, Default::default());
                found.extend(report.diagnostics.into_iter().map(|d| (file, d)));
            }
        }
    }
}

/// Adds a base's layers as `<name>.<layer>` nodes; returns the name of the cut-point node.
fn expand_base<'a>(
    p: &crate::spec::model::PretrainedNode,
    file: usize,
    base: &'a ModelSpec,
    sources: &Sources,
    pointer: &str,
    pending: &mut Vec<Pending<'a>>,
    found: &mut Found,
) -> Option<String> {
    let qualify = |layer: &str| format!("{}.{layer}", p.name);
    if p.output.is_none() && base.outputs.len() > 1 {
        let d = Diagnostic::error(
            format!(
                "the base `{}` has {} outputs ({}); say which one this node gives",
                p.name,
                base.outputs.len(),
                base.outputs.join(", ")
            ),
            None,
        )
        .with_label("several outputs")
        .with_help(format!("add `output: {}` to the node", base.outputs[0]));
        push_at(found, sources, 0, &format!("{pointer}/name"), d);
        return None;
    }
    let output = p.output.clone().unwrap_or_else(|| base.outputs[0].clone());
    if !base.nodes.iter().any(|n| n.name() == output) {
        let d = Diagnostic::error(
            format!("the base `{}` has no layer `{output}` to cut at", p.name),
            None,
        )
        .with_label("unknown layer")
        .with_suggestion(&output, base.nodes.iter().map(|n| n.name()));
        push_at(found, sources, 0, &format!("{pointer}/output"), d);
        return None;
    }
    for (index, spec) in base.nodes.iter().enumerate() {
        let inputs = match spec {
            NodeSpec::Input(_) => vec![p.input.clone()],
            _ => spec.inputs().iter().map(|s| qualify(s)).collect(),
        };
        pending.push(Pending {
            spec,
            name: qualify(spec.name()),
            inputs,
            file,
            pointer: format!("/nodes/{index}"),
            base: Some((p.name.clone(), index)),
        });
    }
    Some(qualify(&output))
}

/// Kahn's algorithm; a cycle is reported once, naming its nodes.
fn topological_order(
    pending: &[Pending],
    edges: &[Vec<usize>],
    sources: &Sources,
    found: &mut Found,
) -> Option<Vec<usize>> {
    let n = pending.len();
    let mut indegree = vec![0usize; n];
    let mut consumers = vec![Vec::new(); n];
    for (i, ins) in edges.iter().enumerate() {
        for &j in ins {
            indegree[i] += 1;
            consumers[j].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..n).rev().filter(|i| indegree[*i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        for &c in consumers[i].iter().rev() {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.push(c);
            }
        }
    }
    if order.len() == n {
        return Some(order);
    }
    // Walk back along unresolved inputs from a node in the cycle until a node repeats.
    let start = (0..n).find(|i| indegree[*i] > 0).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = edges[current]
            .iter()
            .copied()
            .find(|j| indegree[*j] > 0)
            .unwrap_or(start);
        if let Some(pos) = path.iter().position(|p| *p == next) {
            path.drain(..pos);
            break;
        }
        path.push(next);
        current = next;
    }
    path.reverse();
    // Name the cycle from the node written first in the spec.
    let first_written = path
        .iter()
        .enumerate()
        .min_by_key(|(_, i)| **i)
        .map_or(0, |(pos, _)| pos);
    path.rotate_left(first_written);
    let mut names: Vec<&str> = path.iter().map(|i| pending[*i].name.as_str()).collect();
    names.push(names[0]);
    let first = &pending[path[0]];
    let d = Diagnostic::error(
        format!("the graph has a cycle: {}", names.join(" -> ")),
        None,
    )
    .with_label("this node depends on itself")
    .with_help("a model graph must not loop; check the `input` of these nodes");
    push_at(
        found,
        sources,
        first.file,
        &format!("{}/name", first.pointer),
        d,
    );
    None
}

/// Records `diagnostic` at `pointer` of source file `file`.
fn push_at(
    found: &mut Found,
    sources: &Sources,
    file: usize,
    pointer: &str,
    diagnostic: Diagnostic,
) {
    found.push((file, located(sources, file, pointer, diagnostic, false)));
}
