// The shape sweep of bench_fusion (issue 17): y = x @ w.T over Llama-3-8B projection
// shapes and batch sizes 1 to 8192, plain and with + bias -> silu, each with M static and
// with M symbolic, beside cuBLAS plus separate epilogue kernels.
//
//   bench_fusion --benchmark_filter='sweep/'                    the whole sweep
//   bench_fusion --benchmark_filter='sweep/.*/M=(1|16|64|256|4096)/'   a quick subset
//
// Rows are named sweep/K<k>xN<n>/<plain|bias_silu>/M=<m>/<static|symbolic|cublas>.
#ifndef TILEFUSE_BENCH_SWEEP_H_
#define TILEFUSE_BENCH_SWEEP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/catalog.h"
#include "runtime/tensor.h"

namespace tilefuse::internal {

struct SweepPoint {
  int64_t k = 0, n = 0, m = 0;
  bool bias_silu = false;
  std::string name;        // "sweep/K4096xN6144/plain/M=16", without the variant
  CatalogEntry fixed;      // M static
  CatalogEntry symbolic;   // M a symbol, bound to m
};

// (K, N) in {(4096, 6144), (4096, 4096), (4096, 28672), (14336, 4096)} x M in {1, 8, 16,
// 32, 64, 128, 256, 512, 1024, 4096, 8192} x {plain, + bias -> silu}; bf16 throughout.
absl::StatusOr<std::vector<SweepPoint>> SweepPoints();

// Device tensors of a point: inputs x, w (and b with the epilogue), output y. Random
// values, made once per shape and kept for the process (rows of one shape share them).
absl::Status SweepTensors(const SweepPoint& p, std::vector<TensorArg>& in, std::vector<TensorArg>& out);

// The summary the issue asks for, from (name, tilefuse us, cuBLAS us) rows: per variant and
// M range (<= 16, 17-256, > 256) the geometric mean and worst of the ratios, and the weight
// bandwidth of the M <= 16 rows against `copy_tbps`.
struct SweepRow {
  const SweepPoint* point;
  std::string variant;  // "static" or "symbolic"
  double us = 0, cublas_us = 0;
};
void PrintSweepSummary(const std::vector<SweepRow>& rows, double copy_tbps);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_BENCH_SWEEP_H_
