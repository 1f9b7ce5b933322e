#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, then plan and compile
# the graph catalog into the disk cache (prints what fused and what NVRTC took), and run
# bench_fusion (kernel timings where a GPU is present, the JIT's own costs everywhere).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
cli=build/runtime/tools/tilefuse
for g in bench/graphs/*.json; do
  "$cli" plan "$g" --no-fusion | head -1
done
"$cli" compile bench/graphs/*.json
build/bench/bench_fusion --benchmark_min_time=0.2
