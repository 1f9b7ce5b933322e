// The cuBLAS column of bench_fusion: the graph's GEMM through cuBLAS (loaded with dlopen,
// where the machine has it), with whatever the graph does before and after the GEMM run as
// separate tilefuse plans (the "GEMM library plus an epilogue kernel" an engine would do
// without fusion).
#ifndef TILEFUSE_BENCH_CUBLAS_BASELINE_H_
#define TILEFUSE_BENCH_CUBLAS_BASELINE_H_

#include <cuda.h>

#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/catalog.h"
#include "bench/cublaslt_f8.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/plan.h"

namespace tilefuse::internal {

class CublasBaseline {
 public:
  // Fails (kFailedPrecondition) where libcublas cannot be loaded, or (kUnimplemented) for a
  // graph without exactly one matmul of bf16/f16 operands (or of two fp8 inputs dequantized
  // by one scale each: cublasLtMatmul's scaled fp8 GEMM).
  static absl::StatusOr<std::unique_ptr<CublasBaseline>> Create(const CatalogEntry& entry);
  ~CublasBaseline();

  // Runs on `stream` with the graph's inputs and outputs (as Plan::Run takes them).
  absl::Status Run(CUstream stream, const std::vector<TensorArg>& inputs,
                   const std::vector<TensorArg>& outputs);
  int num_kernels() const;  // launches besides the cuBLAS GEMM's own

 private:
  CublasBaseline() = default;
  struct Api;
  std::unique_ptr<Api> api_;
  void* handle_ = nullptr;
  const CatalogEntry* entry_ = nullptr;
  int matmul_ = -1;
  std::optional<Plan> pre_, post_;  // before and after the GEMM
  std::vector<int> pre_outputs_;    // graph node of each pre_ output
  DeviceBuffer a_, y_;              // the GEMM's A when computed, and its output
  // An fp8 GEMM with per-tensor scales (cublasLtMatmul) and its inputs, in place of GemmEx.
  std::unique_ptr<CublasLtF8> f8_;
  F8GemmInputs f8_inputs_;
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_BENCH_CUBLAS_BASELINE_H_
