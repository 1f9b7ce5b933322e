// GEMM + an operand added along its columns (a bias): the accumulators start from the
// operand instead of zero, and the epilogue no longer loads or adds it. On the H100 the
// bias's loads and adds in the store loop cost 2% of a 4096^3 GEMM (docs/NOTES.md).
#ifndef TILEFUSE_RUNTIME_FUSION_ACC_START_H_
#define TILEFUSE_RUNTIME_FUSION_ACC_START_H_

#include <string>

#include "runtime/fusion/fusion_plan.h"

namespace tilefuse::internal {

// Folds `add(y, b)` (either order) into the accumulators of matmul kernel `k` when every
// epilogue-site read of the matmul's value y goes through that one add, b is read nowhere
// else, and b is a float operand that depends on the column only (broadcast over the
// rows, or a scalar). Then b's site becomes kAccStartSite, the add's uses read the tile
// value, and the returned text (a plan decision) says what was folded; otherwise `k` is
// left as it was and the text is empty.
std::string FoldColumnAddIntoAccumulators(const Graph& g, KernelPlan& k);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_ACC_START_H_
