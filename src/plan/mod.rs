//! The plan: a spec resolved into what the runner executes. The graph with shapes and parameter
//! counts, the trainable set of each phase, and the checked paths of data and weights. All
//! problems found here are reported against the spec (or base graph) text.

pub mod build;
pub mod graph;
pub mod select;
pub mod shape;
pub mod summary;

use crate::spec::diagnostic::{Diagnostic, Report, Severity};
use crate::spec::yaml::SourceMap;
use crate::spec::{LoadedSpec, PhaseSpec};
use graph::Graph;
use std::path::{Path, PathBuf};

/// Text files a plan was read from: the spec first, then base graph files.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The files, spec at index 0.
    pub files: Vec<SourceFile>,
}

/// One source text with its location map.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Where it came from.
    pub path: PathBuf,
    /// The text.
    pub text: String,
    /// Locations by JSON pointer.
    pub map: SourceMap,
}

impl Sources {
    fn add(&mut self, path: PathBuf, text: String, map: SourceMap) -> usize {
        self.files.push(SourceFile { path, text, map });
        self.files.len() - 1
    }

    /// Resolves a path written in the spec against the spec's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        let base = self.files[0].path.parent().unwrap_or(Path::new("."));
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        }
    }
}

/// Places `diagnostic` at the value (or key) at `pointer` of file `file`.
pub(crate) fn located(
    sources: &Sources,
    file: usize,
    pointer: &str,
    mut diagnostic: Diagnostic,
    key: bool,
) -> Diagnostic {
    let map = &sources.files[file].map;
    diagnostic.span = if key {
        map.key_span(pointer)
    } else {
        map.value_span(pointer)
    };
    diagnostic
}

/// What one phase trains.
#[derive(Debug, Clone, PartialEq)]
pub struct PhasePlan {
    /// The phase as written.
    pub spec: PhaseSpec,
    /// Per graph node: whether its parameters train in this phase.
    pub trainable: Vec<bool>,
    /// Per graph node: whether its value is a constant of the phase, i.e. depends on no
    /// trainable parameter and no randomness (the input, and a frozen base with everything
    /// before it). Training computes these without autodiff.
    pub constant: Vec<bool>,
}

impl PhasePlan {
    /// Parameters the optimizer updates in this phase.
    pub fn trainable_params(&self, graph: &Graph) -> usize {
        graph
            .nodes
            .iter()
            .zip(&self.trainable)
            .filter(|(_, t)| **t)
            .map(|(n, _)| n.op.trainable_param_count())
            .sum()
    }
}

/// A checked, resolved experiment.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The spec it came from.
    pub spec: LoadedSpec,
    /// The model graph.
    pub graph: Graph,
    /// Phases in order.
    pub phases: Vec<PhasePlan>,
    /// The data folder, resolved.
    pub data_root: PathBuf,
    /// Warnings worth showing (unused nodes...).
    pub warnings: Vec<Report>,
}

