//! Sweeps on a real Slurm cluster: `../shared/tools/slurm/start-local-slurm.sh` starts one
//! (slurmctld + slurmd + munge on 127.0.0.1, installing Debian's packages when missing) for this
//! test binary, on its own port and state folder; a watchdog stops and deletes it when the
//! binary exits. The tests take turns on it. They fail, never skip, when it cannot start.
//!
//! What is checked: a sweep through Slurm gives the local executor's results and is never
//! submitted twice; a trial warned before its time limit checkpoints, requeues itself and
//! resumes to the uninterrupted result; `--status` and `--cancel`; a failing trial's log tail;
//! clear errors for no `sbatch`, an unreachable controller and a rejected submission.

mod common;

use common::text;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The sweep file's Slurm settings: one CPU per trial, a quick look at the queue.
const EXECUTOR: &str = "executor: {kind: slurm, cpus_per_trial: 1, poll_seconds: 1}\n";

/// The local cluster: its `SLURM_CONF`, and the process that stops it after this binary.
struct Cluster {
    conf: PathBuf,
    _watchdog: std::process::Child,
}

/// Starts the cluster once for this binary (and the watchdog that stops it), then hands it to
/// one test at a time.
fn cluster() -> (&'static Cluster, MutexGuard<'static, ()>) {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let cluster = CLUSTER.get_or_init(start_cluster);
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    (cluster, turn)
}

fn start_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/slurm/start-local-slurm.sh")
}

fn start_cluster() -> Cluster {
    let script = start_script();
    assert!(
        script.is_file(),
        "the local Slurm cluster script is missing: {} (the repository's ../shared/tools/slurm)",
        script.display()
    );
    // A short path: Slurm's and munge's socket paths are limited to 108 bytes.
    let state = std::env::temp_dir().join(format!("runner-slurm-{}", std::process::id()));
    let port = free_port_pair();
    let started = Instant::now();
    let out = Command::new(&script)
        .args(["start", state.to_str().unwrap()])
        .env("LOCAL_SLURM_PORT", port.to_string())
        .env("LOCAL_SLURM_CPUS", "2")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the local Slurm cluster did not start ({}): it needs Debian's slurm-wlm and munge (ci/setup.sh installs them; the script installs them as root). Its output:\n{}",
        script.display(),
        text(&out)
    );
    eprintln!(
        "local Slurm cluster up in {:.1} s (port {port}, state {})",
        started.elapsed().as_secs_f64(),
        state.display()
    );
    // Stop and delete it once this test binary has exited, however it exits.
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; '{script}' purge '{state}' >/dev/null 2>&1",
            pid = std::process::id(),
            script = script.display(),
            state = state.display()
        ))
        .env("LOCAL_SLURM_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Cluster {
        conf: state.join("etc/slurm.conf"),
        _watchdog: watchdog,
    }
}

/// A port P with P+1 free too (slurmctld and slurmd).
fn free_port_pair() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 65535 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

impl Cluster {
    /// `runner ARGS` in `dir`, with this cluster's configuration.
    fn runner(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir, args).output().unwrap()
    }

    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
        command
            .current_dir(dir)
            .env_remove("RUNNER_LOG")
            .env("SLURM_CONF", &self.conf)
            .args(args);
        command
    }

    /// A Slurm client command with this cluster's configuration; its stdout.
    fn slurm(&self, command: &str, args: &[&str]) -> String {
        let out = Command::new(command)
            .env("SLURM_CONF", &self.conf)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{command} {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// True while Slurm still has a queued or running task of this job array.
    fn busy(&self, array: &str) -> bool {
        let listing = self.slurm("squeue", &["--noheader", "--array", "--format=%i %T"]);
        listing
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{array}_")))
    }
}

/// A folder with the images, `spec.yaml` and `sweep.yaml` (`sweep` is its text).
fn setup(sweep: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::make_images(&dir.path().join("images"));
    std::fs::write(dir.path().join("spec.yaml"), common::SWEEP_SPEC).unwrap();
    std::fs::write(dir.path().join("sweep.yaml"), sweep).unwrap();
    dir
}

/// Each trial's final training and validation metrics and its best epoch, by trial name.
fn results(sweep: &Path) -> Vec<(String, Value)> {
    let record: Value =
        serde_json::from_slice(&std::fs::read(sweep.join("sweep.json")).unwrap()).unwrap();
    record["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let name = t["name"].as_str().unwrap().to_string();
            let summary: Value = serde_json::from_slice(
                &std::fs::read(sweep.join(&name).join("summary.json"))
                    .unwrap_or_else(|e| panic!("{name} has no summary: {e}")),
            )
            .unwrap();
            let numbers = [
                "final_train",
                "final_validation",
                "best_validation_accuracy",
            ]
            .map(|key| summary[key].clone());
            (name, Value::from(numbers.to_vec()))
        })
        .collect()
}

