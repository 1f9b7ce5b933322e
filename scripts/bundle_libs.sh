#!/usr/bin/env bash
# Copies the shared libraries the GPU machine lacks (Debian's Abseil and Google Benchmark)
# next to the build, in build/lib, so that `build` can be carried there as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/lib
for bin in build/test/gpu_*_test build/bench/bench_fusion build/runtime/tools/tilefuse; do
  ldd "$bin" | awk '/libabsl|libbenchmark/ {print $3}'
done | sort -u | xargs -r cp -Lu -t build/lib/
echo "bundled $(ls build/lib | wc -l) libraries into build/lib"
