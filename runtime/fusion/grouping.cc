#include "runtime/fusion/grouping.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/fusion/dual_gemm.h"
#include "runtime/fusion/f8_gemm.h"
#include "runtime/fusion/reduction.h"
#include "runtime/fusion/tile_config.h"

namespace tilefuse::internal {
namespace {

// Nodes one kernel computes at most: its expressions stay small enough for NVRTC (a few
// seconds at this size) and for codegen's recursion over them; a longer chain takes
// several kernels.
constexpr int kMaxKernelNodes = 1024;

// Dependency queries by a backward walk over operands. Node ids are a topological order
// (an operand comes before its reader), so a walk looking for ancestors with ids >= lo never
// descends below lo: queries about nearby nodes (the usual ones) stay cheap, and nothing is
// quadratic in memory (a bitset per node was, at 100,000 nodes).
class Reachability {
 public:
  explicit Reachability(const Graph& g) : g_(g), stamp_(g.nodes().size(), 0) {}

  // Whether n depends on m (a path of operands from m to n).
  bool DependsOn(int n, int m) {
    return Walk(n, m, [m](int v) { return v == m; });
  }
  // Whether n depends on a node that `hit` accepts, among nodes with ids >= lo.
  template <class Hit>
  bool DependsOnAny(int n, int lo, const Hit& hit) {
    return Walk(n, lo, hit);
  }
  // Calls `visit` on every ancestor of n with an id >= lo (n excluded).
  template <class Visit>
  void Ancestors(int n, int lo, const Visit& visit) {
    Walk(n, lo, [&](int v) {
      visit(v);
      return false;
    });
  }

 private:
  template <class Hit>
  bool Walk(int n, int lo, const Hit& hit) {
    ++generation_;
    stack_.clear();
    stack_.push_back(n);
    while (!stack_.empty()) {
      const int v = stack_.back();
      stack_.pop_back();
      for (int in : g_.node(v).inputs) {
        if (in < lo || stamp_[in] == generation_) continue;
        stamp_[in] = generation_;
        if (hit(in)) return true;
        stack_.push_back(in);
      }
    }
    return false;
  }

  const Graph& g_;
  std::vector<uint32_t> stamp_;  // == generation_: visited by the current walk
  uint32_t generation_ = 0;
  std::vector<int> stack_;
};

bool IsCompute(const Node& n) {
  return n.kind == NodeKind::kPointwise || n.kind == NodeKind::kTile ||
         n.kind == NodeKind::kReduce || n.kind == NodeKind::kGather;
}

// Inputs, constants and iotas depend on nothing: they never close a cycle.
bool CanDepend(const Node& n) {
  return n.kind != NodeKind::kInput && n.kind != NodeKind::kConstant && n.kind != NodeKind::kIota;
}

// Working state: groups as sets, merged in place.
struct Work {
  const Graph& g;
  Reachability& reach;
  Grouping& out;
  std::vector<std::set<int>> members;
  std::vector<int> tile;  // per group: its tile node or -1
  std::vector<int> reduce;  // per group: its store-site reduction or -1
  std::vector<int> reduce2;  // per group: the mean/var partner of that reduction or -1
  std::vector<bool> reduced;  // per node: computed in the index space of a fused reduction
  std::vector<bool> row;  // per group: a generated row kernel (Group::row)
  std::vector<std::vector<int>> stages;  // per group: a row kernel's reductions
  std::vector<std::set<int>> served_views;  // per group: views its members read of its own values
  std::vector<std::vector<ColumnWindowInfo>> windows;  // per group: a GEMM's column windows
  std::vector<int> window_of;  // per node: its index in its group's windows, or -1
  const std::vector<ViewInfo>& views;
  std::vector<std::set<int>> outside;  // per group: nodes outside it that members read (CanDepend)
  // Per group: the buffers its gathers read (the bases of their inputs), which no member
  // may compute: a gather reads other threads' elements, so its input is stored first.
  std::vector<std::set<int>> gathered;
  bool gemm_row_epilogues = true;  // row programs may run in a GEMM's store
  bool norm_prologues = false;  // a norm's tail may run in the load of a GEMM's A
  int64_t symbolic_min_rows = 0;  // GroupingOptions::symbolic_min_rows
  bool sm90 = false;              // GroupingOptions::sm90
  bool wide_row_epilogues = false;  // GroupingOptions::wide_row_epilogues
  // Per group: nodes of other groups it computes again where it reads them (a norm's
  // pointwise work before its reduction, recomputed in a GEMM's prologue).
  std::vector<std::set<int>> recomputed;
  std::vector<int> readers;  // per node: operand slots and output positions that read it

  std::string FirstName(int gi) const { return g.node(*members[gi].begin()).name; }

  // Merges groups `from` into `into` (plus `extra` node) if that creates no cycle: none of
  // the nodes the merged kernel reads from outside depends on one of its members.
  // `served`: views of members that the merged kernel computes itself (a row kernel's
  // per-row values read through a reshape or an expand), not reads from outside.
  bool TryMerge(int into, const std::vector<int>& from, int extra, const std::string& what,
                const std::set<int>& served = {}) {
    const auto in_merged = [&](int v) {
      if (v == extra) return true;
      const int gi = out.group_of[v];
      return gi >= 0 && (gi == into || std::find(from.begin(), from.end(), gi) != from.end());
    };
    // Gathers run in pointwise kernels and GEMM hooks only (not in row kernels, whose
    // leaves are row elements), and never beside what computes their input.
    std::set<int> gathered_bases = gathered[into];
    const auto tiled_group = [&](int gi) {
      if (row[gi]) return true;
      if (tile[gi] < 0) return false;
      const Node& t = g.node(tile[gi]);
      return t.kind != NodeKind::kTile || t.custom || t.tile != TileOp::kMatmul;
    };
    bool tiled = tiled_group(into);
    for (int gi : from) {
      gathered_bases.insert(gathered[gi].begin(), gathered[gi].end());
      tiled |= tiled_group(gi);
    }
    if (extra >= 0 && g.node(extra).kind == NodeKind::kGather) gathered_bases.insert(views[g.node(extra).inputs[0]].base);
    if (!gathered_bases.empty() && tiled) {
      out.decisions.push_back(absl::StrCat("refused: ", what, ": a gather runs in a pointwise kernel only"));
      return false;
    }
    for (int base : gathered_bases) {
      if (in_merged(base)) {
        out.decisions.push_back(absl::StrCat("refused: ", what, ": it would compute '", g.node(base).name,
                                             "', which a gather in it reads at other elements"));
        return false;
      }
    }
    size_t size = members[into].size() + (extra >= 0 ? 1 : 0);
    for (int gi : from) size += gi == into ? 0 : members[gi].size();
    if (size > static_cast<size_t>(kMaxKernelNodes)) {
      out.decisions.push_back(absl::StrCat("refused: ", what, ": the kernel would compute ", size,
                                           " nodes (at most ", kMaxKernelNodes, ")"));
      return false;
    }
    std::set<int> reads;
    int lo = extra >= 0 ? extra : *members[into].begin();
    for (int gi : from) lo = std::min(lo, *members[gi].begin());
    lo = std::min(lo, *members[into].begin());
    const auto add_reads = [&](const std::set<int>& s) {
      for (int q : s) {
        if (!in_merged(q) && !served.count(q)) reads.insert(q);
      }
    };
    add_reads(outside[into]);
    for (int gi : from) add_reads(outside[gi]);
    if (extra >= 0) {
      for (int q : g.node(extra).inputs) {
        if (CanDepend(g.node(q)) && !in_merged(q) && !served.count(q)) reads.insert(q);
      }
    }
    for (int q : reads) {
      if (reach.DependsOnAny(q, lo, in_merged)) {
        out.decisions.push_back(absl::StrCat("refused: ", what, ": '", g.node(q).name,
                                             "' is read by it and depends on it (a cycle)"));
        return false;
      }
    }
    for (int gi : from) {
      if (gi == into) continue;
      if (row[gi]) {  // the row kernel's reductions come along
        row[into] = true;
        stages[into].insert(stages[into].end(), stages[gi].begin(), stages[gi].end());
        std::sort(stages[into].begin(), stages[into].end());
        row[gi] = false;
        stages[gi].clear();
      }
      for (int m : members[gi]) out.group_of[m] = into;
      members[into].insert(members[gi].begin(), members[gi].end());
      members[gi].clear();
      outside[gi].clear();
      gathered[gi].clear();
    }
    gathered[into] = std::move(gathered_bases);
    if (extra >= 0) {
      members[into].insert(extra);
      out.group_of[extra] = into;
    }
    served_views[into].insert(served.begin(), served.end());
    for (int gi : from) {
      if (gi != into) served_views[into].insert(served_views[gi].begin(), served_views[gi].end());
    }
    outside[into] = std::move(reads);
    return true;
  }