/// The job arrays `slurm.json` records.
fn arrays(sweep: &Path) -> Vec<String> {
    let record: Value =
        serde_json::from_slice(&std::fs::read(sweep.join("slurm.json")).unwrap()).unwrap();
    record["arrays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["job_id"].as_str().unwrap().to_string())
        .collect()
}

fn wait_for(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_sweep_through_slurm_gives_the_local_results_and_is_never_submitted_twice() {
    let (cluster, _turn) = cluster();
    let dir = setup(&format!(
        "spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.0, 0.3, 0.5]\n{EXECUTOR}"
    ));
    let started = Instant::now();
    let out = cluster.runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    eprintln!(
        "3 trials through Slurm in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        text(&out).contains("submitted 3 trial(s) as Slurm job array"),
        "{}",
        text(&out)
    );
    let sweep = dir.path().join("runs/sweep");
    let local = cluster.runner(
        dir.path(),
        &[
            "sweep",
            "sweep.yaml",
            "--executor",
            "local",
            "--runs",
            "local",
        ],
    );
    assert!(local.status.success(), "{}", text(&local));
    assert_eq!(
        results(&sweep),
        results(&dir.path().join("local/sweep")),
        "Slurm's trials end where the local executor's do"
    );

    // Again: everything finished, nothing is submitted.
    let again = cluster.runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(arrays(&sweep).len(), 1, "{}", text(&again));
    assert!(
        text(&again).contains("3 of 3 trials finished earlier"),
        "{}",
        text(&again)
    );

    let status = cluster.runner(dir.path(), &["sweep", "sweep.yaml", "--status"]);
    assert!(status.status.success(), "{}", text(&status));
    let shown = String::from_utf8_lossy(&status.stdout);
    eprintln!("{shown}");
    let job = &arrays(&sweep)[0];
    assert!(shown.contains("3 trials: 3 finished"), "{shown}");
    for (index, trial) in ["001-rate=0", "002-rate=0.3", "003-rate=0.5"]
        .iter()
        .enumerate()
    {
        let row = shown
            .lines()
            .find(|l| l.starts_with(trial))
            .unwrap_or_else(|| panic!("no row for {trial}: {shown}"));
        assert!(row.contains("finished"), "{row}");
        assert!(row.contains(&format!("{job}_{}", index + 1)), "{row}");
    }
}

#[test]
fn a_trial_warned_before_its_time_limit_checkpoints_requeues_and_resumes_to_the_same_result() {
    let (cluster, _turn) = cluster();
    let dir = setup(&format!(
        "spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.2]\n{EXECUTOR}"
    ));
    let args = ["sweep", "sweep.yaml", "--set", "phases.head.epochs=300"];
    let sweep_run = cluster
        .command(dir.path(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let trial = dir.path().join("runs/sweep/001-rate=0.2");
    wait_for("the trial trains", 120, || {
        std::fs::read_to_string(trial.join("metrics.jsonl")).map_or(0, |t| t.lines().count()) >= 3
    });
    let job = format!("{}_1", arrays(&dir.path().join("runs/sweep"))[0]);
    // What Slurm sends `signal_seconds` before the time limit (`--signal=B:USR1@N`).
    cluster.slurm("scancel", &["--batch", "--signal=USR1", &job]);
    let console = trial.join("console.log");
    wait_for("the task requeues itself", 60, || {
        std::fs::read_to_string(&console).is_ok_and(|t| t.contains("requeueing"))
    });
    assert!(
        !trial.join("summary.json").exists(),
        "stopped before its end"
    );
    // A requeued job waits for its credential to expire (30 s here): start it now.
    wait_for("the requeued task starts again", 60, || {
        Command::new("scontrol")
            .env("SLURM_CONF", &cluster.conf)
            .args(["update", &format!("jobid={job}"), "StartTime=now"])
            .output()
            .unwrap()
            .status
            .success()
    });
    let out = sweep_run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let log = std::fs::read_to_string(trial.join("run.log")).unwrap();
    assert!(log.contains("resuming"), "{log}");
    let console = std::fs::read_to_string(&console).unwrap();
    assert!(console.contains("restart 1"), "{console}");

    let local = cluster.runner(
        dir.path(),
        &[&args[..], &["--executor", "local", "--runs", "local"]].concat(),
    );
    assert!(local.status.success(), "{}", text(&local));
    assert_eq!(
        results(&dir.path().join("runs/sweep")),
        results(&dir.path().join("local/sweep")),
        "the resumed trial ends where an uninterrupted one does"
    );
}

#[test]
fn status_shows_queued_and_running_trials_and_cancel_stops_them_with_checkpoints() {
    let (cluster, _turn) = cluster();
    let dir = setup(
        "spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.0, 0.5]\nexecutor: {kind: slurm, parallelism: 1, poll_seconds: 1}\n",
    );
    let args = ["sweep", "sweep.yaml", "--set", "phases.head.epochs=100000"];
    let out = cluster.runner(dir.path(), &[&args[..], &["--no-wait"]].concat());
    assert!(out.status.success(), "{}", text(&out));
    let sweep = dir.path().join("runs/sweep");
    let job = arrays(&sweep)[0].clone();
    let first = sweep.join("001-rate=0");
    wait_for("the first trial trains", 120, || {
        first.join("checkpoint.json").is_file()
    });
    let status = cluster.runner(dir.path(), &[&args[..], &["--status"]].concat());
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    assert!(
        shown.contains("2 trials: 1 running, 1 pending"),
        "array parallelism 1: {shown}"
    );
    assert!(shown.contains(&format!("{job}_2")), "{shown}");

    // Submitting again adds nothing: both trials are queued or running.
    let again = cluster.runner(dir.path(), &[&args[..], &["--no-wait"]].concat());
    assert!(
        text(&again).contains("nothing to submit"),
        "{}",
        text(&again)
    );
    assert_eq!(arrays(&sweep).len(), 1);

    let cancel = cluster.runner(dir.path(), &[&args[..], &["--cancel"]].concat());
    assert!(cancel.status.success(), "{}", text(&cancel));
    assert!(
        text(&cancel).contains("cancelled 2 Slurm job(s)"),
        "{}",
        text(&cancel)
    );
    wait_for("the cancelled jobs end", 60, || !cluster.busy(&job));
    let status = cluster.runner(dir.path(), &[&args[..], &["--status"]].concat());
    let shown = text(&status);
    assert!(
        shown.contains("1 interrupted, 1 not started"),
        "the running trial checkpointed on SIGTERM: {shown}"
    );
    let log = std::fs::read_to_string(first.join("console.log")).unwrap();
    assert!(log.contains("stop requested"), "{log}");

    // The next submission takes both again, and resumes the interrupted one.
    let resubmit = cluster.runner(dir.path(), &[&args[..], &["--no-wait"]].concat());
    assert!(
        text(&resubmit).contains("submitted 2 trial(s)"),
        "{}",
        text(&resubmit)
    );
    let second = arrays(&sweep)[1].clone();
    wait_for("the trial resumes", 120, || {
        std::fs::read_to_string(first.join("run.log")).is_ok_and(|l| l.contains("resuming"))
    });
    cluster.slurm("scancel", &[&second]);
    wait_for("the cancelled jobs end", 60, || !cluster.busy(&second));
}

#[test]
fn a_failing_trial_shows_as_failed_with_the_end_of_its_log() {
    let (cluster, _turn) = cluster();
    // Scaling pixels by 1e38 overflows: the loss is not a number from the first batch on.
    let dir = setup(&format!(
        "spec: spec.yaml\nparameters:\n  model.nodes.scale.scale: [0.00392156862745098, 1.0e38]\n{EXECUTOR}"
    ));
    let out = cluster.runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("1 trial(s) failed"), "{}", text(&out));
    let status = cluster.runner(dir.path(), &["sweep", "sweep.yaml", "--status"]);
    let shown = text(&status);
    assert!(shown.contains("1 finished, 1 failed"), "{shown}");
    assert!(
        shown.contains("002-scale=1e38 failed: ") && shown.contains("the loss became"),
        "{shown}"
    );
    assert!(
        shown.contains("  | "),
        "the end of the trial's log: {shown}"
    );
}

#[test]
fn slurm_errors_say_what_to_fix_and_nothing_is_half_submitted() {
    let (cluster, _turn) = cluster();
    let dir = setup(&format!(
        "spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.0]\n{EXECUTOR}"
    ));
    // No Slurm on PATH.
    let out = cluster
        .command(dir.path(), &["sweep", "sweep.yaml"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("`sbatch` is not on PATH"),
        "{}",
        text(&out)
    );

    // A configuration file that is not there.
    let out = cluster
        .command(dir.path(), &["sweep", "sweep.yaml"])
        .env("SLURM_CONF", dir.path().join("missing.conf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("found no Slurm configuration"),
        "{}",
        text(&out)
    );

    // A controller that does not answer: the cluster's configuration with another port.
    let conf = std::fs::read_to_string(&cluster.conf).unwrap();
    let dead_port = free_port_pair();
    let dead: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("SlurmctldPort=") {
                format!("SlurmctldPort={dead_port}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dead_conf = dir.path().join("dead.conf");
    std::fs::write(&dead_conf, dead).unwrap();
    let out = cluster
        .command(dir.path(), &["sweep", "sweep.yaml"])
        .env("SLURM_CONF", &dead_conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("cannot reach the Slurm controller"),
        "{}",
        text(&out)
    );

    // A partition the cluster does not have.
    std::fs::write(
        dir.path().join("sweep.yaml"),
        "spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.0]\nexecutor: {kind: slurm, partition: nope}\n",
    )
    .unwrap();
    let out = cluster.runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("Slurm refused `sbatch`") && shown.contains("executor.partition"),
        "{shown}"
    );
    assert!(
        !dir.path().join("runs/sweep/slurm.json").exists(),
        "nothing was submitted, nothing is recorded"
    );

    // A warning signal later than the time limit: a located error before anything runs.
    std::fs::write(
        dir.path().join("sweep.yaml"),
        "spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.0]\nexecutor: {kind: slurm, time: '1:00', signal_seconds: 300}\n",
    )
    .unwrap();
    let out = cluster.runner(dir.path(), &["sweep", "sweep.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("the time limit is only 60 s"),
        "{}",
        text(&out)
    );
    // --cancel of a sweep that was never submitted.
    std::fs::write(
        dir.path().join("sweep.yaml"),
        format!("spec: spec.yaml\nparameters:\n  model.nodes.drop.rate: [0.0]\n{EXECUTOR}"),
    )
    .unwrap();
    let out = cluster.runner(dir.path(), &["sweep", "sweep.yaml", "--cancel"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("has no Slurm jobs to cancel"),
        "{}",
        text(&out)
    );
}
