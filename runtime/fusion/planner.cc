#include "runtime/fusion/planner.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/fusion/grouping.h"
#include "runtime/fusion/views.h"
#include "runtime/status_macros.h"

namespace tilefuse {
namespace {

// How operand `q` (shape and strides from `view`) is indexed over index space `space`.
OperandBinding BindOperand(const Graph& g, int q, const ViewInfo& view, const Shape& space,
                           OperandSpec& spec) {
  const Node& n = g.node(q);
  OperandBinding b;
  b.value = q;
  spec.dtype = n.dtype;
  const size_t rank = space.size();
  const size_t lead = rank - n.shape.size();  // operand dims align to the right
  b.strides.assign(rank, SizeExpr{0, {}});
  bool broadcast = lead > 0;
  for (size_t d = 0; d < n.shape.size(); ++d) {
    if (n.shape[d].is_one() && !space[lead + d].is_one()) {
      broadcast = true;  // stride stays 0
    } else {
      b.strides[lead + d] = view.strides[d];
    }
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
    if (inner) {
      spec.access = Access::kInner;
      b.inner = Numel(n.shape);
    } else {
      spec.access = Access::kStrided;
    }
  }
  return b;
}

class KernelBuilder {
 public:
  KernelBuilder(const Graph& g, const std::vector<ViewInfo>& views,
                const std::map<int, BufferRef>& buffers)
      : g_(g), views_(views), buffers_(buffers) {}

  // Expression of node `id` inside the kernel whose members are `in_kernel`.
  absl::StatusOr<Expr> ExprOf(int id, const std::vector<bool>& in_kernel) {
    if (auto it = memo_.find(id); it != memo_.end()) return it->second;
    const Node& n = g_.node(id);
    Expr e;
    if (n.kind == NodeKind::kConstant) {
      e = MakeConstant(n.constant, n.dtype);
    } else if (!in_kernel[id]) {
      e = MakeLoad(OperandIndex(id), n.dtype);
    } else {
      std::vector<Expr> args;
      for (int in : n.inputs) {
        TF_ASSIGN_OR_RETURN(Expr a, ExprOf(in, in_kernel));
        args.push_back(std::move(a));
      }
      TF_ASSIGN_OR_RETURN(e, MakeOp(n.pointwise, std::move(args), n.attrs, n.dtype));
    }
    memo_[id] = e;
    return e;
  }

  int OperandIndex(int q) {
    for (size_t i = 0; i < kernel_.operands.size(); ++i) {
      if (kernel_.operands[i].value == q) return static_cast<int>(i);
    }
    OperandSpec spec;
    OperandBinding b = BindOperand(g_, q, views_[q], kernel_.index_space, spec);
    b.buffer = buffers_.at(views_[q].base);
    kernel_.spec.operands.push_back(spec);
    kernel_.operands.push_back(std::move(b));
    return static_cast<int>(kernel_.operands.size()) - 1;
  }

  void AddOutput(const Expr& e, int value, BufferRef buffer) {
    kernel_.spec.outputs.push_back(OutputSpec{g_.node(value).dtype, e});
    kernel_.outputs.push_back(OutputBinding{value, buffer});
  }

  KernelPlan& kernel() { return kernel_; }

