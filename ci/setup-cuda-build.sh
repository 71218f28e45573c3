#!/usr/bin/env bash
# Makes `cargo build --features cuda` (Burn's native CUDA backend) build offline on Debian 12 /
# Ubuntu; does nothing when everything is present. Run once per machine (CI runs it too).
#
# Why: cubecl-cuda depends on cubecl-llvm (kernels are compiled LLVM -> PTX), whose build
# dependency tracel-llvm-bundler downloads an LLVM bundle from GitHub unless the folder
#   ${XDG_DATA_HOME:-~/.local/share}/tracel/tracel-llvm-<bundler version>/
# already holds the marker `.tracel-llvm-installed`; then it only runs that folder's
# `bin/llvm-config` (with `--link-static`) to find headers and static libraries. Debian's LLVM 22
# (`llvm-22-dev`, from bookworm-security) serves: this script links that folder's `include`
# and `lib` to /usr/lib/llvm-22 and puts a `bin/llvm-config` there that runs Debian's and
#   - writes Debian's absolute `/usr/lib/<triple>/libz3.so` as `-lz3` (the bundler would keep
#     only the stem `libz3`, which the linker cannot find), and
#   - drops `-lPolly -lPollyISL`, which Debian's llvm-config lists but ships in another package
#     (libpolly-22-dev) and nothing here uses.
# The static LLVM libraries link libstdc++ and libzstd (libzstd-dev) into runner; z3 and the
# rest of LLVM's system libraries come with llvm-22-dev's dependencies. cubecl-llvm's C++ shims
# need a C++ compiler (g++).
#
# Afterwards it prints the environment to build with. CUDARC_CUDA_VERSION (the CUDA version
# whose driver API cudarc binds) defaults to 12090 in .cargo/config.toml: it runs on NVIDIA
# drivers 575 and newer (CUDA 12.9 and 13.x) and enables everything cubecl-cuda gates on the
# version. Without it cudarc would bind the newest CUDA it knows (13.4), which older drivers lack.
#   ci/setup-cuda-build.sh            set up (apt-get when packages are missing: needs root)
#   ci/setup-cuda-build.sh --check    only say what is missing (exit 1 if anything is)
set -euo pipefail
cd "$(dirname "$0")/.."
check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  "") ;;
  *) echo "usage: ci/setup-cuda-build.sh [--check]" >&2; exit 2 ;;
esac
llvm=/usr/lib/llvm-22
# The folder tracel-llvm-bundler looks in: dirs::data_local_dir() (XDG_DATA_HOME when it is an
# absolute path, else ~/.local/share), then tracel/tracel-llvm-<its version from Cargo.lock>.
version=$(awk '/^name = "tracel-llvm-bundler"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$version" ] || { echo "setup-cuda-build: no tracel-llvm-bundler in Cargo.lock" >&2; exit 1; }
data_home=${XDG_DATA_HOME:-}
[[ "$data_home" == /* ]] || data_home="$HOME/.local/share"
bundle="$data_home/tracel/tracel-llvm-$version"

missing=()
[ -x "$llvm/bin/llvm-config" ] && [ -e "$llvm/lib/libLLVMCore.a" ] || missing+=(llvm-22-dev)
[ -e /usr/include/zstd.h ] || missing+=(libzstd-dev)
command -v c++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  if $check_only; then
    echo "setup-cuda-build: missing packages: ${missing[*]}"
    exit 1
  fi
  echo "setup-cuda-build: installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The wrapper's text; rewritten when it differs (e.g. an older version of this script).
wrapper=$(cat <<EOF
#!/bin/sh
# Written by runner's ci/setup-cuda-build.sh: Debian's LLVM 22 standing in for the LLVM bundle
# tracel-llvm-bundler $version would download.
$llvm/bin/llvm-config "\$@" | sed -e 's#/usr/lib/[^ ]*/libz3\.so#-lz3#g' -e 's/ *-lPolly\(ISL\)\?\b//g'
exit 0
EOF
)
if [ -e "$bundle/.tracel-llvm-installed" ] && [ ! -L "$bundle/lib" ]; then
  # A real bundle (downloaded by a build that could reach GitHub): leave it alone.
  echo "setup-cuda-build: $bundle holds a downloaded LLVM bundle; nothing to do"
elif [ -e "$bundle/.tracel-llvm-installed" ] && [ "$(cat "$bundle/bin/llvm-config" 2>/dev/null)" = "$wrapper" ] \
    && [ "$(readlink "$bundle/lib")" = "$llvm/lib" ] && [ "$(readlink "$bundle/include")" = "$llvm/include" ]; then
  :
elif $check_only; then
  echo "setup-cuda-build: $bundle is not set up"
  exit 1
else
  mkdir -p "$bundle/bin"
  ln -sfn "$llvm/include" "$bundle/include"
  ln -sfn "$llvm/lib" "$bundle/lib"
  printf '%s\n' "$wrapper" >"$bundle/bin/llvm-config.tmp"
  chmod +x "$bundle/bin/llvm-config.tmp"
  mv "$bundle/bin/llvm-config.tmp" "$bundle/bin/llvm-config"
  # The marker last: a bundle folder without it is one the bundler would download into.
  touch "$bundle/.tracel-llvm-installed"
  echo "setup-cuda-build: $bundle now points at Debian's LLVM $("$bundle/bin/llvm-config" --version)"
fi

cat <<EOF
setup-cuda-build: ready. Build with
  cargo build --release --features cuda        # or --features cuda,wgpu
Environment (optional):
  CUDARC_CUDA_VERSION=$(sed -n 's/^CUDARC_CUDA_VERSION *= *{ *value *= *"\([0-9]*\)".*/\1/p' .cargo/config.toml)   the CUDA driver API to bind (.cargo/config.toml's default): runs on drivers
                             of that CUDA version and newer (13000 for 13.0 = driver 580, 12080 = 570)
At run time: the NVIDIA driver (libcuda.so.1) and libdevice (nvvm/libdevice/libdevice.10.bc under
  CUDA_PATH, /usr/local/cuda, /opt/cuda or /usr/lib/cuda); \`runner devices\` says what it finds.
EOF
