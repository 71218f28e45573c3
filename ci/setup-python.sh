#!/usr/bin/env bash
# Create (idempotently) the Python venv used by the TensorBoard read-back tests, the Keras
# `.h5` tests (h5py writes the files) and the ONNX export tests (ONNX Runtime runs the files),
# and print the path of its python interpreter on the last line of stdout.
#
#   RUNNER_PY_VENV  venv location (default: $HOME/.cache/runner-venv)
#   PYTHON          interpreter used to create the venv (default: python3)
#
# The tests look for the interpreter in $RUNNER_PY, else in
# ${RUNNER_PY_VENV:-$HOME/.cache/runner-venv}/bin/python.
set -euo pipefail

TENSORBOARD_VERSION="2.21.0"
H5PY_VERSION="3.14.0"
ONNXRUNTIME_VERSION="1.32.0"
VENV="${RUNNER_PY_VENV:-$HOME/.cache/runner-venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating venv at $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

if ! "$VENV/bin/python" - "$TENSORBOARD_VERSION" "$H5PY_VERSION" "$ONNXRUNTIME_VERSION" \
    <<'PY' >/dev/null 2>&1
import sys
import h5py
import onnxruntime
import tensorboard
from tensorboard.backend.event_processing import event_accumulator  # noqa: F401
from tensorboard.plugins.hparams import metadata  # noqa: F401
versions = (tensorboard.__version__, h5py.__version__, onnxruntime.__version__)
sys.exit(0 if versions == tuple(sys.argv[1:]) else 1)
PY
then
    echo "installing tensorboard==$TENSORBOARD_VERSION h5py==$H5PY_VERSION" \
        "onnxruntime==$ONNXRUNTIME_VERSION into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "tensorboard==$TENSORBOARD_VERSION" "h5py==$H5PY_VERSION" \
        "onnxruntime==$ONNXRUNTIME_VERSION" 1>&2
fi

echo "$VENV/bin/python"
