// PyTorch's result-type rules for pointwise ops (torch.result_type), applied to graph
// operands: dimensioned tensors outrank zero-dim tensors, which outrank number literals, and
// a lower-ranked operand only matters when its category (bool < int < float) is higher.
#ifndef TILEFUSE_RUNTIME_GRAPH_PROMOTION_H_
#define TILEFUSE_RUNTIME_GRAPH_PROMOTION_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/graph/dtype.h"
#include "runtime/graph/ops.h"

namespace tilefuse::internal {

struct PromotionOperand {
  DType dtype;
  int rank;
  bool is_literal;  // a number written in the graph (PyTorch's "wrapped number")
};

// torch.result_type over the operands. Float literals count as f32, int literals as i32.
DType ResultType(const std::vector<PromotionOperand>& operands);

// The dtype of `op` applied to operands whose promoted type is `promoted`, by the op's
// ResultRule (e.g. div of two i32 is f32). Errors name the op and the dtype.
absl::StatusOr<DType> PointwiseResultDType(PointwiseOp op, DType promoted);

// The dtype whose compute kind operand i of `op` is brought to before the op computes
// (codegen and the CPU reference alike): the result's, but where's condition and logical
// ops take bools, and comparisons f32 when any operand (of dtypes `operands`) is floating,
// else i32.
DType OperandDType(PointwiseOp op, DType result, absl::Span<const DType> operands, size_t i);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_PROMOTION_H_
