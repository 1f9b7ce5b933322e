#include "runtime/fusion/grouping.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace tilefuse {
namespace {

// Ancestor sets as bitsets: reach[n][m] says n depends on m.
class Reachability {
 public:
  explicit Reachability(const Graph& g) : words_((g.nodes().size() + 63) / 64) {
    bits_.assign(g.nodes().size() * words_, 0);
    for (const Node& n : g.nodes()) {
      for (int in : n.inputs) {
        Set(n.id, in);
        for (size_t w = 0; w < words_; ++w) bits_[n.id * words_ + w] |= bits_[in * words_ + w];
      }
    }
  }
  bool DependsOn(int n, int m) const { return (bits_[n * words_ + m / 64] >> (m % 64)) & 1; }

 private:
  void Set(int n, int m) { bits_[n * words_ + m / 64] |= uint64_t{1} << (m % 64); }
  size_t words_;
  std::vector<uint64_t> bits_;
};

bool IsCompute(const Node& n) {
  return n.kind == NodeKind::kPointwise || n.kind == NodeKind::kTile ||
         n.kind == NodeKind::kReduce;
}

// The first node outside `members` that a member reads and that depends on a member, or -1.
int CycleWitness(const Graph& g, const Reachability& reach, const std::set<int>& members) {
  for (int m : members) {
    for (int q : g.node(m).inputs) {
      if (members.count(q)) continue;
      for (int s : members) {
        if (reach.DependsOn(q, s)) return q;
      }
    }
  }
  return -1;
}

}  // namespace

absl::StatusOr<Grouping> GroupNodes(const Graph& g, const std::vector<ViewInfo>& views,
                                    bool fuse) {
  Grouping out;
  out.group_of.assign(g.nodes().size(), -1);
  const Reachability reach(g);
  std::vector<std::set<int>> members;  // working sets, indexed like out.groups
  // Only what an output needs is computed.
  std::vector<bool> live(g.nodes().size(), false);
  for (int o : g.outputs()) live[o] = true;
  for (int id = static_cast<int>(g.nodes().size()) - 1; id >= 0; --id) {
    if (!live[id]) continue;
    for (int in : g.node(id).inputs) live[in] = true;
  }
  for (const Node& n : g.nodes()) {
    if (!IsCompute(n)) continue;
    if (!live[n.id]) {
      out.decisions.push_back(
          absl::StrCat("dropped: '", n.name, "' is not needed by any output"));
      continue;
    }
    if (n.kind != NodeKind::kPointwise) {
      return absl::UnimplementedError(absl::StrCat(
          "node '", n.name, "' (", n.OpString(), "): ", NodeKindName(n.kind),
          " nodes are not supported by this build yet (expected pointwise ops only)"));
    }
    int target = -1;
    if (fuse) {
      // Producer kernels over the same index space are the candidates.
      std::vector<int> candidates;
      for (int in : n.inputs) {
        const Node& p = g.node(in);
        const int gi = out.group_of[in];
        if (gi < 0) continue;
        if (!(out.groups[gi].shape == n.shape)) {
          out.decisions.push_back(absl::StrCat(
              "refused: '", n.name, "' into the kernel of '", p.name, "': index spaces differ (",
              ShapeString(n.shape, g.symbols()), " vs ",
              ShapeString(out.groups[gi].shape, g.symbols()), ")"));
          continue;
        }
        if (std::find(candidates.begin(), candidates.end(), gi) == candidates.end()) {
          candidates.push_back(gi);
        }
      }
      // Prefer joining every candidate at once; fall back to one at a time.
      std::vector<std::vector<int>> tries;
      if (candidates.size() > 1) tries.push_back(candidates);
      for (int c : candidates) tries.push_back({c});
      for (const std::vector<int>& t : tries) {
        std::set<int> merged = {n.id};
        for (int gi : t) merged.insert(members[gi].begin(), members[gi].end());
        const int witness = CycleWitness(g, reach, merged);
        if (witness >= 0) {
          out.decisions.push_back(absl::StrCat(
              "refused: '", n.name, "' with the kernel of '", g.node(*members[t[0]].begin()).name,
              "': '", g.node(witness).name, "' is read by it and depends on it (a cycle)"));
          continue;
        }
        target = t[0];
        for (size_t k = 1; k < t.size(); ++k) {
          for (int m : members[t[k]]) out.group_of[m] = target;
          members[target].insert(members[t[k]].begin(), members[t[k]].end());
          members[t[k]].clear();
        }
        members[target].insert(n.id);
        break;
      }
    }
    if (target < 0) {
      target = static_cast<int>(out.groups.size());
      out.groups.push_back(Group{{}, n.shape});
      members.emplace_back();
      members[target].insert(n.id);
    }
    out.group_of[n.id] = target;
  }
  // Drop emptied groups and order the rest topologically (Kahn, smallest first node first).
  std::vector<int> nonempty;
  for (size_t i = 0; i < members.size(); ++i) {
    if (!members[i].empty()) nonempty.push_back(static_cast<int>(i));
  }
  std::vector<int> order;
  std::vector<bool> placed(members.size(), false);
  while (order.size() < nonempty.size()) {
    int pick = -1;
    for (int gi : nonempty) {
      if (placed[gi]) continue;
      bool ready = true;
      for (int m : members[gi]) {
        for (int q : g.node(m).inputs) {
          const int src = out.group_of[views[q].base];
          if (src >= 0 && src != gi && !placed[src]) ready = false;
        }
      }
      if (ready && (pick < 0 || *members[gi].begin() < *members[pick].begin())) pick = gi;
    }
    if (pick < 0) return absl::InternalError("planner produced cyclic kernel dependencies");
    placed[pick] = true;
    order.push_back(pick);
  }
  std::vector<int> renumber(members.size(), -1);
  std::vector<Group> groups;
  for (int gi : order) {
    renumber[gi] = static_cast<int>(groups.size());
    groups.push_back(Group{std::vector<int>(members[gi].begin(), members[gi].end()),
                           out.groups[gi].shape});
  }
  for (int& gi : out.group_of) {
    if (gi >= 0) gi = renumber[gi];
  }
  out.groups = std::move(groups);
  return out;
}

}  // namespace tilefuse