  int NewGroup(int node, const Shape& shape, int tile_node) {
    const int gi = static_cast<int>(members.size());
    members.push_back({node});
    tile.push_back(tile_node);
    reduce.push_back(-1);
    reduce2.push_back(-1);
    row.push_back(false);
    stages.emplace_back();
    served_views.emplace_back();
    windows.emplace_back();
    std::set<int> reads;
    for (int q : g.node(node).inputs) {
      if (CanDepend(g.node(q))) reads.insert(q);
    }
    outside.push_back(std::move(reads));
    gathered.emplace_back();
    recomputed.emplace_back();
    if (g.node(node).kind == NodeKind::kGather) gathered.back().insert(views[g.node(node).inputs[0]].base);
    out.groups.push_back(Group{{}, shape, tile_node});
    out.group_of[node] = gi;
    return gi;
  }
};

// ---- Generated row kernels ---------------------------------------------------------
// A reduction over the last axis of a [..., C] value, the pointwise work before it, and the
// pointwise work that broadcasts its result back over the same rows share one kernel
// (tile "row", codegen/row_codegen.cc): decomposed norms and softmax are one kernel.

// The index space of x less its last axis: kept as 1 (keepdim) or dropped.
bool IsRowReducedShape(const Shape& x, const Shape& r) {
  if (x.empty()) return false;
  const Shape lead(x.begin(), x.end() - 1);
  Shape keep = lead;
  keep.push_back(Dim::Static(1));
  return r == lead || r == keep;
}

// Whether a value of shape r (one per row of space x) broadcasts over x's rows: its last
// dim is the kept 1 (a dropped one would align the rows with x's columns).
bool BroadcastsOverRows(const Shape& x, const Shape& r) {
  return IsRowReducedShape(x, r) && r.size() == x.size() && !x.back().is_one();
}

// Why reduction n cannot be a stage of a row kernel, or "".
std::string RowStageRefusal(const Graph& g, const Node& n) {
  switch (n.reduce) {
    case ReduceOp::kSum:
    case ReduceOp::kAmax:
    case ReduceOp::kAmin:
    case ReduceOp::kMean:
    case ReduceOp::kVar:
    case ReduceOp::kProd:
      break;
    default:
      return absl::StrCat(OpName(n.reduce), " is not a row-kernel reduction");
  }
  const Node& x = g.node(n.inputs[0]);
  if (x.shape.size() < 2 || !n.attrs.dim || *n.attrs.dim != static_cast<int>(x.shape.size()) - 1) {
    return "it does not reduce the last axis of a value of rank >= 2";
  }
  if (!IsFloating(x.dtype)) return absl::StrCat("its input is ", DTypeName(x.dtype), " (rows reduce in fp32)");
  return "";  // rows past kMaxRowWidth: the kernel walks them in chunks (RowConfig::chunked)
}

// ---- Row programs in a GEMM's epilogue -------------------------------------------------
// A GEMM whose tile covers whole rows of its output (N static, at most kMaxEpilogueRow)
// runs a row program over its staged tile (kernels/gemm.cuh gemm_epilogue): rms_norm,
// layer_norm and softmax of its output, built-in or written op by op, fuse into it. On
// sm_90, where the Hopper kernel reads B by TMA, and with wide_row_epilogues, rows up to
// kMaxClusterRow span column tiles over a cluster (GemmConfig::row_tiles, row_cluster),
// which combines each row's reductions.
constexpr int64_t kMaxEpilogueRow = 256;
constexpr int64_t kMaxClusterRow = 8 * 256;  // a portable cluster of 256-column tiles

// Whether GEMM node t takes the Hopper kernel (planner.cc GemmWgmmaCapable) on sm_90:
// 16-bit operands, B the transpose of a [N, K] input (a weight used as w.T).
bool GemmTakesHopperTiles(const Work& w, const Node& t) {
  if (!w.sm90 || (t.dtype != DType::kBF16 && t.dtype != DType::kF16)) return false;
  const Node& a = w.g.node(t.inputs[0]);
  const Node& b = w.g.node(t.inputs[1]);
  if (a.dtype != t.dtype || b.dtype != t.dtype || b.shape.size() != 2) return false;
  const ViewInfo& v = w.views[t.inputs[1]];
  if (v.base < 0 || w.g.node(v.base).kind != NodeKind::kInput || v.strides.size() != 2) return false;
  for (const SizeExpr& o : v.offset) {
    if (!(o == SizeExpr{0, {}})) return false;
  }
  return v.strides[0] == SizeExpr{1, {}} && v.strides[1] == SizeExpr::Of(b.shape[0]);
}

bool GemmCoversRows(const Work& w, int gi) {
  if (!w.gemm_row_epilogues || gi < 0 || w.tile[gi] < 0) return false;
  const Node& t = w.g.node(w.tile[gi]);
  if (t.kind != NodeKind::kTile || t.custom || t.tile != TileOp::kMatmul || IsBatchedMatmul(t)) return false;
  const Dim& n = t.shape[1];
  if (!n.is_static() || !w.windows[gi].empty()) return false;
  if (n.value > kMaxEpilogueRow &&
      (!w.wide_row_epilogues || n.value > kMaxClusterRow || !GemmTakesHopperTiles(w, t))) {
    return false;
  }
  // Epilogue members over a reshape of the output (GroupPointwise's flat readers) are
  // indexed by flat element, which a row program's stages are not.
  for (int m : w.members[gi]) {
    if (m != t.id && !w.reduced[m] && !(w.g.node(m).shape == t.shape) && w.reach.DependsOn(m, t.id)) return false;
  }
  return true;
}

// Why row program `n` over GEMM group gi's output stays a kernel of its own when only the
// width keeps it from the GEMM's store and wide_row_epilogues would take it; "" otherwise.
std::string WideRowsNote(const Work& w, int gi, const Node& n) {
  if (!w.gemm_row_epilogues || w.wide_row_epilogues || gi < 0 || w.tile[gi] < 0) return "";
  const Node& t = w.g.node(w.tile[gi]);
  if (t.kind != NodeKind::kTile || t.custom || t.tile != TileOp::kMatmul || IsBatchedMatmul(t) ||
      !w.windows[gi].empty()) {
    return "";
  }
  const Dim& cols = t.shape[1];
  if (!cols.is_static() || cols.value <= kMaxEpilogueRow || cols.value > kMaxClusterRow || !GemmTakesHopperTiles(w, t)) {
    return "";
  }
  return absl::StrCat("kept apart: '", n.name, "' over ", cols.value, " columns, wider than a tile of '", t.name,
                      "' (", kMaxEpilogueRow, "); CompileOptions::wide_row_epilogues runs it in that GEMM's store ",
                      "(off: slower than two kernels on the H200, docs/NOTES.md)");
}

// v is a value of GEMM group gi's epilogue (not of a prologue, a reduction or a window).
bool IsEpilogueValueOf(Work& w, int gi, int v) {
  return w.out.group_of[v] == gi && !w.reduced[v] && w.window_of[v] < 0 &&
         (v == w.tile[gi] || w.reach.DependsOn(v, w.tile[gi]));
}

// GEMM group gi's store-site reduction (and its mean/var partner) along the rows become
// stages of a row epilogue, which can broadcast them back over the rows.
bool RowizeStoreReduce(Work& w, int gi) {
  if (!GemmCoversRows(w, gi) || w.reduce[gi] < 0 || w.row[gi]) return false;
  for (int r : {w.reduce[gi], w.reduce2[gi]}) {
    if (r >= 0 && !RowStageRefusal(w.g, w.g.node(r)).empty()) return false;
  }
  w.row[gi] = true;
  w.stages[gi] = {w.reduce[gi]};
  if (w.reduce2[gi] >= 0) w.stages[gi].push_back(w.reduce2[gi]);
  std::sort(w.stages[gi].begin(), w.stages[gi].end());
  w.out.decisions.push_back(absl::StrCat("row epilogue: '", w.g.node(w.reduce[gi]).name,
                                         "' runs as a row program in the store of '", w.g.node(w.tile[gi]).name,
                                         "', whose tile covers its rows"));
  w.reduce[gi] = w.reduce2[gi] = -1;
  return true;
}

// Adds reduction n as a stage of the row kernel computing its input, or of a new one.
bool GroupRowStage(Work& w, const Node& n) {
  const Graph& g = w.g;
  if (const std::string why = RowStageRefusal(g, n); !why.empty()) {
    w.out.decisions.push_back(absl::StrCat("row kernel: '", n.name, "' is not one: ", why));
    return false;
  }
  const int v = n.inputs[0];
  const int gi = w.out.group_of[v];
  const Shape& x = g.node(v).shape;
  if (gi >= 0 && w.reduce[gi] >= 0) RowizeStoreReduce(w, gi);
  const bool gemm = GemmCoversRows(w, gi) && w.reduce[gi] < 0 && IsEpilogueValueOf(w, gi, v) &&
                    x == g.node(w.tile[gi]).shape;  // not a reshape of the output: its rows are the tile's
  if (gi >= 0 && ((w.tile[gi] < 0 && !w.reduced[v] && w.out.groups[gi].shape == x) || gemm)) {
    const std::string what = absl::StrCat("reduction '", n.name, "' into the row kernel of '", w.FirstName(gi), "'");
    if (w.TryMerge(gi, {gi}, n.id, what)) {
      w.row[gi] = true;
      w.stages[gi].push_back(n.id);
      w.reduced[n.id] = true;
      w.out.decisions.push_back(absl::StrCat("row kernel: '", n.name, "' (", n.OpString(), ") reduces the rows of '",
                                             g.node(v).name, "' in the kernel that computes them"));
      return true;
    }
  }
  // Another reduction of the same rows (x.mean(-1) beside x.var(-1)): one pass over them.
  for (size_t g2 = 0; g2 < w.members.size(); ++g2) {
    if (!w.row[g2] || !(w.out.groups[g2].shape == x)) continue;
    bool same = false;
    for (int st : w.stages[g2]) same |= g.node(st).inputs[0] == v;
    const int into = static_cast<int>(g2);
    if (!same || !w.TryMerge(into, {into}, n.id, absl::StrCat("reduction '", n.name, "' beside the row kernel of '",
                                                              w.FirstName(into), "'"))) {
      continue;
    }
    w.stages[g2].push_back(n.id);
    w.reduced[n.id] = true;
    w.out.decisions.push_back(absl::StrCat("row kernel: '", n.name, "' (", n.OpString(),
                                           ") reduces the same rows as the row kernel of '", w.FirstName(into), "'"));
    return true;
  }
  const int ng = w.NewGroup(n.id, x, -1);
  w.row[ng] = true;
  w.stages[ng] = {n.id};
  w.reduced[n.id] = true;
  return true;
}

// Whether view node v reads reduced value views[v].base as one value per row of `space`: a
// reshape to the kept or dropped last dim, or an expand over it (x.sum(-1)[:, None]).
bool IsPerRowView(const Work& w, int v, const Shape& space) {
  const ViewInfo& info = w.views[v];
  const Shape& vs = w.g.node(v).shape;
  for (const SizeExpr& o : info.offset) {
    if (!(o == SizeExpr{0, {}})) return false;
  }
  const Shape lead(space.begin(), space.end() - 1);
  const bool dropped = vs == lead;
  if (!dropped && (vs.size() != space.size() || !(Shape(vs.begin(), vs.end() - 1) == lead))) return false;
  if (!dropped && !vs.back().is_one() && !(vs.back() == space.back() && info.strides.back() == SizeExpr{0, {}})) {
    return false;
  }
  const std::vector<SizeExpr> rows = ContiguousStrides(lead);  // the rows, row-major
  for (size_t d = 0; d < lead.size(); ++d) {
    if (!lead[d].is_one() && !(info.strides[d] == rows[d])) return false;
  }
  return true;
}

// Groups to merge in one try: at most one holding a tile kernel (a GEMM with a row
// epilogue), and that one first, so that the merged group keeps it.
std::vector<int> OneTileFirst(const Work& w, const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> out;
  bool tile = false;
  for (const std::vector<int>* list : {&a, &b}) {
    for (int gi : *list) {
      if (w.tile[gi] < 0) {
        out.push_back(gi);
      } else if (!tile) {
        tile = true;
        out.insert(out.begin(), gi);
      }
    }
  }
  return out;
}

// Pointwise n joins the row kernels it reads from: computed over their rows (n's shape is
// their space; reduced values it reads broadcast over the rows) or from their reduced
// values alone (n's shape is their reduced space). Pointwise kernels over the same rows
// come along. False when n reads no row kernel or none can take it.
bool GroupIntoRowKernel(Work& w, const Node& n) {
  const Graph& g = w.g;
  std::vector<int> rows, full_role, reduced_role, plain;
  // Views of a row kernel's per-row values that n reads: served by that kernel.
  std::map<int, int> source;  // input -> the member it reads (itself, or a view's base)
  std::set<int> served;
  for (int in : n.inputs) {
    // A GEMM's store-site reduction broadcast back over its rows: a row epilogue.
    const int rg = w.out.group_of[in];
    if (rg >= 0 && w.reduce[rg] >= 0 && w.reduced[in] && n.shape == w.out.groups[rg].shape) RowizeStoreReduce(w, rg);
  }
  for (int in : n.inputs) {
    source[in] = in;
    if (g.node(in).kind != NodeKind::kView) continue;
    const int base = w.views[in].base;
    const int gi = w.out.group_of[base];
    if (gi >= 0 && w.row[gi] && w.reduced[base] && IsPerRowView(w, in, w.out.groups[gi].shape)) {
      source[in] = base;
      served.insert(in);
    }
  }
  for (int in : n.inputs) {
    const int gi = w.out.group_of[source[in]];
    if (gi < 0) continue;
    if (w.row[gi]) {
      if (std::find(rows.begin(), rows.end(), gi) == rows.end()) rows.push_back(gi);
    } else if (w.tile[gi] < 0 && w.out.groups[gi].shape == n.shape &&
               std::find(plain.begin(), plain.end(), gi) == plain.end()) {
      plain.push_back(gi);
    }
  }
  if (rows.empty()) return false;
  for (int gi : rows) {
    const Shape& space = w.out.groups[gi].shape;
    const bool full = n.shape == space;
    const bool red = !full && IsRowReducedShape(space, n.shape);
    bool ok = full || red;
    for (int in : n.inputs) {
      const int m = source[in];
      if (!ok || w.out.group_of[m] != gi) continue;
      const Shape& read = g.node(in).shape;  // of the view, when through one
      ok = w.reduced[m] ? red || BroadcastsOverRows(space, read) || (served.count(in) && read == space) : full;
    }
    if (!ok) {
      w.out.decisions.push_back(absl::StrCat("refused: '", n.name, "' into the row kernel of '", w.FirstName(gi),
                                             "': ", ShapeString(n.shape, g.symbols()),
                                             " is neither its rows' space nor its reduced space, or reads a reduced "
                                             "value that does not broadcast over the rows"));
      continue;
    }
    (full ? full_role : reduced_role).push_back(gi);
  }
  // Row kernels of one space, with the pointwise kernels over it, in one try; then each.
  std::vector<std::vector<int>> tries;
  if (!full_role.empty()) {
    tries.push_back(OneTileFirst(w, full_role, plain));
    if (tries.back().size() < 2) tries.pop_back();
    for (int gi : full_role) tries.push_back({gi});
  }
  if (reduced_role.size() > 1) {
    std::vector<int> same;
    for (int gi : reduced_role) {  // per-row values of row kernels over the same rows
      if (w.out.groups[gi].shape == w.out.groups[reduced_role[0]].shape) same.push_back(gi);
    }
    tries.push_back(OneTileFirst(w, same, {}));
    if (tries.back().size() < 2) tries.pop_back();
  }
  for (int gi : reduced_role) tries.push_back({gi});
  for (const std::vector<int>& t : tries) {
    const std::string what = absl::StrCat("'", n.name, "' into the row kernel of '", w.FirstName(t[0]), "'");
    if (!w.TryMerge(t[0], t, n.id, what, served)) continue;
    const bool red = !(n.shape == w.out.groups[t[0]].shape);
    w.reduced[n.id] = red;
    w.out.decisions.push_back(absl::StrCat("row kernel: '", n.name, "' (", n.OpString(), ") fused ",
                                           red ? "after the row reductions of '" : "over the rows of '",
                                           w.FirstName(t[0]), "'"));
    return true;
  }
  return false;
}

// A row kernel that ended up with one reduction whose other rows' members all feed it is
// what the reduce tile kernel runs (its prologue and epilogue): it becomes one.
void DemoteSingleStageRowKernels(Work& w) {
  const Graph& g = w.g;
  for (size_t gi = 0; gi < w.members.size(); ++gi) {
    if (!w.row[gi] || w.stages[gi].size() != 1 || w.tile[gi] >= 0) continue;
    const int r = w.stages[gi][0];
    const int v = g.node(r).inputs[0];
    size_t feeding = 0, full = 0;
    bool one_form = true;  // the reduce kernel's epilogue is over the reduction's own shape
    for (int m : w.members[gi]) {
      if (w.reduced[m]) {
        one_form &= g.node(m).shape == g.node(r).shape;
        continue;
      }
      ++full;
      feeding += m == v;
    }
    if (w.out.group_of[v] == static_cast<int>(gi) && !w.reduced[v]) {
      w.reach.Ancestors(v, *w.members[gi].begin(), [&](int a) {
        feeding += w.out.group_of[a] == static_cast<int>(gi) && !w.reduced[a];
      });
    }
    if (feeding != full || !one_form) continue;
    w.row[gi] = false;
    w.stages[gi].clear();
    w.tile[gi] = r;
    w.out.groups[gi].shape = g.node(r).shape;
    for (int m : w.members[gi]) w.reduced[m] = false;
  }
}

// ---- Column windows of a GEMM's output ------------------------------------------------
// y[:, a:a+L] of a GEMM's epilogue value y (a slice or narrow along the last dim) and the
// pointwise work over it run in the GEMM's epilogue, each stored at its own index: a fused
// QKV projection split three ways, each slice with its own epilogue, is one kernel.

// The window view v reads of its base's last dim, if it is one: same leading dims and
// strides as the base, an offset of `a` static elements.
std::optional<ColumnWindowInfo> ColumnWindowOf(const Work& w, int v, bool trailing_dims = false) {
  const auto slice = ColumnSliceOf(w.g, w.views, v, trailing_dims);
  if (!slice || slice->second == w.g.node(w.views[v].base).shape[1].value) return std::nullopt;
  return ColumnWindowInfo{slice->first, slice->second, w.g.node(v).shape};
}

// The GEMM group whose epilogue computes `base` (not a prologue value, not already over a
// window, no row epilogue): the kernel a window view of it can join; -1 if none.
int WindowedGemmGroup(const Work& w, int base) {
  const int gi = w.out.group_of[base];
  if (gi < 0 || w.tile[gi] < 0 || w.row[gi] || w.window_of[base] >= 0 || w.reduced[base]) return -1;
  const Node& t = w.g.node(w.tile[gi]);
  if (t.kind != NodeKind::kTile || t.custom || t.tile != TileOp::kMatmul || IsBatchedMatmul(t)) return -1;
  return base == t.id || w.reach.DependsOn(base, t.id) ? gi : -1;
}

// Node `id`, merged into GEMM group gi, is computed (and stored) over window `win`: the
// group's window of those columns, added if new.
void JoinWindow(Work& w, int gi, int id, const ColumnWindowInfo& win) {
  int index = -1;
  for (size_t k = 0; k < w.windows[gi].size(); ++k) {
    if (w.windows[gi][k].start == win.start && w.windows[gi][k].len == win.len) index = static_cast<int>(k);
  }
  if (index < 0) {
    index = static_cast<int>(w.windows[gi].size());
    w.windows[gi].push_back(win);
  }
  w.window_of[id] = index;
}

// Pointwise n joins the GEMM epilogue whose column window it reads (through the slice, or
// a member already over that window): every value of that kernel it reads is of one window.
bool GroupIntoColumnWindow(Work& w, const Node& n) {
  const Graph& g = w.g;
  int gi = -1;
  std::optional<ColumnWindowInfo> win;
  std::set<int> served;
  for (int in : n.inputs) {
    int g_in = -1;
    std::optional<ColumnWindowInfo> w_in;
    if (g.node(in).kind == NodeKind::kView) {
      const int bg = WindowedGemmGroup(w, w.views[in].base);
      if (bg < 0) continue;
      w_in = ColumnWindowOf(w, in);
      if (!w_in) continue;
      g_in = bg;
      served.insert(in);
    } else if (const int mg = w.out.group_of[in]; mg >= 0 && w.window_of[in] >= 0) {
      g_in = mg;
      w_in = w.windows[mg][w.window_of[in]];
    } else {
      continue;
    }
    if (gi >= 0 && (gi != g_in || win->start != w_in->start || win->len != w_in->len)) return false;
    gi = g_in;
    win = w_in;
  }
  if (gi < 0 || !(n.shape == win->shape)) return false;
  for (int in : n.inputs) {  // an un-windowed value of that kernel is of another index space
    if (w.out.group_of[in] == gi && w.window_of[in] < 0) return false;
  }
  const std::string what = absl::StrCat("'", n.name, "' into the epilogue of '", g.node(w.tile[gi]).name,
                                        "' over columns ", win->start, "..", win->start + win->len);
  if (!w.TryMerge(gi, {gi}, n.id, what, served)) return false;
  JoinWindow(w, gi, n.id, *win);
  w.out.decisions.push_back(absl::StrCat("epilogue: '", n.name, "' (", n.OpString(), ") fused into the store of '",
                                         g.node(w.tile[gi]).name, "' over its columns ", win->start, "..",
                                         win->start + win->len, " (a slice of its output)"));
  return true;
}

// Graph outputs that are column windows of a GEMM's epilogue value (q, k and v sliced from
// a fused QKV projection and returned, as [M, cols] or viewed as heads): stored by that
// GEMM through the window, instead of copied from the stored value by a kernel each.
void StoreOutputWindows(Work& w) {
  const Graph& g = w.g;
  for (int o : g.outputs()) {
    const Node& n = g.node(o);
    if (n.kind != NodeKind::kView || w.out.group_of[o] >= 0) continue;
    const int base = w.views[o].base;
    const int gi = WindowedGemmGroup(w, base);
    if (gi < 0) continue;
    const Node& t = g.node(w.tile[gi]);
    const std::optional<ColumnWindowInfo> win = ColumnWindowOf(w, o, /*trailing_dims=*/true);
    if (!win) continue;
    const std::string what = absl::StrCat("output '", n.name, "' into the epilogue of '", t.name, "' over columns ",
                                          win->start, "..", win->start + win->len);
    std::set<int> chain;  // o and the views between it and its base (a reshape to heads)
    for (int v = o; v != base && g.node(v).kind == NodeKind::kView; v = g.node(v).inputs[0]) chain.insert(v);
    if (!w.TryMerge(gi, {gi}, o, what, chain)) continue;
    JoinWindow(w, gi, o, *win);
    w.out.decisions.push_back(absl::StrCat("output: '", n.name, "' (", n.OpString(), ") stored by the epilogue of '",
                                           t.name, "' over its columns ", win->start, "..", win->start + win->len,
                                           " (a slice of its output), not copied"));
  }
}

// Whether `small` broadcasts to `big` (PyTorch's rules, dims aligned on the right) and is
// not the same shape.
bool BroadcastsTo(const Shape& small, const Shape& big) {
  if (small == big || small.size() > big.size()) return false;
  const size_t lead = big.size() - small.size();
  for (size_t d = 0; d < small.size(); ++d) {
    if (!small[d].is_one() && !(small[d] == big[lead + d])) return false;
  }
  return true;
}

// A pointwise kernel of at most this many nodes over a smaller index space than its one
// reader's (a value per row, [M, 1], scaling [M, N]) is computed again in that reader's
// kernel, per element, rather than stored and read back by a launch of its own.
constexpr size_t kMaxRecomputedBroadcast = 8;

// The groups of n's inputs that n's kernel can compute again where it reads them: pointwise
// (no tile, reduction or gather), over an index space that broadcasts to n's, no member an
// output or read by anything but the group itself and n.
std::vector<int> BroadcastProducers(Work& w, const Node& n) {
  const Graph& g = w.g;
  std::vector<int> out;
  for (int in : n.inputs) {
    const int gi = w.out.group_of[in];
    if (gi < 0 || std::find(out.begin(), out.end(), gi) != out.end()) continue;
    if (w.tile[gi] >= 0 || w.row[gi] || w.reduce[gi] >= 0 || !w.gathered[gi].empty() ||
        w.members[gi].size() > kMaxRecomputedBroadcast || !BroadcastsTo(w.out.groups[gi].shape, n.shape)) {
      continue;
    }
    bool only_n = true;
    for (int m : w.members[gi]) {
      const Node& mn = g.node(m);
      only_n &= mn.kind == NodeKind::kPointwise || mn.kind == NodeKind::kIota;
      int inside = 0;
      for (const Node& r : g.nodes()) {
        for (int q : r.inputs) inside += q == m && (r.id == n.id || w.out.group_of[r.id] == gi);
      }
      only_n &= inside == w.readers[m];  // no output position, no other reader
    }
    if (only_n) out.push_back(gi);
  }
  return out;
}

// Whether group gi indexes its outputs by flat element (a pointwise kernel, or a GEMM's
// epilogue over [M, N]), so that a member of another shape of the same elements may join.
bool FlatKernel(const Work& w, int gi) {
  if (w.tile[gi] < 0) return true;
  const Node& t = w.g.node(w.tile[gi]);
  return t.kind == NodeKind::kTile && !t.custom && t.tile == TileOp::kMatmul && w.windows[gi].empty();
}

// Broadcast producers (BroadcastProducers) join n's kernel once n has one: a pointwise one,
// or a GEMM epilogue without a row program or reduction.
void AbsorbBroadcastProducers(Work& w, const Node& n, const std::vector<int>& producers) {
  const int into = w.out.group_of[n.id];
  if (producers.empty() || into < 0 || w.row[into] || w.reduce[into] >= 0 || w.reduced[n.id]) return;
  if (w.tile[into] >= 0) {
    const Node& t = w.g.node(w.tile[into]);
    if (t.kind != NodeKind::kTile || t.custom || t.tile != TileOp::kMatmul) return;
  }
  for (int gi : producers) {
    const std::string names = w.FirstName(gi);
    const Shape shape = w.out.groups[gi].shape;
    if (w.TryMerge(into, {gi}, -1, absl::StrCat("'", names, "' recomputed in the kernel of '", n.name, "'"))) {
      w.out.decisions.push_back(absl::StrCat("broadcast: '", names, "' (", ShapeString(shape, w.g.symbols()),
                                             ") is computed again per element in the kernel of '", n.name, "' (",
                                             ShapeString(n.shape, w.g.symbols()),
                                             "), its only reader, instead of being stored"));
    }
  }
}

// Places pointwise n: into a kernel it reads (the producers in `producers` excepted, which
// join n's kernel after), else a kernel of its own.
void PlacePointwise(Work& w, const Node& n, bool fuse, const std::vector<int>& producers) {
  const Graph& g = w.g;
  if (fuse) {
    if (GroupIntoRowKernel(w, n)) return;
    if (GroupIntoColumnWindow(w, n)) return;
    // Producer kernels over the same index space are the candidates; at most one of them
    // may hold a tile kernel (n then joins its epilogue).
    std::vector<int> candidates;
    int post = -1;  // the group whose reduced values n reads
    bool post_refused = false;
    for (int in : n.inputs) {
      const int gi = w.out.group_of[in];
      if (gi < 0 || w.row[gi]) continue;  // GroupIntoRowKernel said why not
      const Shape& space = w.reduced[in] ? g.node(w.reduce[gi]).shape : w.out.groups[gi].shape;
      if (w.reduced[in]) post = gi;
      // A kernel over another shape of n's elements (it computes a reshape of its first
      // value) serves n where n reads a member of n's own shape.
      const bool flat = !w.reduced[in] && !w.row[gi] && w.reduce[gi] < 0 && g.node(in).shape == n.shape &&
                        Numel(space) == Numel(n.shape) && FlatKernel(w, gi);
      if (!(space == n.shape) && !flat) {
        if (std::find(producers.begin(), producers.end(), gi) != producers.end()) continue;  // recomputed
        w.out.decisions.push_back(absl::StrCat(
            "refused: '", n.name, "' into the kernel of '", g.node(in).name,
            "': index spaces differ (", ShapeString(n.shape, g.symbols()), " vs ",
            ShapeString(space, g.symbols()), ")"));
        if (w.reduced[in]) post_refused = true;
        continue;
      }
      if (std::find(candidates.begin(), candidates.end(), gi) == candidates.end()) {
        candidates.push_back(gi);
      }
    }
    // A tile group goes first so that it receives the others.
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](int a, int b) { return w.tile[a] >= 0 && w.tile[b] < 0; });
    // The prologue values of a GEMM ([M, K], [K, N]) or a reduction (its input) live in
    // another index space than the kernel's output, so an epilogue cannot read them.
    candidates.erase(std::remove_if(candidates.begin(), candidates.end(), [&](int c) {
      if (w.tile[c] < 0) return false;
      const Node& tn = g.node(w.tile[c]);
      const bool other_space = tn.kind == NodeKind::kReduce || (!tn.custom && tn.tile == TileOp::kMatmul);
      if (!other_space) return false;
      for (int in : n.inputs) {
        if (w.out.group_of[in] == c && in != w.tile[c] && w.reach.DependsOn(w.tile[c], in)) {
          w.out.decisions.push_back(absl::StrCat("refused: '", n.name, "' into the epilogue of '",
                                                 g.node(w.tile[c]).name, "': it reads '", g.node(in).name,
                                                 "', a prologue value in another index space"));
          return true;
        }
      }
      return false;
    }), candidates.end());
    // After a store-site reduction, n joins that kernel alone, and only if every value it
    // reads there is in the reduced index space (the result exists only once the whole
    // axis is stored, so nothing of the un-reduced epilogue can follow it).
    if (post >= 0) {
      for (int in : n.inputs) {
        if (w.out.group_of[in] == post && !w.reduced[in]) {
          w.out.decisions.push_back(absl::StrCat("refused: '", n.name, "' after the reduction '",
                                                 g.node(w.reduce[post]).name, "': it also reads '",
                                                 g.node(in).name, "', an un-reduced value of that kernel"));
          post_refused = true;
        }
      }
      if (!post_refused && w.TryMerge(post, {post}, n.id, absl::StrCat("'", n.name, "' after the reduction"))) {
        w.reduced[n.id] = true;
        w.out.decisions.push_back(absl::StrCat("epilogue: '", n.name, "' (", n.OpString(),
                                               ") fused after the reduction '",
                                               g.node(w.reduce[post]).name, "'"));
        return;
      }
      candidates.clear();
    }
    // n reads a pointwise kernel's value through a reshape that keeps its elements in
    // order (the same count, contiguous, from the first): n joins that kernel, which
    // computes the value where n reads it (a served view), over the kernel's index space.
    if (candidates.empty()) {
      for (int in : n.inputs) {
        const Node& v = g.node(in);
        if (v.kind != NodeKind::kView || IsMaterializedView(g, w.views, in)) continue;
        const ViewInfo& vi = w.views[in];
        const int gi = w.out.group_of[vi.base];
        if (gi < 0 || !FlatKernel(w, gi) || w.row[gi] || w.reduce[gi] >= 0 || w.reduced[vi.base] || !vi.contiguous ||
            !vi.offset.empty() || !(Numel(v.shape) == Numel(w.out.groups[gi].shape)) ||
            !(Numel(n.shape) == Numel(v.shape))) {
          continue;
        }
        if (w.TryMerge(gi, {gi}, n.id, absl::StrCat("'", n.name, "' through the reshape '", v.name, "'"), {in})) {
          w.out.decisions.push_back(absl::StrCat("reshape: '", n.name, "' joins the kernel of '", g.node(vi.base).name,
                                                 "', reading it through '", v.name, "' (the same elements in order)"));
          return;
        }
      }
    }
    std::vector<std::vector<int>> tries;
    std::vector<int> all;
    int tiles = 0;
    for (int c : candidates) {
      if (w.tile[c] >= 0 && ++tiles > 1) continue;  // one tile kernel per kernel
      all.push_back(c);
    }
    if (all.size() > 1) tries.push_back(all);
    for (int c : candidates) tries.push_back({c});
    for (const std::vector<int>& t : tries) {
      const std::string what = absl::StrCat("'", n.name, "' with the kernel of '", w.FirstName(t[0]), "'");
      if (w.TryMerge(t[0], t, n.id, what)) {
        if (w.tile[t[0]] >= 0) {
          w.out.decisions.push_back(absl::StrCat("epilogue: '", n.name, "' (", n.OpString(),
                                                 ") fused into the store of '",
                                                 g.node(w.tile[t[0]]).name, "'"));
        }
        return;
      }
    }
  }
  w.NewGroup(n.id, n.shape, -1);
}

