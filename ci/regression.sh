#!/usr/bin/env bash
# runner's own regression check: trains ci/regression/tiny_transfer.yaml (a pretrained
# MobileNetV2 0.35 on the shared photos at 64x64, a frozen phase and a short fine-tuning) from
# scratch and checks it against the committed baseline ci/baselines/tiny_transfer.json.
# Exit 0: all checks pass; 1: a result regressed; 2: a check could not be evaluated.
# Reports go to $REPORTS (default target/regression): junit.xml and summary.md.
#
# After an intended change of results, update the baseline in one reviewed commit:
#   runner baseline <the run folder printed below> --out ci/baselines/tiny_transfer.json
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runner-target}"
# The binary `cargo test --release` builds (same features as ci/test.sh's, so CI does not
# compile Burn a second time).
cargo test --release --features "${RUNNER_TEST_FEATURES-wgpu}" --no-run --quiet
runner="$CARGO_TARGET_DIR/release/runner"
reports="${REPORTS:-$CARGO_TARGET_DIR/regression}"
runs="$(mktemp -d)"
trap 'rm -rf "$runs"' EXIT
# A cache of its own: the check measures this build from scratch, never tables an earlier
# build stored (the frozen-prefix cache also keys on the build, so this is belt and braces).
export RUNNER_CACHE="$runs/cache"
mkdir -p "$reports"
start=$SECONDS
"$runner" run ci/regression/tiny_transfer.yaml --runs "$runs" --quiet --check \
  --junit "$reports/junit.xml" --markdown "$reports/summary.md"
echo "regression check: $((SECONDS - start)) s (reports in $reports)"
