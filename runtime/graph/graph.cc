#include "runtime/graph/graph.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/graph/names.h"
#include "runtime/graph/promotion.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

absl::string_view NodeKindName(NodeKind k) {
  switch (k) {
    case NodeKind::kInput: return "input";
    case NodeKind::kConstant: return "constant";
    case NodeKind::kPointwise: return "pointwise";
    case NodeKind::kTile: return "tile kernel";
    case NodeKind::kReduce: return "reduction";
    case NodeKind::kView: return "view";
    case NodeKind::kIota: return "iota";
    case NodeKind::kGather: return "gather";
  }
  return "?";
}

std::string Node::OpString() const {
  switch (kind) {
    case NodeKind::kPointwise: return std::string(OpName(pointwise));
    case NodeKind::kTile: return custom ? custom->name : std::string(OpName(tile));
    case NodeKind::kReduce: return std::string(OpName(reduce));
    case NodeKind::kView: return std::string(OpName(view));
    default: return std::string(NodeKindName(kind));
  }
}

int Graph::FindNode(absl::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

int Graph::FindSymbol(absl::string_view name) const {
  for (size_t i = 0; i < symbols_.size(); ++i) {
    if (symbols_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

int Graph::Symbol(absl::string_view name) {
  if (const int s = FindSymbol(name); s >= 0) return s;
  symbols_.emplace_back(name);
  return static_cast<int>(symbols_.size()) - 1;
}

absl::Status Graph::CheckNewNode(const std::string& name, absl::Span<const int> inputs) const {
  if (name.empty()) return absl::InvalidArgumentError("a node needs a non-empty name");
  if (!IsPrintableName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("node name ", QuotedName(name),
                                                   " holds a control character (expected printable text)"));
  }
  if (nodes_.size() >= static_cast<size_t>(kMaxGraphNodes)) {
    return absl::InvalidArgumentError(absl::StrCat("node '", name, "': the graph has ", nodes_.size(),
                                                   " nodes already (at most ", kMaxGraphNodes, ")"));
  }
  if (FindNode(name) >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", name, "': the name is already used by another node"));
  }
  for (int in : inputs) {
    if (in < 0 || in >= static_cast<int>(nodes_.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node '", name, "': operand id ", in, " does not name an earlier node (the graph has ",
          nodes_.size(), " nodes)"));
    }
  }
  return absl::OkStatus();
}

int Graph::Append(Node n) {
  n.id = static_cast<int>(nodes_.size());
  by_name_.emplace(n.name, n.id);
  nodes_.push_back(std::move(n));
  return nodes_.back().id;
}

absl::StatusOr<int> Graph::AddInput(std::string name, Shape shape, DType dtype) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, {}));
  if (shape.size() > kMaxRank) {
    return absl::InvalidArgumentError(absl::StrCat("input '", name, "': rank ", shape.size(),
                                                   " exceeds the maximum of ", kMaxRank));
  }
  for (const Dim& d : shape) {
    if (d.is_static() && d.value < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "': dim ", d.value, " is negative (expected a size >= 0 or a symbol)"));
    }
    if (!d.is_static() && d.symbol >= static_cast<int>(symbols_.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", name, "': symbol id ", d.symbol, " was never declared"));
    }
  }
  if (!StaticNumelFits(shape)) {
    return absl::InvalidArgumentError(absl::StrCat("input '", name, "': shape ", ShapeString(shape, symbols_),
                                                   " holds more than 2^", kMaxNumelLog2, " elements"));
  }
  Node n;
  n.name = std::move(name);
  n.kind = NodeKind::kInput;
  n.shape = std::move(shape);
  n.dtype = dtype;
  const int id = Append(std::move(n));
  inputs_.push_back(id);
  return id;
}

absl::StatusOr<int> Graph::AddScalar(double value, DType dtype, std::string name) {
  if (name.empty()) name = absl::StrCat("$c", nodes_.size());  // "$" cannot clash with a sane node name
  TF_RETURN_IF_ERROR(CheckNewNode(name, {}));
  if (!std::isfinite(value) && dtype != DType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat("constant '", name, "': ", value, " is not a finite ", DTypeName(dtype)));
  }
  if (dtype == DType::kI32 && (value != std::trunc(value) || value < INT32_MIN || value > INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("constant '", name, "': ", value,
                                                   " is not an i32 (expected an integer in [-2^31, 2^31))"));
  }
  Node n;
  n.name = std::move(name);
  n.kind = NodeKind::kConstant;
  n.dtype = dtype;
  n.constant = value;
  n.is_literal = true;
  return Append(std::move(n));
}

