#!/usr/bin/env bash
# The project's test command (README): sets up what the tests need, then runs every test in
# release mode (conv nets crawl in debug builds; one profile means Burn is compiled once).
# The tests are built with the wgpu backend compiled in (RUNNER_TEST_FEATURES, default
# `wgpu`): tests/backends.rs compares it with flex on Mesa's software Vulkan driver, and every
# other test runs on flex as in the default build. One feature set, so Burn is built once.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runner-target}"
features="${RUNNER_TEST_FEATURES-wgpu}"
ci/setup.sh
cargo test --release --features "$features" "$@"
# The optional libjpeg-turbo decoder (`--features turbojpeg`): the data layer's own tests.
cargo test --release --features "$features,turbojpeg" --lib data::
