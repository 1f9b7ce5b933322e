// Store-site reductions: which reductions fold into a tile kernel's store, in which form,
// and how a split one is tied to the kernel that combines its partials.
//
// Forms (Plan::Explain() names the one taken):
//  - persistent: one CTA holds the whole reduced axis. Row-wise kernels (rms_norm,
//    layer_norm, softmax) hold whole rows, so a reduction over the last dim is always
//    persistent; a GEMM is when its tile covers the axis (N <= BN over N, M <= BM over M).
//  - split: the GEMM's tiles each reduce their part of the axis in a fixed order and write
//    one partial per (row or column, tile) to a workspace; a second, small reduce kernel
//    combines the partials in tile order and applies what follows the reduction. Same bits
//    every run, no atomics. A loop form (one CTA walking the whole axis) is not built: for
//    a GEMM it leaves one CTA per row of tiles, which starves the GPU.
// Operators: sum, amax, amin, mean, and var (Welford: count, mean and m2 merged pairwise,
// so that a mean and a var of one input over one axis share one pass and one kernel; a
// split var writes (n, mean, m2) per tile and the combine kernel merges them in order).
// Not fused (their own kernel, with prologue and epilogue fusion): argmax, reductions over
// all axes, reductions after a registered or reduce kernel, and a second reduction of one
// kernel other than the mean/var partner.
#ifndef TILEFUSE_RUNTIME_FUSION_REDUCTION_H_
#define TILEFUSE_RUNTIME_FUSION_REDUCTION_H_

#include <string>

#include "runtime/fusion/fusion_plan.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

// Why reduction `r` cannot fold into the store of tile kernel `tile`, or "" if it can
// (the input's place in the kernel is checked by the caller).
std::string ReduceIntoStoreRefusal(const Graph& g, const Node& tile, const Node& r);

// Whether `a` and `b` are a mean and a var (either order) of one input over one axis with
// one keepdim: a single Welford pass computes both.
bool IsMeanVarPair(const Node& a, const Node& b);

// The axis of the tile output as [rows, cols] that `r` reduces: 1 (cols) or 0 (rows).
int StoreReduceAxis(const Graph& g, const Node& tile, const Node& r);

// The kernel operator: 0 sum, 1 amax, 2 amin, 3 mean (kernels/reduce_ops.cuh).
int StoreReduceOp(ReduceOp op);

// Whether a GEMM tile config holds the whole reduced axis of `k` in one CTA, so that its
// store-site reduction can be persistent.
bool GemmTileCoversAxis(const KernelPlan& k, const GemmConfig& c);

// After the GEMM configs are final: sizes each split reduction's partial workspace and
// its combine kernel by the tile extent along the reduced axis.
void BindSplitReductions(FusionPlan& plan);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_REDUCTION_H_
