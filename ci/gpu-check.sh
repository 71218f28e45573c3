#!/usr/bin/env bash
# runner on a GPU machine that has no Rust toolchain and no network: a prebuilt runner (built
# elsewhere with `--features cuda,wgpu`, ci/setup-cuda-build.sh), the data and weights folders,
# and PyTorch for the comparison. Each stage writes one small JSON into OUT as soon as it ends
# (stage, device, status ok|failed|timeout|skipped, exit code, seconds, and the figures) and its
# output into OUT/logs/ (each log capped at 100 kB); every stage runs under `timeout`, inside an
# overall deadline, so the whole ends in under 8 minutes; stages that no longer fit are written
# as skipped. The stages, most telling first:
#   devices         `runner devices --json` (the driver, libdevice, the GPUs) and nvidia-smi
#   verify          `runner devices --verify --weights W`: on each GPU device, one training step
#                   of a graph with every layer kind and the four bases' features, against flex
#   bench-D         `runner bench experiments/mobilenet_ft.yaml` per device: images/s of the
#                   recipe's frozen-base step, fine-tuning step and inference
#   torch-steps-*   the same steps in PyTorch (ci/bench/torch_train_step.py), TF32 on and off
#   recipe-D        the whole recipe (experiments/mobilenet_ft.yaml, 10+10 epochs) per device:
#                   wall time, per-epoch seconds, accuracies (run folders in OUT/runs)
#   torch-recipe    ci/bench/torch_recipe.py on the GPU: the same recipe in PyTorch
# then summary.json and a table of runner against PyTorch.
#
#   ci/gpu-check.sh --runner PATH --data DIR --weights DIR --out DIR [--python PY]
#                   [--devices "cuda:0 wgpu"] [--torch-device cuda:0] [--steps 20]
#                   [--epochs "10 10"] [--deadline 470]
#   ci/gpu-check.sh --dry-run --runner PATH --data DIR --weights DIR --out DIR
# --dry-run rehearses every stage on the CPU (devices `cpu`, PyTorch on the CPU when --python has
# it, 2 timed steps, 1+1 epochs) on a machine without a GPU.
# DATA is the recipe's cats_and_dogs folder (train/ and validation/); WEIGHTS the shared weights
# folder (one folder per base, each with reference_io.safetensors; the recipe's base is
# mobilenet_v2_1.0_224/tf2_mobilenet_v2_1.0_224_ptq.tflite). RUNNER_CACHE is OUT/cache, so the
# frozen-prefix and autotune caches start empty.
set -uo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
runner= data= weights= out= python=python3 devices= torch_device= steps= epochs= deadline=470 dry=false
while [ $# -gt 0 ]; do
  case "$1" in
    --runner) runner=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --weights) weights=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    --torch-device) torch_device=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --deadline) deadline=$2; shift 2 ;;
    --dry-run) dry=true; shift ;;
    *) usage ;;
  esac
done
[ -n "$runner" ] && [ -n "$data" ] && [ -n "$weights" ] && [ -n "$out" ] || usage
if $dry; then
  : "${devices:=cpu}" "${torch_device:=cpu}" "${steps:=2}" "${epochs:=1 1}"
else
  : "${devices:=cuda:0 wgpu}" "${torch_device:=cuda:0}" "${steps:=20}" "${epochs:=10 10}"
fi
read -r epochs_head epochs_tune <<<"$epochs"
runner=$(realpath "$runner") data=$(realpath "$data") weights=$(realpath "$weights")
[ -x "$runner" ] || { echo "gpu-check: $runner is not an executable" >&2; exit 2; }
[ -d "$data/train" ] || { echo "gpu-check: $data has no train/ folder" >&2; exit 2; }
mkdir -p "$out/logs" "$out/runs" || exit 2
out=$(realpath "$out")
export RUNNER_CACHE="$out/cache"
spec=experiments/mobilenet_ft.yaml
recipe_set=(--set "data.root=$data"
            --set "model.nodes.base.weights=$weights/mobilenet_v2_1.0_224/tf2_mobilenet_v2_1.0_224_ptq.tflite")
has_python=false has_torch=false
command -v "$python" >/dev/null && has_python=true
$has_python && "$python" -c 'import torch, torchvision, safetensors, PIL' 2>/dev/null && has_torch=true
started=$SECONDS
echo "gpu-check: runner $runner, devices: $devices, PyTorch: $($has_torch && echo "on $torch_device" || echo "not found ($python)"), output in $out"

