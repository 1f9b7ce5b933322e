// A user-registered row-wise tile kernel for tests: y = x / max|x| * w, written against the
// hook contract the way an engine would write one.
#ifndef TILEFUSE_TEST_CUSTOM_KERNEL_H_
#define TILEFUSE_TEST_CUSTOM_KERNEL_H_

#include <string>

#include "runtime/graph/custom_tile.h"

namespace tilefuse::internal {

// A registry holding "absmax_scale" (x [..., N], w [N]).
const TileRegistry& TestRegistry();

// x [M, 700] bf16 -> absmax_scale(x, w) -> + bias -> relu, as JSON.
std::string CustomKernelGraphJson();

}  // namespace tilefuse::internal

#endif  // TILEFUSE_TEST_CUSTOM_KERNEL_H_
