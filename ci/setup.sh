#!/usr/bin/env bash
# Installs what builds and tests need on a fresh Debian machine; does nothing when present.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v pkg-config >/dev/null || missing+=(pkg-config)
# The optional `turbojpeg` feature (off by default) builds the libjpeg-turbo sources bundled with turbojpeg-sys:
# a C compiler, cmake, and nasm for its SIMD code (src/data/turbo.rs says why).
command -v cc >/dev/null || missing+=(gcc)
command -v cmake >/dev/null || missing+=(cmake)
command -v nasm >/dev/null || command -v yasm >/dev/null || missing+=(nasm)
# tests/slurm.rs runs sweeps on a real local Slurm cluster (../shared/tools/slurm): Debian's
# Slurm 22.05 daemons and clients, and munge for its authentication.
command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null || missing+=(slurm-wlm)
command -v munged >/dev/null || missing+=(munge)
# tests/backends.rs runs the wgpu backend on Mesa's software Vulkan driver (lavapipe), through
# the Vulkan loader.
ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers)
ldconfig -p | grep 'libvulkan\.so\.1' >/dev/null || missing+=(libvulkan1)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci/setup.sh: installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if [ -x ci/setup-python.sh ]; then
  ci/setup-python.sh >/dev/null
fi
