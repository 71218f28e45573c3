//! Slurm's client commands, run as processes (no Slurm library is linked): `sbatch --parsable`
//! submits, `squeue` lists this user's jobs (finished ones too, while the controller still
//! holds them), `scancel` cancels. Their failures become errors that say what to do: Slurm not
//! installed, no configuration, the controller unreachable, a submission rejected.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// Why a Slurm command failed.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// The command is not on PATH.
    #[error(
        "`{command}` is not on PATH: runner submits a sweep's trials with Slurm's sbatch, squeue and scancel; run it on a machine of the cluster (a login node), add Slurm's bin folder to PATH, or use `--executor local`"
    )]
    NotInstalled {
        /// The command.
        command: String,
    },
    /// The client found no configuration.
    #[error(
        "`{command}` found no Slurm configuration ({detail}); set SLURM_CONF to the cluster's slurm.conf (e.g. `export SLURM_CONF=/etc/slurm/slurm.conf`)"
    )]
    NoConfig {
        /// The command.
        command: String,
        /// What it printed.
        detail: String,
    },
    /// The controller did not answer.
    #[error(
        "`{command}` cannot reach the Slurm controller ({detail}); check that slurmctld runs and that {conf} names it (`scontrol ping` says whether it answers)"
    )]
    Unreachable {
        /// The command.
        command: String,
        /// What it printed.
        detail: String,
        /// The configuration in use.
        conf: String,
    },
    /// Slurm refused the request (e.g. an unknown partition).
    #[error("Slurm refused `{command}`: {detail}{help}")]
    Refused {
        /// The command.
        command: String,
        /// What it printed.
        detail: String,
        /// What to change, when known (starts with "; ").
        help: String,
    },
    /// The command could not be started or said something unexpected.
    #[error("`{command}` failed: {detail}")]
    Other {
        /// The command.
        command: String,
        /// Why.
        detail: String,
    },
}

/// One array task (or job) as `squeue` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// `ARRAYJOB_TASK` (or the job id of a job outside an array).
    pub id: String,
    /// Slurm's state: `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, ...
    pub state: String,
    /// Why it is in that state (`None`, `BeginTime`, `NonZeroExitCode`, ...).
    pub reason: String,
    /// The exit status of its batch script (the process's exit code; 128+N for a signal N).
    pub exit_code: Option<i32>,
}

impl Job {
    /// Queued: waiting for resources, a start time, or to run again after a requeue.
    pub fn is_queued(&self) -> bool {
        matches!(
            self.state.as_str(),
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD"
        )
    }

    /// Holding resources: starting, running, suspended or finishing.
    pub fn is_running(&self) -> bool {
        matches!(
            self.state.as_str(),
            "CONFIGURING"
                | "RUNNING"
                | "COMPLETING"
                | "SUSPENDED"
                | "STOPPED"
                | "SIGNALING"
                | "RESIZING"
                | "STAGE_OUT"
        )
    }

    /// Stopped from outside before its end (cancelled, time limit, preempted, deadline).
    pub fn was_stopped(&self) -> bool {
        matches!(
            self.state.as_str(),
            "CANCELLED" | "TIMEOUT" | "PREEMPTED" | "DEADLINE"
        )
    }
}

/// Submits `script` with `args`; the job id `sbatch --parsable` prints.
pub fn submit(script: &Path, args: &[String]) -> Result<String, SlurmError> {
    let mut all: Vec<&OsStr> = vec![OsStr::new("--parsable")];
    all.extend(args.iter().map(OsStr::new));
    all.push(script.as_os_str());
    let out = call("sbatch", &all)?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `JOBID` or `JOBID;CLUSTER`.
    let id = text
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlurmError::Other {
            command: "sbatch".into(),
            detail: format!("it printed `{}` instead of a job id", text.trim()),
        });
    }
    Ok(id)
}

/// This user's jobs the controller holds, array tasks one per line, finished ones included.
pub fn jobs() -> Result<Vec<Job>, SlurmError> {
    let out = call(
        "squeue",
        &[
            "--noheader",
            "--me",
            "--states=all",
            "--array",
            "--Format=JobArrayID:|,State:|,Reason:|,exit_code:|",
        ]
        .map(OsStr::new),
    )?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(parse_job)
        .collect())
}

/// Cancels these jobs or array tasks (`scancel`: a running trial gets SIGTERM, checkpoints and
/// stops).
pub fn cancel(ids: &[String]) -> Result<(), SlurmError> {
    let args: Vec<&OsStr> = ids.iter().map(OsStr::new).collect();
    call("scancel", &args).map(drop)
}