void GroupPointwise(Work& w, const Node& n, bool fuse) {
  const std::vector<int> producers = fuse ? BroadcastProducers(w, n) : std::vector<int>{};
  PlacePointwise(w, n, fuse, producers);
  AbsorbBroadcastProducers(w, n, producers);
}

// A gather joins the pointwise kernel computing its index over its own index space (never
// the one computing its input: TryMerge refuses); its readers may join it as they would any
// pointwise kernel.
void GroupGather(Work& w, const Node& n, bool fuse) {
  const int gi = w.out.group_of[n.inputs[1]];
  if (fuse && gi >= 0 && w.tile[gi] < 0 && !w.row[gi] && !w.reduced[n.inputs[1]] && w.out.groups[gi].shape == n.shape) {
    if (w.TryMerge(gi, {gi}, n.id, absl::StrCat("'", n.name, "' with the kernel of its index"))) return;
  }
  w.NewGroup(n.id, n.shape, -1);
}

// A GEMM recomputes the prologue of A for each of its ceil(N / 128) column tiles and that
// of B for each of its ceil(M / 128) row tiles (32 assumed for a symbolic dim). Recomputing
// is cheaper than a separate pass while ops x reloads stays within this budget: a cast or
// a scale on either operand fuses, a long chain on a wide problem does not.
constexpr int64_t kMaxPrologueRecompute = 64;

