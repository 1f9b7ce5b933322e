// Host-side test data: concrete shapes from symbol sizes, fresh random inputs (never
// zeros), and comparison against the reference with a tolerance set by the dtypes.
#ifndef TILEFUSE_TEST_HOST_DATA_H_
#define TILEFUSE_TEST_HOST_DATA_H_

#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/graph/graph.h"
#include "runtime/reference.h"

namespace tilefuse::internal {

// Symbol id -> size, from names (unnamed symbols get `fallback`).
std::vector<int64_t> BindSymbols(const Graph& g, const std::map<std::string, int64_t>& sizes,
                                 int64_t fallback = 5);
std::vector<int64_t> ConcreteShape(const Shape& s, const std::vector<int64_t>& symbols);

// Random inputs: floats uniform in [-2, 2], ints in [-50, 50], bools half true.
std::vector<HostTensor> RandomInputs(const Graph& g, const std::vector<int64_t>& symbols,
                                     std::mt19937_64& rng);

// The least precise floating dtype in the graph (f32 if none).
DType LeastPreciseFloat(const Graph& g);

// Tolerance for a plan of the graph against the reference: a few units of the roundoff of
// the least precise dtype per op (unfused plans round every intermediate).
double ToleranceFor(const Graph& g);

// Same shape and dtype; ints and bools equal; floats within `tol` of the reference,
// relative to |ref| + rms(ref); NaN exactly where the reference has NaN.
::testing::AssertionResult AllClose(const HostTensor& got, const HostTensor& ref, double tol);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_TEST_HOST_DATA_H_
