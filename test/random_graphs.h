// Seeded random pointwise graphs: every op and dtype, broadcasts, transposed inputs,
// symbolic dims, several outputs. Operands of ops with a restricted domain are wrapped
// (log(|x| + 1), exp(tanh(x)), ...) so values stay finite, and floats are never cast to
// integers, so integer results are exact on every device.
#ifndef TILEFUSE_TEST_RANDOM_GRAPHS_H_
#define TILEFUSE_TEST_RANDOM_GRAPHS_H_

#include <cstdint>
#include <map>
#include <string>

#include "runtime/graph/graph.h"

namespace tilefuse::internal {

struct RandomGraph {
  Graph graph;
  std::map<std::string, int64_t> symbols;  // sizes for the graph's symbols
};

RandomGraph MakeRandomPointwiseGraph(uint64_t seed);

// Seeded random row programs, as model code writes norms and softmax: float inputs over
// [..., C] (per-column weights and per-row values too), pointwise work, reductions over
// the last axis (keepdim, or dropped and brought back through a reshape) broadcast back
// over the rows, several stages deep.
RandomGraph MakeRandomRowGraph(uint64_t seed);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_TEST_RANDOM_GRAPHS_H_
