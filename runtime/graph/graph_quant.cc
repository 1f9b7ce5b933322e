// Quantization ops, lowered when added to the pointwise, index and cast nodes that compute
// them, so that every kernel form fuses them as it fuses those (a dequant in a GEMM's B
// load, a quantize in a norm's store).
#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/graph/graph.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

absl::Status QuantError(absl::string_view name, absl::string_view op, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("node '", name, "' (", op, "): ", what));
}

// The largest finite value of a quantized type, and the smallest of an integer one.
double QuantMax(DType t) {
  switch (t) {
    case DType::kF8E4M3: return 448.0;
    case DType::kF8E5M2: return 57344.0;
    case DType::kI8: return 127.0;
    default: return 0.0;
  }
}

}  // namespace

absl::StatusOr<int> Graph::GroupRead(const std::string& name, int param, int q, int64_t group) {
  // Copies: adding nodes moves nodes_.
  const Node x = nodes_[q];
  const Node p = nodes_[param];
  const int rank = static_cast<int>(x.shape.size());
  const Dim k = x.shape.back();
  if (!k.is_static()) {
    return QuantError(name, "dequant", absl::StrCat("group ", group, " over a symbolic last dim ", ShapeText(q),
                                                    " (expected a static K)"));
  }
  const int64_t groups = (k.value + group - 1) / group;
  bool fits = static_cast<int>(p.shape.size()) == rank && p.shape.back() == Dim::Static(groups);
  for (int d = 0; fits && d + 1 < rank; ++d) fits = p.shape[d] == x.shape[d];
  if (!fits) {
    Shape want(x.shape.begin(), x.shape.end() - 1);
    want.push_back(Dim::Static(groups));
    return QuantError(name, "dequant", absl::StrCat("'", p.name, "' has shape ", ShapeText(param), " (expected ",
                                                    ShapeString(want, symbols_), ": one per group of ", group,
                                                    " along the last dim of '", x.name, "' ", ShapeText(q), ")"));
  }
  // The group of element k is floor(k / G): k and G are exact in f32 and k < 2^24 keeps the
  // quotient's rounding from reaching the next integer.
  if (k.value >= (int64_t{1} << 24)) {
    return QuantError(name, "dequant", absl::StrCat("last dim ", k.value, " is 2^24 or more"));
  }
  const std::string part = absl::StrCat(name, ".", p.name);
  TF_ASSIGN_OR_RETURN(const int pos, AddIota(part + ".k", x.shape, rank - 1, 0, 1, DType::kF32));
  TF_ASSIGN_OR_RETURN(const int g, AddScalar(static_cast<double>(group), DType::kF32));
  TF_ASSIGN_OR_RETURN(const int ratio, AddPointwise(part + ".k_over_group", PointwiseOp::kDiv, {pos, g}));
  TF_ASSIGN_OR_RETURN(const int fl, AddPointwise(part + ".group_f32", PointwiseOp::kFloor, {ratio}));
  TF_ASSIGN_OR_RETURN(const int index,
                      AddPointwise(part + ".group", PointwiseOp::kCast, {fl}, Attrs{.dtype = DType::kI32}));
  return AddGather(part + ".grouped", param, rank - 1, index);
}

