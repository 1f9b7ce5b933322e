#include "runtime/fusion/f8_gemm.h"

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/fusion/grouping.h"

namespace tilefuse::internal {
namespace {

bool IsF8(DType t) { return t == DType::kF8E4M3 || t == DType::kF8E5M2; }
bool IsFloat(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16; }

// ---- the graph's form (for the grouping) ----

// v without the casts to float types above it: an fp8 value cast to any of them is exact.
int StripCasts(const Graph& g, int v) {
  while (g.node(v).kind == NodeKind::kPointwise && g.node(v).pointwise == PointwiseOp::kCast &&
         IsFloat(g.node(v).dtype)) {
    v = g.node(v).inputs[0];
  }
  return v;
}

bool IsF8Input(const Graph& g, int v) {
  const Node& n = g.node(v);
  return n.kind == NodeKind::kInput && IsF8(n.dtype) && n.shape.size() == 2;
}

// ---- the kernel's form ----

struct F8Read {
  int q = -1;  // the codes' operand
  int s = -1;  // the scale's operand, or -1
};

Expr StripCasts(Expr e) {
  while (e->kind == ExprKind::kOp && e->op == PointwiseOp::kCast && e->args.size() == 1 && IsFloat(e->dtype)) {
    e = e->args[0];
  }
  return e;
}

// Tile input j's prologue as codes [* scale], each a whole operand read at site j: the codes
// contiguous (A [M, K]; B over its own [N, K]), the scale per tensor or per row of them.
std::optional<F8Read> MatchF8Read(const KernelPlan& k, int j) {
  const KernelSpec& spec = k.spec;
  const auto codes = [&](const Expr& x) {
    const Expr e = StripCasts(x);
    if (e->kind != ExprKind::kLoad) return -1;
    const OperandSpec& o = spec.operands[e->operand];
    return IsF8(o.dtype) && o.site == j && o.access == Access::kFull && !o.iota && !o.gathered ? e->operand : -1;
  };
  const Expr e = StripCasts(spec.tile_inputs[j].expr);
  F8Read r;
  if (e->kind == ExprKind::kLoad) {
    r.q = codes(e);
  } else if (e->kind == ExprKind::kOp && e->op == PointwiseOp::kMul && e->args.size() == 2) {
    for (int side = 0; side < 2 && r.q < 0; ++side) {
      r.q = codes(e->args[side]);
      const Expr& s = e->args[1 - side];
      if (r.q < 0 || s->kind != ExprKind::kLoad) continue;
      const OperandSpec& o = spec.operands[s->operand];
      const bool per_row = o.access == Access::kOuter && k.operands[s->operand].inner == k.depth;
      if (!IsFloat(o.dtype) || o.site != j || o.iota || o.gathered || (o.access != Access::kScalar && !per_row)) {
        r.q = -1;
        continue;
      }
      r.s = s->operand;
    }
  }
  if (r.q < 0) return std::nullopt;
  return r;
}

// Operand `o` moved to the epilogue site [rows, cols]: a per-tensor scale stays a scalar,
// one per row of A reads element m, one per row of w (a column of C) element n.
void MoveScaleToEpilogue(KernelPlan& k, int o, bool by_column) {
  OperandSpec& spec = k.spec.operands[o];
  OperandBinding& b = k.operands[o];
  spec.site = kEpilogueSite;
  spec.rank = 2;
  b.dims = {k.rows, k.cols};
  if (spec.access == Access::kScalar) {
    b.strides = {SizeExpr{0, {}}, SizeExpr{0, {}}};
    return;
  }
  spec.access = by_column ? Access::kInner : Access::kOuter;
  b.inner = k.cols;
  b.strides = by_column ? std::vector<SizeExpr>{SizeExpr{0, {}}, SizeExpr{1, {}}}
                        : std::vector<SizeExpr>{SizeExpr{1, {}}, SizeExpr{0, {}}};
}

}  // namespace

std::optional<ScaledF8> ScaledF8Of(const Graph& g, int v) {
  v = StripCasts(g, v);
  if (IsF8Input(g, v)) return ScaledF8{v, -1};
  const Node& n = g.node(v);
  if (n.kind != NodeKind::kPointwise || n.pointwise != PointwiseOp::kMul || n.inputs.size() != 2) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const int q = StripCasts(g, n.inputs[side]);
    const Node& s = g.node(n.inputs[1 - side]);
    if (!IsF8Input(g, q) || s.kind != NodeKind::kInput || !IsFloat(s.dtype)) continue;
    // One value in all, or one per row of q ([R, 1]).
    const Shape& qs = g.node(q).shape;
    bool one = true;
    for (const Dim& d : s.shape) one &= d.is_one();
    const bool per_row = s.shape.size() == 2 && s.shape[0] == qs[0] && s.shape[1].is_one();
    if (one || per_row) return ScaledF8{q, s.id};
  }
  return std::nullopt;
}