/// Resolves `loaded` into a plan, or reports every problem found.
pub fn plan(loaded: &LoadedSpec) -> Result<Plan, Vec<Report>> {
    let mut sources = Sources::default();
    sources.add(
        loaded.path.clone(),
        loaded.text.clone(),
        loaded.source.clone(),
    );
    let mut found = Vec::new();
    let data_root = loaded.resolve(&loaded.spec.data.root);
    if !data_root.is_dir() {
        let d = Diagnostic::error(format!("the data folder `{}` does not exist", data_root.display()), None)
            .with_label("folder not found")
            .with_help("paths are relative to the spec file's folder; point elsewhere with `--set data.root=PATH`");
        found.push((0, located(&sources, 0, "/data/root", d, false)));
    }
    for (i, node) in loaded.spec.model.nodes.iter().enumerate() {
        if let crate::spec::NodeSpec::Pretrained(p) = node
            && let Some(weights) = &p.weights
            && !sources.resolve(weights).is_file()
        {
            let d = Diagnostic::error(format!("the weights file `{}` does not exist", sources.resolve(weights).display()), None)
                .with_label("file not found")
                .with_help("paths are relative to the spec file's folder; the shared weights are under ../shared/weights");
            found.push((
                0,
                located(&sources, 0, &format!("/model/nodes/{i}/weights"), d, false),
            ));
        }
    }
    let graph = build::build(&loaded.spec.model, &mut sources, &mut found);
    if let Some(graph) = &graph {
        check_loss_fits(loaded, graph, &sources, &mut found);
    }
    check_phase_settings(loaded, &sources, &mut found);
    found.extend(
        crate::check::names::unknown_metrics(loaded)
            .into_iter()
            .map(|d| (0, d)),
    );
    let phases = graph
        .as_ref()
        .map(|g| plan_phases(g, &loaded.spec.phases, &sources, &mut found))
        .unwrap_or_default();
    // Warnings (unused nodes...) are noise next to an error, which often causes them.
    if found.iter().any(|(_, d)| d.severity == Severity::Error) {
        found.retain(|(_, d)| d.severity == Severity::Error);
    }
    let reports = group(&sources, found);
    let (errors, warnings): (Vec<Report>, Vec<Report>) =
        reports.into_iter().partition(Report::has_errors);
    match graph {
        Some(graph) if errors.is_empty() => Ok(Plan {
            spec: loaded.clone(),
            graph,
            phases,
            data_root,
            warnings,
        }),
        _ => Err(errors),
    }
}

/// Binary cross-entropy needs binary labels and a model with one output unit.
fn check_loss_fits(
    loaded: &LoadedSpec,
    graph: &Graph,
    sources: &Sources,
    found: &mut build::Found,
) {
    if !matches!(
        loaded.spec.loss,
        crate::spec::LossSpec::BinaryCrossentropy(_)
    ) {
        return;
    }
    if loaded.spec.data.label_mode != crate::spec::data::LabelMode::Binary {
        let d = Diagnostic::error("`binary_crossentropy` needs `data.label_mode: binary`", None)
            .with_label("binary loss")
            .with_help("add `label_mode: binary` under `data:` (one logit, label 0 or 1), or use `categorical_crossentropy`");
        found.push((0, located(sources, 0, "/loss", d, true)));
    }
    let output = &graph.nodes[graph.outputs[0]];
    if output.shape != graph::Shape::Vector(1) {
        let d = Diagnostic::error(
            format!(
                "`binary_crossentropy` needs one output unit, but `{}` gives {}",
                output.name, output.shape
            ),
            None,
        )
        .with_label("binary loss")
        .with_help("end the model with `op: dense, units: 1`");
        found.push((0, located(sources, 0, "/loss", d, true)));
    }
}