//
// A prologue that reads operands wider than the GEMM's operand type (an f32 input cast to
// bf16) is refused as well: its loads go through registers at twice the bytes, and the
// producer cannot keep the pipeline fed (measured on an H100 at 4096^3: 2300 us fused
// against 291 us for a cast kernel plus the TMA GEMM).
//
// Only reads over the member's whole shape count (a per-row scale is small). A prologue
// that reads a narrower type over the whole operand (a dequant of int8, int4 or fp8
// weights) fuses whatever the recompute where M is symbolic or at most one row tile
// (kMaxWeightOnlyRows): reading the narrow weights instead of a bf16 copy is the point of
// a weight-only GEMM. Past that the weight is dequantized once by a kernel of its own and
// the GEMM reads it by TMA: at M = 4096 (4096 -> 14336, H200) the fused int8 GEMM took
// 3315 us, the bf16 GEMM alone 681. A symbolic M takes both forms, one per range of its
// value (PlanFusion; the form past kMaxWeightOnlyRows is planned with symbolic_min_rows).
// (GemmPrologueRefusal, below its helpers.)

// The inputs a prologue's members read over their whole shape (constants and iotas read no
// memory; broadcast operands are small).
template <class F>
void ForEachBulkRead(const Graph& g, const std::set<int>& members, F f) {
  for (int m : members) {
    for (int in : g.node(m).inputs) {
      if (members.count(in) || g.node(in).kind == NodeKind::kConstant || g.node(in).kind == NodeKind::kIota) continue;
      if (g.node(in).shape == g.node(m).shape) f(g.node(in));
    }
  }
}

