#include "test/plan_interpreter.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "runtime/reference_ops.h"
#include "runtime/status_macros.h"
#include "test/host_data.h"

namespace tilefuse {
namespace {

struct ElementEval {
  const std::vector<Scalar>* loads;
  std::map<const ExprNode*, Scalar> memo;

  absl::StatusOr<Scalar> Eval(const Expr& e) {
    if (auto it = memo.find(e.get()); it != memo.end()) return it->second;
    Scalar r;
    switch (e->kind) {
      case ExprKind::kLoad: r = (*loads)[e->operand]; break;
      case ExprKind::kConstant: r = FromDouble(e->constant, e->dtype); break;
      case ExprKind::kTileValue: return absl::UnimplementedError("tile values");
      case ExprKind::kOp: {
        std::vector<Scalar> args;
        for (size_t i = 0; i < e->args.size(); ++i) {
          TF_ASSIGN_OR_RETURN(Scalar a, Eval(e->args[i]));
          const DType want = e->op == PointwiseOp::kWhere && i == 0 ? DType::kBool : e->dtype;
          args.push_back(Convert(a, e->args[i]->dtype, want));
        }
        TF_ASSIGN_OR_RETURN(r, ApplyPointwise(e->op, e->attrs, e->dtype, args.data()));
        break;
      }
    }
    memo[e.get()] = r;
    return r;
  }
};

}  // namespace

absl::StatusOr<std::vector<HostTensor>> InterpretPlan(const Graph& g, const FusionPlan& plan,
                                                      const std::vector<HostTensor>& inputs,
                                                      const std::vector<int64_t>& symbols) {
  std::vector<HostTensor> outputs, workspace;
  for (int o : g.outputs()) {
    outputs.push_back(HostTensor::Zeros(g.node(o).dtype, ConcreteShape(g.node(o).shape, symbols)));
  }
  for (const WorkspaceSlot& w : plan.workspace) {
    workspace.push_back(HostTensor::Zeros(w.dtype, {w.elements.Eval(symbols)}));
  }
  const auto buffer = [&](const BufferRef& b) -> HostTensor& {
    if (b.kind == BufferRef::kInput) return const_cast<HostTensor&>(inputs[b.index]);
    return b.kind == BufferRef::kOutput ? outputs[b.index] : workspace[b.index];
  };
  for (const KernelPlan& k : plan.kernels) {
    const std::vector<int64_t> dims = ConcreteShape(k.index_space, symbols);
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::vector<Scalar> loads(k.operands.size());
    for (int64_t i = 0; i < n; ++i) {
      for (size_t o = 0; o < k.operands.size(); ++o) {
        const OperandBinding& b = k.operands[o];
        int64_t off = 0;
        switch (k.spec.operands[o].access) {
          case Access::kFull: off = i; break;
          case Access::kInner: off = i % b.inner.Eval(symbols); break;
          case Access::kScalar: off = 0; break;
          case Access::kStrided: {
            int64_t rest = i;
            for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
              off += (rest % dims[d]) * b.strides[d].Eval(symbols);
              rest /= dims[d];
            }
            break;
          }
        }
        const HostTensor& t = buffer(b.buffer);
        if (off < 0 || off >= t.numel()) {
          return absl::InternalError(absl::StrCat("operand ", o, " reads element ", off, " of ", t.numel()));
        }
        loads[o] = FromDouble(t.Get(off), k.spec.operands[o].dtype);
      }
      ElementEval ev{&loads, {}};
      for (size_t j = 0; j < k.outputs.size(); ++j) {
        TF_ASSIGN_OR_RETURN(Scalar v, ev.Eval(k.spec.outputs[j].expr));
        const DType t = k.spec.outputs[j].dtype;
        buffer(k.outputs[j].buffer).Set(i, ComputeKindOf(t) == ComputeKind::kFloat ? v.f : v.i);
      }
    }
  }
  return outputs;
}

}  // namespace tilefuse
