//! Regression checks end to end through the `runner` binary on tiny generated images:
//! thresholds, baselines and tolerances, a deliberately broken run failing against the
//! baseline (exit 1, a JUnit failure), every exit code, seed replicates of a sweep, the
//! markdown report, unknown metric names at `runner validate`, and the copyable CI workflows
//! (they parse, and every `runner` command in them has valid arguments).

mod common;

use common::{runner, text};

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use rstest::rstest;
use std::path::{Path, PathBuf};

/// A folder with the images and `spec.yaml` = the sweep tests' spec (a faster head) plus
/// `checks`.
fn setup(checks: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::make_images(&dir.path().join("images"));
    let spec = common::SWEEP_SPEC.replace("lr: 0.05", "lr: 0.5");
    std::fs::write(dir.path().join("spec.yaml"), format!("{spec}{checks}")).unwrap();
    dir
}

/// Runs the spec (with `overrides`) and returns its run folder.
fn train(dir: &Path, overrides: &[&str]) -> PathBuf {
    let mut args = vec!["run", "spec.yaml", "-q"];
    for o in overrides {
        args.extend(["--set", o]);
    }
    let out = runner(dir, &args);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run folder: "))
        .expect("run folder printed");
    dir.join(line)
}

fn junit(path: &Path) -> Report {
    Report::deserialize_from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (test case name, failure message) of every failed test case.
fn failures(report: &Report) -> Vec<(String, String)> {
    report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .filter_map(|c| match &c.status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                message,
                ..
            } => Some((
                c.name.to_string(),
                message.as_ref().map(|m| m.to_string()).unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn cases(report: &Report) -> usize {
    report.test_suites.iter().map(|s| s.test_cases.len()).sum()
}

#[rstest]
#[case("validation/accuracy: '>= 0.9'", 0, "pass")]
#[case("validation/accuracy: '>= 1.01'", 1, "fail")]
#[case("validation/loss: '< 0.0001'", 1, "fail")]
#[case(
    "validation/loss: {threshold: '< 0.0001', informational: true}",
    0,
    "warn"
)]
#[case("epochs: '<= 3'", 0, "pass")]
fn thresholds_decide_the_exit_code(#[case] check: &str, #[case] code: i32, #[case] verdict: &str) {
    let dir = setup(&format!("checks:\n  {check}\n"));
    let run = train(dir.path(), &[]);
    let junit_file = dir.path().join("reports/junit.xml");
    let out = runner(
        dir.path(),
        &[
            "check",
            run.to_str().unwrap(),
            "--junit",
            junit_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(verdict),
        "{}",
        text(&out)
    );
    let report = junit(&junit_file);
    assert_eq!(cases(&report), 1);
    assert_eq!(failures(&report).len(), usize::from(code == 1));
}

#[test]
fn a_broken_run_fails_against_the_baseline() {
    let dir = setup(
        "checks:\n  validation/accuracy: {baseline: base.json, max_drop: 0.01}\n  validation/loss: {baseline: base.json, max_drop: 0.01}\n  seconds: {baseline: base.json, rel: 0.5, informational: true}\n",
    );
    let good = train(dir.path(), &[]);
    let out = runner(
        dir.path(),
        &["baseline", good.to_str().unwrap(), "--out", "base.json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let baseline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("base.json")).unwrap())
            .unwrap();
    for key in ["spec_hash", "data_hash", "device", "groups"] {
        assert!(!baseline[key].is_null(), "{key} in {baseline}");
    }
    assert!(baseline["device"]["burn_version"].is_string());

    // The same deterministic run passes against its own baseline.
    let out = runner(
        dir.path(),
        &["check", good.to_str().unwrap(), "--markdown", "ok.md"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("warning"), "{}", text(&out));
    let md = std::fs::read_to_string(dir.path().join("ok.md")).unwrap();
    assert!(md.starts_with("### runner check: PASS"), "{md}");
    assert!(
        md.contains("| check | baseline | current | change | rel | tolerance | verdict | note |"),
        "{md}"
    );
    assert!(md.contains("✅ pass"), "{md}");

    // A learning rate 1000x too low (nothing learns), checked in the same command as the run.
    let out = runner(
        dir.path(),
        &[
            "run",
            "spec.yaml",
            "-q",
            "--set",
            "phases.head.optimizer.adam.lr=0.0005",
            "--check",
            "--junit",
            "bad.xml",
            "--markdown",
            "bad.md",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out_text = text(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: the baseline came from a different spec"),
        "on stderr, not in the report on stdout: {out_text}"
    );
    let failed = failures(&junit(&dir.path().join("bad.xml")));
    assert!(
        failed
            .iter()
            .any(|(name, message)| name == "validation/loss" && message.contains("worse by")),
        "{failed:?}\n{out_text}"
    );
    assert!(
        failed.iter().all(|(name, _)| name != "seconds"),
        "informational never fails"
    );
    let md = std::fs::read_to_string(dir.path().join("bad.md")).unwrap();
    assert!(md.starts_with("### runner check: FAIL"), "{md}");
    assert!(
        md.contains("❌ fail")
            && md.contains("> **warning:** the baseline came from a different spec"),
        "{md}"
    );

    // --baseline takes a run folder too: the good run against the bad one passes (it is better).
    let bad = std::fs::read_dir(dir.path().join("runs/tiny"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p != &good)
        .unwrap();
    let out = runner(
        dir.path(),
        &[
            "check",
            good.to_str().unwrap(),
            "--baseline",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[rstest]
#[case::no_run(&["check", "runs/none"], "is not a run folder")]
#[case::no_baseline_file(&["check", "RUN", "--baseline", "missing.json"], "cannot read it")]
#[case::bad_baseline_file(&["check", "RUN", "--baseline", "spec.yaml"], "not a baseline file")]
#[case::baseline_named_in_the_check_missing(&["check", "RUN"], "missing")]
fn what_cannot_be_evaluated_exits_2(#[case] args: &[&str], #[case] message: &str) {
    let dir = setup("checks:\n  validation/loss: {baseline: gone.json, rel: 0.1}\n");
    let run = train(dir.path(), &[]);
    let args: Vec<&str> = args
        .iter()
        .map(|a| {
            if *a == "RUN" {
                run.to_str().unwrap()
            } else {
                a
            }
        })
        .collect();
    let out = runner(dir.path(), &args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains(message), "{}", text(&out));
}

#[test]
fn a_metric_the_run_lacks_is_missing_and_exits_2() {
    // A spec whose check names `test/accuracy` is rejected; the stored spec of a run is not
    // re-validated, so simulate an old run by checking a metric its summary does not hold.
    let dir = setup("checks:\n  best/epoch: '>= 1'\n");
    let run = train(dir.path(), &[]);
    let summary_file = run.join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_file).unwrap()).unwrap();
    summary["best_validation_accuracy"] = serde_json::Value::Null;
    std::fs::write(&summary_file, summary.to_string()).unwrap();
    let junit_file = dir.path().join("j.xml");
    let out = runner(
        dir.path(),
        &[
            "check",
            run.to_str().unwrap(),
            "--junit",
            junit_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let report = junit(&junit_file);
    let case = &report.test_suites[0].test_cases[0];
    assert!(matches!(
        case.status,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            ..
        }
    ));
}

#[test]
fn a_spec_without_checks_cannot_be_checked() {
    let dir = setup("");
    let run = train(dir.path(), &[]);
    let out = runner(dir.path(), &["check", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("has no `checks:`"), "{}", text(&out));
}

#[test]
fn unknown_metric_names_are_located_errors_with_did_you_mean() {
    let dir = setup("checks:\n  val_accuracy: '>= 0.9'\n");
    let out = runner(dir.path(), &["validate", "spec.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = text(&out);
    // The line of the misspelt key.
    let spec = std::fs::read_to_string(dir.path().join("spec.yaml")).unwrap();
    let line = spec
        .lines()
        .position(|l| l.contains("val_accuracy"))
        .unwrap()
        + 1;
    assert!(err.contains(&format!("spec.yaml:{line}:3")), "{err}");
    assert!(err.contains("did you mean `validation/accuracy`?"), "{err}");
}

#[test]
fn seed_replicates_are_compared_by_their_mean() {
    let dir = setup("checks:\n  validation/loss: {baseline: base.json, max_drop: 0.0}\n");
    std::fs::write(
        dir.path().join("sweep.yaml"),
        "spec: spec.yaml\nmetric: validation/accuracy\nseeds: [1, 2, 3]\nparameters:\n  phases.head.epochs: [2]\n",
    )
    .unwrap();
    let out = runner(dir.path(), &["sweep", "sweep.yaml", "--jobs", "2", "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    let sweep = dir.path().join("runs/sweep");
    let out = runner(
        dir.path(),
        &["baseline", sweep.to_str().unwrap(), "--out", "base.json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let baseline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("base.json")).unwrap())
            .unwrap();
    let groups = baseline["groups"].as_object().unwrap();
    assert_eq!(groups.len(), 1, "one configuration: {groups:?}");
    let loss = &groups.values().next().unwrap()["validation/loss"];
    assert_eq!(loss["n"], 3);
    assert!(loss["std"].as_f64().unwrap() > 0.0, "seeds differ: {loss}");
    let out = runner(dir.path(), &["check", sweep.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(n=3)")
            || String::from_utf8_lossy(&out.stdout).contains("(3)"),
        "{}",
        text(&out)
    );
}

/// The shell commands of a workflow (GitHub's `run:` steps, GitLab's `script:` lines) as
/// parsed by runner's YAML parser; of those, every `target/release/runner` command line split
/// into arguments (shell variables and globs replaced by sample values).
fn runner_commands(yaml: &Path) -> Vec<Vec<String>> {
    fn shell(value: &serde_json::Value, key: &str, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s) if key == "run" || key == "script" => out.push(s.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| shell(v, key, out)),
            serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| shell(v, k, out)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(yaml).unwrap();
    let (document, _) = runner::spec::yaml::parse(&text)
        .unwrap_or_else(|d| panic!("{} does not parse: {d:?}", yaml.display()));
    let mut scripts = Vec::new();
    shell(&document, "", &mut scripts);
    scripts
        .iter()
        .flat_map(|script| {
            script
                .replace("\\\n", " ")
                .lines()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("target/release/runner ")
                        .map(String::from)
                })
                .collect::<Vec<_>>()
        })
        .map(|c| {
            c.split_whitespace()
                .map(|a| {
                    a.trim_matches('"')
                        .replace("$SPEC", "ci/regression/tiny_transfer.yaml")
                        .replace('*', "x")
                })
                .collect()
        })
        .collect()
}

#[rstest]
#[case("ci/github-actions.yml")]
#[case("ci/gitlab-ci.yml")]
fn workflows_parse_and_call_runner_with_valid_arguments(#[case] file: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let commands = runner_commands(&root.join(file));
    let names: Vec<&str> = commands.iter().map(|c| c[0].as_str()).collect();
    for sub in ["validate", "run", "check"] {
        assert!(
            names.contains(&sub),
            "{file} runs `runner {sub}`: {commands:?}"
        );
    }
    for args in &commands {
        // `--help` after the arguments: clap parses (and rejects) every flag before it, and
        // prints help instead of doing the work. A wrong flag is exit 2.
        let mut with_help = args.clone();
        with_help.push("--help".into());
        let out = runner(
            root,
            &with_help.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(
            out.status.success(),
            "{file}: runner {}: {}",
            args.join(" "),
            text(&out)
        );
    }
    // The check itself fails for a wrong flag.
    let out = runner(root, &["check", "x", "--junitt", "j.xml", "--help"]);
    assert_eq!(out.status.code(), Some(2));
}

#[rstest]
#[case::negative(&["--sigmas", "-1"])]
#[case::not_a_number(&["--sigmas", "NaN"])]
#[case::infinite(&["--sigmas", "inf"])]
fn check_refuses_a_meaningless_number_of_sigmas(#[case] args: &[&str]) {
    let dir = setup("checks: {validation/accuracy: '>= 0.5'}\n");
    let run = train(dir.path(), &[]);
    let mut all = vec!["check", run.to_str().unwrap()];
    all.extend(args);
    let out = runner(dir.path(), &all);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is not a number of standard deviations: give 0 or more"),
        "{}",
        text(&out)
    );
}

#[test]
fn checking_a_run_still_training_says_to_wait_not_to_resume() {
    let dir = setup("checks: {validation/accuracy: '>= 0.5'}\n");
    std::fs::write(
        dir.path().join("spec.yaml"),
        std::fs::read_to_string(dir.path().join("spec.yaml"))
            .unwrap()
            .replace("epochs: 3", "epochs: 100000"),
    )
    .unwrap();
    let mut child = common::runner_command(dir.path())
        .args(["run", "spec.yaml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let runs = dir.path().join("runs/tiny");
    let run = loop {
        let found = std::fs::read_dir(&runs)
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path());
        if let Some(run) = found.filter(|r| r.join("metrics.jsonl").is_file()) {
            break run;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = runner(dir.path(), &["check", run.to_str().unwrap()]);
    child.kill().unwrap();
    child.wait().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("is still training (process"), "{all}");
    assert!(!all.contains("runner resume"), "{all}");
}