// The narrowest type such a prologue reads in bulk (f32 when none).
DType NarrowestRead(const Graph& g, const std::set<int>& members) {
  DType t = DType::kF32;
  ForEachBulkRead(g, members, [&](const Node& in) {
    if (in.dtype != DType::kBool && DTypeBits(in.dtype) < DTypeBits(t)) t = in.dtype;
  });
  return t;
}

// Whether it reads a type narrower than the GEMM's operands (a dequant of weights).
bool NarrowPrologueRead(const Graph& g, const Node& t, const std::set<int>& members) {
  return DTypeBits(NarrowestRead(g, members)) < DTypeBits(t.dtype);
}

// Whether matmul `t` multiplies two dequantized fp8 values (f8_gemm.h), which the fp8 GEMM
// reads as codes at any M.
bool F8GemmOperands(const Graph& g, const Node& t) {
  int b = t.inputs[1];
  if (g.node(b).kind == NodeKind::kView && g.node(b).view == ViewOp::kTranspose) b = g.node(b).inputs[0];
  return ScaledF8Of(g, t.inputs[0]) && ScaledF8Of(g, b);
}

std::string GemmPrologueRefusal(const Graph& g, const Node& t, size_t input, size_t ops,
                                const std::set<int>& members, int64_t symbolic_min_rows, bool f8_gemm) {
  if (t.kind != NodeKind::kTile || t.custom || t.tile != TileOp::kMatmul) return "";
  std::string wider;
  ForEachBulkRead(g, members, [&](const Node& in) {
    if (wider.empty() && DTypeBits(in.dtype) > DTypeBits(t.dtype)) {
      wider = absl::StrCat("it reads '", in.name, "' (", DTypeName(in.dtype), "), wider than the ", DTypeName(t.dtype),
                           " operand; register-staged loads of it would starve the GEMM");
    }
  });
  if (!wider.empty()) return wider;
  const size_t rank = t.shape.size();  // a batched matmul: [..., M, N]
  if (NarrowPrologueRead(g, t, members)) {
    const Dim& m = t.shape[rank - 2];
    if (input != 1 || (f8_gemm && F8GemmOperands(g, t))) return "";
    if (!m.is_static() || rank > 2) {  // a batched matmul has no TMA form: fused at any M
      if (symbolic_min_rows <= kMaxWeightOnlyRows || rank > 2) return "";
      return absl::StrCat("the plan's form for M past ", kMaxWeightOnlyRows,
                          " rows dequantizes the weight once and reads it by TMA");
    }
    if (m.value <= kMaxWeightOnlyRows) return "";
    return absl::StrCat("M = ", m.value, " rows would dequantize each weight ", (m.value + 127) / 128,
                        " times; past ", kMaxWeightOnlyRows, " rows the weight is dequantized once and read by TMA");
  }
  const Dim& other = input == 0 ? t.shape[rank - 1] : t.shape[rank - 2];  // N for A, M for B
  const int64_t reloads = other.is_static() ? (other.value + 127) / 128 : 32;
  const int64_t cost = static_cast<int64_t>(ops) * reloads;
  if (cost <= kMaxPrologueRecompute) return "";
  return absl::StrCat(ops, " ops recomputed ", reloads, " times (", cost, ") exceed the budget of ",
                      kMaxPrologueRecompute, " op-reloads; a separate kernel is cheaper");
}

