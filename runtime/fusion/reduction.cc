#include "runtime/fusion/reduction.h"

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {

std::string ReduceIntoStoreRefusal(const Graph& g, const Node& tile, const Node& r) {
  if (r.reduce == ReduceOp::kArgmax || r.reduce == ReduceOp::kArgmin) {
    return absl::StrCat(OpName(r.reduce), " carries an index, which store-site reductions do not");
  }
  if (!r.attrs.dim) return "it reduces over every axis";
  if (tile.kind != NodeKind::kTile) {
    if (r.inputs[0] != tile.id) {
      return absl::StrCat("its input '", g.node(r.inputs[0]).name, "' is computed in the prologue of reduction '",
                          tile.name, "' (a reduce kernel runs one reduction, or a mean/var pair of one input)");
    }
    return absl::StrCat("it reduces the result of reduction '", tile.name,
                        "' (a reduction over several axes runs one axis per kernel)");
  }
  if (tile.custom != nullptr) return "registered kernels take no store-site reduction";
  const int rank = static_cast<int>(g.node(r.inputs[0]).shape.size());
  const int dim = *r.attrs.dim < 0 ? *r.attrs.dim + rank : *r.attrs.dim;
  if (IsBatchedMatmul(tile)) return "a batched matmul's store takes no reduction (each batch is CTAs of its own)";
  if (tile.tile == TileOp::kMatmul) return "";
  if (dim != rank - 1) {
    return absl::StrCat("it reduces dim ", dim, ", but row-wise kernels spread that axis over CTAs "
                        "(only the last dim, which one CTA holds, folds into their store)");
  }
  return "";
}

bool IsMeanVarPair(const Node& a, const Node& b) {
  const auto is = [](const Node& x, ReduceOp op) { return x.kind == NodeKind::kReduce && x.reduce == op; };
  return ((is(a, ReduceOp::kMean) && is(b, ReduceOp::kVar)) || (is(a, ReduceOp::kVar) && is(b, ReduceOp::kMean))) &&
         a.inputs == b.inputs && a.attrs.dim == b.attrs.dim && a.attrs.keepdim == b.attrs.keepdim;
}

int StoreReduceAxis(const Graph& g, const Node& tile, const Node& r) {
  const int rank = static_cast<int>(g.node(r.inputs[0]).shape.size());
  const int dim = *r.attrs.dim < 0 ? *r.attrs.dim + rank : *r.attrs.dim;
  return tile.tile == TileOp::kMatmul && dim == 0 ? 0 : 1;
}

int StoreReduceOp(ReduceOp op) { return static_cast<int>(op); }

bool GemmTileCoversAxis(const KernelPlan& k, const GemmConfig& c) {
  const SizeExpr& len = k.spec.reduce.axis == 1 ? k.cols : k.rows;
  return len.is_static() && len.constant <= (k.spec.reduce.axis == 1 ? c.bn : c.bm);
}

void BindSplitReductions(FusionPlan& plan) {
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    const KernelPlan& k = plan.kernels[i];
    if (k.spec.reduce.op < 0 || !k.spec.reduce.split) continue;
    const int64_t tile = k.spec.reduce.axis == 1 ? k.spec.gemm.bn : k.spec.gemm.bm;
    plan.workspace[k.partial.index].tile = tile;
    for (KernelPlan& c : plan.kernels) {
      if (c.partial_of == static_cast<int>(i)) c.cols_tile = tile;
    }
  }
}

}  // namespace tilefuse::internal
