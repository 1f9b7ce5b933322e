#include "codegen/params.h"

namespace tilefuse {

std::vector<ParamField> PointwiseParamLayout(const PointwiseSpec& spec) {
  std::vector<ParamField> f;
  const int n_in = static_cast<int>(spec.operands.size());
  for (int i = 0; i < n_in; ++i) f.push_back({ParamField::kOperandPtr, i});
  for (int j = 0; j < static_cast<int>(spec.outputs.size()); ++j) {
    f.push_back({ParamField::kOutputPtr, j});
  }
  f.push_back({ParamField::kNumel});
  f.push_back({ParamField::kVectorOk});
  bool strided = false;
  for (int i = 0; i < n_in; ++i) {
    if (spec.operands[i].access == Access::kInner) f.push_back({ParamField::kInner, i});
    strided |= spec.operands[i].access == Access::kStrided;
  }
  if (strided) {
    for (int d = 0; d < spec.rank; ++d) f.push_back({ParamField::kDim, 0, d});
    for (int i = 0; i < n_in; ++i) {
      if (spec.operands[i].access != Access::kStrided) continue;
      for (int d = 0; d < spec.rank; ++d) f.push_back({ParamField::kStride, i, d});
    }
  }
  return f;
}

}  // namespace tilefuse