// Tile node: a group of its own, which takes the pointwise kernels producing its inputs as
// prologues when every node of such a kernel feeds that input (a prologue computes only
// what the load needs) and no cycle forms.
// A built-in row tile (rms_norm, layer_norm, softmax) over a GEMM's output whose tile
// covers the rows: a stage of the GEMM's row epilogue.
bool GroupRowTileIntoGemm(Work& w, const Node& n) {
  if (n.kind != NodeKind::kTile || n.custom || n.tile == TileOp::kMatmul) return false;
  const int v = n.inputs[0];
  const int gi = w.out.group_of[v];
  if (gi >= 0 && w.reduce[gi] >= 0) RowizeStoreReduce(w, gi);
  if (!GemmCoversRows(w, gi) || w.reduce[gi] >= 0 || !IsEpilogueValueOf(w, gi, v)) {
    if (std::string note = WideRowsNote(w, gi, n); !note.empty() && w.reduce[gi] < 0 && IsEpilogueValueOf(w, gi, v)) {
      w.out.decisions.push_back(std::move(note));
    }
    return false;
  }
  const std::string what = absl::StrCat("'", n.name, "' into the store of '", w.g.node(w.tile[gi]).name, "'");
  if (!w.TryMerge(gi, {gi}, n.id, what)) return false;
  w.row[gi] = true;
  w.stages[gi].push_back(n.id);
  w.out.decisions.push_back(absl::StrCat("row epilogue: '", n.name, "' (", n.OpString(), ") runs in the store of '",
                                         w.g.node(w.tile[gi]).name, "', whose tile covers its rows"));
  return true;
}

// ---- Norm prologues -------------------------------------------------------------------
// A GEMM's A computed by a row kernel (a decomposed rms_norm or layer_norm) splits it: the
// row kernel keeps its reductions and stores its per-row values (r, mean), and the GEMM's
// A prologue computes the tail, (x - mean) * r * w, from x and those values as it loads A;
// the pointwise work before the reductions that the tail reads (x's cast to f32) is
// computed again there. The normalized A is never written: the norm reads x once and
// writes M values, and the GEMM reads x instead of A. The cost: the tail's ops, done once
// per column tile of the GEMM (ceil(N / 128) times) in its producer warps, kept small
// (kMaxNormPrologueOps); wide loads only of per-row or per-column values.
constexpr size_t kMaxNormPrologueOps = 8;

