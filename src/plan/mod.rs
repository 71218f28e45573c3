//! The plan: a spec resolved into what the runner executes. The graph with shapes and parameter
//! counts, the trainable set of each phase, and the checked paths of data and weights. All
//! problems found here are reported against the spec (or base graph) text.

pub mod build;
pub mod graph;
pub mod memory;
pub mod metric_names;
pub mod select;
pub mod shape;
pub mod summary;

use crate::fetch::{Fetch, Origin, Resolved};
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
    diagnostic: Diagnostic,
    key: bool,
) -> Diagnostic {
    diagnostic.at(&sources.files[file].map, pointer, key)
}

/// [`plan`] of a spec as it is on this machine, downloading nothing (`runner validate`, tests).
pub fn plan_offline(loaded: &LoadedSpec) -> Result<Plan, Vec<Report>> {
    plan(&crate::fetch::prepare(loaded, Fetch::Never)?)
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

/// Resolves a spec whose sources were fetched ([`crate::fetch::prepare`]) into a plan, or
/// reports every problem found. Planning reads files but downloads nothing: data and weights a
/// source names that are not on this machine yet are a warning saying how to fetch them.
///
/// Long by design: every check runs and reports, in spec order, so one run shows every problem;
/// each check is a call or a few lines.
pub fn plan(resolved: &Resolved) -> Result<Plan, Vec<Report>> {
    let loaded = &resolved.spec;
    let mut sources = Sources::default();
    sources.add(
        loaded.path.clone(),
        loaded.text.clone(),
        loaded.source.clone(),
    );
    let mut found = Vec::new();
    let missing: Vec<&crate::fetch::Item> = resolved
        .items
        .iter()
        .filter(|i| i.origin == Origin::Missing)
        .collect();
    for item in &missing {
        let d = Diagnostic::warning(
            format!(
                "the {} is not on this machine yet: `runner fetch {1}` or `runner run {1}` downloads it from {2}",
                item.what,
                loaded.path.display(),
                item.url
            ),
            None,
        )
        .with_label("not downloaded yet")
        .with_help(format!(
            "it goes to {} (runner's cache; set RUNNER_CACHE to move it)",
            item.path.display()
        ));
        found.push((0, located(&sources, 0, &item.pointer, d, false)));
    }
    let awaits = |prefix: &str| missing.iter().any(|i| i.pointer.starts_with(prefix));
    let data_root = loaded.resolve(&loaded.spec.data.root);
    if !data_root.is_dir() && !awaits("/data/") {
        let d = Diagnostic::error(format!("the data folder `{}` does not exist", data_root.display()), None)
            .with_label("folder not found")
            .with_help("paths are relative to the spec file's folder; point elsewhere with `--set data.root=PATH`");
        found.push((0, located(&sources, 0, "/data/root", d, false)));
    }
    if loaded.spec.data.validation_split.is_some() && crate::data::has_split_folders(&data_root) {
        let d = Diagnostic::error(
            format!(
                "`validation_split` is set, but `{}` holds train/ and validation/ folders",
                data_root.display()
            ),
            None,
        )
        .with_label("would read train/ and validation/ as two classes")
        .with_help(
            "remove `validation_split` to use these folders as the splits, or point `data.root` \
             at a folder of class folders",
        );
        found.push((0, located(&sources, 0, "/data/validation_split", d, true)));
    }
    for (i, node) in loaded.spec.model.nodes.iter().enumerate() {
        if let crate::spec::NodeSpec::Pretrained(p) = node
            && let Some(weights) = &p.weights
            && !sources.resolve(weights).is_file()
            && !awaits(&format!("/model/nodes/{i}/"))
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
        validate_input_fits(loaded, graph, &sources, &mut found);
        validate_loss_fits(loaded, graph, &sources, &mut found);
        memory::validate(loaded, graph, &sources, &mut found);
    }
    validate_phase_names(loaded, &sources, &mut found);
    validate_phase_settings(loaded, &sources, &mut found);
    found.extend(
        metric_names::unknown_metrics(loaded)
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

/// The loss, the label mode and the model's output must agree: binary cross-entropy takes
/// binary labels and one output unit; categorical cross-entropy takes categorical labels and
/// one unit per class (at least 2, exactly as many as `data.class_names` when it is given).
/// An image output with categorical cross-entropy (a base cut at a layer, to inspect or run)
/// is only a warning; `runner run` refuses it once the classes are known.
///
/// Long by design: one message per way the loss and the model's output disagree, each located
/// at its key.
fn validate_loss_fits(
    loaded: &LoadedSpec,
    graph: &Graph,
    sources: &Sources,
    found: &mut build::Found,
) {
    use crate::spec::data::LabelMode;
    let data = &loaded.spec.data;
    let (loss, mode, other_loss) = match loaded.spec.loss {
        crate::spec::LossSpec::BinaryCrossentropy(_) => (
            "binary_crossentropy",
            LabelMode::Binary,
            "categorical_crossentropy",
        ),
        crate::spec::LossSpec::CategoricalCrossentropy(_) => (
            "categorical_crossentropy",
            LabelMode::Categorical,
            "binary_crossentropy",
        ),
    };
    let mode_name = |m: LabelMode| match m {
        LabelMode::Binary => "binary",
        LabelMode::Categorical => "categorical",
    };
    if data.label_mode != mode {
        let d = Diagnostic::error(
            format!("`{loss}` needs `data.label_mode: {}`", mode_name(mode)),
            None,
        )
        .with_label(format!("{} loss", mode_name(mode)))
        .with_help(match mode {
            LabelMode::Binary => "add `label_mode: binary` under `data:` (one logit, label 0 or 1), or use `categorical_crossentropy`".to_string(),
            LabelMode::Categorical => format!(
                "set `label_mode: categorical` under `data:` (one logit per class), or use `{other_loss}`"
            ),
        });
        found.push((0, located(sources, 0, "/loss", d, true)));
        return;
    }
    let output = &graph.nodes[graph.outputs[0]];
    let units_help = "end the model with `op: dense, units: <number of classes>`; for two \
                      classes with one unit, use `binary_crossentropy` and `label_mode: binary`";
    let problem = match (mode, output.shape, &data.class_names) {
        (LabelMode::Binary, graph::Shape::Vector(1), _) => None,
        (LabelMode::Binary, shape, _) => Some(
            Diagnostic::error(
                format!(
                    "`binary_crossentropy` needs one output unit, but `{}` gives {shape}",
                    output.name
                ),
                None,
            )
            .with_help("end the model with `op: dense, units: 1`"),
        ),
        (LabelMode::Categorical, graph::Shape::Vector(n), Some(names)) if n == names.len() => None,
        (LabelMode::Categorical, graph::Shape::Vector(n), None) if n >= 2 => None,
        // A feature extractor (a base cut at a layer) is a model to inspect or run, not to
        // train: `runner run` refuses it once the classes are known.
        (LabelMode::Categorical, shape @ graph::Shape::Image { .. }, _) => Some(
            Diagnostic::warning(
                format!(
                    "`{}` gives an image {shape}, not one unit per class: this model cannot \
                     be trained with `categorical_crossentropy`",
                    output.name
                ),
                None,
            )
            .with_help(units_help),
        ),
        (LabelMode::Categorical, shape, names) => {
            let wanted = names
                .as_ref()
                .map_or("one unit per class (at least 2)".to_string(), |n| {
                    format!("{} units, one per class of `data.class_names`", n.len())
                });
            Some(
                Diagnostic::error(
                    format!(
                        "`categorical_crossentropy` needs {wanted}, but `{}` gives {shape}",
                        output.name
                    ),
                    None,
                )
                .with_help(units_help),
            )
        }
    };
    if let Some(d) = problem {
        let d = d.with_label(format!("{} loss", mode_name(mode)));
        found.push((0, located(sources, 0, "/loss", d, true)));
    }
}

/// The model's input must take the images the data section makes: `data.image_size` and 3
/// channels (images are decoded to RGB).
fn validate_input_fits(
    loaded: &LoadedSpec,
    graph: &Graph,
    sources: &Sources,
    found: &mut build::Found,
) {
    let [h, w] = loaded.spec.data.image_size.map(|v| v as usize);
    let expected = graph::Shape::Image { h, w, c: 3 };
    let shape = graph.nodes[graph.input].shape;
    if shape == expected {
        return;
    }
    let Some(index) = loaded
        .spec
        .model
        .nodes
        .iter()
        .position(|n| matches!(n, crate::spec::NodeSpec::Input(_)))
    else {
        return;
    };
    let d = Diagnostic::error(
        format!(
            "the input shape {shape} does not fit the data: images are {h}x{w} RGB \
             (`data.image_size: [{h}, {w}]`, 3 channels)"
        ),
        None,
    )
    .with_label("input shape")
    .with_help(format!(
        "write `shape: [{h}, {w}, 3]`, or change `data.image_size` to the input's height and width"
    ));
    found.push((
        0,
        located(sources, 0, &format!("/model/nodes/{index}/shape"), d, false),
    ));
}

/// Phase names are unique: they name phases in logs, TensorBoard tags and `--set phases.NAME`.
fn validate_phase_names(loaded: &LoadedSpec, sources: &Sources, found: &mut build::Found) {
    let names: Vec<&str> = loaded.spec.phases.iter().map(|p| p.name.as_str()).collect();
    duplicate_names(sources, "/phases", "phase", &names, found);
}

/// Reports every name of `names` (the items of the list at `list` in the spec) used before.
pub(crate) fn duplicate_names(
    sources: &Sources,
    list: &str,
    what: &str,
    names: &[&str],
    found: &mut build::Found,
) {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, name) in names.iter().enumerate() {
        let first = *seen.entry(name).or_insert(i);
        if first == i {
            continue;
        }
        let first_line = sources.files[0]
            .map
            .value_span(&format!("{list}/{first}/name"))
            .map_or(0, |s| s.start.line);
        let d = Diagnostic::error(format!("duplicate {what} name `{name}`"), None)
            .with_label(format!("already used on line {first_line}"))
            .with_help(format!("give every {what} a unique name"));
        found.push((
            0,
            located(sources, 0, &format!("{list}/{i}/name"), d, false),
        ));
    }
}

/// Checks what one phase's settings need from the rest of the spec: monitored metrics must
/// be computed, and carried optimizer state needs the previous phase's optimizer kind.
fn validate_phase_settings(loaded: &LoadedSpec, sources: &Sources, found: &mut build::Found) {
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
