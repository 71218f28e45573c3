"""The tutorial recipe end to end, runner vs PyTorch, on the same machine, alternately.

Usage: python ci/bench/recipe_compare.py [--epochs HEAD TUNE] [--rounds N] [--runner PATH]
                                         [--device cpu|tch-cpu]

`--device tch-cpu` needs a runner built with `--features tch` (ci/tch-env.sh; then
`--runner ~/.cache/runner-target-tch/release/runner`): PyTorch's own CPU kernels.

Each round runs `runner run experiments/mobilenet_ft.yaml` (a fresh runs folder and a fresh
frozen-prefix cache, so nothing of an earlier run is reused), then ci/bench/torch_recipe.py with
the same epochs, and records wall time, peak resident memory (of that process alone, from
wait4), validation and test accuracy. Prints every figure and the ratios runner / PyTorch.
Run it with the Python of ci/bench/setup-torch.sh (torch, torchvision, safetensors, pillow).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def measure(command, env=None):
    """Runs `command`; its wall seconds, peak RSS bytes and stdout."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode()
    if process.returncode != 0:
        sys.exit(f"{command[0]} failed ({process.returncode}):\n{text}")
    return seconds, usage.ru_maxrss * 1024, text


def runner_round(runner, epochs, device):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, RUNNER_CACHE=str(Path(tmp) / "cache"))
        seconds, peak, _ = measure([
            runner, "--quiet", "run", "experiments/mobilenet_ft.yaml", "--runs", str(Path(tmp) / "runs"),
            "--set", f"phases.feature_extraction.epochs={epochs[0]}",
            "--set", f"phases.fine_tune.epochs={epochs[1]}", "--device", device,
        ], env)
        summary = json.loads(next((Path(tmp) / "runs").glob("*/*/summary.json")).read_text())
    return {"seconds": seconds, "peak": peak,
            "validation": summary["final_validation"]["accuracy"], "test": summary["test"]["accuracy"]}


def torch_round(epochs):
    seconds, peak, text = measure([sys.executable, "ci/bench/torch_recipe.py",
                                   "--epochs", str(epochs[0]), str(epochs[1])])
    report = json.loads(text.strip().splitlines()[-1])
    return {"seconds": seconds, "peak": peak,
            "validation": report["validation_accuracy"], "test": report["test_accuracy"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", nargs=2, type=int, default=[10, 10])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--runner", default=str(ROOT / "target/release/runner"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rows = []
    for r in range(args.rounds):
        for name, run in [("runner", lambda: runner_round(args.runner, args.epochs, args.device)),
                          ("pytorch", lambda: torch_round(args.epochs))]:
            row = {"round": r + 1, "tool": name, **run()}
            rows.append(row)
            print(f"round {row['round']} {name:8} {row['seconds']:8.1f} s  peak {row['peak'] / 2**20:7.0f} MiB  "
                  f"validation {row['validation']:.4f}  test {row['test']:.4f}", flush=True)
    mean = lambda tool, key: sum(r[key] for r in rows if r["tool"] == tool) / args.rounds
    print(f"epochs {args.epochs[0]}+{args.epochs[1]}, runner on {args.device}, {args.rounds} round(s), means:")
    print(f"  speed: runner is {mean('pytorch', 'seconds') / mean('runner', 'seconds'):.2f}x PyTorch's")
    print(f"  peak memory: runner / PyTorch = {mean('runner', 'peak') / mean('pytorch', 'peak'):.2f}")
    for key in ["validation", "test"]:
        print(f"  {key} accuracy: runner {mean('runner', key):.4f}, PyTorch {mean('pytorch', key):.4f}")


if __name__ == "__main__":
    main()