 private:
  const Graph& g_;
  const std::vector<ViewInfo>& views_;
  const std::map<int, BufferRef>& buffers_;
  std::map<int, Expr> memo_;
  KernelPlan kernel_;
};

std::string NodeNames(const Graph& g, const std::vector<int>& ids) {
  std::vector<std::string> names;
  for (int id : ids) names.push_back(absl::StrCat(g.node(id).name, ":", g.node(id).OpString()));
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<FusionPlan> PlanFusion(const Graph& g, const PlanOptions& options) {
  if (g.outputs().empty()) return absl::InvalidArgumentError("the graph has no outputs");
  TF_ASSIGN_OR_RETURN(std::vector<ViewInfo> views, ResolveViews(g));
  TF_ASSIGN_OR_RETURN(Grouping grouping, GroupNodes(g, views, options.fuse));
  FusionPlan plan;
  plan.decisions = grouping.decisions;

  // Output positions per value, and which values something outside their kernel reads.
  std::map<int, std::vector<int>> output_positions;
  for (size_t k = 0; k < g.outputs().size(); ++k) output_positions[g.outputs()[k]].push_back(k);
  std::vector<bool> read_outside(g.nodes().size(), false);
  for (const Node& n : g.nodes()) {
    for (int in : n.inputs) {
      const int base = views[in].base;
      if (grouping.group_of[base] < 0) continue;
      if (n.kind == NodeKind::kView || grouping.group_of[n.id] != grouping.group_of[base] ||
          in != base) {
        read_outside[base] = true;
      }
    }
  }
  for (const Node& n : g.nodes()) {
    if (n.kind == NodeKind::kView && grouping.group_of[views[n.id].base] >= 0) {
      read_outside[views[n.id].base] = true;
    }
  }

  std::map<int, BufferRef> buffers;  // where each stored value lives
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    buffers[g.inputs()[i]] = BufferRef{BufferRef::kInput, static_cast<int>(i)};
  }
  std::vector<bool> written(g.outputs().size(), false);

  for (const Group& group : grouping.groups) {
    std::vector<bool> in_kernel(g.nodes().size(), false);
    for (int id : group.nodes) in_kernel[id] = true;
    KernelBuilder kb(g, views, buffers);
    kb.kernel().index_space = group.shape;
    kb.kernel().spec.rank = std::max<int>(1, group.shape.size());
    kb.kernel().nodes = group.nodes;
    std::vector<std::string> stored;
    for (int id : group.nodes) {
      const auto pos = output_positions.find(id);
      const bool is_output = pos != output_positions.end();
      if (!is_output && !read_outside[id]) continue;
      TF_ASSIGN_OR_RETURN(Expr e, kb.ExprOf(id, in_kernel));
      if (is_output) {
        buffers[id] = BufferRef{BufferRef::kOutput, pos->second[0]};
        for (int k : pos->second) {
          kb.AddOutput(e, id, BufferRef{BufferRef::kOutput, k});
          written[k] = true;
        }
      } else {
        const int slot = static_cast<int>(plan.workspace.size());
        plan.workspace.push_back(WorkspaceSlot{id, Numel(g.node(id).shape), g.node(id).dtype});
        buffers[id] = BufferRef{BufferRef::kWorkspace, slot};
        kb.AddOutput(e, id, buffers[id]);
      }
      stored.push_back(g.node(id).name);
      if (id != group.nodes.back()) {
        plan.decisions.push_back(absl::StrCat(
            "multi-output: the kernel of '", g.node(group.nodes.back()).name, "' also stores '",
            g.node(id).name, "', ", is_output ? "a graph output" : "read by another kernel"));
      }
    }
    KernelPlan& k = kb.kernel();
    k.summary = absl::StrCat(group.nodes.size() > 1 ? "fused " : "", NodeNames(g, group.nodes),
                             " over ", ShapeString(group.shape, g.symbols()), " -> ",
                             absl::StrJoin(stored, ", "));
    plan.kernels.push_back(std::move(k));
  }

  // Outputs that no kernel wrote (inputs, views) are copied into their buffers.
  for (size_t pos = 0; pos < g.outputs().size(); ++pos) {
    if (written[pos]) continue;
    const int v = g.outputs()[pos];
    KernelBuilder kb(g, views, buffers);
    kb.kernel().index_space = g.node(v).shape;
    kb.kernel().spec.rank = std::max<int>(1, g.node(v).shape.size());
    const Expr e = MakeLoad(kb.OperandIndex(v), g.node(v).dtype);
    for (size_t k = pos; k < g.outputs().size(); ++k) {
      if (g.outputs()[k] != v) continue;
      kb.AddOutput(e, v, BufferRef{BufferRef::kOutput, static_cast<int>(k)});
      written[k] = true;
    }
    kb.kernel().summary = absl::StrCat("copy ", g.node(v).name, " (", g.node(v).OpString(),
                                       ") into its output buffer");
    plan.decisions.push_back(absl::StrCat("copy: output '", g.node(v).name,
                                          "' is not computed by a kernel, so it is copied"));
    plan.kernels.push_back(std::move(kb.kernel()));
  }
  return plan;
}

}  // namespace tilefuse
