#include "runtime/fusion/dual_gemm.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {
namespace {

bool Narrow(DType t) { return t == DType::kBF16 || t == DType::kF16; }

// A plain GEMM kernel: a matmul whose other members are all its epilogue (computed from
// its value, so after it), without the forms a dual GEMM leaves out.
bool PlainGemmGroup(const Graph& g, const Group& group) {
  if (group.tile < 0 || group.row || group.reduce >= 0 || !group.windows.empty() || !group.recomputed.empty() ||
      !group.served_views.empty()) {
    return false;
  }
  const Node& t = g.node(group.tile);
  if (t.kind != NodeKind::kTile || t.tile != TileOp::kMatmul || t.custom != nullptr || t.shape.size() != 2) {
    return false;
  }
  for (int m : group.nodes) {
    if (m < group.tile || !(g.node(m).shape == t.shape)) return false;
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

}  // namespace

void FuseDualGemms(const Graph& g, const std::vector<ViewInfo>& views, Grouping& grouping) {
  std::vector<Group>& groups = grouping.groups;
  for (size_t g2 = 0; g2 < groups.size(); ++g2) {
    Group& later = groups[g2];
    if (later.dual >= 0 || !PlainGemmGroup(g, later)) continue;
    // The earlier GEMM kernel whose values the epilogue reads directly.
    int g1 = -1;
    bool direct = true;
    for (int m : later.nodes) {
      for (int in : g.node(m).inputs) {
        const int src = grouping.group_of[views[in].base];
        if (src < 0 || src == static_cast<int>(g2) || groups[src].tile < 0) continue;
        if (g1 >= 0 && src != g1) continue;
        const Node& other = g.node(groups[src].tile);
        if (other.kind != NodeKind::kTile || other.tile != TileOp::kMatmul) continue;
        g1 = src;
        direct &= in == views[in].base;
      }
    }
    if (g1 < 0 || g1 >= static_cast<int>(g2) || !direct) continue;
    Group& earlier = groups[g1];
    if (earlier.dual >= 0 || !PlainGemmGroup(g, earlier)) continue;
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
    groups.erase(groups.begin() + g1);
    for (int& gi : grouping.group_of) {
      if (gi == g1) gi = static_cast<int>(g2);
      if (gi > g1) --gi;
    }
    --g2;  // the merged kernel moved down one place; it is not paired again (dual set)
  }
}

}  // namespace tilefuse::internal