absl::StatusOr<int> Graph::AddDequant(std::string name, std::vector<int> inputs, Attrs attrs) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, inputs));
  const auto err = [&](absl::string_view what) { return QuantError(name, "dequant", what); };
  if (inputs.size() != 2 && inputs.size() != 3) {
    return err(absl::StrCat("takes 2 or 3 operands (q, scale[, zero]), got ", inputs.size()));
  }
  // Copies: adding nodes moves nodes_.
  const Shape q_shape = nodes_[inputs[0]].shape;
  const std::string q_name = nodes_[inputs[0]].name;
  if (nodes_[inputs[0]].kind == NodeKind::kConstant || q_shape.empty()) return err("q must be a tensor of rank >= 1");
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (nodes_[inputs[i]].dtype == DType::kBool) {
      return err(absl::StrCat("'", nodes_[inputs[i]].name, "' is bool (expected a number type)"));
    }
  }
  const DType out = attrs.dtype.value_or(DType::kF32);
  if (!IsTileFloat(out)) return err(absl::StrCat("dtype ", DTypeName(out), " (expected f32, f16 or bf16)"));
  const int64_t group = attrs.group.value_or(0);
  if (group < 0) return err(absl::StrCat("group ", group, " (expected >= 1, or 0 for a broadcast scale)"));
  std::vector<int> params(inputs.begin() + 1, inputs.end());
  if (group > 0) {
    for (int& p : params) {
      TF_ASSIGN_OR_RETURN(p, GroupRead(name, p, inputs[0], group));
    }
  }
  const bool last_is_f32 = out == DType::kF32;
  const std::string result = last_is_f32 ? name : absl::StrCat(name, ".f32");
  TF_ASSIGN_OR_RETURN(int v, AddPointwise(absl::StrCat(name, ".q"), PointwiseOp::kCast, {inputs[0]},
                                          Attrs{.dtype = DType::kF32}));
  // Scale and zero enter as they are: with the f32 operand they promote to f32, and a cast
  // node over their smaller index space would be a kernel of its own.
  const auto broadcast = [&](absl::StatusOr<int> r) -> absl::StatusOr<int> {
    if (r.ok()) return r;
    return err(absl::StrCat("scale and zero must broadcast to q's shape: ", r.status().message()));
  };
  if (params.size() == 2) {
    TF_ASSIGN_OR_RETURN(v, broadcast(AddPointwise(absl::StrCat(name, ".centered"), PointwiseOp::kSub, {v, params[1]})));
  }
  TF_ASSIGN_OR_RETURN(v, broadcast(AddPointwise(result, PointwiseOp::kMul, {v, params[0]})));
  if (!(nodes_[v].shape == q_shape)) {
    return err(absl::StrCat("scale and zero broadcast '", q_name, "' ", ShapeText(inputs[0]), " to ", ShapeText(v),
                            " (expected them to broadcast to q's shape)"));
  }
  if (last_is_f32) return v;
  return AddPointwise(std::move(name), PointwiseOp::kCast, {v}, Attrs{.dtype = out});
}

absl::StatusOr<int> Graph::AddQuantize(std::string name, std::vector<int> inputs, Attrs attrs) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, inputs));
  const auto err = [&](absl::string_view what) { return QuantError(name, "quantize", what); };
  if (inputs.size() != 2) return err(absl::StrCat("takes 2 operands (x, scale), got ", inputs.size()));
  if (!attrs.dtype || QuantMax(*attrs.dtype) == 0.0) {
    return err(absl::StrCat("dtype ", attrs.dtype ? DTypeName(*attrs.dtype) : "(none)",
                            " (expected f8e4m3, f8e5m2 or i8; tilefuse does not write i4)"));
  }
  for (int in : inputs) {
    if (!IsFloating(nodes_[in].dtype) && nodes_[in].dtype != DType::kI32) {
      return err(absl::StrCat("'", nodes_[in].name, "' is ", DTypeName(nodes_[in].dtype), " (expected a number type)"));
    }
  }
  const DType t = *attrs.dtype;
  const double hi = QuantMax(t), lo = t == DType::kI8 ? -128.0 : -hi;
  // x / scale in f32 (a bf16 quotient is not rounded before the cast: no intermediate is).
  TF_ASSIGN_OR_RETURN(const int xf, AddPointwise(absl::StrCat(name, ".x_f32"), PointwiseOp::kCast, {inputs[0]},
                                                 Attrs{.dtype = DType::kF32}));
  TF_ASSIGN_OR_RETURN(int v, AddPointwise(absl::StrCat(name, ".scaled"), PointwiseOp::kDiv, {xf, inputs[1]}));
  if (nodes_[v].dtype != DType::kF32) {
    TF_ASSIGN_OR_RETURN(v, AddPointwise(absl::StrCat(name, ".scaled_f32"), PointwiseOp::kCast, {v},
                                        Attrs{.dtype = DType::kF32}));
  }
  if (!(nodes_[v].shape == nodes_[inputs[0]].shape)) {
    return err(absl::StrCat("scale broadcasts '", nodes_[inputs[0]].name, "' ", ShapeText(inputs[0]), " to ",
                            ShapeText(v), " (expected it to broadcast to x's shape)"));
  }
  // Integers round half to even before the clamp (NaN then casts to 0); floats saturate at
  // the largest finite value and round in the cast (NaN stays NaN).
  if (t == DType::kI8) {
    TF_ASSIGN_OR_RETURN(v, AddPointwise(absl::StrCat(name, ".rounded"), PointwiseOp::kRound, {v}));
  }
  TF_ASSIGN_OR_RETURN(v, AddPointwise(absl::StrCat(name, ".saturated"), PointwiseOp::kClamp, {v},
                                      Attrs{.min = lo, .max = hi}));
  return AddPointwise(std::move(name), PointwiseOp::kCast, {v}, Attrs{.dtype = t});
}

}  // namespace tilefuse::internal