bool SplitNormTailIntoPrologue(Work& w, int gi, int pg, int a, std::string& why) {
  const Graph& g = w.g;
  const Node& t = g.node(w.tile[gi]);
  if (!w.norm_prologues || t.custom || t.tile != TileOp::kMatmul || IsBatchedMatmul(t) || w.tile[pg] >= 0) return false;
  if (t.inputs[1] == a || (t.dtype != DType::kBF16 && t.dtype != DType::kF16)) return false;
  const std::vector<int>& st = w.stages[pg];
  const auto per_row = [&](int q) {
    return w.out.group_of[q] == pg && (w.reduced[q] || std::find(st.begin(), st.end(), q) != st.end());
  };
  // The tail: row-space members that read a per-row value, or another tail member.
  std::set<int> tail, pre;
  for (int m : w.members[pg]) {
    if (per_row(m)) continue;
    bool after = false;
    for (int in : g.node(m).inputs) {
      if (g.node(in).kind == NodeKind::kView && w.out.group_of[w.views[in].base] == pg) {
        why = absl::StrCat("'", g.node(m).name, "' reads the view '", g.node(in).name, "'");
        return false;
      }
      after |= per_row(in) || tail.count(in) > 0;
    }
    (after ? tail : pre).insert(m);
  }
  if (!tail.count(a)) return false;
  for (int o : g.outputs()) {
    if (tail.count(o)) {
      why = absl::StrCat("'", g.node(o).name, "' is a graph output");
      return false;
    }
  }
  for (const Node& n : g.nodes()) {
    if (tail.count(n.id) || n.id == t.id) continue;
    for (int in : n.inputs) {
      if (tail.count(w.views[in].base)) {
        why = absl::StrCat("'", n.name, "' also reads '", g.node(in).name, "'");
        return false;
      }
    }
  }
  // What the tail reads of the work before the reductions is computed again.
  std::set<int> again;
  std::vector<int> stack;
  for (int m : tail) {
    for (int in : g.node(m).inputs) {
      if (pre.count(in)) stack.push_back(in);
    }
  }
  while (!stack.empty()) {
    const int m = stack.back();
    stack.pop_back();
    if (!again.insert(m).second) continue;
    for (int in : g.node(m).inputs) {
      if (pre.count(in)) {
        stack.push_back(in);
      } else if (w.out.group_of[w.views[in].base] >= 0) {
        why = absl::StrCat("'", g.node(m).name, "' reads '", g.node(in).name, "', computed by another kernel");
        return false;
      }
    }
  }
  const size_t ops = tail.size() + again.size();
  if (ops > kMaxNormPrologueOps) {
    why = absl::StrCat(ops, " ops (at most ", kMaxNormPrologueOps, ")");
    return false;
  }
  // Loads wider than A's type starve the producer warps unless there is one per row or column.
  for (const std::set<int>* s : {&tail, &again}) {
    for (int m : *s) {
      for (int in : g.node(m).inputs) {
        const Node& q = g.node(in);
        if (tail.count(in) || again.count(in) || q.kind == NodeKind::kConstant) continue;
        const bool small = q.shape.size() < 2 || q.shape.back().is_one() || q.shape[q.shape.size() - 2].is_one();
        if (DTypeSize(q.dtype) > DTypeSize(t.dtype) && !small) {
          why = absl::StrCat("it would load '", q.name, "' (", DTypeName(q.dtype), ") at every element");
          return false;
        }
      }
    }
  }
  std::vector<std::string> names;
  for (int m : tail) {
    w.members[pg].erase(m);
    w.members[gi].insert(m);
    w.out.group_of[m] = gi;
    names.push_back(absl::StrCat("'", g.node(m).name, "'"));
  }
  w.recomputed[gi].insert(again.begin(), again.end());
  w.out.decisions.push_back(absl::StrCat(
      "norm prologue: ", absl::StrJoin(names, ", "), " of the row kernel of '", g.node(st.empty() ? a : st[0]).name,
      "' run in the load of A of '", t.name, "' (", ops, " ops per element, ", again.size(),
      " of them recomputed); the row kernel stores its per-row values, A is never written"));
  return true;
}

// A matmul's B that is the transpose of a pointwise value read by nothing else (w.T of a
// dequantized weight): that value's node, whose kernel then runs as B's prologue over its
// own [N, K] (GemmBLayout::kHookNK; the transpose joins the group's served views, which
// is how the planner knows); -1 otherwise.
int TransposedPrologue(const Work& w, const Node& t) {
  const Graph& g = w.g;
  if (t.kind != NodeKind::kTile || t.custom || t.tile != TileOp::kMatmul) return -1;
  const Node& v = g.node(t.inputs[1]);
  if (v.kind != NodeKind::kView || v.shape.size() != 2) return -1;
  const bool swap = (v.view == ViewOp::kTranspose && v.attrs.dim0 && v.attrs.dim1 && *v.attrs.dim0 != *v.attrs.dim1) ||
                    (v.view == ViewOp::kPermute && v.attrs.dims == std::vector<int>{1, 0});
  const Node& u = g.node(v.inputs[0]);
  if (!swap || (u.kind != NodeKind::kPointwise && u.kind != NodeKind::kGather)) return -1;
  // Read by the transpose alone, which the matmul alone reads (outputs count as readers).
  return w.readers[u.id] == 1 && w.readers[v.id] == 1 ? u.id : -1;
}

void GroupTile(Work& w, const Node& n, bool fuse) {
  const Graph& g = w.g;
  if (fuse && GroupRowTileIntoGemm(w, n)) return;
  const int gi = w.NewGroup(n.id, n.shape, n.id);
  if (!fuse) return;
  const int nk = TransposedPrologue(w, n);
  for (size_t j = 0; j < n.inputs.size(); ++j) {
    // B through a transpose: the prologue is the transposed value's kernel.
    const int v = j == 1 && nk >= 0 ? nk : n.inputs[j];
    const int pg = w.out.group_of[v];
    if (pg < 0 || pg == gi) continue;
    const std::string what = absl::StrCat("prologue '", g.node(v).name, "' into the load of '", n.name, "'");
    if (w.tile[pg] >= 0 && n.kind == NodeKind::kReduce) continue;  // GroupReduce said why
    if (w.row[pg]) {
      std::string why;
      if (j == 0 && SplitNormTailIntoPrologue(w, gi, pg, v, why)) continue;
      w.out.decisions.push_back(absl::StrCat("refused: ", what, ": it is computed by the row kernel of '",
                                             w.FirstName(pg), "' (one tile kernel per kernel)",
                                             why.empty() ? "" : absl::StrCat("; its tail stays there: ", why)));
      continue;
    }
    if (w.tile[pg] >= 0) {
      w.out.decisions.push_back(absl::StrCat("refused: ", what, ": it is computed by tile kernel '",
                                             g.node(w.tile[pg]).name, "' (one tile kernel per kernel)"));
      continue;
    }
    // Every member of pg is v or an ancestor of v.
    size_t feeding = 1;
    w.reach.Ancestors(v, *w.members[pg].begin(), [&](int a) { feeding += w.out.group_of[a] == pg; });
    const bool only_feeds = feeding == w.members[pg].size();
    if (!only_feeds) {
      w.out.decisions.push_back(absl::StrCat("refused: ", what, ": its kernel also computes values "
                                             "the load does not need"));
      continue;
    }
    // Row-wise tile kernels read each input element once, so a prologue never recomputes.
    // A GEMM reloads A once per column tile and B once per row tile: see the threshold.
    if (const std::string why = GemmPrologueRefusal(g, n, j, w.members[pg].size(), w.members[pg], w.symbolic_min_rows,
                                                    w.sm90);
        !why.empty()) {
      w.out.decisions.push_back(absl::StrCat("refused: ", what, ": ", why));
      continue;
    }
    const bool narrow = NarrowPrologueRead(g, n, w.members[pg]);  // before the merge empties pg
    const DType read = NarrowestRead(g, w.members[pg]);
    std::set<int> through;  // the transpose, which the kernel computes at B's load
    if (v != n.inputs[j]) through.insert(n.inputs[j]);
    if (w.TryMerge(gi, {pg}, -1, what, through)) {
      if (narrow && j == 1 && n.shape.size() == 2 && !n.shape[0].is_static() && w.out.ranged_tile < 0) w.out.ranged_tile = n.id;
      w.out.decisions.push_back(absl::StrCat(
          "prologue: '", g.node(v).name, "' fused into the load of input ", j, " of '", n.name, "'",
          v != n.inputs[j] ? absl::StrCat(" through the transpose '", g.node(n.inputs[j]).name,
                                          "', computed over its own ", g.ShapeText(v))
                           : "",
          narrow ? absl::StrCat("; ", DTypeName(read), " read, dequantized in the load") : ""));
    }
  }
}

