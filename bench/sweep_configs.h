// A grid of forced GEMM configs over the sweep's plain rows of small and mid M: the data
// behind the untuned defaults (SmallMGemmConfig). Not a benchmark family: a table.
//
//   bench_fusion --sweep_configs [--sweep_m=M] [--sweep_only=TEXT]
//       the grid instead of the benchmarks (the points of that M alone, the rows whose
//       name holds TEXT)
#ifndef TILEFUSE_BENCH_SWEEP_CONFIGS_H_
#define TILEFUSE_BENCH_SWEEP_CONFIGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/catalog.h"
#include "bench/gpu_timer.h"
#include "bench/sweep.h"

namespace tilefuse::internal {

// For each plain point with M <= 1024 (`only_m` > 0: the points of that M, any M): the candidates of
// RunSweepConfigs's list (edited per experiment; now the Hopper kernel's tiles of 64 and
// 128 rows and columns with deep pipelines past M = 16, the decode tile's pipeline depths
// and splits to 16), each with K split several ways (forced, on the graph with M
// symbolic); and the untuned default (M static). Compiles in parallel, then times each
// (L2 flushed, median of 25) and prints one line per config and the best per point.
// With `catalog`, also its weight-only decode graphs (M = 16) against the skinny kernel's
// configs (SkinnyCandidates). `only`: the rows whose name holds it (empty: all).
absl::Status RunSweepConfigs(GpuTimer& timer, const std::vector<SweepPoint>& points, int64_t only_m = 0,
                             const std::vector<CatalogEntry>* catalog = nullptr, const std::string& only = "");

}  // namespace tilefuse::internal

#endif  // TILEFUSE_BENCH_SWEEP_CONFIGS_H_
