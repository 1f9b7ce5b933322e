// GEMM graphs in every operand dtype the planner accepts (f32, f16, bf16), with B as
// [K, N] or as the transpose of a [N, K] weight, plain or with epilogues that mix dtypes
// (a bias of another dtype, an f32 residual, a cast out), with cast prologues, and at
// decode M: what the GPU suite runs against the CPU reference and the CPU suite compiles.
#ifndef TILEFUSE_TEST_GEMM_DTYPE_GRAPHS_H_
#define TILEFUSE_TEST_GEMM_DTYPE_GRAPHS_H_

#include <vector>

#include "test/test_graphs.h"

namespace tilefuse::internal {

// Kernel counts are not fixed here (-1): the tests compare results, not plans.
const std::vector<TestGraph>& GemmDtypeTestGraphs();

}  // namespace tilefuse::internal

#endif  // TILEFUSE_TEST_GEMM_DTYPE_GRAPHS_H_
