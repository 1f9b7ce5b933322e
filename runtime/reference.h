// The CPU reference evaluator: runs a graph op by op on the host, with the same scalar
// functions as generated kernels (kernels/tf_math.cuh), fp32 math for floating dtypes and
// exact reads of the stored dtypes. Values are rounded to their dtype only at explicit
// casts and at the graph's outputs, as fused kernels do; tests compare against it.
#ifndef TILEFUSE_RUNTIME_REFERENCE_H_
#define TILEFUSE_RUNTIME_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

// A host tensor: dtype, concrete shape, and its bytes in storage layout (bf16 as 2 bytes).
struct HostTensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  static HostTensor Zeros(DType dtype, std::vector<int64_t> shape);
  int64_t numel() const;
  // Element i converted to double (bf16/f16 exactly, bool as 0/1).
  double Get(int64_t i) const;
  // Stores v rounded to the dtype (round to nearest even; i32 truncates).
  void Set(int64_t i, double v);
};

// Evaluates `graph` on `inputs` (in the graph's input order); returns the outputs in order.
absl::StatusOr<std::vector<HostTensor>> EvaluateReference(const Graph& graph,
                                                          const std::vector<HostTensor>& inputs);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_REFERENCE_H_
