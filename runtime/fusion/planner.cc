#include "runtime/fusion/planner.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/fusion/acc_start.h"
#include "runtime/fusion/f8_gemm.h"
#include "runtime/fusion/grouping.h"
#include "runtime/fusion/reduction.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/fusion/views.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

// How operand `q` (shape and strides from `view`) is indexed over index space `space`.
OperandBinding BindOperand(const Graph& g, int q, const ViewInfo& view, const Shape& space,
                           OperandSpec& spec) {
  const Node& n = g.node(q);
  OperandBinding b;
  b.value = q;
  b.offset = view.offset;
  spec.dtype = n.dtype;
  spec.rank = std::max<int>(1, space.size());
  const size_t rank = space.size();
  const size_t lead = rank - n.shape.size();  // operand dims align to the right
  b.strides.assign(rank, SizeExpr{0, {}});
  for (const Dim& d : space) b.dims.push_back(SizeExpr::Of(d));
  bool broadcast = lead > 0;
  for (size_t d = 0; d < n.shape.size(); ++d) {
    if (n.shape[d].is_one() && !space[lead + d].is_one()) {
      broadcast = true;  // stride stays 0
    } else {
      b.strides[lead + d] = view.strides[d];
    }
  }
  if (rank == 0) {  // a zero-dim index space: one element
    b.dims = {SizeExpr{1, {}}};
    b.strides = {SizeExpr{0, {}}};
  }
  if (Numel(n.shape) == SizeExpr{1, {}}) {
    spec.access = Access::kScalar;
  } else if (!broadcast && view.contiguous) {
    spec.access = Access::kFull;
  } else {
    // Broadcast over leading dims only: the operand repeats every numel(operand) elements.
    size_t first = 0;
    while (first < n.shape.size() && n.shape[first].is_one()) ++first;
    bool inner = view.contiguous;
    for (size_t d = first; d < n.shape.size() && inner; ++d) {
      inner = n.shape[d] == space[lead + d];
    }
    // Broadcast over trailing dims only (a value per row, [M, 1] over [M, K]): element
    // i / (the trailing dims' size), one division per vector instead of one per dim.
    size_t last = n.shape.size();
    while (last > 0 && n.shape[last - 1].is_one()) --last;
    bool outer = lead == 0 && view.contiguous && last < n.shape.size();
    for (size_t d = 0; d < last && outer; ++d) outer = n.shape[d] == space[d];
    if (inner) {
      spec.access = Access::kInner;
      b.inner = Numel(n.shape);
    } else if (outer) {
      spec.access = Access::kOuter;
      b.inner = Numel(Shape(space.begin() + last, space.end()));
    } else {
      spec.access = Access::kStrided;
    }
  }
  return b;
}

// Records in each operand's spec the extents its binding fixes (OperandSpec::static_dims):
// the kernels then divide by constants. Last, once no binding changes.
void BakeStaticExtents(FusionPlan& plan) {
  for (KernelPlan& k : plan.kernels) {
    for (size_t i = 0; i < k.operands.size(); ++i) {
      OperandSpec& o = k.spec.operands[i];
      const OperandBinding& b = k.operands[i];
      o.static_dims.clear();
      o.static_strides.clear();
      o.static_inner = 0;
      if (o.access == Access::kStrided) {
        bool strides = !b.strides.empty();
        for (const SizeExpr& d : b.dims) o.static_dims.push_back(d.is_static() ? d.constant : 0);
        for (const SizeExpr& s : b.strides) strides &= s.is_static();
        for (const SizeExpr& s : b.strides) {
          if (strides) o.static_strides.push_back(s.constant);
        }
      } else if (o.access == Access::kInner || o.access == Access::kOuter || o.access == Access::kGroup) {
        if (b.inner.is_static()) o.static_inner = b.inner.constant;
      }
    }
  }
}

// Builds one kernel's spec: expressions per site, operands bound per site.
class KernelBuilder {
 public:
  KernelBuilder(const Graph& g, const std::vector<ViewInfo>& views,
                const std::map<int, BufferRef>& buffers, const std::vector<bool>& in_kernel,
                int tile_node, int reduce_node = -1, int reduce_partner = -1)
      : g_(g), views_(views), buffers_(buffers), in_kernel_(in_kernel), tile_(tile_node),
        reduce_(reduce_node), partner_(reduce_partner) {}

  // The index space of `site`: the tile input's shape, the kernel's output shape, or the
  // result of its store-site reduction.
  const Shape& SiteShape(int site) const {
    // A row kernel's per-row values come with the last dim kept or dropped: operands bind
    // to the shape of the member reading them (the same rows either way).
    if (site == kReducedSite && reduced_reader_ != nullptr) return *reduced_reader_;
    if (site == kReducedSite) return g_.node(reduce_).shape;
    if (WindowOfSite(site) >= 0) return (*windows_)[WindowOfSite(site)].shape;
    if (site == 1 && b_nk_ >= 0) return g_.node(b_nk_).shape;
    if (site == 2 && dual_ >= 0) return g_.node(g_.node(dual_).inputs[1]).shape;
    if ((site == 1 || site == 2) && !split_b_.empty()) return split_b_;
    return site == kEpilogueSite ? kernel_.index_space : g_.node(g_.node(tile_).inputs[site]).shape;
  }

  // Expression of node `id` evaluated at `site`. Nodes of the kernel are computed (values
  // of a prologue are recomputed where the epilogue needs them); others are loaded.
  absl::StatusOr<Expr> ExprOf(int id, int site) {
    const auto key = std::make_pair(id, site);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    const Node& n = g_.node(id);
    Expr e;
    if (auto it = split_value_.find(id); it != split_value_.end()) {
      // A split dual GEMM's column slice: its product.
      e = MakeTileValue(it->second, n.dtype);
      memo_[key] = e;
      return e;
    }
    if (served_.count(id)) {
      // A view this kernel computes: a row kernel's per-row value (through a reshape or an
      // expand), or a GEMM's column window (through a slice), read at the same element.
      TF_ASSIGN_OR_RETURN(e, ExprOf(views_[id].base, row_ ? kReducedSite : kEpilogueSite));
      memo_[key] = e;
      return e;
    }
    if (row_) {
      // A row kernel: a reduction is its stage's value; a member computed from reduced
      // values alone is computed once per row, wherever it is read.
      if (auto it = stage_of_.find(id); it != stage_of_.end()) {
        e = MakeTileValue(kStageValue0 + it->second, n.dtype);
        memo_[key] = e;
        return e;
      }
      if (site == kEpilogueSite && in_kernel_[id] && row_reduced_.count(id)) {
        TF_ASSIGN_OR_RETURN(e, ExprOf(id, kReducedSite));
        memo_[key] = e;
        return e;
      }
    }
    if (n.kind == NodeKind::kConstant) {
      e = MakeConstant(n.constant, n.dtype);
    } else if (id == tile_ || (tile_ >= 0 && id == partner_ && g_.node(tile_).kind == NodeKind::kReduce)) {
      // A tile kernel's value; a reduce kernel's result (and that of its mean/var partner).
      if (site != kEpilogueSite) return absl::InternalError("tile value read inside its own prologue");
      e = MakeTileValue(ResultIndex(n), n.dtype);
    } else if (id == dual_) {
      // A dual GEMM's second product.
      if (site != kEpilogueSite) return absl::InternalError("dual GEMM value read inside its own prologue");
      e = MakeTileValue(1, n.dtype);
    } else if (id == reduce_ || id == partner_) {
      if (site != kReducedSite) return absl::InternalError("reduced value read before the reduction");
      e = MakeTileValue(ResultIndex(n), n.dtype);
    } else if (!in_kernel_[id]) {
      // Read by a member of another shape than the kernel's (the same elements in the same
      // order: a reshape the kernel computes through): bound over that member's shape, and
      // not memoized, since another reader may bind it over another.
      if (site == kEpilogueSite && flat_reader_ != nullptr) {
        return MakeLoad(OperandIndex(id, site, flat_reader_), n.dtype);
      }
      e = MakeLoad(OperandIndex(id, site), n.dtype);
    } else if (n.kind == NodeKind::kGather) {
      if (const int64_t group = GroupGatherSize(n); group > 0 && n.shape == SiteShape(site)) {
        // A dequant's group scale: read by group, without the index's arithmetic.
        e = MakeLoad(GroupOperandIndex(n, site, group), n.dtype);
      } else {
        TF_ASSIGN_OR_RETURN(Expr index, ExprOf(n.inputs[1], site));
        e = MakeGather(GatherOperandIndex(n, site), std::move(index), n.dtype);
      }
    } else if (n.kind == NodeKind::kView) {
      // A materialized reshape: its operand's elements in row-major order, the same flat
      // index over either shape, so the operand binds over its own shape.
      const int v = n.inputs[0];
      e = MakeLoad(OperandIndex(v, site, &g_.node(v).shape), g_.node(v).dtype);
    } else {
      std::vector<Expr> args;
      // n's operands at a row kernel's reduced site bind over n's shape (SiteShape).
      struct Reader {
        const Shape*& slot;
        const Shape* saved;
        ~Reader() { slot = saved; }
      } reader{reduced_reader_, reduced_reader_}, flat{flat_reader_, flat_reader_};
      if (row_ && site == kReducedSite) reduced_reader_ = &n.shape;
      // A pointwise member over another shape of the kernel's elements (its reshape): its
      // operands bind over its shape; one over a smaller space (a broadcast producer it
      // reads) keeps its reader's.
      if (site == kEpilogueSite && !row_ && Numel(n.shape) == Numel(SiteShape(site))) {
        flat_reader_ = n.shape == SiteShape(site) ? nullptr : &n.shape;
      }
      for (int in : n.inputs) {
        TF_ASSIGN_OR_RETURN(Expr a, ExprOf(in, site));
        args.push_back(std::move(a));
      }
      TF_ASSIGN_OR_RETURN(e, MakeOp(n.pointwise, std::move(args), n.attrs, n.dtype));
    }
    memo_[key] = e;
    return e;
  }

