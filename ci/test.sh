#!/usr/bin/env bash
# The project's test command (README): sets up what the tests need, then runs every test in
# release mode (conv nets crawl in debug builds; one profile means Burn is compiled once).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runner-target}"
ci/setup.sh
cargo test --release "$@"
# The optional libjpeg-turbo decoder (`--features turbojpeg`): the data layer's own tests.
cargo test --release --features turbojpeg --lib data::