F8Rewrite UseF8Gemm(const Graph& g, KernelPlan& k) {
  KernelSpec& spec = k.spec;
  if (spec.tile != "matmul" || spec.custom != nullptr || !spec.sm90 || spec.b_layout != GemmBLayout::kHookNK ||
      spec.tile_inputs.size() != 2 || !spec.windows.empty()) {
    return {};
  }
  for (const OutputSpec& o : spec.outputs) {
    if (o.site >= 0) return {};  // a dequantized operand stored from the load: the hook path keeps it
  }
  const std::optional<F8Read> a = MatchF8Read(k, 0), b = MatchF8Read(k, 1);
  if (!a || !b) return {};
  // The GEMM's value as the graph has it (its dtype), from the scaled accumulators.
  const DType t = g.node(k.tile_node).dtype;
  Expr v = MakeTileValue(0, DType::kF32);
  for (int s : {a->s, b->s}) {
    if (s < 0) continue;
    absl::StatusOr<Expr> m = MakeOp(PointwiseOp::kMul, {v, MakeLoad(s, spec.operands[s].dtype)}, {}, DType::kF32);
    if (!m.ok()) return {};
    v = *m;
  }
  if (t != DType::kF32) {
    absl::StatusOr<Expr> c = MakeOp(PointwiseOp::kCast, {v}, Attrs{.dtype = t}, t);
    if (!c.ok()) return {};
    v = *c;
  }
  // Every read of the GEMM's value (tile value 0 at the epilogue site) becomes v.
  std::map<const ExprNode*, Expr> memo;
  const auto scaled = [&](const Expr& x) {
    return x->kind == ExprKind::kTileValue && x->operand == 0 ? v : nullptr;
  };
  for (OutputSpec& o : spec.outputs) {
    if (o.site == kEpilogueSite) o.expr = ReplaceNodes(o.expr, scaled, memo);
  }
  if (spec.reduce.op >= 0) spec.reduce.input = ReplaceNodes(spec.reduce.input, scaled, memo);
  for (RowStage& st : spec.stages) st.input = ReplaceNodes(st.input, scaled, memo);
  // The codes: A as it is, B as the transpose of its [N, K] buffer (a K-major [K, N]).
  spec.tile_inputs[0] = TileInputSpec{spec.operands[a->q].dtype, MakeLoad(a->q, spec.operands[a->q].dtype)};
  spec.tile_inputs[1] = TileInputSpec{spec.operands[b->q].dtype, MakeLoad(b->q, spec.operands[b->q].dtype)};
  spec.a_async = a->q;
  spec.b_async = b->q;
  spec.b_layout = GemmBLayout::kColMajor;
  OperandSpec& qb = spec.operands[b->q];
  qb.access = Access::kStrided;
  qb.rank = 2;
  k.operands[b->q].dims = {k.depth, k.cols};
  k.operands[b->q].strides = {SizeExpr{1, {}}, k.depth};
  if (a->s >= 0) MoveScaleToEpilogue(k, a->s, false);
  if (b->s >= 0) MoveScaleToEpilogue(k, b->s, true);
  const auto name = [&](int o) { return g.node(k.operands[o].value).name; };
  const std::string scales = a->s >= 0 && b->s >= 0 ? absl::StrCat("'", name(a->s), "' and '", name(b->s), "'")
                             : a->s >= 0           ? absl::StrCat("'", name(a->s), "'")
                             : b->s >= 0           ? absl::StrCat("'", name(b->s), "'")
                                                   : "";
  return {absl::StrCat("fp8 GEMM: '", g.node(k.tile_node).name, "' multiplies the codes of '", name(a->q), "' (",
                      DTypeName(spec.operands[a->q].dtype), ") and '", name(b->q), "' (", DTypeName(qb.dtype),
                      ") on wgmma with fp32 accumulation",
                       scales.empty() ? "" : absl::StrCat("; the scales ", scales, " apply in its epilogue")),
          !scales.empty()};
}

}  // namespace tilefuse::internal
