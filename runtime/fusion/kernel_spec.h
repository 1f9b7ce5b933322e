// What one generated kernel computes, independent of where its tensors live: the input of
// codegen and of the signature. Bindings (which graph value sits behind each operand, and
// the sizes and strides to pass) live beside it in KernelPlan (fusion_plan.h).
#ifndef TILEFUSE_RUNTIME_FUSION_KERNEL_SPEC_H_
#define TILEFUSE_RUNTIME_FUSION_KERNEL_SPEC_H_

#include "absl/strings/string_view.h"
#include <string>
#include <vector>

#include "runtime/fusion/expr.h"

namespace tilefuse {

// How a kernel operand is indexed from the flat index i of the kernel's index space.
enum class Access {
  kFull,     // same shape, contiguous: element i
  kInner,    // broadcast over leading dims: element i % inner
  kScalar,   // one element, broadcast everywhere
  kStrided,  // anything else (transposed views, middle-dim broadcasts): per-dim strides
};
absl::string_view AccessName(Access a);

struct OperandSpec {
  DType dtype = DType::kF32;
  Access access = Access::kFull;
};

struct OutputSpec {
  DType dtype = DType::kF32;  // storage dtype
  Expr expr;                  // value stored, computed in the dtype's compute kind
};

// A pointwise kernel: every output element i is a function of operand elements at i.
struct PointwiseSpec {
  int rank = 1;  // rank of the index space; strided operands take that many strides
  std::vector<OperandSpec> operands;
  std::vector<OutputSpec> outputs;

  // Elements per vector step: 16 bytes of the narrowest full/inner tensor, at most 8.
  int Vec() const;
};

// Canonical text of the spec: the part of a signature that describes the computation.
std::string SpecText(const PointwiseSpec& spec);

}  // namespace tilefuse

#endif  // TILEFUSE_RUNTIME_FUSION_KERNEL_SPEC_H_
