#include "runtime/fusion/dual_gemm.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {
namespace {

bool Narrow(DType t) { return t == DType::kBF16 || t == DType::kF16; }

// A plain GEMM kernel: a matmul whose other members are all its epilogue (computed from
// its value, so after it), without the forms a dual GEMM leaves out.
bool PlainGemmGroup(const Graph& g, const std::vector<ViewInfo>& views, const Group& group) {
  if (group.tile < 0 || group.row || group.reduce >= 0 || !group.windows.empty() || !group.recomputed.empty()) {
    return false;
  }
  // Views it serves itself: only reshapes of its own values (no weight computed in a load).
  for (int v : group.served_views) {
    const int base = views[v].base;
    if (!IsWholeReshape(g, views, v) || std::find(group.nodes.begin(), group.nodes.end(), base) == group.nodes.end()) {
      return false;
    }
  }
  const Node& t = g.node(group.tile);
  if (t.kind != NodeKind::kTile || t.tile != TileOp::kMatmul || t.custom != nullptr || t.shape.size() != 2) {
    return false;
  }
  // Members over a reshape of the output (the same elements in order: a linear's result
  // restored to x's leading dims) are computed by flat index, as in any GEMM epilogue.
  for (int m : group.nodes) {
    if (m < group.tile || !(Numel(g.node(m).shape) == Numel(t.shape))) return false;
  }
  return true;
}

// Whether matmul t's B is a K-major buffer: the transpose of a stored [N, K] (strides 1, K).
bool KMajorB(const Graph& g, const std::vector<ViewInfo>& views, const Node& t) {
  const Node& b = g.node(t.inputs[1]);
  const ViewInfo& v = views[b.id];
  return b.kind == NodeKind::kView && v.strides.size() == 2 && v.strides[0] == SizeExpr{1, {}} &&
         v.strides[1] == SizeExpr::Of(b.shape[0]);
}

bool SameValue(const std::vector<ViewInfo>& views, int a, int b) {
  if (a == b) return true;
  const ViewInfo& x = views[a];
  const ViewInfo& y = views[b];
  return x.base == y.base && x.strides == y.strides && x.offset == y.offset;
}

// Whether t1 and t2 can share a kernel's main loop.
bool Pairable(const Graph& g, const std::vector<ViewInfo>& views, const Node& t1, const Node& t2) {
  const Node& a1 = g.node(t1.inputs[0]);
  const Node& a2 = g.node(t2.inputs[0]);
  return SameValue(views, a1.id, a2.id) && a1.shape == a2.shape && t1.shape == t2.shape && t1.dtype == t2.dtype &&
         Narrow(a1.dtype) && g.node(t1.inputs[1]).dtype == a1.dtype && g.node(t2.inputs[1]).dtype == a1.dtype &&
         KMajorB(g, views, t1) && KMajorB(g, views, t2);
}

// The split dual form of GEMM group gi (FuseSplitDualGemms), merged into the one pointwise
// kernel that reads it; false where its conditions do not hold.
bool MergeSplitDual(const Graph& g, const std::vector<ViewInfo>& views, Grouping& grouping, int gi) {
  std::vector<Group>& groups = grouping.groups;
  const Group& gemm = groups[gi];
  if (gemm.tile < 0 || gemm.dual >= 0 || gemm.row || gemm.reduce >= 0 || !gemm.recomputed.empty()) return false;
  const Node& t = g.node(gemm.tile);
  if (t.kind != NodeKind::kTile || t.tile != TileOp::kMatmul || t.custom != nullptr || t.shape.size() != 2 ||
      !Narrow(g.node(t.inputs[0]).dtype) || g.node(t.inputs[1]).dtype != g.node(t.inputs[0]).dtype ||
      !KMajorB(g, views, t)) {
    return false;
  }
  for (int o : g.outputs()) {
    if (views[o].base == t.id) return false;
  }
  // Every read of t's value goes through a column slice; two distinct slices of one width.
  std::map<std::pair<int64_t, int64_t>, std::set<int>> slices;
  for (const Node& n : g.nodes()) {
    if (n.kind == NodeKind::kView) continue;
    for (int in : n.inputs) {
      if (views[in].base != t.id) continue;
      const auto s = ColumnSliceOf(g, views, in);
      if (!s) return false;
      slices[*s].insert(in);
    }
  }
  if (slices.size() != 2) return false;
  const auto first = slices.begin()->first, second = std::next(slices.begin())->first;
  if (first.second != second.second || first.first + first.second > second.first) return false;
  const int64_t len = first.second;
  // The GEMM kernel computes nothing over its whole output but the matmul.
  std::set<int> windowed;
  for (const auto& [m, w] : gemm.window_members) windowed.insert(m);
  for (int m : gemm.nodes) {
    if (m != t.id && (m < t.id || !windowed.count(m))) return false;
  }
  // The one kernel reading its values.
  std::set<int> values(gemm.nodes.begin(), gemm.nodes.end());
  int reader = -1;
  for (size_t gj = 0; gj < groups.size(); ++gj) {
    if (static_cast<int>(gj) == gi) continue;
    for (int m : groups[gj].nodes) {
      for (int in : g.node(m).inputs) {
        if (!values.count(views[in].base)) continue;
        // Directly, or through one of the slices.
        if (in != views[in].base && views[in].base != t.id) return false;
        if (reader >= 0 && reader != static_cast<int>(gj)) return false;
        reader = static_cast<int>(gj);
      }
    }
  }
  if (reader < gi) return false;
  Group& p = groups[reader];
  const Shape space = {t.shape[0], Dim::Static(len)};
  if (p.tile >= 0 || p.row || p.reduce >= 0 || !p.windows.empty() || !p.recomputed.empty() || !(p.shape == space)) {
    return false;
  }
  for (int m : p.nodes) {
    if (!(g.node(m).shape == space)) return false;
  }
  for (int m : gemm.nodes) {
    if (m != t.id && !(g.node(m).shape == space)) return false;
  }
  grouping.decisions.push_back(absl::StrCat(
      "dual GEMM: '", t.name, "' is read only through its columns ", first.first, "..", first.first + len, " and ",
      second.first, "..", second.first + len, ": one kernel over [", len, "] columns reads the weight's two row "
      "windows (half of each tile's columns from each) and its epilogue combines their products; '", t.name,
      "' is not stored"));
  p.nodes.insert(p.nodes.end(), gemm.nodes.begin(), gemm.nodes.end());
  std::sort(p.nodes.begin(), p.nodes.end());
  p.tile = t.id;
  p.split_rows[0] = first.first;
  p.split_rows[1] = second.first;
  p.served_views.clear();
  for (int product = 0; product < 2; ++product) {
    for (int v : slices[product == 0 ? first : second]) {
      p.split_views.emplace_back(v, product);
      p.served_views.push_back(v);
    }
  }
  groups.erase(groups.begin() + gi);
  for (int& x : grouping.group_of) {
    if (x == gi) x = reader;
    if (x > gi) --x;
  }
  return true;
}

}  // namespace

