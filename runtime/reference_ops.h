// Scalar semantics of pointwise ops on the host, shared by the reference evaluator and
// tests that interpret plans: the same functions (kernels/tf_math.cuh) and the same kind
// conversions as generated code (codegen/expr_codegen.cc).
#ifndef TILEFUSE_RUNTIME_REFERENCE_OPS_H_
#define TILEFUSE_RUNTIME_REFERENCE_OPS_H_

#include <functional>

#include "absl/status/statusor.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

// A value in its compute kind: floats in f, ints and bools (0/1) in i.
struct Scalar {
  float f = 0;
  int i = 0;
};

// A constant or stored element of dtype `t` as a compute value.
Scalar FromDouble(double v, DType t);
// Converts between compute kinds as generated code does (float -> int truncates).
Scalar Convert(Scalar s, DType from, DType to);
// `op` on operands already converted to the kinds the op computes in (OperandDType, as
// codegen does); `operand` is that dtype for the first operand (comparisons read it).
absl::StatusOr<Scalar> ApplyPointwise(PointwiseOp op, const Attrs& attrs, DType dtype, const Scalar* args,
                                      DType operand);

// Reduces `n` values (`at(r)` gives value r as fp32) with op 0 sum, 1 amax, 2 amin, 3 mean,
// 4 argmax (the index, first on ties, NaN largest), 5 var (sum of squared deviations over
// n - correction, two passes in double): the reduction kernel's semantics.
float ReduceValues(int op, int64_t n, const std::function<float(int64_t)>& at, int correction = 1);

// The dot product of `n` floats from `a` and `b` summed in double: each product of two
// floats is exact in double, so the order of the sums moves only double rounding (four
// running sums: the reference GEMMs are most of the CPU suites' time).
double Dot(const float* a, const float* b, int64_t n);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_REFERENCE_OPS_H_