  // `space`: the index space to bind over, when not the site's (of the same element count).
  int OperandIndex(int q, int site, const Shape* space = nullptr) {
    const Shape& over = space != nullptr ? *space : SiteShape(site);
    std::vector<SizeExpr> dims;
    for (const Dim& d : over) dims.push_back(SizeExpr::Of(d));
    for (size_t i = 0; i < kernel_.operands.size(); ++i) {
      const OperandBinding& b = kernel_.operands[i];
      if (b.value == q && kernel_.spec.operands[i].site == site && (over.empty() || b.dims == dims)) {
        return static_cast<int>(i);
      }
    }
    OperandSpec spec;
    spec.site = site;
    OperandBinding b = BindOperand(g_, q, views_[q], over, spec);
    b.buffer = buffers_.at(views_[q].base);
    MarkIota(spec, views_[q].base);
    kernel_.spec.operands.push_back(spec);
    kernel_.operands.push_back(std::move(b));
    return static_cast<int>(kernel_.operands.size()) - 1;
  }

  void MarkIota(OperandSpec& spec, int base) const {
    const Node& b = g_.node(base);
    if (b.kind != NodeKind::kIota) return;
    spec.iota = true;
    spec.iota_start = *b.attrs.start;
    spec.iota_step = *b.attrs.step;
  }

  // G when gather node `n` reads its input at floor(k / G) along the last dim, k the
  // position there (an iota from 0 by 1 over n's shape: Graph::GroupRead's pattern), its
  // input is contiguous and holds ceil(K / G) values per row; else 0.
  int64_t GroupGatherSize(const Node& n) const {
    const int rank = static_cast<int>(n.shape.size());
    const Node& x = g_.node(n.inputs[0]);
    if (*n.attrs.dim != rank - 1 || !n.shape.back().is_static() || !views_[x.id].contiguous ||
        static_cast<int>(x.shape.size()) != rank || !x.shape.back().is_static()) {
      return 0;
    }
    const auto op = [&](int id, PointwiseOp o) -> const Node* {
      const Node& m = g_.node(id);
      return m.kind == NodeKind::kPointwise && m.pointwise == o ? &m : nullptr;
    };
    const Node* cast = op(n.inputs[1], PointwiseOp::kCast);
    const Node* fl = cast != nullptr ? op(cast->inputs[0], PointwiseOp::kFloor) : nullptr;
    const Node* div = fl != nullptr ? op(fl->inputs[0], PointwiseOp::kDiv) : nullptr;
    if (div == nullptr) return 0;
    const Node& pos = g_.node(div->inputs[0]);
    const Node& by = g_.node(div->inputs[1]);
    if (pos.kind != NodeKind::kIota || *pos.attrs.dim != rank - 1 || *pos.attrs.start != 0 || *pos.attrs.step != 1 ||
        !(pos.shape == n.shape) || by.kind != NodeKind::kConstant || by.constant < 1 ||
        by.constant != static_cast<double>(static_cast<int64_t>(by.constant))) {
      return 0;
    }
    const int64_t group = static_cast<int64_t>(by.constant), k = n.shape.back().value;
    for (int d = 0; d + 1 < rank; ++d) {
      if (!(x.shape[d] == n.shape[d])) return 0;
    }
    return x.shape.back().value == (k + group - 1) / group ? group : 0;
  }

  int GroupOperandIndex(const Node& n, int site, int64_t group) {
    const int q = n.inputs[0];
    OperandSpec spec;
    spec.site = site;
    spec.dtype = g_.node(q).dtype;
    spec.access = Access::kGroup;
    spec.rank = static_cast<int>(n.shape.size());
    spec.group = group;
    spec.groups = g_.node(q).shape.back().value;
    for (size_t i = 0; i < kernel_.operands.size(); ++i) {
      const OperandSpec& o = kernel_.spec.operands[i];
      if (kernel_.operands[i].value == q && o.site == site && o.access == Access::kGroup && o.group == group) {
        return static_cast<int>(i);
      }
    }
    OperandBinding b;
    b.value = q;
    b.offset = views_[q].offset;
    b.buffer = buffers_.at(views_[q].base);
    b.inner = SizeExpr::Of(n.shape.back());
    kernel_.spec.operands.push_back(spec);
    kernel_.operands.push_back(std::move(b));
    return static_cast<int>(kernel_.operands.size()) - 1;
  }

  // The input of gather node `n`, read at the positions its index gives (OperandSpec::
  // gathered) over the index space of `site`, into which n's shape broadcasts.
  int GatherOperandIndex(const Node& n, int site) {
    const int q = n.inputs[0];
    const Shape& space = SiteShape(site);
    const ViewInfo& view = views_[q];
    const int dim = *n.attrs.dim;
    const size_t rank = space.size(), lead = rank - n.shape.size();
    OperandSpec spec;
    spec.site = site;
    spec.dtype = g_.node(q).dtype;
    spec.access = Access::kStrided;
    spec.gathered = true;
    spec.rank = static_cast<int>(rank) + 1;
    OperandBinding b;
    b.value = q;
    b.offset = view.offset;
    b.buffer = buffers_.at(view.base);
    for (const Dim& d : space) b.dims.push_back(SizeExpr::Of(d));
    b.strides.assign(rank, SizeExpr{0, {}});
    for (size_t d = 0; d < n.shape.size(); ++d) {
      // The gathered axis takes its position from the index; a broadcast axis reads 0.
      if (static_cast<int>(d) == dim || (n.shape[d].is_one() && !space[lead + d].is_one())) continue;
      b.strides[lead + d] = view.strides[d];
    }
    b.dims.push_back(SizeExpr::Of(g_.node(q).shape[dim]));  // the clamp bound
    b.strides.push_back(view.strides[dim]);
    MarkIota(spec, view.base);
    kernel_.spec.operands.push_back(spec);
    kernel_.operands.push_back(std::move(b));
    return static_cast<int>(kernel_.operands.size()) - 1;
  }

