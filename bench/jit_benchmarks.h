// The JIT's own costs, beside the kernels' speed in bench_fusion: a cold NVRTC compile per
// kernel, a warm start from the disk cache per kernel (read, verify and, with a GPU, load
// the module), an in-memory cache hit, and the host time Plan::Run adds over a bare
// cuLaunchKernel of the same kernel. All but the last run without a GPU.
#ifndef TILEFUSE_BENCH_JIT_BENCHMARKS_H_
#define TILEFUSE_BENCH_JIT_BENCHMARKS_H_

#include <vector>

#include "bench/catalog.h"

namespace tilefuse::internal {

// Registers the jit/... benchmarks for every catalog graph (fused plans). `gpu` adds the
// module loads and the Run overhead benchmark; `cache_dir` holds the warm disk cache.
void RegisterJitBenchmarks(const std::vector<CatalogEntry>& catalog, bool gpu, const std::string& cache_dir);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_BENCH_JIT_BENCHMARKS_H_
