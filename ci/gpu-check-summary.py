"""The table of ci/gpu-check.sh: reads the stage JSONs in OUT, writes OUT/summary.json and prints
runner against PyTorch (the issue's goals: whole recipe >= 1.0x PyTorch's speed, each step
>= 0.8x, accuracy within 0.5 points, parity within 1e-4 relative). Standard library only.

Usage: python ci/gpu-check-summary.py OUT
"""

import json
import sys
from pathlib import Path

STEPS = [("feature_extraction", "frozen-base step"), ("fine_tune", "fine-tuning step"),
         ("inference", "inference")]


def load(out):
    stages = {}
    for path in sorted(out.glob("*.json"), key=lambda p: p.stat().st_mtime):
        if path.name == "summary.json":
            continue
        try:
            stages[path.stem] = json.loads(path.read_text())
        except ValueError as e:
            stages[path.stem] = {"stage": path.stem, "status": f"unreadable: {e}"}
    return stages


def figures(stages, name):
    stage = stages.get(name) or {}
    return stage.get("figures") if stage.get("status") in ("ok", "failed") else None


def bench_steps(bench):
    """images/s per step of `runner bench --json`."""
    if not bench:
        return {}
    steps = {p["phase"]: p["images_per_second"] for p in bench.get("phases", [])}
    steps["inference"] = bench.get("inference_images_per_second")
    return {k: round(v, 1) for k, v in steps.items() if v is not None}


def recipe(figs):
    """Wall seconds, epoch seconds by phase, accuracies of a runner run."""
    if not figs:
        return None
    summary, epochs = figs["summary"], figs["epochs"]
    by_phase = {}
    for e in epochs:
        by_phase.setdefault(e["phase"], []).append(round(e["seconds"], 2))
    best = summary.get("best_validation_accuracy") or {}
    return {"seconds": summary["seconds"], "epoch_seconds": by_phase,
            "validation_accuracy": (summary.get("final_validation") or {}).get("accuracy"),
            "best_validation_accuracy": best.get("accuracy"),
            "test_accuracy": (summary.get("test") or {}).get("accuracy")}


def sci(x):
    return "-" if x is None else f"{x:.1e}"


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def times(x):
    return "-" if x is None else f"{x}x"


def main():
    out = Path(sys.argv[1])
    stages = load(out)
    summary = {"stages": {n: {k: s.get(k) for k in ("status", "seconds", "device", "reason")}
                          for n, s in stages.items()}}
    print(f"{'stage':<26} {'status':<8} {'seconds':>7}")
    for name, s in stages.items():
        print(f"{name:<26} {s.get('status', '?'):<8} {s.get('seconds', ''):>7}")

    parity = figures(stages, "verify") or []
    summary["parity"] = []
    if parity:
        print("\nparity against flex (runner devices --verify)")
        for check in parity:
            step = check.get("step") or {}
            bases = check.get("bases") or []
            row = {"device": check["device"], "adapter": check.get("adapter"),
                   "passed": check["passed"], "error": check.get("error"),
                   "loss_relative_diff": step.get("loss_diff"),
                   "largest_value_diff": (step.get("worst_value") or [None, None])[1],
                   "largest_update_diff": (step.get("worst_update") or [None, None])[1],
                   "bases_max_abs_diff": max((b["max_abs_diff"] for b in bases), default=None),
                   "bases_max_relative_diff": max((b["relative_diff"] for b in bases), default=None)}
            summary["parity"].append(row)
            print(f"  {row['device']:<8} {'agrees' if row['passed'] else 'FAILED'}: loss {sci(row['loss_relative_diff'])}, "
                  f"tensors {sci(row['largest_value_diff'])}, updates {sci(row['largest_update_diff'])}, "
                  f"bases {sci(row['bases_max_abs_diff'])} abs / {sci(row['bases_max_relative_diff'])} relative"
                  + (f"; {row['error']}" if row["error"] else ""))

    runners = {s["device"]: bench_steps(s.get("figures")) for n, s in stages.items()
               if n.startswith("bench-") and s.get("figures")}
    torch = {tf32: figures(stages, f"torch-steps-tf32-{tf32}") or {} for tf32 in ("on", "off")}
    summary["steps"] = {"runner": runners, "torch_tf32_on": torch["on"], "torch_tf32_off": torch["off"]}
    if runners or any(torch.values()):
        devices = list(runners)
        print("\nimages/s" + "".join(f" {'runner ' + d:>16}" for d in devices)
              + f" {'torch TF32 on':>14} {'torch TF32 off':>15}" + "".join(f" {d + '/torch':>14}" for d in devices))
        for key, label in STEPS:
            t = torch["on"].get(key)
            print(f"{label:<18}" + "".join(f" {runners[d].get(key) or '-':>16}" for d in devices)
                  + f" {t or '-':>14} {torch['off'].get(key) or '-':>15}"
                  + "".join(f" {times(ratio(runners[d].get(key), t)):>14}" for d in devices))

    runs = {s["device"]: recipe(s.get("figures")) for n, s in stages.items()
            if n.startswith("recipe-") and s.get("figures")}
    torch_recipe = figures(stages, "torch-recipe")
    summary["recipe"] = {"runner": runs, "torch": torch_recipe}
    if runs or torch_recipe:
        print("\nwhole recipe       seconds  vs torch  validation   test  epoch seconds by phase")
        for device, r in runs.items():
            t = torch_recipe["seconds"] if torch_recipe else None
            print(f"runner {device:<11} {r['seconds']:>7.1f} {times(ratio(t, r['seconds'])):>9}"
                  f" {r['validation_accuracy'] or 0:>10.4f} {r['test_accuracy'] or 0:>6.4f}  {r['epoch_seconds']}")
        if torch_recipe:
            print(f"{'torch':<18} {torch_recipe['seconds']:>7.1f} {'1.00x':>9} {torch_recipe['validation_accuracy']:>10.4f}"
                  f" {torch_recipe['test_accuracy']:>6.4f}  {[p['seconds'] for p in torch_recipe['phases']]}")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
