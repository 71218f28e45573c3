#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds runner with both GPU paths (`--features tch,wgpu`:
# CUDA through libtorch, and wgpu on the NVIDIA Vulkan driver), runs the backend parity tests
# (tests/backends.rs: a training step of every layer kind, and the four pretrained bases'
# reference features, on cuda:0, wgpu and tch-cpu against flex), then prints images/s of the
# tutorial recipe's steps (frozen-base step, fine-tuning step, inference) with `runner bench`
# on cuda:0 and wgpu against PyTorch doing the same work on the same GPU
# (ci/bench/torch_train_step.py). Unattended; each stage has a time limit so the whole stays
# under 10 minutes on a 16-core machine with warm crate and pip caches.
#   ci/gpu-check.sh [STEPS=20]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-20}
limit() { local seconds=$1; shift; timeout --kill-after=10 "$seconds" "$@"; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
  || { echo "gpu-check: no NVIDIA driver here (nvidia-smi missing)"; exit 2; }
# wgpu reaches the GPU through the Vulkan loader and the NVIDIA driver's Vulkan ICD.
ldconfig -p | grep libvulkan.so.1 >/dev/null \
  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvulkan1; } \
  || echo "gpu-check: no Vulkan loader; the wgpu figures will be missing"
source ci/tch-env.sh
export CUBECL_AUTOTUNE_LEVEL=${CUBECL_AUTOTUNE_LEVEL:-balanced}
start=$SECONDS
limit 300 cargo test --release --features tch,wgpu --no-run
echo "gpu-check: built in $((SECONDS - start)) s"
limit 150 cargo test --release --features tch,wgpu --test backends -- --nocapture --test-threads 1
runner="$CARGO_TARGET_DIR/release/runner"
"$runner" devices
log=$(mktemp)
for device in cuda:0 wgpu; do
  echo "== runner bench --device $device"
  limit 60 "$runner" bench experiments/mobilenet_ft.yaml --device "$device" --steps "$steps" | tee -a "$log" \
    || echo "gpu-check: runner bench on $device failed"
done
echo "== PyTorch on cuda:0"
limit 60 python ci/bench/torch_train_step.py "$steps" cuda:0 | tee -a "$log"
# Ratios runner / PyTorch per step, from the lines `train `<phase>` N ...` and `inference N`.
awk '
  /^mobilenet_ft: / { who = ($NF == "cuda:0") ? "runner cuda" : "runner " $NF }
  /^torch / { who = "torch" }
  /^train `/ { step = $2; sub(/:$/, "", step); v[who, step] = $3 }
  /^inference/ { v[who, "inference"] = $2 }
  END {
    n = split("`feature_extraction` `fine_tune` inference", steps, " ")
    printf "%-24s %12s %12s %12s %10s\n", "images/s", "runner cuda", "runner wgpu", "torch cuda", "ratio"
    for (i = 1; i <= n; i++) {
      s = steps[i]; r = v["runner cuda", s]; w = v["runner wgpu", s]; t = v["torch", s]
      printf "%-24s %12s %12s %12s %9.2fx\n", s, r, w, t, (t > 0 ? r / t : 0)
    }
  }' "$log"
rm -f "$log"
echo "gpu-check: done in $((SECONDS - start)) s"
