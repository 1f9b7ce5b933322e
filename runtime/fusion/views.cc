#include "runtime/fusion/views.h"

#include "absl/strings/str_cat.h"

namespace tilefuse {
namespace {

bool SameStrides(const Shape& shape, const std::vector<SizeExpr>& a,
                 const std::vector<SizeExpr>& b) {
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i].is_one()) continue;  // a size-1 dim's stride never matters
    if (!(a[i] == b[i])) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<ViewInfo>> ResolveViews(const Graph& graph) {
  std::vector<ViewInfo> info(graph.nodes().size());
  for (const Node& n : graph.nodes()) {
    ViewInfo& v = info[n.id];
    if (n.kind != NodeKind::kView) {
      v.base = n.id;
      v.strides = ContiguousStrides(n.shape);
      continue;
    }
    const ViewInfo& src = info[n.inputs[0]];
    v.base = src.base;
    if (n.view == ViewOp::kTranspose) {
      v.strides = src.strides;
      std::swap(v.strides[*n.attrs.dim0], v.strides[*n.attrs.dim1]);
    } else {
      if (!src.contiguous) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node '", n.name, "' (reshape): its operand '", graph.node(n.inputs[0]).name,
            "' is a non-contiguous view; reshaping it needs a copy, which tilefuse does not "
            "insert (expected a contiguous operand)"));
      }
      v.strides = ContiguousStrides(n.shape);
    }
    v.contiguous = SameStrides(n.shape, v.strides, ContiguousStrides(n.shape));
  }
  return info;
}

}  // namespace tilefuse