  void AddOutput(const Expr& e, int value, BufferRef buffer, int site) {
    kernel_.spec.outputs.push_back(OutputSpec{g_.node(value).dtype, e, site});
    kernel_.outputs.push_back(OutputBinding{value, buffer});
  }

  KernelPlan& kernel() { return kernel_; }

  // A row kernel whose members `reduced` are computed once per row.
  void SetRow(const std::vector<int>& reduced) {
    row_ = true;
    row_reduced_.insert(reduced.begin(), reduced.end());
  }
  // Views of the kernel's own values that it reads in place, and its column windows.
  void SetServed(const std::vector<int>& served, const std::vector<ColumnWindowInfo>* windows) {
    served_.insert(served.begin(), served.end());
    windows_ = windows;
  }
  // Reduction node `id` is stage `stage` of the row kernel.
  void SetStage(int id, int stage) { stage_of_[id] = stage; }
  // The GEMM's B is the transpose of member `id`, computed at site 1 over id's own shape.
  void SetTransposedB(int id) { b_nk_ = id; }
  // A dual GEMM: matmul `id` of the same A is the tile's second product (dual_gemm.h).
  void SetDual(int id) { dual_ = id; }
  // A split dual GEMM: each slice view and the product it reads; B's halves are [K, L].
  void SetSplitDual(const std::vector<std::pair<int, int>>& views, Shape b) {
    for (const auto& [v, product] : views) split_value_[v] = product;
    split_b_ = std::move(b);
  }
  // Rows [row, row + L) of the K-major weight behind view `wt` (a [K, 2N] transpose) as
  // B operand of tile input `site`: [K, L], strides (1, K), `row` rows further in.
  int WeightRowsOperand(int wt, int64_t row, int site) {
    const ViewInfo& view = views_[wt];
    OperandSpec spec;
    spec.site = site;
    spec.dtype = g_.node(wt).dtype;
    spec.access = Access::kStrided;
    spec.rank = 2;
    OperandBinding b;
    b.value = wt;
    b.buffer = buffers_.at(view.base);
    b.offset = view.offset;
    b.offset.push_back(SizeExpr{row, {}} * view.strides[1]);
    for (const Dim& d : split_b_) b.dims.push_back(SizeExpr::Of(d));
    b.strides = view.strides;
    kernel_.spec.operands.push_back(spec);
    kernel_.operands.push_back(std::move(b));
    return static_cast<int>(kernel_.operands.size()) - 1;
  }
  // Built-in row tile `id` in a GEMM's row epilogue computes `e`.
  void SetBuiltin(int id, Expr e) { memo_[{id, kEpilogueSite}] = std::move(e); }

 private:
  const Graph& g_;
  const std::vector<ViewInfo>& views_;
  const std::map<int, BufferRef>& buffers_;
  const std::vector<bool>& in_kernel_;
  // Which result of a reduction a node is: the variance of a Welford reduction is the
  // second (its mean the first); every other result is the first.
  static int ResultIndex(const Node& n) {
    return n.kind == NodeKind::kReduce && n.reduce == ReduceOp::kVar ? 1 : 0;
  }

  const int tile_;
  int b_nk_ = -1;
  int dual_ = -1;
  std::map<int, int> split_value_;  // a split dual GEMM's slice views: their product
  Shape split_b_;                   // and its B halves' [K, L]
  const int reduce_;
  const int partner_;
  bool row_ = false;
  std::set<int> row_reduced_;
  std::set<int> served_;
  const Shape* flat_reader_ = nullptr;  // the member whose operands bind over its own shape (ExprOf)
  const Shape* reduced_reader_ = nullptr;  // the row kernel's member whose operands are bound
  const std::vector<ColumnWindowInfo>* windows_ = nullptr;  // the GEMM's column windows
  std::map<int, int> stage_of_;
  std::map<std::pair<int, int>, Expr> memo_;
  KernelPlan kernel_;
};

std::string NodeNames(const Graph& g, const std::vector<int>& ids) {
  std::vector<std::string> names;
  for (int id : ids) names.push_back(absl::StrCat(g.node(id).name, ":", g.node(id).OpString()));
  return absl::StrJoin(names, ", ");
}

// The site a group member is computed at: the tile input it feeds, else the epilogue.
int SiteOf(const Graph& g, const Group& group, int id) {
  for (const auto& [m, w] : group.window_members) {
    if (m == id) return WindowSite(w);
  }
  if (group.row) {
    const bool reduced = std::find(group.reduced.begin(), group.reduced.end(), id) != group.reduced.end();
    if (reduced) return kReducedSite;
    if (group.tile < 0) return kEpilogueSite;  // a GEMM's row epilogue: its prologues below
  }
  if (group.tile < 0 || id == group.tile) return kEpilogueSite;
  if (std::find(group.reduced.begin(), group.reduced.end(), id) != group.reduced.end()) return kReducedSite;
  const Node& t = g.node(group.tile);
  for (size_t j = 0; j < t.inputs.size(); ++j) {
    if (t.inputs[j] == id) return static_cast<int>(j);
  }
  // An ancestor of input j, found through the members that read it.
  for (size_t j = 0; j < t.inputs.size(); ++j) {
    std::vector<int> stack = {t.inputs[j]};
    std::vector<bool> seen(g.nodes().size(), false);
    while (!stack.empty()) {
      const int m = stack.back();
      stack.pop_back();
      if (m == id) return static_cast<int>(j);
      if (seen[m]) continue;
      seen[m] = true;
      for (int in : g.node(m).inputs) stack.push_back(in);
    }
  }
  return kEpilogueSite;
}

// A reduction as a tile kernel: its input viewed as [outer, R, inner], one output per
// (outer, inner) pair (kernels/reduce.cuh).
absl::Status FillReduceSpec(const Graph& g, const Group& group, const Node& t, KernelBuilder& kb) {
  KernelPlan& k = kb.kernel();
  k.tile_node = t.id;
  k.spec.tile = "reduce";
  k.spec.reduce_op = static_cast<int>(t.reduce);
  k.spec.correction = t.attrs.correction.value_or(1);
  if (group.reduce2 >= 0) {  // a mean/var pair: the Welford pass yields both
    k.spec.reduce_op = StoreReduceOp(ReduceOp::kVar);
    const Node& var = t.reduce == ReduceOp::kVar ? t : g.node(group.reduce2);
    k.spec.correction = var.attrs.correction.value_or(1);
  }
  const Shape& x = g.node(t.inputs[0]).shape;
  SizeExpr outer, r, inner;
  for (size_t d = 0; d < x.size(); ++d) {
    const SizeExpr e = SizeExpr::Of(x[d]);
    if (!t.attrs.dim) {
      r = r * e;
    } else if (static_cast<int>(d) < *t.attrs.dim) {
      outer = outer * e;
    } else if (static_cast<int>(d) == *t.attrs.dim) {
      r = r * e;
    } else {
      inner = inner * e;
    }
  }
  k.rows = outer * inner;
  k.cols = r;
  k.depth = inner;
  k.red_count = r;
  TF_ASSIGN_OR_RETURN(Expr e, kb.ExprOf(t.inputs[0], 0));
  k.spec.tile_inputs.push_back(TileInputSpec{g.node(t.inputs[0]).dtype, e});
  return absl::OkStatus();
}

