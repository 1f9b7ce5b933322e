#include "runtime/fusion/acc_start.h"

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {
namespace {

bool IsTileValue(const Expr& e) { return e->kind == ExprKind::kTileValue && e->operand == 0; }

// The operand of `e` if it is add(tile value, load) or add(load, tile value), else -1.
int ColumnAddOperand(const Expr& e) {
  if (e->kind != ExprKind::kOp || e->op != PointwiseOp::kAdd || e->args.size() != 2) return -1;
  for (int t = 0; t < 2; ++t) {
    const Expr& tile = e->args[t];
    const Expr& other = e->args[1 - t];
    if (IsTileValue(tile) && other->kind == ExprKind::kLoad) return other->operand;
  }
  return -1;
}

// Every add(tile value, load) node reachable from `e`, and whether the tile value is also
// read outside such a node.
void FindAdds(const Expr& e, std::vector<Expr>& adds, bool& bare) {
  if (ColumnAddOperand(e) >= 0) {
    if (std::find(adds.begin(), adds.end(), e) == adds.end()) adds.push_back(e);
    return;
  }
  if (IsTileValue(e)) bare = true;
  for (const Expr& a : e->args) FindAdds(a, adds, bare);
}

}  // namespace

std::string FoldColumnAddIntoAccumulators(const Graph& g, KernelPlan& k) {
  KernelSpec& spec = k.spec;
  // A dual GEMM's accumulators hold two products: not one column's start.
  if (spec.tile != "matmul" || spec.custom != nullptr || spec.dual) return "";
  // The epilogue-site expressions: outputs stored there and the value a reduction takes.
  std::vector<Expr*> roots;
  for (OutputSpec& o : spec.outputs) {
    if (o.site == kEpilogueSite || WindowOfSite(o.site) >= 0) roots.push_back(&o.expr);
  }
  if (spec.reduce.op >= 0) roots.push_back(&spec.reduce.input);
  for (RowStage& st : spec.stages) roots.push_back(&st.input);  // a row epilogue's
  std::vector<Expr> adds;
  bool bare = false;
  for (const Expr* r : roots) FindAdds(*r, adds, bare);
  if (bare || adds.size() != 1) return "";
  const ExprNode* add = adds[0].get();
  const int b = ColumnAddOperand(adds[0]);
  const OperandSpec& o = spec.operands[b];
  const bool by_column = o.access == Access::kScalar || (o.access == Access::kInner && k.operands[b].inner == k.cols);
  if (!by_column || ComputeKindOf(o.dtype) != ComputeKind::kFloat || o.iota) return "";
  // The add's value, now the tile's (its dtype: what the expressions above it expect).
  const Expr tile = MakeTileValue(0, add->dtype);
  std::map<const ExprNode*, Expr> memo;
  std::vector<Expr> rewritten;
  for (const Expr* r : roots) {
    rewritten.push_back(ReplaceNodes(*r, [&](const Expr& x) { return x.get() == add ? tile : nullptr; }, memo));
    if (ReadsOperand(rewritten.back(), b)) return "";  // b read elsewhere too: left as it is
  }
  for (size_t i = 0; i < roots.size(); ++i) *roots[i] = rewritten[i];
  spec.operands[b].site = kAccStartSite;
  return absl::StrCat("accumulator start: '", g.node(k.operands[b].value).name, "' added to '",
                      g.node(k.tile_node).name, "' before its main loop, not in its epilogue");
}

}  // namespace tilefuse::internal
