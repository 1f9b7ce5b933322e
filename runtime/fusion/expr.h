// Expression DAGs that generated kernels evaluate per element: the body of a pointwise
// kernel, and (for tile kernels) the prologue of a load and the epilogue of a store.
//
// Nodes are immutable and shared behind cheap handles (Expr); the Make* functions check
// operand counts and compute kinds, so a DAG that exists is well formed. Leaves are loads
// of kernel operands, constants, and the tile kernel's own value at a hook site.
//
//   Expr x = MakeLoad(0, DType::kBF16);
//   TF_ASSIGN_OR_RETURN(Expr y, MakeOp(PointwiseOp::kMul, {x, MakeConstant(0.5, DType::kF32)},
//                                      {}, DType::kBF16));
#ifndef TILEFUSE_RUNTIME_FUSION_EXPR_H_
#define TILEFUSE_RUNTIME_FUSION_EXPR_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

enum class ExprKind {
  kLoad,      // element of kernel operand `operand`
  kConstant,  // scalar `constant`
  kTileValue, // the tile kernel's value at the hook site (index `operand`)
  kOp,        // pointwise `op` over `args`
  kGather,    // element of operand `operand` at the site's index, its gathered axis at args[0]
};

struct ExprNode;
using Expr = std::shared_ptr<const ExprNode>;

struct ExprNode {
  ExprKind kind = ExprKind::kConstant;
  DType dtype = DType::kF32;  // the value's dtype; its compute kind follows from it
  int operand = -1;
  double constant = 0;
  PointwiseOp op{};
  Attrs attrs;  // cast dtype, gelu approximate, clamp bounds
  std::vector<Expr> args;
};

Expr MakeLoad(int operand, DType dtype);
Expr MakeTileValue(int index, DType dtype);
Expr MakeConstant(double value, DType dtype);
// torch.gather's read: operand `operand` (OperandSpec::gathered) at the site's index with
// its gathered axis's position taken from `index` (i32).
Expr MakeGather(int operand, Expr index, DType dtype);
// `e` with every node for which `by` returns an expression replaced by it (null: kept);
// nodes are shared, so only the paths to replaced nodes are rebuilt. `memo` maps the nodes
// done, so that several roots can share it.
Expr ReplaceNodes(const Expr& e, const std::function<Expr(const Expr&)>& by,
                  std::map<const ExprNode*, Expr>& memo);
// Whether the DAG loads kernel operand `operand` anywhere.
bool ReadsOperand(const Expr& e, int operand);
// `dtype` is the op's result dtype as the graph inferred it; checked against the operands.
absl::StatusOr<Expr> MakeOp(PointwiseOp op, std::vector<Expr> args, const Attrs& attrs,
                            DType dtype);

// Canonical text of a DAG: shared subexpressions printed once as numbered temporaries,
// constants as exact hex floats. `lines` receives "tN = op(...)" lines; returns the name of
// the root. `names` maps nodes already printed, so several roots can share temporaries.
std::string ExprText(const Expr& e, std::vector<std::string>& lines,
                     std::vector<std::pair<const ExprNode*, std::string>>& names);

// Exact text for a double: "%a" in the classic locale, e.g. "0x1p-1".
std::string HexFloat(double v);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_EXPR_H_