// A built-in row tile in a GEMM's row epilogue: its stages and its value's expression.
absl::Status FillBuiltinRowTile(const Node& t, KernelBuilder& kb) {
  std::vector<RowStage>& stages = kb.kernel().spec.stages;
  TF_ASSIGN_OR_RETURN(Expr x, kb.ExprOf(t.inputs[0], kEpilogueSite));
  const auto op = [](PointwiseOp o, std::vector<Expr> args, DType dtype = DType::kF32) {
    return MakeOp(o, std::move(args), {}, dtype);
  };
  const auto stage_value = [&](int j) { return MakeTileValue(kStageValue0 + j, DType::kF32); };
  const Expr eps = MakeConstant(t.attrs.eps.value_or(0), DType::kF32);
  const int first = static_cast<int>(stages.size());
  Expr y;
  switch (t.tile) {
    case TileOp::kRmsNorm: {  // x * rsqrt(mean(x^2) + eps) * w
      TF_ASSIGN_OR_RETURN(Expr sq, op(PointwiseOp::kMul, {x, x}));
      stages.push_back(RowStage{3, -1, 1, sq});
      TF_ASSIGN_OR_RETURN(Expr a, op(PointwiseOp::kAdd, {stage_value(first), eps}));
      TF_ASSIGN_OR_RETURN(Expr inv, op(PointwiseOp::kRsqrt, {a}));
      TF_ASSIGN_OR_RETURN(y, op(PointwiseOp::kMul, {x, inv}));
      TF_ASSIGN_OR_RETURN(Expr w, kb.ExprOf(t.inputs[1], kEpilogueSite));
      TF_ASSIGN_OR_RETURN(y, op(PointwiseOp::kMul, {y, w}, t.dtype));
      break;
    }
    case TileOp::kLayerNorm: {  // (x - mean) * rsqrt(var + eps) * w + b, the biased var
      stages.push_back(RowStage{3, -1, 1, x});
      stages.push_back(RowStage{5, first, 0, x});
      TF_ASSIGN_OR_RETURN(Expr d, op(PointwiseOp::kSub, {x, stage_value(first)}));
      TF_ASSIGN_OR_RETURN(Expr a, op(PointwiseOp::kAdd, {stage_value(first + 1), eps}));
      TF_ASSIGN_OR_RETURN(Expr inv, op(PointwiseOp::kRsqrt, {a}));
      TF_ASSIGN_OR_RETURN(y, op(PointwiseOp::kMul, {d, inv}));
      TF_ASSIGN_OR_RETURN(Expr w, kb.ExprOf(t.inputs[1], kEpilogueSite));
      TF_ASSIGN_OR_RETURN(y, op(PointwiseOp::kMul, {y, w}));
      TF_ASSIGN_OR_RETURN(Expr b, kb.ExprOf(t.inputs[2], kEpilogueSite));
      TF_ASSIGN_OR_RETURN(y, op(PointwiseOp::kAdd, {y, b}, t.dtype));
      break;
    }
    case TileOp::kSoftmax: {  // exp(x - max) / sum(exp(x - max))
      stages.push_back(RowStage{1, -1, 1, x});
      TF_ASSIGN_OR_RETURN(Expr d, op(PointwiseOp::kSub, {x, stage_value(first)}));
      TF_ASSIGN_OR_RETURN(Expr e, op(PointwiseOp::kExp, {d}));
      stages.push_back(RowStage{0, -1, 1, e});
      TF_ASSIGN_OR_RETURN(y, op(PointwiseOp::kDiv, {e, stage_value(first + 1)}, t.dtype));
      break;
    }
    default:
      return absl::InternalError(absl::StrCat("row epilogue: no expansion of tile '", t.OpString(), "'"));
  }
  kb.SetBuiltin(t.id, y);
  return absl::OkStatus();
}

// A generated row kernel: its rows' space as [rows, cols], and its stages in order (also a
// GEMM's row epilogue, over the GEMM's output). A var takes two: the mean of its input
// (shared with a mean of the same values) and the mean square deviation from it, both over
// the row in registers.
absl::Status FillRowSpec(const Graph& g, const Group& group, KernelBuilder& kb) {
  KernelPlan& k = kb.kernel();
  if (group.tile < 0) {  // else a GEMM's row epilogue, over the GEMM's [M, N]
    k.spec.tile = "row";
    const Shape& space = group.shape;
    k.cols = SizeExpr::Of(space.back());
    k.rows = SizeExpr{1, {}};
    for (size_t d = 0; d + 1 < space.size(); ++d) k.rows = k.rows * SizeExpr::Of(space[d]);
  }
  kb.SetRow(group.reduced);
  std::vector<RowStage>& stages = k.spec.stages;
  for (int id : group.stages) {
    const Node& r = g.node(id);
    if (r.kind == NodeKind::kTile) {
      TF_RETURN_IF_ERROR(FillBuiltinRowTile(r, kb));
      continue;
    }
    TF_ASSIGN_OR_RETURN(Expr in, kb.ExprOf(r.inputs[0], kEpilogueSite));
    const auto last = [&] { return static_cast<int>(stages.size()) - 1; };
    if (r.reduce != ReduceOp::kMean && r.reduce != ReduceOp::kVar) {
      stages.push_back(RowStage{StoreReduceOp(r.reduce), -1, 1, in});
      kb.SetStage(id, last());
      continue;
    }
    int mean = -1;
    for (size_t j = 0; j < stages.size(); ++j) {
      if (stages[j].op == 3 && stages[j].input == in) mean = static_cast<int>(j);
    }
    if (mean < 0) {
      stages.push_back(RowStage{3, -1, 1, in});
      mean = last();
    }
    if (r.reduce == ReduceOp::kVar) stages.push_back(RowStage{5, mean, r.attrs.correction.value_or(1), in});
    kb.SetStage(id, r.reduce == ReduceOp::kVar ? last() : mean);
  }
  return absl::OkStatus();
}

void ChooseGemmConfig(const Graph& g, const Group& group, KernelPlan& k, const PlanOptions& options);

// A dual GEMM's second B (tile input 2), read as the first is: a K-major buffer by cp.async
// or TMA (FuseDualGemms admits no other).
absl::Status FillDualB(const Graph& g, const Group& group, KernelBuilder& kb) {
  KernelPlan& k = kb.kernel();
  const Node& t2 = g.node(group.dual);
  k.dual_node = t2.id;
  k.spec.dual = true;
  TF_ASSIGN_OR_RETURN(Expr e, kb.ExprOf(t2.inputs[1], 2));
  k.spec.tile_inputs.push_back(TileInputSpec{g.node(t2.inputs[1]).dtype, e});
  const SizeExpr kdim = SizeExpr::Of(g.node(t2.inputs[1]).shape[0]);
  if (e->kind == ExprKind::kLoad && k.spec.operands[e->operand].access == Access::kStrided) {
    const OperandBinding& bind = k.operands[e->operand];
    if (bind.strides.size() == 2 && bind.strides[0] == SizeExpr{1, {}} && bind.strides[1] == kdim) {
      k.spec.b2_async = e->operand;
    }
  }
  if (k.spec.b2_async < 0 || k.spec.b_layout != GemmBLayout::kColMajor) {
    return absl::InternalError(absl::StrCat("dual GEMM '", g.node(group.tile).name, "' + '", t2.name,
                                            "': both B operands must be K-major buffers"));
  }
  return absl::OkStatus();
}

// A dual GEMM over two row windows of one weight (FuseSplitDualGemms): the kernel's output is
// one window's [M, L]; A as for any GEMM; its B halves, the weight's rows from
// group.split_rows[0] and [1], read by cp.async or TMA.
absl::Status FillSplitDual(const Graph& g, const Group& group, KernelBuilder& kb, const PlanOptions& options) {
  const Node& t = g.node(group.tile);
  KernelPlan& k = kb.kernel();
  const Dim& kd = g.node(t.inputs[0]).shape[1];
  k.cols = SizeExpr::Of(group.shape.back());
  k.depth = SizeExpr::Of(kd);
  kb.SetSplitDual(group.split_views, Shape{kd, group.shape.back()});
  TF_ASSIGN_OR_RETURN(Expr a, kb.ExprOf(t.inputs[0], 0));
  k.spec.tile_inputs.push_back(TileInputSpec{g.node(t.inputs[0]).dtype, a});
  for (int j = 1; j <= 2; ++j) {
    const int b = kb.WeightRowsOperand(t.inputs[1], group.split_rows[j - 1], j);
    k.spec.tile_inputs.push_back(TileInputSpec{g.node(t.inputs[1]).dtype, MakeLoad(b, g.node(t.inputs[1]).dtype)});
    (j == 1 ? k.spec.b_async : k.spec.b2_async) = b;
  }
  k.spec.b_layout = GemmBLayout::kColMajor;
  k.spec.dual = true;
  k.spec.dual_split = true;
  k.spec.gemm = DefaultGemmConfig(t.shape[0]);
  k.spec.sm90 = options.arch == "sm_90";
  if (a->kind == ExprKind::kLoad && !k.spec.operands[a->operand].iota &&
      k.spec.operands[a->operand].access == Access::kFull) {
    k.spec.a_async = a->operand;
  }
  ChooseGemmConfig(g, group, k, options);
  return absl::OkStatus();
}