/// Checks what one phase's settings need from the rest of the spec: monitored metrics must
/// be computed, and carried optimizer state needs the previous phase's optimizer kind.
fn check_phase_settings(loaded: &LoadedSpec, sources: &Sources, found: &mut build::Found) {
    let spec = &loaded.spec;
    let computed: Vec<&str> = std::iter::once("loss")
        .chain(spec.metrics.iter().map(|m| m.name()))
        .collect();
    for (p, phase) in spec.phases.iter().enumerate() {
        let monitors = [
            match &phase.schedule {
                crate::spec::train::ScheduleSpec::ReduceOnPlateau(s) => {
                    Some((&s.monitor, "schedule/reduce_on_plateau"))
                }
                _ => None,
            },
            phase
                .early_stopping
                .as_ref()
                .map(|e| (&e.monitor, "early_stopping")),
        ];
        for (monitor, at) in monitors.into_iter().flatten() {
            if !computed.contains(&monitor.metric()) {
                let d = Diagnostic::error(
                    format!(
                        "`{}` is not computed: the spec's `metrics` are {}",
                        monitor.0,
                        computed[1..].join(", ")
                    ),
                    None,
                )
                .with_label("not a computed metric")
                .with_help(format!(
                    "add `{}` to `metrics`, or monitor `validation/loss`",
                    monitor.metric()
                ));
                found.push((
                    0,
                    located(sources, 0, &format!("/phases/{p}/{at}/monitor"), d, false),
                ));
            }
        }
        if phase.optimizer_state == crate::spec::train::OptimizerState::Carry {
            let problem = match p.checked_sub(1).map(|q| &spec.phases[q]) {
                None => Some("the first phase has no optimizer state to carry over".to_string()),
                Some(previous) if previous.optimizer.kind() != phase.optimizer.kind() => {
                    Some(format!(
                        "`carry` needs the same optimizer as the previous phase, but `{}` uses {} and `{}` uses {}",
                        previous.name,
                        previous.optimizer.kind(),
                        phase.name,
                        phase.optimizer.kind()
                    ))
                }
                Some(_) => None,
            };
            if let Some(message) = problem {
                let d = Diagnostic::error(message, None)
                    .with_label("cannot carry optimizer state")
                    .with_help("use `optimizer_state: reset` (a fresh optimizer, as Keras does when compiling again)");
                found.push((
                    0,
                    located(
                        sources,
                        0,
                        &format!("/phases/{p}/optimizer_state"),
                        d,
                        false,
                    ),
                ));
            }
        }
    }
}

fn plan_phases(
    graph: &Graph,
    phases: &[PhaseSpec],
    sources: &Sources,
    found: &mut build::Found,
) -> Vec<PhasePlan> {
    phases
        .iter()
        .enumerate()
        .map(|(p, spec)| {
            let mut trainable = vec![true; graph.nodes.len()];
            for (key, value, list) in [
                ("freeze", false, &spec.freeze),
                ("unfreeze", true, &spec.unfreeze),
            ] {
                for (j, selector) in list.iter().enumerate() {
                    match select::select(graph, selector) {
                        Ok(ids) => ids.into_iter().for_each(|id| trainable[id] = value),
                        Err(no) => {
                            let d = Diagnostic::error(
                                format!("`{key}` selector `{selector}` names no node"),
                                None,
                            )
                            .with_label("no such node or layer")
                            .with_suggestion(
                                selector.trim_end_matches(".."),
                                no.candidates.iter().map(String::as_str),
                            );
                            found.push((
                                0,
                                located(sources, 0, &format!("/phases/{p}/{key}/{j}"), d, false),
                            ));
                        }
                    }
                }
            }
            PhasePlan {
                spec: spec.clone(),
                constant: constant_nodes(graph, &trainable),
                trainable,
            }
        })
        .collect()
}

/// Nodes whose value depends on no trainable parameter and no randomness: all inputs are
/// constant, and the node has no parameters, or frozen ones (frozen batch norm runs in
/// inference mode). Dropout is random in training, so never constant.
fn constant_nodes(graph: &Graph, trainable: &[bool]) -> Vec<bool> {
    let mut constant = vec![false; graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        let inputs_constant = node.inputs.iter().all(|&j| constant[j]);
        constant[i] = i == graph.input
            || (inputs_constant
                && !matches!(node.op, graph::Op::Dropout { .. })
                && (!trainable[i] || node.op.param_count() == 0));
    }
    constant
}

/// Groups diagnostics into one report per file, errors first.
fn group(sources: &Sources, found: build::Found) -> Vec<Report> {
    let mut reports: Vec<Report> = Vec::new();
    for (file, diagnostic) in found {
        let source = &sources.files[file];
        match reports.iter_mut().find(|r| r.file == source.path) {
            Some(r) => r.diagnostics.push(diagnostic),
            None => reports.push(Report {
                file: source.path.clone(),
                text: source.text.clone(),
                diagnostics: vec![diagnostic],
            }),
        }
    }
    for r in &mut reports {
        r.diagnostics.sort_by_key(|d| {
            (
                d.severity == Severity::Warning,
                d.span.map(|s| (s.start.line, s.start.col)),
            )
        });
    }
    reports
}