absl::StatusOr<int> Graph::AddPointwise(std::string name, PointwiseOp op,
                                        std::vector<int> inputs, Attrs attrs) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, inputs));
  const auto where = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("node '", name, "' (", OpName(op), "): ", what));
  };
  if (static_cast<int>(inputs.size()) != Arity(op)) {
    return where(absl::StrCat("takes ", Arity(op), " operands, got ", inputs.size()));
  }
  Shape shape;
  std::vector<PromotionOperand> promo;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Node& in = nodes_[inputs[i]];
    auto b = BroadcastShapes(shape, in.shape, symbols_);
    if (!b.ok()) return where(b.status().message());
    shape = *std::move(b);
    // where's condition takes no part in promotion.
    if (op == PointwiseOp::kWhere && i == 0) continue;
    promo.push_back({in.dtype, static_cast<int>(in.shape.size()), in.is_literal});
  }
  if (shape.size() > kMaxRank) return where(absl::StrCat("rank ", shape.size(), " exceeds ", kMaxRank));
  DType dtype;
  if (op == PointwiseOp::kCast) {
    if (!attrs.dtype) return where("needs the attribute 'dtype'");
    dtype = *attrs.dtype;
  } else {
    if (op == PointwiseOp::kWhere && nodes_[inputs[0]].dtype != DType::kBool) {
      return where(absl::StrCat("condition '", nodes_[inputs[0]].name, "' is ",
                                DTypeName(nodes_[inputs[0]].dtype), " (expected bool)"));
    }
    auto d = PointwiseResultDType(op, ResultType(promo));
    if (!d.ok()) return where(d.status().message());
    dtype = *d;
  }
  if (op == PointwiseOp::kGelu) {
    const std::string a = attrs.approximate.value_or("none");
    if (a != "none" && a != "tanh") {
      return where(absl::StrCat("approximate='", a, "' (expected 'none' or 'tanh')"));
    }
  } else if (attrs.approximate) {
    return where("only gelu takes 'approximate'");
  }
  // An activation's parameters belong to it alone, and must be finite.
  const auto only = [&](const std::optional<double>& v, const char* key, PointwiseOp owner) -> absl::Status {
    if (!v) return absl::OkStatus();
    if (op != owner) return where(absl::StrCat("only ", OpName(owner), " takes '", key, "'"));
    if (!std::isfinite(*v)) return where(absl::StrCat("'", key, "' is ", *v, " (expected a finite number)"));
    return absl::OkStatus();
  };
  TF_RETURN_IF_ERROR(only(attrs.negative_slope, "negative_slope", PointwiseOp::kLeakyRelu));
  TF_RETURN_IF_ERROR(only(attrs.alpha, "alpha", PointwiseOp::kElu));
  TF_RETURN_IF_ERROR(only(attrs.beta, "beta", PointwiseOp::kSoftplus));
  TF_RETURN_IF_ERROR(only(attrs.threshold, "threshold", PointwiseOp::kSoftplus));
  if (attrs.beta && *attrs.beta == 0) return where("'beta' is 0 (softplus divides by it)");
  if (op == PointwiseOp::kClamp) {
    if (!attrs.min && !attrs.max) return where("needs 'min', 'max' or both");
    if (attrs.min && attrs.max && *attrs.min > *attrs.max) {
      return where(absl::StrCat("min ", *attrs.min, " > max ", *attrs.max));
    }
    for (auto v : {attrs.min, attrs.max}) {
      if (v && dtype == DType::kI32 && (*v != std::floor(*v) || *v < INT32_MIN || *v > INT32_MAX)) {
        return where(absl::StrCat("bound ", *v, " is not an i32 for an i32 operand"));
      }
    }
  }
  Node n;
  n.name = std::move(name);
  n.kind = NodeKind::kPointwise;
  n.pointwise = op;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  n.dtype = dtype;
  n.shape = std::move(shape);
  return Append(std::move(n));
}

}  // namespace tilefuse::internal