// Whether a batched GEMM's B, bound as [batches..., K, N] with strides 1 along K and K
// along N, is K-major buffers TMA can read: the transpose of a contiguous [batches..., N, K]
// (each batch dim's stride the size of what follows it), or of one [N, K] for every batch
// (strides 0 along the batch dims: *shared set).
bool KMajorBatches(const OperandBinding& b, const SizeExpr& k, const SizeExpr& n, bool* shared) {
  const size_t r = b.strides.size();
  if (r < 3 || b.dims.size() != r || !(b.strides[r - 2] == SizeExpr{1, {}}) || !(b.strides[r - 1] == k)) return false;
  bool contiguous = true;
  *shared = true;
  SizeExpr next = k * n;
  for (size_t d = r - 2; d-- > 0;) {
    contiguous &= b.strides[d] == next;
    *shared &= b.strides[d] == SizeExpr{0, {}};
    next = next * b.dims[d];
  }
  return contiguous || *shared;
}

absl::Status FillTileSpec(const Graph& g, const Group& group, KernelBuilder& kb,
                          const PlanOptions& options) {
  const Node& t = g.node(group.tile);
  if (t.kind == NodeKind::kReduce) return FillReduceSpec(g, group, t, kb);
  KernelPlan& k = kb.kernel();
  k.tile_node = t.id;
  k.spec.tile = t.OpString();
  k.spec.custom = t.custom;
  k.spec.eps = t.attrs.eps.value_or(0);
  k.cols = SizeExpr::Of(t.shape.back());
  k.rows = SizeExpr{1, {}};
  // A batched matmul: rows are one batch's M, its leading dims the batches.
  const bool batched = IsBatchedMatmul(t);
  for (size_t d = 0; d + 1 < t.shape.size(); ++d) {
    SizeExpr& into = batched && d + 2 < t.shape.size() ? k.batches : k.rows;
    into = into * SizeExpr::Of(t.shape[d]);
  }
  k.spec.batched = batched;
  // B read through a transpose the kernel serves itself (grouping's TransposedPrologue): its
  // prologue runs over the transposed value's own [N, K].
  const int b_view = t.custom == nullptr && t.tile == TileOp::kMatmul ? t.inputs[1] : -1;
  const bool b_nk = b_view >= 0 && std::find(group.served_views.begin(), group.served_views.end(), b_view) !=
                                       group.served_views.end();
  const int nk = b_nk ? g.node(b_view).inputs[0] : -1;
  if (b_nk) kb.SetTransposedB(nk);
  if (group.dual >= 0) kb.SetDual(group.dual);
  if (!group.split_views.empty()) return FillSplitDual(g, group, kb, options);
  for (size_t j = 0; j < t.inputs.size(); ++j) {
    TF_ASSIGN_OR_RETURN(Expr e, kb.ExprOf(j == 1 && b_nk ? nk : t.inputs[j], static_cast<int>(j)));
    k.spec.tile_inputs.push_back(TileInputSpec{g.node(t.inputs[j]).dtype, e});
  }
  if (b_nk) k.spec.b_layout = GemmBLayout::kHookNK;
  if (batched) {
    // Operands read as they are where their layout allows (a_ptr and b_ptr add the batch's
    // offset, but for a B shared by every batch); the Hopper kernel where B is such, else
    // mma.sync; one config by M.
    k.depth = SizeExpr::Of(g.node(t.inputs[0]).shape.back());
    const Dim& m = t.shape[t.shape.size() - 2];
    k.spec.sm90 = options.arch == "sm_90";
    const bool narrow = t.dtype == DType::kBF16 || t.dtype == DType::kF16;
    for (int j : {0, 1}) {
      const Expr& e = k.spec.tile_inputs[j].expr;
      if (!narrow || e->kind != ExprKind::kLoad || k.spec.operands[e->operand].iota) continue;
      const OperandBinding& bind = k.operands[e->operand];
      const Access access = k.spec.operands[e->operand].access;
      if (access == Access::kFull) {
        (j == 0 ? k.spec.a_async : k.spec.b_async) = e->operand;
        if (j == 1) k.spec.b_layout = GemmBLayout::kRowMajor;
      } else if (bool shared = false;
                 j == 1 && access == Access::kStrided && KMajorBatches(bind, k.depth, k.cols, &shared)) {
        // k.transpose(-2, -1) of a contiguous [batches..., N, K], or F.linear's w.T under
        // [B, S, K] (one for every batch).
        k.spec.b_async = e->operand;
        k.spec.b_layout = GemmBLayout::kColMajor;
        k.spec.b_shared = shared;
      } else if (j == 1 && access == Access::kInner && bind.inner == k.depth * k.cols) {
        // One [K, N] for every batch (a weight expanded over them): row-major, shared.
        k.spec.b_async = e->operand;
        k.spec.b_layout = GemmBLayout::kRowMajor;
        k.spec.b_shared = true;
      }
    }
    // Hopper's TMA + wgmma kernel (not the persistent one) where B is read as it is.
    const bool small = m.is_static() && m.value <= 64;
    k.spec.gemm = GemmWgmmaCapable(k.spec) ? WgmmaGemmConfig(4, small ? 64 : 128, 128) : BatchedGemmConfig(m);
    return absl::OkStatus();
  }
  if (t.custom == nullptr && t.tile == TileOp::kMatmul) {
    k.depth = SizeExpr::Of(g.node(t.inputs[0]).shape[1]);
    k.spec.gemm = DefaultGemmConfig(t.shape[0]);
    k.spec.sm90 = options.arch == "sm_90";
    // Operands read as they are (no prologue) take the cp.async path when their layout
    // allows: A as [M, K] contiguous; B as [K, N] contiguous, or a transpose of [N, K].
    // f32 operands are split into bf16 parts in registers (GemmSplitsF32): never copied
    // as they are, since the MMA reads 16-bit values.
    const bool narrow = t.dtype == DType::kBF16 || t.dtype == DType::kF16;
    const auto plain = [&](int j) {
      const Expr& e = k.spec.tile_inputs[j].expr;
      return narrow && e->kind == ExprKind::kLoad && !k.spec.operands[e->operand].iota ? e->operand : -1;
    };
    if (const int a = plain(0); a >= 0 && k.spec.operands[a].access == Access::kFull) {
      k.spec.a_async = a;
    }
    if (const int b = b_nk ? -1 : plain(1); b >= 0) {
      const OperandBinding& bind = k.operands[b];
      const SizeExpr kdim = SizeExpr::Of(g.node(t.inputs[1]).shape[0]);
      if (k.spec.operands[b].access == Access::kFull) {
        k.spec.b_async = b;
        k.spec.b_layout = GemmBLayout::kRowMajor;
      } else if (k.spec.operands[b].access == Access::kStrided && bind.strides.size() == 2 &&
                 bind.strides[0] == SizeExpr{1, {}} && bind.strides[1] == kdim) {
        k.spec.b_async = b;
        k.spec.b_layout = GemmBLayout::kColMajor;
      }
    }
    if (group.dual >= 0) TF_RETURN_IF_ERROR(FillDualB(g, group, kb));
    ChooseGemmConfig(g, group, k, options);
    if (group.row && !k.spec.gemm.wgmma && t.shape[1].value > 256) {
      return absl::InternalError(absl::StrCat("matmul '", t.name, "': a row epilogue over ", t.shape[1].value,
                                              " columns needs the Hopper kernel's row cluster (a K-major B on sm_90), ",
                                              "which this GEMM cannot take (", k.spec.gemm.ToString(), ")"));
    }
  }
  return absl::OkStatus();
}

