#!/usr/bin/env bash
# Configures and builds tilefuse into build/ (Release). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Python binding where a Python for it is ready (scripts/binding_python.sh).
py=$(bash scripts/binding_python.sh)
python_flags=()
[[ -n $py ]] && python_flags=(-DTILEFUSE_BUILD_PYTHON=ON -DPython_EXECUTABLE="$py")
# Unity builds (eight sources a translation unit): most of a source's compile is the
# headers it shares with its neighbours (Abseil, the STL, GoogleTest); a third less time.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON "${python_flags[@]}" "$@" >/dev/null
cmake --build build -j"$(nproc)"
