// The layout of a generated kernel's Params struct, shared by codegen (which declares it)
// and the runtime (which packs it): every field is 8 bytes, in this order.
#ifndef TILEFUSE_CODEGEN_PARAMS_H_
#define TILEFUSE_CODEGEN_PARAMS_H_

#include <string>
#include <vector>

#include "runtime/fusion/kernel_spec.h"

namespace tilefuse {

struct ParamField {
  enum Kind { kOperandPtr, kOutputPtr, kNumel, kVectorOk, kInner, kDim, kStride };
  Kind kind;
  int index = 0;  // operand or output index (kOperandPtr, kOutputPtr, kInner, kStride)
  int dim = 0;    // kDim, kStride
};

// Fields in declaration order. Arrays (dims, strides) appear as consecutive fields.
std::vector<ParamField> PointwiseParamLayout(const PointwiseSpec& spec);

}  // namespace tilefuse

#endif  // TILEFUSE_CODEGEN_PARAMS_H_