// The config of matmul kernel `k` from its operands' layout and its shape (again after the
// fp8 rewrite, which makes B a K-major buffer).
void ChooseGemmConfig(const Graph& g, const Group& group, KernelPlan& k, const PlanOptions& options) {
  const Node& t = g.node(group.tile);
  {
    // Hopper: TMA + wgmma wherever B is a K-major buffer (weights as w.T) and M is not a
    // decode batch (whose 16 rows would fill a 128-row tile an eighth).
    const Dim& m = t.shape[0];
    const bool decode = m.is_static() && m.value <= 16;
    if (GemmWgmmaCapable(k.spec) && !decode) {
      k.spec.gemm = WgmmaGemmConfig();
    }
    // A static M of at most 256 rows: the small-M config (SmallMGemmConfig), as the shape
    // classes of a symbolic M get it; a store-site reduction keeps the tile that covers its
    // axis.
    const Dim& n = t.shape[1];
    const Dim& kd = g.node(t.inputs[0]).shape[1];
    if (group.row) {
      // A row epilogue: one tile covers the row (GemmCoversRows: N <= 256). The Hopper
      // tile of 64, 128, 192 or 256 columns, else mma.sync's 64 rows by the next power of
      // two. Up to 128 columns the tile takes 64 rows, two CTAs per SM: the GEMM is small
      // next to its rows' count, and 128-row tiles of the ping-pong kernel left one
      // warpgroup of each CTA idle on a quarter of the SMs (4096 x 128 x 1024: 22.5 us in
      // ncu, 32 CTAs, DRAM at 8%).
      // Past 256 columns (sm_90, grouping's GemmTakesHopperTiles) a row spans column tiles
      // of 192 or 256 (the fewest that cover it) over the CTAs of a cluster, which combine
      // each row's reductions (GemmConfig::row_cluster), and to 1024 columns two per CTA
      // (row_tiles): clusters of 2 fill all 132 SMs of an H200 (66 at a time), where those
      // of 4 fill 120 (30) and a band count past it takes a second round (4096 x 1024 in
      // 128 x 256 tiles, clusters of 4: 41 us against 22.6 for the GEMM and the norm apart).
      // So 64-row bands (twice the CTAs of 128) of 2 tiles to 512 columns, of 2 x 2 to 1024
      // (three stages, the first tile's values kept beside them), and past it 128 rows x up
      // to 8 tiles.
      const int64_t cols = n.value;
      const auto fit = [&](int tiles) { return (cols + tiles - 1) / tiles <= 192 ? 192 : 256; };
      if (GemmWgmmaCapable(k.spec) && cols <= 256) {
        const int bn = cols <= 64 ? 64 : cols <= 128 ? 128 : cols <= 192 ? 192 : 256;
        k.spec.gemm = bn <= 128 ? WgmmaGemmConfig(4, 64, bn) : WgmmaGemmConfig(4, 128, bn);
      } else if (GemmWgmmaCapable(k.spec) && cols <= 512) {
        k.spec.gemm = WgmmaGemmConfig(4, 64, fit(2));
        k.spec.gemm.row_cluster = 2;
      } else if (GemmWgmmaCapable(k.spec) && cols <= 1024) {
        k.spec.gemm = WgmmaGemmConfig(3, 64, fit(4));
        k.spec.gemm.row_tiles = 2;
        k.spec.gemm.row_cluster = 2;
      } else if (GemmWgmmaCapable(k.spec)) {
        const int64_t tiles = (cols + 255) / 256;
        k.spec.gemm = WgmmaGemmConfig(4, 128, fit(static_cast<int>(tiles)));
        k.spec.gemm.row_cluster = static_cast<int>(tiles);
      } else {
        GemmConfig c;
        c.bm = 64;
        c.bn = 32;
        while (c.bn < cols) c.bn *= 2;
        c.bk = 32;
        c.warps_m = 2;
        c.warps_n = c.bn >= 128 ? 4 : 2;
        c.stages = 4;
        k.spec.gemm = c;
      }
    } else if (m.is_static() && group.reduce < 0) {
      // A dual GEMM's tiles cover its two products' columns: 2N as one GEMM.
      const int64_t cols = k.cols.is_static() ? k.cols.constant * (k.spec.dual ? 2 : 1) : 0;
      if (auto small = ClassGemmConfig(k.spec, m.value, cols, kd.is_static() ? kd.value : 0, options.sm_count)) {
        k.spec.gemm = *small;
      }
    }
  }
}

// The store-site reduction of `group` on its kernel: operator, axis, the value reduced,
// and the form (split when a GEMM's tile does not cover the axis).
absl::Status FillStoreReduce(const Graph& g, const Group& group, KernelBuilder& kb) {
  const Node& r = g.node(group.reduce);
  const Node& t = g.node(group.tile);
  KernelPlan& k = kb.kernel();
  StoreReduce& red = k.spec.reduce;
  red.op = StoreReduceOp(r.reduce);
  if (group.reduce2 >= 0) red.op = StoreReduceOp(ReduceOp::kVar);  // a mean/var pair: one Welford pass
  const Node& var = g.node(r.reduce == ReduceOp::kVar || group.reduce2 < 0 ? group.reduce : group.reduce2);
  k.spec.correction = var.attrs.correction.value_or(1);
  red.axis = StoreReduceAxis(g, t, r);
  TF_ASSIGN_OR_RETURN(red.input, kb.ExprOf(r.inputs[0], kEpilogueSite));
  red.split = k.spec.tile == "matmul" && !GemmTileCoversAxis(k, k.spec.gemm);
  k.red_count = red.axis == 1 ? k.cols : k.rows;
  return absl::OkStatus();
}

// The kernel that combines the partials of a split reduction (kernel `producer`, partials
// in workspace `slot`) in tile order and computes what follows the reduction.
KernelBuilder CombineKernel(const Graph& g, const Group& group, const KernelPlan& producer,
                            int producer_index, BufferRef slot, const std::vector<ViewInfo>& views,
                            const std::map<int, BufferRef>& buffers, std::vector<bool>& in_post) {
  for (int id : group.reduced) in_post[id] = true;
  KernelBuilder cb(g, views, buffers, in_post, group.reduce, -1, group.reduce2);
  KernelPlan& c = cb.kernel();
  c.index_space = g.node(group.reduce).shape;
  c.nodes = group.reduced;
  c.tile_node = group.reduce;
  c.partial_of = producer_index;
  c.spec.tile = "reduce";
  // A split Welford reduction leaves (n, mean, m2) triples: op 6 merges them.
  c.spec.reduce_op = producer.spec.reduce.op == 5 ? 6 : producer.spec.reduce.op;
  c.spec.correction = producer.spec.correction;
  c.spec.operands.push_back(OperandSpec{DType::kF32, Access::kFull, 0, 1});
  OperandBinding b;
  b.buffer = slot;
  c.operands.push_back(b);
  c.spec.tile_inputs.push_back(TileInputSpec{DType::kF32, MakeLoad(0, DType::kF32)});
  // Partials are [M, tiles of N] (axis 1) or [tiles of M, N] (axis 0), as [outer, R, inner].
  const bool rows_axis = producer.spec.reduce.axis == 1;
  c.rows = rows_axis ? producer.rows : producer.cols;
  c.cols = rows_axis ? producer.cols : producer.rows;
  c.depth = rows_axis ? SizeExpr{1, {}} : producer.cols;
  c.red_count = producer.red_count;
  return cb;
}


// The value a graph output is stored as: the output itself, or, for a reshape of the whole
// of a value a kernel computes (the same elements in order: a linear's [B * S, N] result
// restored to [B, S, N]), that value, stored straight into the output's buffer instead of
// copied there by a kernel of its own.
int WholeReshapeBase(const Graph& g, const std::vector<ViewInfo>& views, const Grouping& grouping, int o) {
  return IsWholeReshape(g, views, o) && grouping.group_of[views[o].base] >= 0 ? views[o].base : o;
}

