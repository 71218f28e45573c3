//! Sweeps and comparison, end to end through the `runner` binary on tiny generated images:
//! expansion and naming, parallel trials, the comparison table in every format, failed
//! trials (recorded, the rest go on, run again next time), resume after `kill -9`, seed
//! replicates as mean +- std, every bad-input error before anything runs, pruning (a trial
//! behind the others stops itself, is recorded and not run again), and the sweep as
//! TensorBoard's HTTP API serves it.

mod common;

use common::{runner, text};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A folder with the images, `spec.yaml` and `sweep.yaml` (`sweep` is its text).
fn setup(sweep: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::make_images(&dir.path().join("images"));
    std::fs::write(dir.path().join("spec.yaml"), common::SWEEP_SPEC).unwrap();
    std::fs::write(dir.path().join("sweep.yaml"), sweep).unwrap();
    dir
}

fn trial_folders(sweep: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sweep)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn compare_json(dir: &Path, path: &str) -> Vec<Value> {
    let out = runner(dir, &["compare", path, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

const GRID: &str = "spec: spec.yaml
parameters:
  model.nodes.drop.rate: [0.0, 0.5]
  phases.head.optimizer.adam.lr: [0.01, 0.3]
";

#[test]
fn a_grid_runs_every_trial_under_readable_names_and_compare_ranks_them() {
    let dir = setup(GRID);
    let out = runner(dir.path(), &["sweep", "sweep.yaml", "--jobs", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let sweep = dir.path().join("runs/sweep");
    assert_eq!(
        trial_folders(&sweep),
        [
            "001-rate=0,lr=0.01",
            "002-rate=0,lr=0.3",
            "003-rate=0.5,lr=0.01",
            "004-rate=0.5,lr=0.3"
        ]
    );
    let record: Value =
        serde_json::from_slice(&std::fs::read(sweep.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(record["trials"].as_array().unwrap().len(), 4);
    for trial in trial_folders(&sweep) {
        assert!(sweep.join(&trial).join("summary.json").is_file(), "{trial}");
    }

    // JSON: the swept parameters as columns, best first and marked, every run finished.
    let rows = compare_json(dir.path(), "runs/sweep");
    assert_eq!(rows.len(), 4);
    let best: Vec<f64> = rows
        .iter()
        .map(|r| r["best validation/accuracy"].as_f64().unwrap())
        .collect();
    assert!(best.windows(2).all(|w| w[0] >= w[1]), "{best:?}");
    assert_eq!(rows[0]["best"], true);
    assert!(rows[1..].iter().all(|r| r["best"] == false));
    assert!(rows.iter().all(|r| r["status"] == "finished"));
    assert!(rows.iter().any(|r| r["rate"] == "0.5" && r["lr"] == "0.01"));
    assert!(rows[0].get("epochs").is_some() && rows[0].get("seconds").is_some());

    // Table, markdown and CSV carry the same rows.
    let table = text(&runner(dir.path(), &["compare", "runs/sweep"]));
    assert!(
        table.lines().next().unwrap().starts_with("run  "),
        "{table}"
    );
    assert!(
        table.contains(&format!("* {}", rows[0]["run"].as_str().unwrap())),
        "{table}"
    );
    let markdown = text(&runner(
        dir.path(),
        &["compare", "runs/sweep", "--format", "markdown"],
    ));
    assert_eq!(
        markdown.lines().filter(|l| l.starts_with("| ")).count(),
        6,
        "{markdown}"
    );
    let csv = text(&runner(
        dir.path(),
        &["compare", "runs/sweep", "--format", "csv", "--sort", "rate"],
    ));
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("run,rate,lr,best validation/accuracy"),
        "{csv}"
    );
    assert!(
        lines[1].contains(",0,") && lines[4].contains(",0.5,"),
        "sorted by rate: {csv}"
    );
    // A plot of the curves and the metric against each parameter.
    let out = runner(dir.path(), &["compare", "runs/sweep", "--plot", "cmp.png"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        std::fs::read(dir.path().join("cmp.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );

    // Running it again runs nothing: every trial is finished.
    let before = std::fs::metadata(sweep.join("001-rate=0,lr=0.01/summary.json"))
        .unwrap()
        .modified()
        .unwrap();
    let again = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("4 of 4 trials finished earlier"),
        "{}",
        text(&again)
    );
    let after = std::fs::metadata(sweep.join("001-rate=0,lr=0.01/summary.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    let status = text(&runner(dir.path(), &["sweep", "sweep.yaml", "--status"]));
    assert_eq!(status.matches("finished").count(), 4, "{status}");
}

#[test]
fn a_failing_trial_is_recorded_the_others_finish_and_it_runs_again_next_time() {
    // Scaling pixels by 1e38 overflows to infinity: the loss is not a number from the first
    // batch on, which only shows when the trial runs.
    let dir = setup(
        "spec: spec.yaml
parameters:
  model.nodes.scale.scale: [0.00392156862745098, 1.0e38]
",
    );
    let out = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("1 trial(s) failed"), "{}", text(&out));
    let sweep = dir.path().join("runs/sweep");
    assert!(sweep.join("001-scale=3.92e-3/summary.json").is_file());
    let failed = sweep.join("002-scale=1e38");
    let error: Value =
        serde_json::from_slice(&std::fs::read(failed.join("error.json")).unwrap()).unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("the loss became"),
        "{error}"
    );
    let rows = compare_json(dir.path(), "runs/sweep");
    assert_eq!(rows[1]["status"], "failed");
    assert_eq!(rows[0]["status"], "finished");

    // Again: the failed trial runs again (and fails again), the finished one is skipped.
    let logged = std::fs::read_to_string(failed.join("run.log")).unwrap();
    let again = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let relogged = std::fs::read_to_string(failed.join("run.log")).unwrap();
    assert!(relogged.len() > logged.len(), "the failed trial ran again");
    assert!(
        text(&again).contains("1 of 2 trials finished earlier"),
        "{}",
        text(&again)
    );
}

#[test]
fn a_sweep_killed_mid_way_resumes_without_running_a_trial_twice() {
    let dir = setup(GRID);
    let mut child = Command::new(env!("CARGO_BIN_EXE_runner"))
        .current_dir(dir.path())
        .args(["sweep", "sweep.yaml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = dir
        .path()
        .join("runs/sweep/001-rate=0,lr=0.01/summary.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !first.is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first trial never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: the sweep process dies; a trial in flight goes on
    child.wait().unwrap();
    let out = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    let sweep = dir.path().join("runs/sweep");
    assert_eq!(trial_folders(&sweep).len(), 4, "no duplicate trial folders");
    for trial in trial_folders(&sweep) {
        let run = sweep.join(&trial);
        assert!(run.join("summary.json").is_file(), "{trial}");
        // One run per trial folder: a single "before training" evaluation in its log.
        let log = std::fs::read_to_string(run.join("run.log")).unwrap();
        assert_eq!(log.matches("before training").count(), 1, "{trial}: {log}");
    }
}

/// Runs a sweep of two dropout rates with two seeds each (4 trials, 2 at a time) in a new
/// folder, and checks that it succeeds.
fn run_seeded_sweep() -> tempfile::TempDir {
    let dir = setup(
        "spec: spec.yaml
seeds: [1, 2]
parameters:
  model.nodes.drop.rate: [0.0, 0.5]
",
    );
    let out = runner(dir.path(), &["sweep", "sweep.yaml", "--jobs", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    dir
}

#[test]
fn seed_replicates_are_shown_as_mean_and_spread() {
    let dir = run_seeded_sweep();
    let sweep = dir.path().join("runs/sweep");
    assert_eq!(
        trial_folders(&sweep),
        [
            "001-rate=0,seed=1",
            "002-rate=0,seed=2",
            "003-rate=0.5,seed=1",
            "004-rate=0.5,seed=2"
        ]
    );
    let rows = compare_json(dir.path(), "runs/sweep");
    assert_eq!(rows.len(), 2, "one row per configuration");
    for row in &rows {
        let cell = &row["best validation/accuracy"];
        assert_eq!(cell["n"], 2, "{row}");
        assert!(cell["std"].as_f64().unwrap() >= 0.0);
        assert_eq!(row["status"], "2 finished");
    }
    // The seed reached the spec: the two replicates' resolved specs differ only in it.
    let spec = |trial: &str| -> Value {
        serde_json::from_slice(
            &std::fs::read(sweep.join(trial).join("resolved_spec.json")).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(spec("001-rate=0,seed=1")["seed"], 1);
    assert_eq!(spec("002-rate=0,seed=2")["seed"], 2);
}

#[rstest::rstest]
#[case::unknown_path(
    "spec: spec.yaml\nparameters:\n  model.nodes.dorp.rate: [0.1]\n",
    "sweep.yaml:3:3",
    "did you mean `model.nodes.drop`?"
)]
#[case::empty_grid(
    "spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: []\n",
    "sweep.yaml:3:3",
    "has no values to try"
)]
#[case::zero_budget(
    "spec: spec.yaml\nmethod: random\ntrials: 0\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:3:9",
    "0"
)]
#[case::log_uniform_at_zero(
    "spec: spec.yaml\nmethod: random\ntrials: 2\nparameters:\n  phases.head.optimizer.adam.lr: {log_uniform: [0.0, 0.1]}\n",
    "sweep.yaml:5:3",
    "needs positive bounds"
)]
#[case::unlogged_metric(
    "spec: spec.yaml\nmetric: validation/auc\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:2:9",
    "no run of this sweep reports `validation/auc`"
)]
#[case::choice_makes_invalid_spec(
    "spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.1, 7.5]\n",
    "sweep.yaml:3:3",
    "a trial of this sweep makes an invalid spec"
)]
#[case::range_in_a_grid(
    "spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: {uniform: [0.0, 0.5]}\n",
    "sweep.yaml:3:3",
    "a grid needs listed values"
)]
#[case::too_many_runs(
    "spec: spec.yaml\nmax_runs: 2\nparameters:\n  model.nodes.drop.rate: [0.0, 0.1, 0.2]\n",
    "sweep.yaml:4:3",
    "the sweep makes 3 runs, more than its `max_runs` (2)"
)]
#[case::prune_without_rule(
    "spec: spec.yaml\nprune: {metric: validation/loss}\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:2:8",
    "`prune` names no rule"
)]
#[case::prune_metric_not_per_epoch(
    "spec: spec.yaml\nmetric: seconds\ngoal: min\nprune: {median: {}}\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:4:8",
    "set `prune.metric`"
)]
#[case::prune_metric_unknown(
    "spec: spec.yaml\nprune:\n  metric: validation/los\n  asha: {}\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:3:11",
    "did you mean `validation/loss`?"
)]
#[case::asha_factor_below_two(
    "spec: spec.yaml\nprune: {asha: {reduction_factor: 1}}\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:2",
    "reduction_factor"
)]
#[case::duplicate_seeds(
    "spec: spec.yaml\nseeds: [1, 2, 1]\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:2:8",
    "`seeds` lists the same value twice (1)"
)]
#[case::no_seeds(
    "spec: spec.yaml\nseeds: []\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:2:8",
    "`seeds` needs at least 1 item(s)"
)]
#[case::spec_is_a_sweep(
    "spec: sweep.yaml\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:1:7",
    "`sweep.yaml` is a sweep file, not an experiment spec"
)]
#[case::slurm_time_in_words(
    "spec: spec.yaml\nexecutor: {time: 2 hours}\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:2:18",
    "did you mean `2:00:00`?"
)]
#[case::slurm_memory_with_bytes(
    "spec: spec.yaml\nexecutor: {mem_per_trial: 16GB}\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:2:27",
    "`mem_per_trial` must be a Slurm memory size, found `16GB`"
)]
#[case::unknown_key(
    "spec: spec.yaml\nmethdo: grid\nparameters:\n  model.nodes.drop.rate: [0.1]\n",
    "sweep.yaml:2:1",
    "did you mean"
)]
fn bad_sweeps_are_located_errors_before_anything_runs(
    #[case] sweep: &str,
    #[case] location: &str,
    #[case] message: &str,
) {
    let dir = setup(sweep);
    let out = runner(dir.path(), &["sweep", "sweep.yaml"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains(location), "expected {location} in:\n{all}");
    assert!(all.contains(message), "expected `{message}` in:\n{all}");
    assert!(!dir.path().join("runs").exists(), "nothing ran:\n{all}");
}

#[test]
fn compare_says_when_a_folder_holds_no_runs_and_shows_unfinished_runs() {
    let dir = setup(GRID);
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let out = runner(dir.path(), &["compare", "empty"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("holds no runs of runner"),
        "{}",
        text(&out)
    );
    // A sweep whose trials have not run shows them as pending, with their parameters
    // (from sweep.json: the trial folders do not exist yet).
    let out = runner(dir.path(), &["sweep", "sweep.yaml", "--status"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches("pending").count(), 4, "{}", text(&out));
    let rows = compare_json(dir.path(), "runs/sweep");
    let params: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "pending", "{r}");
            assert_eq!(r["best"], false, "{r}");
            (
                r["run"].as_str().unwrap(),
                r["rate"].as_str().unwrap(),
                r["lr"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        params,
        [
            ("001-rate=0,lr=0.01", "0", "0.01"),
            ("002-rate=0,lr=0.3", "0", "0.3"),
            ("003-rate=0.5,lr=0.01", "0.5", "0.01"),
            ("004-rate=0.5,lr=0.3", "0.5", "0.3")
        ]
    );
}

/// Two good learning rates and one that barely moves the weights (1e-9): with the median
/// rule on the validation loss, the third trial is behind both finished ones after its
/// warm-up epoch.
const PRUNED_GRID: &str = "phases.head.optimizer.adam.lr: [0.05, 0.1, 1.0e-9]
prune:
  metric: validation/loss
  median: {warmup_epochs: 1, min_trials: 2}
";

/// Per-epoch metrics and final results of a trial, without its timings.
fn results(trial: &Path) -> (Vec<Value>, Value) {
    let epochs = std::fs::read_to_string(trial.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut record: Value = serde_json::from_str(line).unwrap();
            let record_map = record.as_object_mut().unwrap();
            record_map.remove("seconds");
            record_map.remove("images_per_second");
            record
        })
        .collect();
    let summary: Value =
        serde_json::from_slice(&std::fs::read(trial.join("summary.json")).unwrap()).unwrap();
    let finals = serde_json::json!([
        summary["final_validation"],
        summary["best_validation_accuracy"],
        summary["final_train"]
    ]);
    (epochs, finals)
}

#[test]
fn a_trial_behind_the_others_is_pruned_and_the_others_are_unchanged() {
    let dir = setup(&format!("spec: spec.yaml\nparameters:\n  {PRUNED_GRID}"));
    std::fs::write(
        dir.path().join("plain.yaml"),
        "spec: spec.yaml\nparameters:\n  phases.head.optimizer.adam.lr: [0.05, 0.1]\n",
    )
    .unwrap();
    let out = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    let sweep = dir.path().join("runs/sweep");
    let bad = sweep.join("003-lr=1e-9");
    let pruned: Value =
        serde_json::from_slice(&std::fs::read(bad.join("pruned.json")).unwrap()).unwrap();
    assert_eq!(pruned["rule"], "median", "{pruned}");
    assert_eq!(
        pruned["epoch"], 2,
        "judged after its warm-up epoch: {pruned}"
    );
    assert_eq!(pruned["compared"], 2, "{pruned}");
    assert!(
        pruned["value"].as_f64().unwrap() > pruned["threshold"].as_f64().unwrap(),
        "{pruned}"
    );
    assert!(!bad.join("summary.json").exists(), "stopped before its end");
    assert!(bad.join("checkpoint.json").is_file(), "resumable by hand");
    assert_eq!(
        std::fs::read_to_string(bad.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );
    assert!(text(&out).contains("003-lr=1e-9 pruned by the `median` rule after epoch 2"));
    // Its TensorBoard HParams session ended (not left running), as TensorBoard reads it.
    let events = common::tensorboard::read_back(&bad);
    assert_eq!(
        events["hparams"]["_hparams_/session_end_info"]["status"], "STATUS_FAILURE",
        "{}",
        events["hparams"]
    );

    // The good trials give exactly what a sweep without pruning gives.
    let out = runner(dir.path(), &["sweep", "plain.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    for (with, without) in [("001-lr=0.05", "001-lr=0.05"), ("002-lr=0.1", "002-lr=0.1")] {
        assert_eq!(
            results(&sweep.join(with)),
            results(&dir.path().join("runs/plain").join(without)),
            "{with}"
        );
    }

    // Compare: the pruned trial with its last metrics, never the best, after the others.
    let rows = compare_json(dir.path(), "runs/sweep");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["run"], "003-lr=1e-9");
    assert_eq!(rows[2]["status"], "pruned");
    assert_eq!(rows[2]["best"], false);
    assert_eq!(rows[2]["epochs"], 2.0);
    assert_eq!(rows[2]["lr"], "1e-9");
    assert!(
        rows[2]["final validation/accuracy"].is_number(),
        "{}",
        rows[2]
    );
    assert!(rows[..2].iter().all(|r| r["status"] == "finished"));
    assert_eq!(rows[0]["best"], true);
    let table = text(&runner(dir.path(), &["compare", "runs/sweep"]));
    let line = table.lines().find(|l| l.contains("003-lr=1e-9")).unwrap();
    assert!(line.trim_end().ends_with("pruned"), "{table}");

    // Running the sweep again runs nothing: the pruned trial is not tried again.
    let log = std::fs::read_to_string(bad.join("run.log")).unwrap();
    let again = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("3 of 3 trials finished earlier (1 of them pruned)"),
        "{}",
        text(&again)
    );
    assert_eq!(std::fs::read_to_string(bad.join("run.log")).unwrap(), log);

    // `runner resume` trains a pruned trial to its end.
    let out = runner(dir.path(), &["resume", "runs/sweep/003-lr=1e-9"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(bad.join("summary.json").is_file());
    assert!(!bad.join("pruned.json").exists());
    let rows = compare_json(dir.path(), "runs/sweep");
    assert!(rows.iter().all(|r| r["status"] == "finished"), "{rows:?}");
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET` or `POST` (with a JSON body) to TensorBoard on `port`; the JSON answer.
fn tensorboard_api(port: u16, path: &str, body: Option<&str>) -> Option<Value> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = match body {
        Some(body) => format!(
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        None => format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
    };
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    serde_json::from_str(body).ok()
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn tensorboard_serves_the_sweep_with_its_parameters_in_the_hparams_view() {
    let dir = run_seeded_sweep();
    let logdir: PathBuf = dir.path().join("runs/sweep");
    let port = free_port();
    let python = common::tensorboard::python();
    let _server = Server(
        Command::new(&python)
            .args(["-m", "tensorboard.main", "--logdir"])
            .arg(&logdir)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--load_fast",
                "false",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    // Runs: every trial, by its readable folder name.
    let runs = loop {
        if let Some(Value::Array(runs)) = tensorboard_api(port, "/data/runs", None)
            && runs.len() >= 4
        {
            break runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "TensorBoard never listed the runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert!(runs.iter().any(|r| r == "001-rate=0,seed=1"), "{runs:?}");
    let tags = tensorboard_api(port, "/data/plugin/scalars/tags", None).unwrap();
    assert!(
        tags["003-rate=0.5,seed=1"]
            .get("validation/accuracy")
            .is_some(),
        "{tags}"
    );

    // HParams: the swept parameter with its domain, the seed, the metrics.
    let experiment = tensorboard_api(
        port,
        "/data/plugin/hparams/experiment",
        Some(r#"{"experimentName": ""}"#),
    )
    .unwrap();
    let infos = experiment["hparamInfos"].as_array().unwrap();
    let rate = infos.iter().find(|h| h["name"] == "rate").expect("rate");
    assert_eq!(
        rate["domainDiscrete"],
        serde_json::json!([0.0, 0.5]),
        "{rate}"
    );
    assert!(infos.iter().any(|h| h["name"] == "seed"), "{infos:?}");
    let metrics: Vec<&Value> = experiment["metricInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["name"]["tag"])
        .collect();
    assert!(
        metrics.contains(&&Value::from("validation/accuracy")),
        "{metrics:?}"
    );
    // Sessions: seed replicates grouped, so two groups of two sessions.
    let groups = tensorboard_api(
        port,
        "/data/plugin/hparams/session_groups",
        Some(r#"{"experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"], "colParams": [], "startIndex": 0, "sliceSize": 100}"#),
    )
    .unwrap();
    let groups = groups["sessionGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(
        groups
            .iter()
            .all(|g| g["sessions"].as_array().unwrap().len() == 2),
        "{groups:?}"
    );
}

#[test]
fn ctrl_c_stops_the_trials_with_checkpoints_and_the_same_command_goes_on() {
    let dir = setup("spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.0]\n");
    let args = ["sweep", "sweep.yaml", "--set", "phases.head.epochs=2000"];
    let child = Command::new(env!("CARGO_BIN_EXE_runner"))
        .current_dir(dir.path())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let trial = dir.path().join("runs/sweep/001-rate=0");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::read_to_string(trial.join("metrics.jsonl")).map_or(0, |t| t.lines().count()) < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the trial never trained"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SIGINT to the sweep alone (its trials run in their own process group).
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(
        text(&out).contains("run the same `runner sweep` command again"),
        "{}",
        text(&out)
    );
    assert!(trial.join("checkpoint.json").is_file());
    assert!(
        !trial.join("summary.json").exists(),
        "stopped before its end"
    );
    let again = runner(dir.path(), &args);
    assert!(again.status.success(), "{}", text(&again));
    assert!(trial.join("summary.json").is_file());
    let log = std::fs::read_to_string(trial.join("run.log")).unwrap();
    assert!(log.contains("resuming"), "{log}");
}

/// TPE learns from pruned trials too: a trial stopped for falling behind counts with its last
/// value of the sweep's metric (as in Optuna), and the sweep log says so.
#[test]
fn tpe_counts_a_pruned_trial_at_its_last_value() {
    let dir = setup(
        "spec: spec.yaml
method: tpe
trials: 5
sampler_seed: 1
parameters:
  phases.head.optimizer.adam.lr: {choice: [0.05, 0.1, 1.0e-9]}
prune:
  metric: validation/loss
  median: {warmup_epochs: 1, min_trials: 2}
",
    );
    let out = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    let log = text(&out);
    let line = log
        .lines()
        .find(|l| l.contains("004-lr=1e-9: pruned by the `median` rule"))
        .unwrap_or_else(|| {
            panic!("sampler seed 1 draws 1e-9 fourth, after three good trials:\n{log}")
        });
    assert!(
        line.ends_with("; TPE counts it at its last validation/accuracy 0.5000"),
        "{line}"
    );
}

#[rstest::rstest]
#[case::no_jobs(&["sweep", "sweep.yaml", "--jobs", "0"], 2, "0 is not in 1..")]
#[case::device_not_here(&["sweep", "sweep.yaml", "--device", "wgpu:7"], 1, "wgpu:7")]
#[case::device_not_built(&["sweep", "sweep.yaml", "--device", "tch-cpu"], 1, "--features tch")]
fn bad_sweep_arguments_are_refused_before_anything_runs(
    #[case] args: &[&str],
    #[case] code: i32,
    #[case] message: &str,
) {
    let dir = setup(GRID);
    let out = runner(dir.path(), args);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(code), "{all}");
    assert!(all.contains(message), "expected `{message}` in:\n{all}");
    assert!(!dir.path().join("runs").exists(), "nothing ran:\n{all}");
}

#[test]
fn a_sweep_file_with_a_byte_order_mark_reads_like_one_without() {
    let dir = setup(&format!("\u{feff}{GRID}"));
    let out = runner(dir.path(), &["validate", "sweep.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[rstest::rstest]
#[case::unknown_metric(&["compare", "runs/sweep", "--metric", "validation/acuracy"], "no run here has the metric `validation/acuracy`: did you mean `validation/accuracy`?")]
#[case::a_file(&["compare", "sweep.yaml"], "sweep.yaml is a file, not a folder: give run folders")]
#[case::nothing(&["compare", "runs/nothere"], "runs/nothere is not there")]
fn compare_refuses_what_it_cannot_compare(#[case] args: &[&str], #[case] message: &str) {
    let dir = setup("spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.0]\n");
    assert!(
        runner(dir.path(), &["sweep", "sweep.yaml"])
            .status
            .success()
    );
    let out = runner(dir.path(), args);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains(message), "expected `{message}` in:\n{all}");
}

/// The rows' values of `column`, best (first) row first.
fn column(rows: &[Value], column: &str) -> Vec<f64> {
    rows.iter()
        .map(|r| r[column].as_f64().unwrap_or_else(|| panic!("{r}")))
        .collect()
}

#[test]
fn a_loss_ranks_lowest_first_in_compare_and_in_a_sweep_without_goal() {
    let dir = setup(
        "spec: spec.yaml\nmetric: validation/loss\nparameters:\n  phases.head.optimizer.adam.lr: [0.0001, 0.3]\n",
    );
    let out = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("runs/sweep/sweep.json")).unwrap())
            .unwrap();
    assert_eq!(record["goal"], "min", "a loss is minimised without `goal`");
    let losses = column(
        &compare_json(dir.path(), "runs/sweep"),
        "final validation/loss",
    );
    assert!(losses[0] < losses[1], "lowest loss first: {losses:?}");
    // The same from `compare --metric` over runs of no sweep (the experiment's folder).
    let out = runner(
        dir.path(),
        &[
            "compare",
            "runs/sweep/001-lr=1e-4",
            "runs/sweep/002-lr=0.3",
            "--metric",
            "validation/loss",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let losses = column(&rows, "final validation/loss");
    assert!(losses[0] < losses[1], "lowest loss first: {losses:?}");
    // Accuracy still ranks highest first.
    let out = runner(
        dir.path(),
        &[
            "compare",
            "runs/sweep/001-lr=1e-4",
            "runs/sweep/002-lr=0.3",
            "--metric",
            "train/loss",
            "--goal",
            "max",
            "--format",
            "json",
        ],
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let losses = column(&rows, "final train/loss");
    assert!(losses[0] > losses[1], "--goal max wins: {losses:?}");
}

#[test]
fn configurations_whose_values_read_alike_stay_apart() {
    // Two augmentation lists with the same short label (`horizontalxmapping`).
    let dir = setup(
        "spec: spec.yaml\nparameters:\n  data.augment:\n    - [{flip: horizontal}, {rotate: 0.1}]\n    - [{flip: horizontal}, {rotate: 0.3}]\n",
    );
    let out = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    let rows = compare_json(dir.path(), "runs/sweep");
    assert_eq!(rows.len(), 2, "two configurations, two rows: {rows:?}");
    let augment: Vec<&str> = rows
        .iter()
        .map(|r| r["augment"].as_str().unwrap())
        .collect();
    assert_ne!(
        augment[0], augment[1],
        "told apart in the table: {augment:?}"
    );
    let table = text(&out);
    assert!(
        !table.contains("seeds)"),
        "not merged as replicates:\n{table}"
    );
}

#[test]
fn a_damaged_sweep_record_says_how_to_go_on_and_that_works() {
    let dir = setup(GRID);
    assert!(
        runner(dir.path(), &["sweep", "sweep.yaml"])
            .status
            .success()
    );
    let record = dir.path().join("runs/sweep/sweep.json");
    std::fs::write(&record, "{\"version\": 1, \"trials\": [").unwrap();
    let out = runner(dir.path(), &["sweep", "sweep.yaml"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let advice = format!(
        "mv {0} {0}.damaged",
        Path::new("runs/sweep/sweep.json").display()
    );
    assert!(all.contains(&advice), "expected `{advice}` in:\n{all}");
    // Following the advice: the record is rebuilt and no trial runs again.
    std::fs::rename(&record, record.with_extension("json.damaged")).unwrap();
    let again = runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("4 of 4 trials finished earlier"),
        "{}",
        text(&again)
    );
}

/// Runs `runner ARGS` in `dir` with its stdout a pipe nobody reads (closed before it writes).
fn with_closed_stdout(dir: &Path, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    common::runner_command(dir)
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[rstest::rstest]
#[case::compare(&["compare", "runs/sweep"])]
#[case::compare_json(&["compare", "runs/sweep", "--format", "json"])]
#[case::sweep_status(&["sweep", "sweep.yaml", "--status"])]
#[case::devices(&["devices"])]
#[case::devices_json(&["devices", "--json"])]
fn a_closed_stdout_ends_the_command_quietly(#[case] args: &[&str]) {
    use std::os::unix::process::ExitStatusExt;
    let dir = setup("spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.0]\n");
    assert!(
        runner(dir.path(), &["sweep", "sweep.yaml"])
            .status
            .success()
    );
    let out = with_closed_stdout(dir.path(), args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(13),
        "ended by SIGPIPE: {:?}\n{stderr}",
        out.status
    );
}
