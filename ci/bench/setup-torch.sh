#!/usr/bin/env bash
# Makes a throwaway venv with PyTorch and torchvision for ci/bench/torch_train_step.py
# and ci/bench/torch_recipe.py (benchmarks only; the tests do not need it). Usage: ci/bench/setup-torch.sh [VENV]
set -euo pipefail
venv="${1:-${RUNNER_TORCH_VENV:-$HOME/.cache/runner-torch-venv}}"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "torch==2.9.1" "torchvision==0.24.1" safetensors pillow
echo "$venv/bin/python ci/bench/torch_train_step.py"