// One form of the plan: its kernels for every M when symbolic_min_rows is 0, else the form
// for a symbolic M of at least that many rows; `ranged` receives Grouping::ranged_tile.
absl::StatusOr<FusionPlan> PlanForm(const Graph& g, const PlanOptions& options, int64_t symbolic_min_rows,
                                    int& ranged) {
  if (g.outputs().empty()) return absl::InvalidArgumentError("the graph has no outputs");
  TF_ASSIGN_OR_RETURN(std::vector<ViewInfo> views, ResolveViews(g));
  TF_ASSIGN_OR_RETURN(Grouping grouping,
                      GroupNodes(g, views,
                                 GroupingOptions{options.fuse, options.gemm_row_epilogues, options.norm_prologues,
                                                 symbolic_min_rows, options.arch == "sm_90",
                                                 options.wide_row_epilogues}));
  ranged = grouping.ranged_tile;
  FusionPlan plan;
  plan.decisions = grouping.decisions;

  // Output positions per value, and which values something outside their kernel reads.
  std::map<int, std::vector<int>> output_positions;
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    output_positions[WholeReshapeBase(g, views, grouping, g.outputs()[k])].push_back(k);
  }
  // A view read inside the kernel computing its base (a row kernel's per-row values
  // through a reshape) is no read from memory; a view that is an output is (its copy).
  std::set<std::pair<int, int>> served;  // (group, view)
  for (size_t gi = 0; gi < grouping.groups.size(); ++gi) {
    for (int v : grouping.groups[gi].served_views) served.insert({static_cast<int>(gi), v});
  }
  std::vector<bool> read_outside(g.nodes().size(), false);
  for (int o : g.outputs()) {
    // An output view is copied from its base, unless the base's kernel stores it (a column
    // window of a GEMM, StoreOutputWindows).
    const int base = views[o].base;
    if (g.node(o).kind == NodeKind::kView && grouping.group_of[base] >= 0 && grouping.group_of[o] < 0) {
      read_outside[base] = true;
    }
  }
  for (const Node& n : g.nodes()) {
    // A view's readers read its base; a materialized one is read by its own copy kernel.
    if (n.kind == NodeKind::kView && !IsMaterializedView(g, views, n.id)) continue;
    for (int in : n.inputs) {
      const int base = views[in].base;
      if (grouping.group_of[base] < 0) continue;
      const int reader = grouping.group_of[n.id];
      if (reader >= 0) {
        const std::vector<int>& again = grouping.groups[reader].recomputed;
        if (std::find(again.begin(), again.end(), base) != again.end()) continue;  // computed there too
      }
      if (reader != grouping.group_of[base] || (in != base && !served.count({reader, in}))) {
        read_outside[base] = true;
      }
    }
  }

  std::map<int, BufferRef> buffers;  // where each stored value lives
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    buffers[g.inputs()[i]] = BufferRef{BufferRef::kInput, static_cast<int>(i)};
  }
  for (const Node& n : g.nodes()) {
    if (n.kind == NodeKind::kIota) buffers[n.id] = BufferRef{BufferRef::kNone, n.id};
  }
  std::vector<bool> written(g.outputs().size(), false);
  // Stores value `id` (expression `e` at `site`) from kernel `kb`: into each graph output
  // it is, else into a workspace slot of its own; it then lives there for later kernels.
  const auto store = [&](KernelBuilder& kb, int id, const Expr& e, int site) {
    const auto pos = output_positions.find(id);
    if (pos != output_positions.end()) {
      buffers[id] = BufferRef{BufferRef::kOutput, pos->second[0]};
      for (int k : pos->second) {
        kb.AddOutput(e, id, BufferRef{BufferRef::kOutput, k}, site);
        written[k] = true;
      }
      return;
    }
    buffers[id] = BufferRef{BufferRef::kWorkspace, static_cast<int>(plan.workspace.size())};
    plan.workspace.push_back(WorkspaceSlot{id, Numel(g.node(id).shape), g.node(id).dtype, {}, 0});
    kb.AddOutput(e, id, buffers[id], site);
  };

  for (const Group& group : grouping.groups) {
    std::vector<bool> in_kernel(g.nodes().size(), false);
    for (int id : group.nodes) in_kernel[id] = true;
    for (int id : group.recomputed) in_kernel[id] = true;
    // A row kernel's reduced site is its stages' index space.
    int reduced_space = group.reduce;  // a row program's: that of its first reduction
    for (int id : group.stages) {
      if (reduced_space < 0 && g.node(id).kind == NodeKind::kReduce) reduced_space = id;
    }
    KernelBuilder kb(g, views, buffers, in_kernel, group.tile, reduced_space, group.reduce2);
    kb.kernel().index_space = group.shape;
    kb.kernel().nodes = group.nodes;
    kb.SetServed(group.served_views, &group.windows);
    for (const ColumnWindowInfo& w : group.windows) kb.kernel().spec.windows.push_back(ColumnWindow{w.start, w.len});
    if (group.tile >= 0) TF_RETURN_IF_ERROR(FillTileSpec(g, group, kb, options));
    if (group.row) TF_RETURN_IF_ERROR(FillRowSpec(g, group, kb));
    if (group.reduce >= 0) TF_RETURN_IF_ERROR(FillStoreReduce(g, group, kb));
    const bool split = kb.kernel().spec.reduce.split;
    std::vector<std::string> stored;
    for (int id : group.nodes) {
      if (split && SiteOf(g, group, id) == kReducedSite) continue;  // the combine kernel's
      const auto pos = output_positions.find(id);
      const bool is_output = pos != output_positions.end();
      if (!is_output && !read_outside[id]) continue;
      const int site = SiteOf(g, group, id);
      TF_ASSIGN_OR_RETURN(Expr e, kb.ExprOf(id, site));
      store(kb, id, e, site);
      stored.push_back(g.node(id).name);
      if (group.nodes.size() > 1 && id != group.nodes.back()) {
        plan.decisions.push_back(absl::StrCat(
            "multi-output: the kernel of '", g.node(group.nodes.back()).name, "' also stores '",
            g.node(id).name, "'", site >= 0 ? " from its prologue" : "", ", ",
            is_output ? "a graph output" : "read by another kernel"));
      }
    }
    KernelPlan& k = kb.kernel();
    // A GEMM of two dequantized fp8 values at more rows than one tile (the grouping fused
    // the weight's dequant only for that) runs on the fp8 path.
    F8Rewrite f8;
    if (k.spec.tile == "matmul" && k.spec.custom == nullptr && !k.spec.batched) {
      const Dim& rows = g.node(group.tile).shape[0];
      const bool large = rows.is_static() ? rows.value > kMaxWeightOnlyRows : symbolic_min_rows > kMaxWeightOnlyRows;
      if (large) f8 = UseF8Gemm(g, k);
      if (!f8.decision.empty()) {
        plan.decisions.push_back(f8.decision);
        k.spec.gemm = DefaultGemmConfig(rows);
        ChooseGemmConfig(g, group, k, options);
      }
    }
    if (std::string fold = FoldColumnAddIntoAccumulators(g, k); !fold.empty()) {
      plan.decisions.push_back(std::move(fold));
    }
    if (group.tile >= 0 && k.spec.tile != "matmul" && k.spec.tile != "reduce") {
      TF_ASSIGN_OR_RETURN(k.spec.row, ChooseRowConfig(g.node(group.tile).shape.back(), k.spec.Vec()));
      if (k.spec.row.chunked) {  // Graph::AddTile writes wider norms op by op
        return absl::InternalError(absl::StrCat("tile '", g.node(group.tile).name, "': rows of ",
                                                g.node(group.tile).shape.back().value, " exceed the ", kMaxRowWidth,
                                                " a built-in row tile holds"));
      }
    }
    if (group.row && group.tile < 0) {
      TF_ASSIGN_OR_RETURN(k.spec.row, ChooseRowConfig(group.shape.back(), k.spec.Vec()));
    }
    k.summary = absl::StrCat(group.tile >= 0 ? absl::StrCat(k.spec.tile == "reduce" ? "reduce " : "tile ",
                                                            g.node(group.tile).OpString(), ": ")
                             : group.row ? absl::StrCat("row kernel (", k.spec.stages.size(), " reduction",
                                                        k.spec.stages.size() == 1 ? "" : "s", " per row): ")
                                             : "",
                             group.nodes.size() > 1 ? "fused " : "", NodeNames(g, group.nodes),
                             " over ", ShapeString(group.shape, g.symbols()), " -> ",
                             absl::StrJoin(stored, ", "));
    if (!f8.decision.empty()) absl::StrAppend(&k.summary, "; fp8 codes on wgmma", f8.scaled ? ", scales in the epilogue" : "");
    if (k.spec.batched) absl::StrAppend(&k.summary, "; batched: one GEMM per index of its leading dims, in one launch");
    if (group.reduce < 0) {
      plan.kernels.push_back(std::move(k));
      continue;
    }
    const Node& r = g.node(group.reduce);
    const std::string axis = k.spec.reduce.axis == 1 ? "row" : "column";
    if (!split) {
      absl::StrAppend(&k.summary, "; reduces each ", axis, " persistently (one CTA holds it)");
      plan.decisions.push_back(absl::StrCat("reduction form: '", r.name, "' persistent: one CTA of '",
                                            g.node(group.tile).name, "' holds each whole ", axis));
      plan.kernels.push_back(std::move(k));
      continue;
    }
    // Split: the partials go to a workspace slot sized once the GEMM's tile is final.
    const BufferRef slot{BufferRef::kWorkspace, static_cast<int>(plan.workspace.size())};
    const SizeExpr per_partial{k.spec.reduce.op == 5 ? 3 : 1, {}};  // Welford: n, mean, m2
    plan.workspace.push_back(WorkspaceSlot{-1, (k.spec.reduce.axis == 1 ? k.rows : k.cols) * per_partial,
                                           DType::kF32, k.spec.reduce.axis == 1 ? k.cols : k.rows, 0});
    k.partial = slot;
    absl::StrAppend(&k.summary, "; writes per-tile partials of '", r.name, "' (split over the ", axis, ")");
    plan.decisions.push_back(absl::StrCat(
        "reduction form: '", r.name, "' split: the tiles of '", g.node(group.tile).name,
        "' each reduce their part of the ", axis, " and a second kernel combines the partials in tile order"));
    const int producer = static_cast<int>(plan.kernels.size());
    plan.kernels.push_back(std::move(k));
    std::vector<bool> in_post(g.nodes().size(), false);
    KernelBuilder cb = CombineKernel(g, group, plan.kernels[producer], producer, slot, views, buffers, in_post);
    std::vector<std::string> post_stored;
    for (int id : group.reduced) {
      if (!output_positions.count(id) && !read_outside[id]) continue;
      TF_ASSIGN_OR_RETURN(Expr e, cb.ExprOf(id, kEpilogueSite));
      store(cb, id, e, kEpilogueSite);
      post_stored.push_back(g.node(id).name);
    }
    cb.kernel().summary = absl::StrCat("reduce ", r.OpString(), ": combines the partials of '", r.name,
                                       "' in tile order, then ", NodeNames(g, group.reduced), " over ",
                                       ShapeString(r.shape, g.symbols()), " -> ", absl::StrJoin(post_stored, ", "));
    plan.kernels.push_back(std::move(cb.kernel()));
  }

  // Outputs that no kernel wrote (inputs, views) are copied into their buffers.
  const std::vector<bool> none(g.nodes().size(), false);
  for (size_t pos = 0; pos < g.outputs().size(); ++pos) {
    if (written[pos]) continue;
    const int v = g.outputs()[pos];
    KernelBuilder kb(g, views, buffers, none, -1);
    kb.kernel().index_space = g.node(v).shape;
    const Expr e = MakeLoad(kb.OperandIndex(v, kEpilogueSite), g.node(v).dtype);
    for (size_t k = pos; k < g.outputs().size(); ++k) {
      if (g.outputs()[k] != v) continue;
      kb.AddOutput(e, v, BufferRef{BufferRef::kOutput, static_cast<int>(k)}, kEpilogueSite);
      written[k] = true;
    }
    kb.kernel().summary = absl::StrCat("copy ", g.node(v).name, " (", g.node(v).OpString(),
                                       ") into its output buffer");
    plan.decisions.push_back(absl::StrCat("copy: output '", g.node(v).name,
                                          "' is not computed by a kernel, so it is copied"));
    plan.kernels.push_back(std::move(kb.kernel()));
  }
  // Packed i4 is read, never written: two threads storing the nibbles of one byte would race.
  for (const KernelPlan& k : plan.kernels) {
    for (const OutputBinding& o : k.outputs) {
      const Node& n = g.node(o.value);
      if (n.dtype == DType::kI4) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node '", n.name, "' (", n.OpString(), ", i4 ", g.ShapeText(n.id), ") would be stored: tilefuse reads "
            "packed i4 tensors but does not write them (expected i4 only as an input, read by a cast or dequant)"));
      }
    }
  }
  BindSplitReductions(plan);  // again by Compile once GEMM configs are tuned
  BakeStaticExtents(plan);
  return plan;
}

}  // namespace

