// The fp8 GEMM of bench_fusion's cuBLAS column: y = (a * s_a) @ (w * s_w).T with e4m3 / e5m2
// codes and one scale per tensor, through cublasLtMatmul with A and B scale pointers (the
// library loaded with dlopen). Fast accumulation is on: cuBLASLt then accumulates in the
// tensor core as tilefuse's fp8 kernel does (no promotion to CUDA-core sums every few
// k-tiles), so the two compare at the same precision.
#ifndef TILEFUSE_BENCH_CUBLASLT_F8_H_
#define TILEFUSE_BENCH_CUBLASLT_F8_H_

#include <cuda.h>

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

// The graph inputs of an fp8 GEMM with per-tensor scales: matmul input 0 is a dequant of
// input `a` by scalar input `sa`, input 1 the transpose of a dequant of `w` by `sw`.
struct F8GemmInputs {
  int a = -1, sa = -1, w = -1, sw = -1;
};
std::optional<F8GemmInputs> FindF8GemmInputs(const Graph& g, int matmul);

class CublasLtF8 {
 public:
  // kFailedPrecondition where libcublasLt cannot be loaded or has no algorithm for it.
  static absl::StatusOr<std::unique_ptr<CublasLtF8>> Create(DType a, DType w, DType out, int64_t m, int64_t n,
                                                            int64_t k);
  ~CublasLtF8();
  // y [M, N] (row-major) from a [M, K], w [N, K] and the two device scalars.
  absl::Status Run(CUstream stream, const void* a, const void* sa, const void* w, const void* sw, void* y);

 private:
  CublasLtF8() = default;
  struct Api;
  std::unique_ptr<Api> api_;
  DeviceBuffer workspace_;
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_BENCH_CUBLASLT_F8_H_
