// Dual GEMMs: two matmuls of one A whose results meet in one epilogue (silu(x @ wg.T) *
// (x @ wu.T), a transformer's gated MLP) run as one GEMM kernel. Its tile of bn columns
// multiplies bn / 2 rows of each weight, staged side by side in shared memory as one B of
// bn rows, so that both products of the same columns of C come out of one main loop, and
// the epilogue reads both (kernels/gemm.cuh kDual). Against two GEMMs: A is read once, one
// launch, and the first product is never written and read back.
#ifndef TILEFUSE_RUNTIME_FUSION_DUAL_GEMM_H_
#define TILEFUSE_RUNTIME_FUSION_DUAL_GEMM_H_

#include <vector>

#include "runtime/fusion/grouping.h"
#include "runtime/fusion/views.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

// Merges GEMM kernels in pairs (Group::dual) where:
//  - both are plain matmuls of the same A value, [M, K] by [K, N] with the same M, N and K,
//    16-bit (bf16 or f16) operands, neither with a prologue;
//  - each B is a K-major buffer (a weight used as w.T), which the dual kernel reads by
//    cp.async or TMA;
//  - the later one's epilogue reads a value of the earlier one's kernel directly, and no
//    kernel between them reads any;
//  - neither has a store-site reduction, a row epilogue, column windows or recomputed
//    producers, and the earlier one computes nothing but its epilogue.
// The merged kernel takes the later one's place; `decisions` says which pairs merged.
void FuseDualGemms(const Graph& g, const std::vector<ViewInfo>& views, Grouping& grouping);

// The same over one concatenated weight: a GEMM y = x @ w.T whose value is read only through
// two column slices of equal width L (gate = y[:, a:a+L], up = y[:, b:b+L]), where one
// pointwise kernel over [M, L] reads them (directly or through the slices' epilogues): one
// kernel over [M, L] whose two B operands are w's rows [a, a+L) and [b, b+L)
// (Group::split_rows); y itself is never stored.
void FuseSplitDualGemms(const Graph& g, const std::vector<ViewInfo>& views, Grouping& grouping);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_DUAL_GEMM_H_