absl::StatusOr<FusionPlan> PlanFusion(const Graph& g, const PlanOptions& options) {
  int ranged = -1;
  TF_ASSIGN_OR_RETURN(FusionPlan plan, PlanForm(g, options, 0, ranged));
  if (ranged < 0) return plan;
  // A weight-only GEMM with a symbolic M: its fused form serves M up to kMaxWeightOnlyRows,
  // and a second form (the weight dequantized once, read by TMA) the larger M. Both forms'
  // kernels are in the plan, each marked with its range of M (KernelPlan::RunsAt).
  int again = -1;
  TF_ASSIGN_OR_RETURN(FusionPlan large, PlanForm(g, options, kMaxWeightOnlyRows + 1, again));
  const Dim& m = g.node(ranged).shape[0];
  const SizeExpr rows = SizeExpr::Of(m);
  const std::string name = g.symbols()[m.symbol];
  for (KernelPlan& k : plan.kernels) {
    k.range = RowRange{rows, 0, kMaxWeightOnlyRows};
    k.summary = absl::StrCat("(", name, " <= ", kMaxWeightOnlyRows, ") ", k.summary);
  }
  const int slots = static_cast<int>(plan.workspace.size()), first = static_cast<int>(plan.kernels.size());
  const auto remap = [&](BufferRef& b) {
    if (b.kind == BufferRef::kWorkspace) b.index += slots;
  };
  for (KernelPlan& k : large.kernels) {
    k.range = RowRange{rows, kMaxWeightOnlyRows + 1, -1};
    k.summary = absl::StrCat("(", name, " > ", kMaxWeightOnlyRows, ") ", k.summary);
    for (OperandBinding& o : k.operands) remap(o.buffer);
    for (OutputBinding& o : k.outputs) remap(o.buffer);
    remap(k.partial);
    if (k.partial_of >= 0) k.partial_of += first;
    plan.kernels.push_back(std::move(k));
  }
  for (WorkspaceSlot& w : large.workspace) plan.workspace.push_back(std::move(w));
  plan.decisions.push_back(absl::StrCat("two forms by ", name, ": '", g.node(ranged).name,
                                        "' dequantizes its weight in its B load while ", name, " <= ",
                                        kMaxWeightOnlyRows, " (kernels 0-", first - 1, "); past that, kernels ", first,
                                        "-", plan.kernels.size() - 1, " run:"));
  for (const std::string& d : large.decisions) {
    plan.decisions.push_back(absl::StrCat("  ", name, " > ", kMaxWeightOnlyRows, ": ", d));
  }
  return plan;
}

}  // namespace tilefuse::internal
