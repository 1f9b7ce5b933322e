#include "runtime/graph/torch_aliases.h"

#include "absl/strings/str_cat.h"
#include "runtime/graph/shape.h"
#include "runtime/graph/torch_norms.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

absl::Status Arity(const std::string& op, const std::vector<int>& ins, size_t want, const std::string& where,
                   const char* operands) {
  if (ins.size() == want) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": '", op, "' takes ", want, " operand", want == 1 ? "" : "s", " (", operands, "), got ",
                   ins.size()));
}

}  // namespace

const std::vector<std::string>& TorchAliasNames() {
  static const std::vector<std::string>* names = new std::vector<std::string>{
      "view", "to", "multiply", "subtract", "divide", "true_divide", "broadcast_to", "expand_as", "t", "contiguous", "clone", "detach", "relu6", "hardtanh", "max", "min", "rsub", "masked_fill", "type_as", "repeat_interleave", "clamp_min", "clamp_max", "float", "half", "bfloat16", "logsigmoid", "glu",
      "group_norm", "instance_norm", "batch_norm", "normalize", "vector_norm", "norm"};
  return *names;
}

absl::StatusOr<std::optional<int>> AddTorchAlias(Graph& g, const std::string& op, const std::string& name,
                                                 const std::vector<int>& ins, const Attrs& attrs,
                                                 const std::string& where) {
  // Renames: the op under its tilefuse name, operands and attributes as they are.
  static const std::pair<const char*, PointwiseOp> kPointwise[] = {{"multiply", PointwiseOp::kMul},
                                                                   {"subtract", PointwiseOp::kSub},
                                                                   {"divide", PointwiseOp::kDiv},
                                                                   {"true_divide", PointwiseOp::kDiv},
                                                                   {"to", PointwiseOp::kCast}};
  for (const auto& [alias, p] : kPointwise) {
    if (op != alias) continue;
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, p, ins, attrs));
    return std::optional<int>(v);
  }
  const auto one = [&](const char* what) { return Arity(op, ins, 1, where, what); };
  if (op == "view" || op == "broadcast_to") {
    TF_RETURN_IF_ERROR(one("x"));
    TF_ASSIGN_OR_RETURN(const int v, g.AddView(name, op == "view" ? ViewOp::kReshape : ViewOp::kExpand, ins[0], attrs));
    return std::optional<int>(v);
  }
  if (op == "contiguous" || op == "clone" || op == "detach") {
    // The value itself: a reshape to its own shape, which no kernel computes.
    TF_RETURN_IF_ERROR(one("x"));
    TF_ASSIGN_OR_RETURN(const int v, g.AddView(name, ViewOp::kReshape, ins[0], Attrs{.shape = g.node(ins[0]).shape}));
    return std::optional<int>(v);
  }
  if (op == "t") {
    TF_RETURN_IF_ERROR(one("x"));
    if (g.node(ins[0]).shape.size() > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": 't' takes a value of rank <= 2, got ", g.ShapeText(ins[0]), " (use transpose)"));
    }
    if (g.node(ins[0]).shape.size() < 2) {
      TF_ASSIGN_OR_RETURN(const int v, g.AddView(name, ViewOp::kReshape, ins[0], Attrs{.shape = g.node(ins[0]).shape}));
      return std::optional<int>(v);
    }
    TF_ASSIGN_OR_RETURN(const int v, g.AddView(name, ViewOp::kTranspose, ins[0], Attrs{.dim0 = 0, .dim1 = 1}));
    return std::optional<int>(v);
  }
  if (op == "expand_as") {
    TF_RETURN_IF_ERROR(Arity(op, ins, 2, where, "x, other"));
    TF_ASSIGN_OR_RETURN(const int v, g.AddView(name, ViewOp::kExpand, ins[0], Attrs{.shape = g.node(ins[1]).shape}));
    return std::optional<int>(v);
  }
  if (op == "relu6" || op == "hardtanh") {
    TF_RETURN_IF_ERROR(one("x"));
    Attrs c;
    c.min = op == "relu6" ? 0.0 : attrs.min.value_or(-1.0);
    c.max = op == "relu6" ? 6.0 : attrs.max.value_or(1.0);
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, PointwiseOp::kClamp, ins, c));
    return std::optional<int>(v);
  }
  if (op == "max" || op == "min") {
    // torch.max(a, b) and torch.max(x[, dim, keepdim]) (its values).
    const bool max = op == "max";
    if (ins.size() == 2) {
      TF_ASSIGN_OR_RETURN(const int v,
                          g.AddPointwise(name, max ? PointwiseOp::kMaximum : PointwiseOp::kMinimum, ins, attrs));
      return std::optional<int>(v);
    }
    TF_RETURN_IF_ERROR(one("x, or a and b"));
    TF_ASSIGN_OR_RETURN(const int v, g.AddReduce(name, max ? ReduceOp::kAmax : ReduceOp::kAmin, ins[0], attrs));
    return std::optional<int>(v);
  }
  if (op == "rsub") {
    TF_RETURN_IF_ERROR(Arity(op, ins, 2, where, "a, b: b - a"));
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, PointwiseOp::kSub, {ins[1], ins[0]}, attrs));
    return std::optional<int>(v);
  }
  if (op == "masked_fill") {
    TF_RETURN_IF_ERROR(Arity(op, ins, 3, where, "x, mask, value"));
    if (g.node(ins[1]).dtype != DType::kBool) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'masked_fill' mask '", g.node(ins[1]).name, "' is ",
                                                     DTypeName(g.node(ins[1]).dtype), " (expected bool)"));
    }
    // The fill takes x's type (torch casts the value to it).
    TF_ASSIGN_OR_RETURN(const int fill, g.AddPointwise(absl::StrCat(name, ".value"), PointwiseOp::kCast, {ins[2]},
                                                       Attrs{.dtype = g.node(ins[0]).dtype}));
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, PointwiseOp::kWhere, {ins[1], fill, ins[0]}));
    return std::optional<int>(v);
  }
  if (op == "type_as") {
    TF_RETURN_IF_ERROR(Arity(op, ins, 2, where, "x, other: x cast to other's dtype"));
    TF_ASSIGN_OR_RETURN(const int v,
                        g.AddPointwise(name, PointwiseOp::kCast, {ins[0]}, Attrs{.dtype = g.node(ins[1]).dtype}));
    return std::optional<int>(v);
  }
  if (op == "repeat_interleave") {
    // x.repeat_interleave(repeats, dim): x unsqueezed after `dim`, expanded there and the
    // two dims merged, as Llama's repeat_kv writes it (each element of `dim` repeated, in
    // place).
    TF_RETURN_IF_ERROR(one("x"));
    if (!attrs.repeats || !attrs.dim) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'repeat_interleave' needs 'repeats' and 'dim'"));
    }
    const Shape x = g.node(ins[0]).shape;
    TF_ASSIGN_OR_RETURN(const int d, NormalizeAxis(*attrs.dim, static_cast<int>(x.size())));
    if (!x[d].is_static()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'repeat_interleave' along dim ", d, " of ",
                                                     g.ShapeText(ins[0]), ": the dim must be static"));
    }
    const int64_t n = *attrs.repeats;
    Shape one = x, wide = x, merged = x;
    one.insert(one.begin() + d + 1, Dim::Static(1));
    wide.insert(wide.begin() + d + 1, Dim::Static(n));
    merged[d] = Dim::Static(x[d].value * n);
    TF_ASSIGN_OR_RETURN(const int u, g.AddView(absl::StrCat(name, ".unsqueezed"), ViewOp::kReshape, ins[0],
                                               Attrs{.shape = one}));
    TF_ASSIGN_OR_RETURN(const int e, g.AddView(absl::StrCat(name, ".expanded"), ViewOp::kExpand, u, Attrs{.shape = wide}));
    TF_ASSIGN_OR_RETURN(const int v, g.AddView(name, ViewOp::kReshape, e, Attrs{.shape = merged}));
    return std::optional<int>(v);
  }
  if ((op == "add" || op == "sub") && attrs.alpha) {
    // torch.add(a, b, alpha=k): a + k * b (sub likewise).
    TF_RETURN_IF_ERROR(Arity(op, ins, 2, where, "a, b"));
    Attrs rest = attrs;
    rest.alpha.reset();
    TF_ASSIGN_OR_RETURN(const int k, g.AddScalar(*attrs.alpha));
    TF_ASSIGN_OR_RETURN(const int scaled, g.AddPointwise(absl::StrCat(name, ".scaled"), PointwiseOp::kMul, {ins[1], k}));
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, op == "add" ? PointwiseOp::kAdd : PointwiseOp::kSub,
                                                    {ins[0], scaled}, rest));
    return std::optional<int>(v);
  }
  if (op == "clamp_min" || op == "clamp_max") {
    TF_RETURN_IF_ERROR(one("x"));
    const bool lower = op == "clamp_min";
    if (!(lower ? attrs.min : attrs.max)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": '", op, "' needs '", lower ? "min" : "max", "'"));
    }
    Attrs c;
    (lower ? c.min : c.max) = lower ? attrs.min : attrs.max;
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, PointwiseOp::kClamp, ins, c));
    return std::optional<int>(v);
  }
  if (op == "float" || op == "half" || op == "bfloat16") {
    TF_RETURN_IF_ERROR(one("x"));
    const DType to = op == "float" ? DType::kF32 : op == "half" ? DType::kF16 : DType::kBF16;
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, PointwiseOp::kCast, ins, Attrs{.dtype = to}));
    return std::optional<int>(v);
  }
  if (op == "logsigmoid") {
    // F.logsigmoid(x) = -softplus(-x): exact where exp(-x) overflows (softplus is linear there).
    TF_RETURN_IF_ERROR(one("x"));
    TF_ASSIGN_OR_RETURN(const int nx, g.AddPointwise(absl::StrCat(name, ".neg"), PointwiseOp::kNeg, ins));
    TF_ASSIGN_OR_RETURN(const int sp, g.AddPointwise(absl::StrCat(name, ".softplus"), PointwiseOp::kSoftplus, {nx}));
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, PointwiseOp::kNeg, {sp}));
    return std::optional<int>(v);
  }
  if (op == "glu") {
    // F.glu(x, dim=-1): a * sigmoid(b), a and b the halves of x along dim.
    TF_RETURN_IF_ERROR(one("x"));
    const Shape& x = g.node(ins[0]).shape;
    TF_ASSIGN_OR_RETURN(const int d, NormalizeAxis(attrs.dim.value_or(-1), static_cast<int>(x.size())));
    if (!x[d].is_static() || x[d].value % 2 != 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'glu' halves dim ", d, " of ", g.ShapeText(ins[0]),
                                                     ", which must be static and even"));
    }
    const int64_t half = x[d].value / 2;
    TF_ASSIGN_OR_RETURN(const int a, g.AddView(absl::StrCat(name, ".a"), ViewOp::kSlice, ins[0],
                                               Attrs{.dim = d, .start = 0, .end = half}));
    TF_ASSIGN_OR_RETURN(const int b, g.AddView(absl::StrCat(name, ".b"), ViewOp::kSlice, ins[0],
                                               Attrs{.dim = d, .start = half, .end = 2 * half}));
    TF_ASSIGN_OR_RETURN(const int sb, g.AddPointwise(absl::StrCat(name, ".gate"), PointwiseOp::kSigmoid, {b}));
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, PointwiseOp::kMul, {a, sb}));
    return std::optional<int>(v);
  }
  return AddTorchNorm(g, op, name, ins, attrs, where);
}

}  // namespace tilefuse::internal