# A JSON string of $1.
json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; printf '"%s"' "${s//$'\t'/ }"; }
# Whether file $1 holds one JSON value (trusted without python).
is_json() { [ -s "$1" ] || return 1; $has_python || return 0; "$python" -c 'import json, sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; }
# Keeps the first and last 50 kB of log $1 when it is longer than 100 kB.
cap_log() {
  local size; size=$(stat -c %s "$1" 2>/dev/null || echo 0)
  if [ "$size" -gt 100000 ]; then
    { head -c 50000 "$1"; printf '\n[... %s bytes cut ...]\n' "$((size - 100000))"; tail -c 50000 "$1"; } >"$1.cut"
    mv "$1.cut" "$1"
  fi
}
# stage NAME DEVICE LIMIT RESULT -- COMMAND...: runs COMMAND (stdout to OUT/logs/NAME.out, stderr
# to OUT/logs/NAME.log) under a time limit, then writes OUT/NAME.json. RESULT names how to get the
# stage's figures: `stdout` (the command prints JSON), `last-line` (its last line is JSON), or
# `recipe` (the newest run folder in OUT/runs/mobilenet_ft).
stage() {
  local name=$1 device=$2 limit=$3 result=$4; shift 5
  local left=$((deadline - (SECONDS - started) - 5)) status=ok rc=0 t0=$SECONDS figures=null
  local log="$out/logs/$name.log" stdout="$out/logs/$name.out" json="$out/$name.json"
  if [ "$left" -lt 10 ]; then
    printf '{"stage": "%s", "device": %s, "status": "skipped", "reason": "out of time"}\n' \
      "$name" "$(json_string "$device")" >"$json"
    echo "gpu-check: $name skipped (out of time)"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "gpu-check: $name (limit ${limit}s): $*" >"$log"
  echo "gpu-check: $name ..."
  timeout --kill-after=10 "$limit" "$@" >"$stdout" 2>>"$log" || rc=$?
  case $rc in 0) ;; 124|137) status=timeout ;; *) status=failed ;; esac
  local figures_file="$stdout.json"
  case $result in
    stdout) cp "$stdout" "$figures_file" ;;
    last-line) grep '^{' "$stdout" | tail -n 1 >"$figures_file" ;;
    recipe) recipe_figures >"$figures_file" ;;
  esac
  is_json "$figures_file" && figures=$(cat "$figures_file")
  rm -f "$figures_file"
  cat "$stdout" >>"$log" && rm -f "$stdout"
  cap_log "$log"
  printf '{"stage": "%s", "device": %s, "status": "%s", "exit_code": %d, "seconds": %d, "limit_seconds": %d, "command": %s, "log": "logs/%s.log", "figures": %s}\n' \
    "$name" "$(json_string "$device")" "$status" "$rc" "$((SECONDS - t0))" "$limit" \
    "$(json_string "$*")" "$name" "$figures" >"$json"
  echo "gpu-check: $name: $status in $((SECONDS - t0)) s"
}
# The newest run of the recipe: its summary.json and every epoch record of metrics.jsonl.
recipe_figures() {
  local run; run=$(ls -td "$out/runs/mobilenet_ft"/*/ 2>/dev/null | head -n 1)
  [ -n "$run" ] && [ -s "$run/summary.json" ] || return 0
  printf '{"run": %s, "summary": %s, "epochs": [%s]}\n' "$(json_string "${run%/}")" \
    "$(cat "$run/summary.json")" "$(paste -sd, "$run/metrics.jsonl")"
}

stage devices "" 20 stdout -- "$runner" devices --json
command -v nvidia-smi >/dev/null \
  && nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv >"$out/logs/nvidia-smi.csv" 2>&1
verify_devices=()
for device in $devices; do verify_devices+=(--device "$device"); done
stage verify "$devices" 150 stdout -- "$runner" devices --verify --weights "$weights" "${verify_devices[@]}" --json
first=${devices%% *}
stage "bench-$first" "$first" 90 stdout -- "$runner" bench "$spec" --device "$first" --steps "$steps" --json "${recipe_set[@]}"
for tf32 in on off; do
  if $has_torch; then
    stage "torch-steps-tf32-$tf32" "$torch_device" 60 last-line -- \
      "$python" ci/bench/torch_train_step.py "$steps" "$torch_device" --tf32 "$tf32"
  else
    printf '{"stage": "torch-steps-tf32-%s", "status": "skipped", "reason": "no PyTorch in %s"}\n' "$tf32" "$python" >"$out/torch-steps-tf32-$tf32.json"
  fi
done
epochs_set=(--set "phases.feature_extraction.epochs=$epochs_head" --set "phases.fine_tune.epochs=$epochs_tune")
stage "recipe-$first" "$first" 180 recipe -- "$runner" run "$spec" --device "$first" --runs "$out/runs" --again "${recipe_set[@]}" "${epochs_set[@]}"
if $has_torch; then
  stage torch-recipe "$torch_device" 120 last-line -- "$python" ci/bench/torch_recipe.py --device "$torch_device" \
    --data "$data" --weights "$weights/mobilenet_v2_1.0_224/mobilenet_v2_1.0_224.safetensors" --epochs "$epochs_head" "$epochs_tune"
else
  printf '{"stage": "torch-recipe", "status": "skipped", "reason": "no PyTorch in %s"}\n' "$python" >"$out/torch-recipe.json"
fi
for device in ${devices#"$first"}; do
  stage "bench-$device" "$device" 90 stdout -- "$runner" bench "$spec" --device "$device" --steps "$steps" --json "${recipe_set[@]}"
  stage "recipe-$device" "$device" 180 recipe -- "$runner" run "$spec" --device "$device" --runs "$out/runs" --again "${recipe_set[@]}" "${epochs_set[@]}"
done

if $has_python; then
  "$python" ci/gpu-check-summary.py "$out" | tee "$out/summary.txt"
else
  echo "gpu-check: no python to summarize; the figures are in $out/*.json"
fi
echo "gpu-check: done in $((SECONDS - started)) s"
