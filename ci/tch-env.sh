# Sourced by the scripts that build runner with `--features tch` (libtorch: `--device tch-cpu`
# and `--device tch-cuda[:N]`): builds against the PyTorch of a venv, in a target folder of its own
# (another feature set rebuilds most of Burn). The venv is ci/bench/setup-torch.sh's (torch
# 2.9.1 from PyPI, the CUDA build: a 3.9 GB download, 6.8 GB installed), made when missing.
venv="${RUNNER_TORCH_VENV:-$HOME/.cache/runner-torch-venv}"
"$venv/bin/python" -c "import torch" 2>/dev/null || ci/bench/setup-torch.sh "$venv" >/dev/null
# torch-sys runs `python3` to find libtorch's headers and libraries.
export PATH="$venv/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
# tch 0.22 (under burn-tch 0.22) names PyTorch 2.9.0; 2.9.1 is a patch release of it.
export LIBTORCH_BYPASS_VERSION_CHECK=1
export CARGO_TARGET_DIR="${RUNNER_TCH_TARGET_DIR:-$HOME/.cache/runner-target-tch}"
export CARGO_TERM_COLOR=never
