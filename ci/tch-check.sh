#!/usr/bin/env bash
# The libtorch backend (`--features tch`): builds runner against PyTorch (ci/tch-env.sh), runs
# the backend tests on `tch-cpu` (and `tch-cuda:0` where libtorch sees a GPU), lints that feature
# set, and prints `runner devices`. Not part of .ci/run: the PyTorch wheels are a 3.9 GB
# download and the build is another feature set of Burn (README, "Backends", has the costs).
#   ci/tch-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/tch-env.sh
cargo test --release --features tch --test backends -- --nocapture
cargo test --release --features tch --lib device::
cargo clippy --release --all-targets --features tch -- -D warnings
"$CARGO_TARGET_DIR/release/runner" devices