void FuseSplitDualGemms(const Graph& g, const std::vector<ViewInfo>& views, Grouping& grouping) {
  for (size_t gi = 0; gi < grouping.groups.size(); ++gi) {
    if (MergeSplitDual(g, views, grouping, static_cast<int>(gi))) --gi;
  }
}

void FuseDualGemms(const Graph& g, const std::vector<ViewInfo>& views, Grouping& grouping) {
  std::vector<Group>& groups = grouping.groups;
  for (size_t g2 = 0; g2 < groups.size(); ++g2) {
    Group& later = groups[g2];
    if (later.dual >= 0 || !PlainGemmGroup(g, views, later)) continue;
    // The earlier GEMM kernel whose values the epilogue reads directly or through reshapes
    // of them (which the merged kernel then serves itself).
    int g1 = -1;
    bool direct = true;
    std::set<int> reshapes;
    for (int m : later.nodes) {
      for (int in : g.node(m).inputs) {
        const int src = grouping.group_of[views[in].base];
        if (src < 0 || src == static_cast<int>(g2) || groups[src].tile < 0) continue;
        if (g1 >= 0 && src != g1) continue;
        const Node& other = g.node(groups[src].tile);
        if (other.kind != NodeKind::kTile || other.tile != TileOp::kMatmul) continue;
        g1 = src;
        if (in != views[in].base) {
          direct &= IsWholeReshape(g, views, in);
          reshapes.insert(in);
        }
      }
    }
    if (g1 < 0 || g1 >= static_cast<int>(g2) || !direct) continue;
    Group& earlier = groups[g1];
    if (earlier.dual >= 0 || !PlainGemmGroup(g, views, earlier)) continue;
    const Node& t1 = g.node(earlier.tile);
    const Node& t2 = g.node(later.tile);
    if (!Pairable(g, views, t1, t2)) continue;
    // No kernel between them reads the earlier one's values (they move to the later's place).
    const std::set<int> moved(earlier.nodes.begin(), earlier.nodes.end());
    bool read_between = false;
    for (size_t gi = g1 + 1; gi < g2 && !read_between; ++gi) {
      for (int m : groups[gi].nodes) {
        for (int in : g.node(m).inputs) read_between |= moved.count(views[in].base) > 0;
      }
    }
    if (read_between) continue;
    grouping.decisions.push_back(absl::StrCat(
        "dual GEMM: '", t1.name, "' and '", t2.name, "' multiply the same A '", g.node(t1.inputs[0]).name,
        "': one kernel reads both weights (half of each tile's columns from each) and its epilogue combines "
        "their products"));
    later.nodes.insert(later.nodes.end(), earlier.nodes.begin(), earlier.nodes.end());
    std::sort(later.nodes.begin(), later.nodes.end());
    later.dual = t1.id;
    later.served_views.insert(later.served_views.end(), reshapes.begin(), reshapes.end());
    later.served_views.insert(later.served_views.end(), earlier.served_views.begin(), earlier.served_views.end());
    groups.erase(groups.begin() + g1);
    for (int& gi : grouping.group_of) {
      if (gi == g1) gi = static_cast<int>(g2);
      if (gi > g1) --gi;
    }
    --g2;  // the merged kernel moved down one place; it is not paired again (dual set)
  }
}

}  // namespace tilefuse::internal
