#include "runtime/fusion/kernel_spec.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tilefuse {

absl::string_view AccessName(Access a) {
  switch (a) {
    case Access::kFull: return "full";
    case Access::kInner: return "inner";
    case Access::kScalar: return "scalar";
    case Access::kStrided: return "strided";
  }
  return "?";
}

int PointwiseSpec::Vec() const {
  int min_size = 4;
  for (const OperandSpec& o : operands) {
    if (o.access == Access::kFull || o.access == Access::kInner) {
      min_size = std::min(min_size, DTypeSize(o.dtype));
    }
  }
  for (const OutputSpec& o : outputs) min_size = std::min(min_size, DTypeSize(o.dtype));
  return std::min(8, 16 / min_size);
}

std::string SpecText(const PointwiseSpec& spec) {
  std::string s = absl::StrCat("pointwise rank=", spec.rank, " vec=", spec.Vec(), "\n");
  for (size_t i = 0; i < spec.operands.size(); ++i) {
    absl::StrAppend(&s, "in", i, " ", DTypeName(spec.operands[i].dtype), " ",
                    AccessName(spec.operands[i].access), "\n");
  }
  std::vector<std::string> lines;
  std::vector<std::pair<const ExprNode*, std::string>> names;
  std::vector<std::string> roots;
  for (const OutputSpec& o : spec.outputs) roots.push_back(ExprText(o.expr, lines, names));
  for (const std::string& l : lines) absl::StrAppend(&s, l, "\n");
  for (size_t i = 0; i < spec.outputs.size(); ++i) {
    absl::StrAppend(&s, "out", i, " ", DTypeName(spec.outputs[i].dtype), " = ", roots[i], "\n");
  }
  return s;
}

}  // namespace tilefuse