/// One `squeue --Format` line: `ID|STATE|REASON|EXIT|`.
fn parse_job(line: &str) -> Option<Job> {
    let mut fields = line.split('|').map(str::trim);
    let id = fields.next().filter(|id| !id.is_empty())?.to_string();
    let state = fields.next()?.to_string();
    let reason = fields.next().unwrap_or_default().to_string();
    // squeue prints the raw wait status: the exit code times 256, plus a signal number.
    let exit_code = fields
        .next()
        .and_then(|s| s.parse::<i32>().ok())
        .map(|status| match status & 0x7f {
            0 => status >> 8,
            signal => 128 + signal,
        });
    Some(Job {
        id,
        state,
        reason,
        exit_code,
    })
}

/// Runs a Slurm client command; its output when it succeeded.
fn call(command: &str, args: &[&OsStr]) -> Result<Output, SlurmError> {
    // Slurm's clients retry a missing configuration file for a minute before they fail.
    if let Some(conf) = std::env::var_os("SLURM_CONF").filter(|c| !Path::new(c).is_file()) {
        return Err(SlurmError::NoConfig {
            command: command.into(),
            detail: format!(
                "SLURM_CONF is {}, which is not a file",
                Path::new(&conf).display()
            ),
        });
    }
    let out = Command::new(command).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SlurmError::NotInstalled {
                command: command.into(),
            }
        } else {
            SlurmError::Other {
                command: command.into(),
                detail: e.to_string(),
            }
        }
    })?;
    if out.status.success() {
        return Ok(out);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let detail = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let detail = if detail.is_empty() {
        format!("it ended with {}", out.status)
    } else {
        detail
    };
    Err(classify(command, detail))
}

/// Names what went wrong from what the command printed.
fn classify(command: &str, detail: String) -> SlurmError {
    let lower = detail.to_lowercase();
    let command = command.to_string();
    if lower.contains("could not establish a configuration source")
        || lower.contains("unable to process configuration file")
    {
        SlurmError::NoConfig { command, detail }
    } else if lower.contains("unable to contact slurm controller")
        || lower.contains("connection refused")
        || lower.contains("connect failure")
        || lower.contains("socket timed out")
    {
        let conf = std::env::var("SLURM_CONF").map_or(
            "the default slurm.conf (SLURM_CONF is not set)".to_string(),
            |c| format!("SLURM_CONF ({c})"),
        );
        SlurmError::Unreachable {
            command,
            detail,
            conf,
        }
    } else {
        let help = if lower.contains("partition") {
            "; check `executor.partition` in the sweep file against the partitions `sinfo --summarize` lists"
        } else if lower.contains("time limit") {
            "; check `executor.time` in the sweep file against the partition's limit (`sinfo --summarize`)"
        } else if lower.contains("memory") || lower.contains("gres") || lower.contains("cpu") {
            "; ask for fewer resources per trial (`executor.cpus_per_trial`, `gpus_per_trial`, `mem_per_trial`)"
        } else if command == "sbatch" {
            "; check `executor:` in the sweep file and its `sbatch_args`"
        } else {
            ""
        };
        SlurmError::Refused {
            command,
            detail,
            help: help.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_are_read_with_their_exit_codes() {
        let job = parse_job("12_3|FAILED|NonZeroExitCode|768|").unwrap();
        assert_eq!(job.id, "12_3");
        assert_eq!(job.exit_code, Some(3));
        assert!(!job.is_queued() && !job.is_running());
        let killed = parse_job("12_4|FAILED|NonZeroExitCode|9|").unwrap();
        assert_eq!(killed.exit_code, Some(137));
        let pending = parse_job("12_5|PENDING|BeginTime|0|").unwrap();
        assert!(pending.is_queued());
        assert!(parse_job("").is_none());
    }

    #[test]
    fn failures_are_named_from_what_slurm_printed() {
        let e = classify(
            "sbatch",
            "sbatch: error: Batch job submission failed: Invalid partition name specified".into(),
        );
        assert!(e.to_string().contains("executor.partition"), "{e}");
        let e = classify(
            "squeue",
            "slurm_load_jobs error: Unable to contact slurm controller (connect failure)".into(),
        );
        assert!(matches!(e, SlurmError::Unreachable { .. }), "{e}");
        let e = classify(
            "squeue",
            "squeue: error: Could not establish a configuration source".into(),
        );
        assert!(e.to_string().contains("SLURM_CONF"), "{e}");
        let e = classify(
            "squeue",
            "squeue: error: s_p_parse_file: cannot stat file /x: No such file or directory; squeue: fatal: Unable to process configuration file".into(),
        );
        assert!(matches!(e, SlurmError::NoConfig { .. }), "{e}");
    }
}
