// Lowers a generated row kernel (KernelSpec tile "row": a chain of pointwise work and
// reductions over the last axis, RowStage) to the glue of one CUDA kernel. Each row's
// threads hold their elements of the full operands the reductions read in registers
// (loaded once), reduce stage by stage in a fixed order (kernels/rowwise.cuh row_combine:
// the same bits every run), compute per-row values once, and store every output element
// once: the structure of the built-in row tiles, over any expression.
#ifndef TILEFUSE_CODEGEN_ROW_CODEGEN_H_
#define TILEFUSE_CODEGEN_ROW_CODEGEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "codegen/emitter.h"
#include "runtime/fusion/kernel_spec.h"

namespace tilefuse::internal {

absl::StatusOr<std::string> GenerateRowGlue(const KernelSpec& spec, const std::string& entry_name);

// A GEMM's row_epilogue hook (kernels/gemm.cuh gemm_epilogue): the same row program over
// the rows of its staged fp32 tile, which covers them (spec.stages non-empty), a warp per
// row, the GEMM's value the kTileValue index 0 leaf.
absl::Status EmitGemmRowEpilogue(Emitter& e, const KernelSpec& spec);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_ROW_CODEGEN_H_
