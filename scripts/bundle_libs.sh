#!/usr/bin/env bash
# Prepares build/ to be carried to a GPU machine: copies the shared libraries it lacks
# (Debian's Abseil and Google Benchmark) into build/lib, and fills build/warm_cache with
# the catalog's kernels (tilefuse warmup --arch sm_90, no GPU needed), which
# scripts/gpu_check.sh then loads there without calling NVRTC.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/lib
for bin in build/test/gpu_*_test build/test/public_api_test build/bench/bench_fusion build/runtime/tools/tilefuse build/examples/tp_mlp \
  build/runtime/api/libtilefuse.so; do
  ldd "$bin" | awk '/libabsl|libbenchmark/ {print $3}'
done | sort -u | xargs -r cp -Lu -t build/lib/
cp -P build/runtime/api/libtilefuse.so* build/lib/  # the public library (public_api_test, engine)
echo "bundled $(ls build/lib | wc -l) libraries into build/lib"
rm -rf build/warm_cache
build/runtime/tools/tilefuse warmup bench/graphs/*.json --arch sm_90 --cache-dir build/warm_cache
