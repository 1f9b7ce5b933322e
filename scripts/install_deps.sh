#!/usr/bin/env bash
# Installs what tilefuse needs from Debian's packages, only where missing. The CUDA 13
# toolkit (NVRTC, headers) is expected at /usr/local/cuda, as on every machine here.
set -euo pipefail
pkgs=(cmake ninja-build g++ libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
      nlohmann-json3-dev libdlpack-dev pkgconf)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ ! -f /usr/local/cuda/include/nvrtc.h ]]; then
  echo "error: the CUDA toolkit is not at /usr/local/cuda (need NVRTC and cuda.h)" >&2
  exit 1
fi
# The Python binding's tools (nanobind, pytest) from PyPI for a Python >= 3.12; without
# one (or offline) the binding is not built and its tests do not run.
py=$(bash "$(dirname "$0")/binding_python.sh" --install)
[[ -n $py ]] || echo "note: no Python >= 3.12 with nanobind and pytest: the Python binding is skipped"