// A reduction whose input the epilogue of a tile kernel computes joins that kernel's store
// site when ReduceIntoStoreRefusal allows; otherwise it is a kernel of its own (the reduce
// tile kernel, which takes prologues like any other).
// A mean and a var of one input over one axis, run as reduce kernels: one Welford pass
// gives both, so the second joins the first's kernel as its partner.
bool GroupMeanVarPartner(Work& w, const Node& n) {
  for (size_t gi = 0; gi < w.members.size(); ++gi) {
    if (w.tile[gi] < 0 || w.reduce2[gi] >= 0 || w.members[gi].empty()) continue;
    const Node& t = w.g.node(w.tile[gi]);
    if (t.kind != NodeKind::kReduce || !IsMeanVarPair(t, n)) continue;
    const int g2 = static_cast<int>(gi);
    if (!w.TryMerge(g2, {g2}, n.id, absl::StrCat("'", n.name, "' beside '", t.name, "'"))) return false;
    w.reduce2[gi] = n.id;
    w.out.decisions.push_back(absl::StrCat("reduction: '", n.name, "' (", n.OpString(), ") and '", t.name,
                                           "' share one Welford pass in the kernel of '", t.name, "'"));
    return true;
  }
  return false;
}

void GroupReduce(Work& w, const Node& n, bool fuse) {
  const Graph& g = w.g;
  const int v = n.inputs[0];
  const int gi = w.out.group_of[v];
  if (fuse && GroupMeanVarPartner(w, n)) return;
  if (fuse && gi >= 0 && w.tile[gi] >= 0 && !w.row[gi]) {
    const Node& t = g.node(w.tile[gi]);
    std::string why = ReduceIntoStoreRefusal(g, t, n);
    if (why.empty() && w.window_of[v] >= 0) why = "its input is a slice of that kernel's output";

    if (why.empty() && w.reduce[gi] >= 0 && w.reduce2[gi] < 0 && IsMeanVarPair(g.node(w.reduce[gi]), n)) {
      const std::string what = absl::StrCat("'", n.name, "' beside '", g.node(w.reduce[gi]).name, "'");
      if (w.TryMerge(gi, {gi}, n.id, what)) {
        w.reduce2[gi] = n.id;
        w.reduced[n.id] = true;
        w.out.decisions.push_back(absl::StrCat("reduction: '", n.name, "' (", n.OpString(), ") and '",
                                               g.node(w.reduce[gi]).name,
                                               "' share one Welford pass in the store of '", t.name, "'"));
        return;
      }
    }
    if (why.empty() && w.reduce[gi] >= 0) {
      why = absl::StrCat("the kernel already reduces '", g.node(w.reduce[gi]).name,
                         "' (one per kernel, or a mean/var pair of one input)");
    }
    if (why.empty() && (w.reduced[v] || (v != t.id && !w.reach.DependsOn(v, t.id)))) {
      why = absl::StrCat("its input '", g.node(v).name, "' is not a value of that kernel's epilogue");
    }
    if (why.empty() && !(g.node(v).shape == t.shape)) {
      why = absl::StrCat("its input '", g.node(v).name, "' is a reshape of that kernel's output (its axes are not the tile's)");
    }
    const std::string what = absl::StrCat("reduction '", n.name, "' into the store of '", t.name, "'");
    if (!why.empty()) {
      w.out.decisions.push_back(absl::StrCat("refused: ", what, ": ", why, "; it runs as its own kernel"));
    } else if (w.TryMerge(gi, {gi}, n.id, what)) {
      w.reduce[gi] = n.id;
      w.reduced[n.id] = true;
      w.out.decisions.push_back(absl::StrCat("reduction: '", n.name, "' (", n.OpString(),
                                             ") fused into the store of '", t.name, "'"));
      return;
    }
  }
  if (fuse && GroupRowStage(w, n)) return;
  GroupTile(w, n, fuse);
}

}  // namespace

absl::StatusOr<Grouping> GroupNodes(const Graph& g, const std::vector<ViewInfo>& views,
                                    const GroupingOptions& options) {
  const bool fuse = options.fuse;
  Grouping out;
  out.group_of.assign(g.nodes().size(), -1);
  Reachability reach(g);
  Work w{g, reach, out, {}, {}, {}, {}, std::vector<bool>(g.nodes().size(), false), {}, {}, {}, {},
         std::vector<int>(g.nodes().size(), -1), views, {}, {}, options.gemm_row_epilogues,
         options.norm_prologues, options.symbolic_min_rows, options.sm90,
         options.wide_row_epilogues};
  w.readers.assign(g.nodes().size(), 0);
  for (const Node& n : g.nodes()) {
    for (int in : n.inputs) ++w.readers[in];
  }
  for (int o : g.outputs()) ++w.readers[o];
  // Only what an output needs is computed.
  std::vector<bool> live(g.nodes().size(), false);
  for (int o : g.outputs()) live[o] = true;
  for (int id = static_cast<int>(g.nodes().size()) - 1; id >= 0; --id) {
    if (!live[id]) continue;
    for (int in : g.node(id).inputs) live[in] = true;
  }
  for (const Node& n : g.nodes()) {
    if (n.kind == NodeKind::kView && IsMaterializedView(g, views, n.id) && live[n.id]) {
      // The copy a reshape of a non-contiguous view needs: a kernel over its operand's
      // index space, reading it through its strides, writing the reshape's buffer.
      w.NewGroup(n.id, g.node(n.inputs[0]).shape, -1);
      out.decisions.push_back(absl::StrCat("copy: '", n.name, "' reshapes the non-contiguous view '",
                                           g.node(n.inputs[0]).name, "': a kernel copies it first"));
      continue;
    }
    if (!IsCompute(n)) continue;
    if (!live[n.id]) {
      out.decisions.push_back(absl::StrCat("dropped: '", n.name, "' is not needed by any output"));
      continue;
    }
    if (n.kind == NodeKind::kPointwise) {
      GroupPointwise(w, n, fuse);
    } else if (n.kind == NodeKind::kGather) {
      GroupGather(w, n, fuse);
    } else if (n.kind == NodeKind::kReduce) {
      GroupReduce(w, n, fuse);
    } else {
      GroupTile(w, n, fuse);
    }
  }
  DemoteSingleStageRowKernels(w);
  if (fuse) StoreOutputWindows(w);
  // Drop emptied groups and order the rest topologically (Kahn, smallest first node first).
  const size_t ng = w.members.size();
  std::vector<std::set<int>> consumers(ng);
  std::vector<int> waiting(ng, 0);
  size_t nonempty = 0;
  for (size_t gi = 0; gi < ng; ++gi) {
    if (w.members[gi].empty()) continue;
    ++nonempty;
    std::set<int> sources;
    for (int m : w.members[gi]) {
      for (int q : g.node(m).inputs) {
        const int src = out.group_of[views[q].base];
        if (src >= 0 && src != static_cast<int>(gi)) sources.insert(src);
      }
    }
    waiting[gi] = static_cast<int>(sources.size());
    for (int src : sources) consumers[src].insert(static_cast<int>(gi));
  }
  using Ready = std::pair<int, int>;  // (first node, group)
  std::priority_queue<Ready, std::vector<Ready>, std::greater<Ready>> ready;
  for (size_t gi = 0; gi < ng; ++gi) {
    if (!w.members[gi].empty() && waiting[gi] == 0) ready.push({*w.members[gi].begin(), static_cast<int>(gi)});
  }
  std::vector<int> order;
  while (!ready.empty()) {
    const int pick = ready.top().second;
    ready.pop();
    order.push_back(pick);
    for (int c : consumers[pick]) {
      if (--waiting[c] == 0) ready.push({*w.members[c].begin(), c});
    }
  }
  if (order.size() < nonempty) return absl::InternalError("planner produced cyclic kernel dependencies");
  std::vector<int> renumber(w.members.size(), -1);
  std::vector<Group> groups;
  for (int gi : order) {
    renumber[gi] = static_cast<int>(groups.size());
    Group group{std::vector<int>(w.members[gi].begin(), w.members[gi].end()), out.groups[gi].shape,
                w.tile[gi], w.reduce[gi], w.reduce2[gi], {}, w.row[gi], w.stages[gi],
                std::vector<int>(w.served_views[gi].begin(), w.served_views[gi].end()), w.windows[gi], {}};
    group.recomputed.assign(w.recomputed[gi].begin(), w.recomputed[gi].end());
    for (int m : group.nodes) {
      if (w.window_of[m] >= 0) group.window_members.emplace_back(m, w.window_of[m]);
    }
    for (int m : group.nodes) {
      if (w.reduced[m]) group.reduced.push_back(m);
    }
    groups.push_back(std::move(group));
  }
  for (int& gi : out.group_of) {
    if (gi >= 0) gi = renumber[gi];
  }
  out.groups = std::move(groups);
  if (fuse) {
    FuseDualGemms(g, views, out);
    FuseSplitDualGemms(g, views, out);
  }
  return out;
}

}  // namespace tilefuse::internal
