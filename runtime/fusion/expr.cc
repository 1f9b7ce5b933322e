#include "runtime/fusion/expr.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tilefuse::internal {

Expr MakeLoad(int operand, DType dtype) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::kLoad;
  n->operand = operand;
  n->dtype = dtype;
  return n;
}

Expr MakeTileValue(int index, DType dtype) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::kTileValue;
  n->operand = index;
  n->dtype = dtype;
  return n;
}

Expr MakeConstant(double value, DType dtype) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::kConstant;
  n->constant = value;
  n->dtype = dtype;
  return n;
}

Expr MakeGather(int operand, Expr index, DType dtype) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::kGather;
  n->operand = operand;
  n->dtype = dtype;
  n->args = {std::move(index)};
  return n;
}

absl::StatusOr<Expr> MakeOp(PointwiseOp op, std::vector<Expr> args, const Attrs& attrs,
                            DType dtype) {
  if (static_cast<int>(args.size()) != Arity(op)) {
    return absl::InternalError(absl::StrCat("expr ", OpName(op), ": ", args.size(),
                                            " operands, expected ", Arity(op)));
  }
  for (const Expr& a : args) {
    if (a == nullptr) return absl::InternalError(absl::StrCat("expr ", OpName(op), ": null operand"));
  }
  if (op == PointwiseOp::kWhere && args[0]->dtype != DType::kBool) {
    return absl::InternalError("expr where: condition is not bool");
  }
  if (op == PointwiseOp::kCast && (!attrs.dtype || *attrs.dtype != dtype)) {
    return absl::InternalError("expr cast: result dtype differs from the attribute");
  }
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::kOp;
  n->op = op;
  n->attrs = attrs;
  n->dtype = dtype;
  n->args = std::move(args);
  return n;
}

std::string HexFloat(double v) {
  char buf[64];
  // %a is locale-independent for the digits; tilefuse never changes LC_NUMERIC.
  std::snprintf(buf, sizeof(buf), "%a", v);
  return buf;
}

namespace {

std::string AttrText(const ExprNode& n) {
  std::vector<std::string> parts;
  if (n.attrs.dtype && n.op == PointwiseOp::kCast) parts.push_back(std::string(DTypeName(*n.attrs.dtype)));
  if (n.op == PointwiseOp::kGelu) parts.push_back(n.attrs.approximate.value_or("none"));
  if (n.op == PointwiseOp::kClamp) {
    parts.push_back(n.attrs.min ? HexFloat(*n.attrs.min) : "-");
    parts.push_back(n.attrs.max ? HexFloat(*n.attrs.max) : "-");
  }
  // The activations' parameters, defaults spelled out: the same function, the same text.
  if (n.op == PointwiseOp::kLeakyRelu) parts.push_back(HexFloat(n.attrs.negative_slope.value_or(0.01)));
  if (n.op == PointwiseOp::kElu) parts.push_back(HexFloat(n.attrs.alpha.value_or(1.0)));
  if (n.op == PointwiseOp::kSoftplus) {
    parts.push_back(HexFloat(n.attrs.beta.value_or(1.0)));
    parts.push_back(HexFloat(n.attrs.threshold.value_or(20.0)));
  }
  return parts.empty() ? "" : absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

}  // namespace

std::string ExprText(const Expr& e, std::vector<std::string>& lines,
                     std::vector<std::pair<const ExprNode*, std::string>>& names) {
  for (const auto& [node, name] : names) {
    if (node == e.get()) return name;
  }
  std::string text;
  switch (e->kind) {
    case ExprKind::kLoad:
      return absl::StrCat("in", e->operand, ":", DTypeName(e->dtype));
    case ExprKind::kTileValue:
      return absl::StrCat("tile", e->operand, ":", DTypeName(e->dtype));
    case ExprKind::kConstant:
      return absl::StrCat(DTypeName(e->dtype), "(", HexFloat(e->constant), ")");
    case ExprKind::kGather: {
      const std::string index = ExprText(e->args[0], lines, names);
      const std::string name = absl::StrCat("t", names.size());
      lines.push_back(absl::StrCat(name, ":", DTypeName(e->dtype), " = gather(in", e->operand, ", ", index, ")"));
      names.emplace_back(e.get(), name);
      return name;
    }
    case ExprKind::kOp: {
      std::vector<std::string> args;
      for (const Expr& a : e->args) args.push_back(ExprText(a, lines, names));
      const std::string name = absl::StrCat("t", names.size());
      lines.push_back(absl::StrCat(name, ":", DTypeName(e->dtype), " = ", OpName(e->op),
                                   AttrText(*e), "(", absl::StrJoin(args, ", "), ")"));
      names.emplace_back(e.get(), name);
      return name;
    }
  }
  return "?";
}

Expr ReplaceNodes(const Expr& e, const std::function<Expr(const Expr&)>& by,
                  std::map<const ExprNode*, Expr>& memo) {
  if (Expr r = by(e)) return r;
  if (auto it = memo.find(e.get()); it != memo.end()) return it->second;
  Expr out = e;
  std::vector<Expr> args;
  bool changed = false;
  for (const Expr& a : e->args) {
    args.push_back(ReplaceNodes(a, by, memo));
    changed |= args.back() != a;
  }
  if (changed) {
    auto n = std::make_shared<ExprNode>(*e);
    n->args = std::move(args);
    out = std::move(n);
  }
  memo[e.get()] = out;
  return out;
}

bool ReadsOperand(const Expr& e, int operand) {
  if ((e->kind == ExprKind::kLoad || e->kind == ExprKind::kGather) && e->operand == operand) return true;
  for (const Expr& a : e->args) {
    if (ReadsOperand(a, operand)) return true;
  }
  return false;
}

}  // namespace tilefuse::internal
