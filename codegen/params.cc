#include "codegen/params.h"

namespace tilefuse::internal {

std::vector<ParamField> ParamLayout(const KernelSpec& spec) {
  std::vector<ParamField> f;
  const int n_in = static_cast<int>(spec.operands.size());
  for (int i = 0; i < n_in; ++i) f.push_back({ParamField::kOperandPtr, i});
  for (int j = 0; j < static_cast<int>(spec.outputs.size()); ++j) {
    f.push_back({ParamField::kOutputPtr, j});
  }
  f.push_back({ParamField::kNumel});
  f.push_back({ParamField::kVectorOk});
  for (int i = 0; i < n_in; ++i) {
    const OperandSpec& o = spec.operands[i];
    if (o.access == Access::kInner || o.access == Access::kOuter || o.access == Access::kGroup) {
      f.push_back({ParamField::kInner, i});
    }
    if (o.access != Access::kStrided) continue;
    for (int d = 0; d < o.rank; ++d) f.push_back({ParamField::kDim, i, d});
    for (int d = 0; d < o.rank; ++d) f.push_back({ParamField::kStride, i, d});
  }
  if (!spec.is_pointwise()) {
    f.push_back({ParamField::kRows});
    f.push_back({ParamField::kCols});
    f.push_back({ParamField::kEps});
    f.push_back({ParamField::kDepth});
  }
  if (spec.reduce.op >= 0 || spec.tile == "reduce") f.push_back({ParamField::kRedCount});
  if (spec.reduce.op >= 0 && spec.reduce.split) f.push_back({ParamField::kPartial});
  if (spec.tile == "matmul" && spec.gemm.split_k > 1 && !GemmClusterSplit(spec)) {
    f.push_back({ParamField::kSplitK});
    f.push_back({ParamField::kSplitCount});
  }
  return f;
}

}  // namespace tilefuse::internal
