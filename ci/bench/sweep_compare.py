"""The head sweep of experiments/head_sweep.yaml, runner vs separate PyTorch runs, on the same
machine, one after the other.

Usage: python ci/bench/sweep_compare.py [--runner PATH] [--torch-runs K]

runner: `runner sweep experiments/head_sweep.yaml` (3 dropout rates x 3 Adam learning rates,
base frozen, the recipe's flip + rotation, 10 epochs) with a fresh runs folder and a fresh
frozen-prefix cache, so its first trial computes the base for every augmented epoch and the
other eight read those epochs back. PyTorch: ci/bench/torch_recipe.py --epochs 10 0 with the
trial's dropout rate and learning rate, once per trial, as a user without runner would run
the grid. With --torch-runs K < 9 only the first K grid points run and the PyTorch total is
their mean times 9 (what a run costs does not depend on the rate or the learning rate); the
output says so. Prints wall times, peak memory and the best trial's accuracies of both.
Run it with the Python of ci/bench/setup-torch.sh.
"""

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

from recipe_compare import ROOT, measure

RATES = [0.0, 0.2, 0.5]
LEARNING_RATES = [3e-5, 1e-4, 3e-4]


def runner_sweep(runner):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, RUNNER_CACHE=str(Path(tmp) / "cache"))
        seconds, peak, _ = measure([runner, "--quiet", "sweep", "experiments/head_sweep.yaml",
                                    "--runs", str(Path(tmp) / "runs"), "--yes"], env)
        summaries = [json.loads(p.read_text()) for p in (Path(tmp) / "runs").glob("*/*/summary.json")]
    best = max(summaries, key=lambda s: s["final_validation"]["accuracy"])
    return {"seconds": seconds, "peak": peak, "trials": len(summaries),
            "validation": best["final_validation"]["accuracy"], "test": best["test"]["accuracy"]}


def torch_run(rate, lr):
    seconds, peak, text = measure([sys.executable, "ci/bench/torch_recipe.py", "--epochs", "10", "0",
                                   "--dropout", str(rate), "--lr", str(lr)])
    report = json.loads(text.strip().splitlines()[-1])
    return {"seconds": seconds, "peak": peak, "rate": rate, "lr": lr,
            "validation": report["validation_accuracy"], "test": report["test_accuracy"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runner", default=str(ROOT / "target/release/runner"))
    parser.add_argument("--torch-runs", type=int, default=9)
    args = parser.parse_args()
    grid = list(itertools.product(RATES, LEARNING_RATES))
    runner = runner_sweep(args.runner)
    print(f"runner sweep: {runner['trials']} trials in {runner['seconds']:.1f} s, peak {runner['peak'] / 2**20:.0f} MiB, "
          f"best validation {runner['validation']:.4f} (test {runner['test']:.4f})", flush=True)
    torch_runs = []
    for rate, lr in grid[:args.torch_runs]:
        run = torch_run(rate, lr)
        torch_runs.append(run)
        print(f"PyTorch rate {rate} lr {lr}: {run['seconds']:.1f} s, peak {run['peak'] / 2**20:.0f} MiB, "
              f"validation {run['validation']:.4f} (test {run['test']:.4f})", flush=True)
    mean = sum(r["seconds"] for r in torch_runs) / len(torch_runs)
    total = mean * len(grid)
    how = "measured" if len(torch_runs) == len(grid) else f"{len(torch_runs)} measured runs' mean x {len(grid)}"
    print(f"9 PyTorch runs: {total:.1f} s ({how})")
    print(f"speed: runner's sweep is {total / runner['seconds']:.2f}x the 9 PyTorch runs")
    print(f"peak memory: runner sweep / one PyTorch run = "
          f"{runner['peak'] / max(r['peak'] for r in torch_runs):.2f}")


if __name__ == "__main__":
    main()
