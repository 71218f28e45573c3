#!/usr/bin/env bash
# images/s of the tutorial recipe's steps (experiments/mobilenet_ft.yaml's model: the step with
# the base frozen, the fine-tuning step, inference) on flex (`--device cpu`), on libtorch's CPU
# kernels (`--device tch-cpu`) and in PyTorch itself (ci/bench/torch_train_step.py: the same
# work), alternately for ROUNDS rounds so that other load on the machine hits all alike; then
# every figure, the medians and the ratios. Builds runner with `--features tch` (ci/tch-env.sh).
#   ci/bench/backends.sh [ROUNDS=3] [STEPS=8]
# BENCH_DEVICES=cpu compares flex alone with PyTorch, with the default build (no libtorch build;
# the venv of ci/bench/setup-torch.sh is still needed for PyTorch), or with the runner binary
# given as RUNNER=PATH. BENCH_THREADS lists the thread counts to measure at (default: 1, 2 and
# every core): runner gets `--threads N`, PyTorch OMP_NUM_THREADS=N.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3} steps=${2:-8}
devices=${BENCH_DEVICES:-cpu tch-cpu}
if [[ " $devices " == *" tch-cpu "* ]]; then
  source ci/tch-env.sh
  cargo test --release --features tch --no-run --quiet
  runner="$CARGO_TARGET_DIR/release/runner"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runner-target}"
  [ -n "${RUNNER:-}" ] || cargo build --release --quiet
  runner="${RUNNER:-$CARGO_TARGET_DIR/release/runner}"
  export PATH="${RUNNER_TORCH_VENV:-$HOME/.cache/runner-torch-venv}/bin:$PATH"
fi
threads_list=${BENCH_THREADS:-$(printf '%s\n' 1 2 "$(nproc)" | sort -nu | tr '\n' ' ')}
for threads in $threads_list; do
log=$(mktemp)
for r in $(seq "$rounds"); do
  for device in $devices; do
    echo "== $threads threads, round $r: runner bench --device $device"
    "$runner" bench experiments/mobilenet_ft.yaml --device "$device" --steps "$steps" --threads "$threads" | tee -a "$log"
  done
  echo "== $threads threads, round $r: PyTorch"
  OMP_NUM_THREADS=$threads python ci/bench/torch_train_step.py "$steps" | tee -a "$log"
done
echo "== $threads thread(s)"
awk '
  /^mobilenet_ft: / { who = ($NF == "cpu") ? "flex" : "libtorch" }
  /^torch / { who = "pytorch" }
  /^train `|^inference/ {
    step = ($1 == "train") ? $2 : $1; sub(/:$/, "", step); value = ($1 == "train") ? $3 : $2
    n[who, step]++; v[who, step, n[who, step]] = value
  }
  function median(who, step,   i, j, t, s, q) {
    q = n[who, step]; for (i = 1; i <= q; i++) s[i] = v[who, step, i]
    for (i = 1; i <= q; i++) for (j = i + 1; j <= q; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
    return q % 2 ? s[(q + 1) / 2] : (s[q / 2] + s[q / 2 + 1]) / 2
  }
  END {
    split("`feature_extraction` `fine_tune` inference", steps, " ")
    tch = n["libtorch", steps[1]] > 0
    printf "== medians, images/s\n%-22s %9s %9s %14s", "step", "flex", "pytorch", "flex/pytorch"
    if (tch) printf " %9s %14s %14s", "libtorch", "libtorch/pyt.", "libtorch/flex"
    printf "\n"
    for (i = 1; i <= 3; i++) {
      s = steps[i]; f = median("flex", s); p = median("pytorch", s)
      printf "%-22s %9.1f %9.1f %13.2fx", s, f, p, f / p
      if (tch) { l = median("libtorch", s); printf " %9.1f %13.2fx %13.2fx", l, l / p, l / f }
      printf "\n"
    }
  }' "$log"
rm -f "$log"
done
