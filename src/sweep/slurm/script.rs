//! The batch script of a job array and its `sbatch` arguments. Task N runs trial number N:
//! `runner run` on the trial's folder, its output appended to the trial's `console.log`.
//!
//! Requeue convention (as Lightning's): Slurm sends the script SIGUSR1 `signal_seconds` before
//! the time limit (`--signal=B:USR1@N`); the script passes an interrupt to the trial, which
//! writes a checkpoint and exits with 130; the script then requeues its own task (`scontrol
//! requeue`), which runs again later and resumes from the checkpoint. SIGTERM (scancel,
//! preemption) reaches the trial directly from Slurm: it checkpoints and stops, and the
//! script waits for it.

use crate::sweep::spec::Executor;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One task of the array: the trial's number, its folder, and the command that runs it.
pub struct Task {
    /// The array task id (the trial's number).
    pub index: usize,
    /// The trial's run folder.
    pub folder: OsString,
    /// The executable and its arguments.
    pub command: Vec<OsString>,
}

/// The batch script running `tasks`, for the sweep `name`.
pub fn batch_script(name: &str, tasks: &[Task]) -> String {
    let mut cases = String::new();
    for task in tasks {
        let words: Vec<String> = task.command.iter().map(|w| quote(w)).collect();
        cases.push_str(&format!(
            "  {})\n    folder={}\n    set -- {}\n    ;;\n",
            task.index,
            quote(&task.folder),
            words.join(" ")
        ));
    }
    format!(
        r#"#!/bin/sh
# Submitted by `runner sweep` for the sweep `{name}`: array task N runs trial number N.
# On SIGUSR1 (Slurm's warning before the time limit) the trial writes a checkpoint and stops,
# and the task requeues itself; when it runs again the trial resumes from the checkpoint.
case "$SLURM_ARRAY_TASK_ID" in
{cases}  *)
    echo "runner: this job has no trial number $SLURM_ARRAY_TASK_ID" >&2
    exit 2
    ;;
esac
export RAYON_NUM_THREADS="${{SLURM_CPUS_PER_TASK:-1}}"
mkdir -p "$folder" || exit 1
echo "== Slurm job ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} on $(hostname), restart ${{SLURM_RESTART_COUNT:-0}}, $(date)" >>"$folder/console.log"
pid=
warned=0
trap 'warned=1; [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null' USR1
trap ':' TERM INT
"$@" >>"$folder/console.log" 2>&1 </dev/null &
pid=$!
# `wait` also returns (above 128) when a signal arrives: wait again while the trial runs.
while :; do
  wait "$pid"
  code=$?
  [ "$code" -le 128 ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    last=$?
    [ "$last" != 127 ] && code=$last
    break
  fi
done
if [ "$warned" = 1 ] && [ "$code" = 130 ]; then
  echo "== checkpointed before the time limit; requeueing" >>"$folder/console.log"
  scontrol requeue "$SLURM_JOB_ID" && exit 0
fi
exit "$code"
"#
    )
}

/// The `sbatch` arguments (before the script) that submit `indices` as one array.
pub fn sbatch_args(
    name: &str,
    executor: &Executor,
    indices: &[usize],
    log_folder: &Path,
    workdir: &Path,
) -> Vec<String> {
    let list: Vec<String> = indices.iter().map(usize::to_string).collect();
    let mut array = format!("--array={}", list.join(","));
    if let Some(k) = executor.parallelism {
        array.push_str(&format!("%{k}"));
    }
    let mut args = vec![
        array,
        format!("--job-name=runner:{name}"),
        format!("--output={}", log_folder.join("%A_%a.out").display()),
        "--open-mode=append".into(),
        format!("--chdir={}", workdir.display()),
        "--requeue".into(),
        format!("--signal=B:USR1@{}", executor.signal_seconds),
    ];
    let options = [
        ("--partition", executor.partition.clone()),
        ("--time", executor.time.clone()),
        (
            "--cpus-per-task",
            executor.cpus_per_trial.map(|c| c.to_string()),
        ),
        (
            "--gpus-per-task",
            executor.gpus_per_trial.map(|g| g.to_string()),
        ),
        ("--mem", executor.mem_per_trial.clone()),
    ];
    for (flag, value) in options {
        if let Some(value) = value {
            args.push(format!("{flag}={value}"));
        }
    }
    args.extend(executor.sbatch_args.iter().cloned());
    args
}

/// `word` quoted for the shell.
fn quote(word: &std::ffi::OsStr) -> String {
    let text = String::from_utf8_lossy(word.as_bytes());
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_cases_with_quoted_words_and_resources_are_flags() {
        let tasks = [Task {
            index: 3,
            folder: "runs/s/003-a=it's".into(),
            command: vec!["/bin/runner".into(), "--set".into(), "x='y'".into()],
        }];
        let script = batch_script("s", &tasks);
        assert!(script.contains("  3)\n    folder='runs/s/003-a=it'\\''s'\n"));
        assert!(script.contains(r#"set -- '/bin/runner' '--set' 'x='\''y'\'''"#));
        let executor = Executor {
            partition: Some("gpu".into()),
            parallelism: Some(2),
            cpus_per_trial: Some(4),
            sbatch_args: vec!["--qos=high".into()],
            ..Executor::default()
        };
        let args = sbatch_args("s", &executor, &[1, 3], Path::new("/l"), Path::new("/w"));
        assert_eq!(args[0], "--array=1,3%2");
        for expected in [
            "--partition=gpu",
            "--cpus-per-task=4",
            "--signal=B:USR1@120",
            "--requeue",
            "--qos=high",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected}: {args:?}");
        }
    }
}
