#include "runtime/fusion/views.h"

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {
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

bool IsMaterializedView(const Graph& graph, const std::vector<ViewInfo>& views, int id) {
  return graph.node(id).kind == NodeKind::kView && views[id].base == id;
}

bool IsWholeReshape(const Graph& graph, const std::vector<ViewInfo>& views, int id) {
  const ViewInfo& v = views[id];
  if (graph.node(id).kind != NodeKind::kView || v.base == id || !v.contiguous ||
      !(Numel(graph.node(id).shape) == Numel(graph.node(v.base).shape))) {
    return false;
  }
  for (const SizeExpr& o : v.offset) {
    if (!(o == SizeExpr{0, {}})) return false;
  }
  return true;
}

std::optional<std::pair<int64_t, int64_t>> ColumnSliceOf(const Graph& graph, const std::vector<ViewInfo>& views,
                                                         int id, bool trailing_dims) {
  const ViewInfo& info = views[id];
  const Shape& bs = graph.node(info.base).shape;
  const Shape& vs = graph.node(id).shape;
  const size_t rank = vs.size();
  if (info.base == id || bs.size() != 2 || rank < 2 || (rank > 2 && !trailing_dims) || !(vs[0] == bs[0]) ||
      !bs[1].is_static() || info.strides.size() != rank || !(info.strides[0] == ContiguousStrides(bs)[0])) {
    return std::nullopt;
  }
  // The dims after the first: static, row-major among themselves (one run of columns).
  int64_t len = 1;
  for (size_t d = rank; d-- > 1;) {
    if (!vs[d].is_static() || !(info.strides[d] == SizeExpr{len, {}})) return std::nullopt;
    len *= vs[d].value;
  }
  int64_t a = 0;
  for (const SizeExpr& o : info.offset) {
    if (!o.is_static()) return std::nullopt;
    a += o.constant;
  }
  if (a < 0 || len <= 0 || a + len > bs[1].value) return std::nullopt;
  return std::make_pair(a, len);
}

int64_t OffsetValue(absl::Span<const SizeExpr> offset, absl::Span<const int64_t> symbols) {
  int64_t v = 0;
  for (const SizeExpr& t : offset) v += t.Eval(symbols);
  return v;
}

absl::StatusOr<std::vector<ViewInfo>> ResolveViews(const Graph& graph) {
  std::vector<ViewInfo> info(graph.nodes().size());
  for (const Node& n : graph.nodes()) {
    ViewInfo& v = info[n.id];
    if (n.kind == NodeKind::kIota) {
      // Read as a buffer whose element at offset o holds start + step * o: stride 1 along
      // its axis and 0 elsewhere make o that axis's position.
      v.base = n.id;
      v.strides.assign(n.shape.size(), SizeExpr{0, {}});
      v.strides[*n.attrs.dim] = SizeExpr{1, {}};
      v.contiguous = SameStrides(n.shape, v.strides, ContiguousStrides(n.shape));
      continue;
    }
    if (n.kind != NodeKind::kView) {
      v.base = n.id;
      v.strides = ContiguousStrides(n.shape);
      continue;
    }
    const ViewInfo& src = info[n.inputs[0]];
    const Shape& in_shape = graph.node(n.inputs[0]).shape;
    v.base = src.base;
    v.offset = src.offset;
    v.strides = src.strides;
    const Attrs& a = n.attrs;
    const auto scaled = [](SizeExpr e, int64_t k) {
      e.constant *= k;
      return e;
    };
    switch (n.view) {
      case ViewOp::kTranspose:
        std::swap(v.strides[*a.dim0], v.strides[*a.dim1]);
        break;
      case ViewOp::kPermute:
        for (size_t i = 0; i < a.dims.size(); ++i) v.strides[i] = src.strides[a.dims[i]];
        break;
      case ViewOp::kSlice:
      case ViewOp::kNarrow:
        if (*a.start != 0) v.offset.push_back(scaled(src.strides[*a.dim], *a.start));
        v.strides[*a.dim] = scaled(src.strides[*a.dim], a.step.value_or(1));
        break;
      case ViewOp::kSelect:
        if (*a.index != 0) v.offset.push_back(scaled(src.strides[*a.dim], *a.index));
        v.strides.erase(v.strides.begin() + *a.dim);
        break;
      case ViewOp::kFlip:
        // The last element along each flipped axis comes first: + (size - 1) * stride.
        for (int d : a.dims) {
          v.offset.push_back(SizeExpr::Of(in_shape[d]) * src.strides[d]);
          v.offset.push_back(scaled(src.strides[d], -1));
          v.strides[d] = scaled(src.strides[d], -1);
        }
        break;
      case ViewOp::kExpand: {
        const size_t lead = n.shape.size() - in_shape.size();
        v.strides.assign(n.shape.size(), SizeExpr{0, {}});
        for (size_t d = 0; d < in_shape.size(); ++d) {
          if (!(in_shape[d].is_one() && !n.shape[lead + d].is_one())) v.strides[lead + d] = src.strides[d];
        }
        break;
      }
      case ViewOp::kReshape: {
        if (src.contiguous) {
          v.strides = ContiguousStrides(n.shape);
          break;
        }
        // Size-1 dims inserted or removed (unsqueeze, squeeze) keep the other dims' strides.
        std::vector<size_t> kept_in, kept_out;
        for (size_t d = 0; d < in_shape.size(); ++d) {
          if (!in_shape[d].is_one()) kept_in.push_back(d);
        }
        for (size_t d = 0; d < n.shape.size(); ++d) {
          if (!n.shape[d].is_one()) kept_out.push_back(d);
        }
        bool same = kept_in.size() == kept_out.size();
        for (size_t i = 0; same && i < kept_in.size(); ++i) same = in_shape[kept_in[i]] == n.shape[kept_out[i]];
        if (same) {
          v.strides.assign(n.shape.size(), SizeExpr{0, {}});
          for (size_t i = 0; i < kept_in.size(); ++i) v.strides[kept_out[i]] = src.strides[kept_in[i]];
          break;
        }
        // Its elements are not one run in any buffer: the reshape is materialized, a copy
        // of its operand in row-major order (IsMaterializedView), then read in place.
        v.base = n.id;
        v.offset.clear();
        v.strides = ContiguousStrides(n.shape);
        break;
      }
    }
    v.contiguous = SameStrides(n.shape, v.strides, ContiguousStrides(n.shape));
  }
  return info;
}

}  // namespace tilefuse::internal
