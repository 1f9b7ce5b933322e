// Shape and dtype inference for the structured nodes: tile kernels, reductions and views.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/graph/graph.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

absl::Status NodeError(absl::string_view name, absl::string_view op, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("node '", name, "' (", op, "): ", what));
}

// Views and reductions take tensors: a constant is a scalar folded into the expressions
// that read it, with no buffer to view or reduce.
absl::Status NotAConstant(const Node& x, absl::string_view name, absl::string_view op) {
  if (x.kind != NodeKind::kConstant) return absl::OkStatus();
  return NodeError(name, op, absl::StrCat("operand '", x.name, "' is the constant ", x.constant,
                                          " (expected a tensor; use the scalar directly)"));
}

// PyTorch's defaults: F.layer_norm's 1e-5; F.rms_norm's (eps=None) the input type's
// machine epsilon.
double DefaultNormEps(TileOp op, DType t) {
  if (op == TileOp::kLayerNorm) return 1e-5;
  return t == DType::kBF16 ? 0x1p-7 : t == DType::kF16 ? 0x1p-10 : 0x1p-23;
}

}  // namespace

absl::StatusOr<int> Graph::AddNormOpByOp(std::string name, TileOp op, std::vector<int> inputs, Attrs attrs) {
  const std::string kind(OpName(op));
  const Node& x = nodes_[inputs[0]];
  if (x.shape.empty()) return NodeError(name, kind, "operand must have rank >= 1");
  if (!IsTileFloat(x.dtype)) {
    return NodeError(name, kind, absl::StrCat("operand '", x.name, "' is ", DTypeName(x.dtype), " (expected f32, f16 or bf16)"));
  }
  DType dtype = x.dtype;
  const Dim last = x.shape.back();
  for (size_t i = 1; i < inputs.size(); ++i) {
    const Node& p = nodes_[inputs[i]];
    if (p.shape.size() != 1 || !(p.shape[0] == last) || !IsTileFloat(p.dtype)) {
      return NodeError(name, kind, absl::StrCat("parameter '", p.name, "' is ", DTypeName(p.dtype), " ", ShapeText(p.id),
                                                " (expected f32, f16 or bf16 ", ShapeString({last}, symbols_), ")"));
    }
    dtype = PromoteTypes(dtype, p.dtype);
  }
  const double eps = attrs.eps.value_or(DefaultNormEps(op, x.dtype));
  if (!(eps >= 0)) return NodeError(name, kind, absl::StrCat("eps ", eps, " is negative"));
  const auto at = [&](absl::string_view part) { return absl::StrCat(name, ".", part); };
  const Attrs rows{.dim = -1, .keepdim = true};
  int f = inputs[0];
  if (x.dtype != DType::kF32) {
    TF_ASSIGN_OR_RETURN(f, AddPointwise(at("f32"), PointwiseOp::kCast, {f}, Attrs{.dtype = DType::kF32}));
  }
  int centered = f;
  if (op == TileOp::kLayerNorm) {
    TF_ASSIGN_OR_RETURN(const int mean, AddReduce(at("mean"), ReduceOp::kMean, f, rows));
    TF_ASSIGN_OR_RETURN(centered, AddPointwise(at("centered"), PointwiseOp::kSub, {f, mean}));
  }
  TF_ASSIGN_OR_RETURN(const int sq, AddPointwise(at("square"), PointwiseOp::kMul, {centered, centered}));
  TF_ASSIGN_OR_RETURN(const int ms, AddReduce(at("meansq"), ReduceOp::kMean, sq, rows));
  TF_ASSIGN_OR_RETURN(const int e, AddScalar(eps));
  TF_ASSIGN_OR_RETURN(const int shifted, AddPointwise(at("eps"), PointwiseOp::kAdd, {ms, e}));
  TF_ASSIGN_OR_RETURN(const int r, AddPointwise(at("rsqrt"), PointwiseOp::kRsqrt, {shifted}));
  const bool last_step = inputs.size() == 1 && dtype == DType::kF32;
  TF_ASSIGN_OR_RETURN(int y, AddPointwise(last_step ? name : at("normed"), PointwiseOp::kMul, {centered, r}));
  for (size_t i = 1; i < inputs.size(); ++i) {
    const bool final = i + 1 == inputs.size() && dtype == DType::kF32;
    const std::string step = final ? name : at(i == 1 ? "weighted" : "biased");
    TF_ASSIGN_OR_RETURN(y, AddPointwise(step, i == 1 ? PointwiseOp::kMul : PointwiseOp::kAdd, {y, inputs[i]}));
  }
  if (dtype == DType::kF32) return y;
  return AddPointwise(std::move(name), PointwiseOp::kCast, {y}, Attrs{.dtype = dtype});
}

absl::StatusOr<int> Graph::AddTile(std::string name, TileOp op, std::vector<int> inputs,
                                   Attrs attrs) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, inputs));
  const auto err = [&](absl::string_view what) { return NodeError(name, OpName(op), what); };
  if (attrs.dtype) {
    // F.softmax(x, dim, dtype) and log_softmax: x cast to dtype first, as PyTorch does.
    if ((op != TileOp::kSoftmax && op != TileOp::kLogSoftmax) || inputs.size() != 1) {
      return err("only softmax and log_softmax take 'dtype' (x is cast to it first)");
    }
    TF_ASSIGN_OR_RETURN(const int x, AddPointwise(absl::StrCat(name, ".in"), PointwiseOp::kCast, inputs,
                                                  Attrs{.dtype = attrs.dtype}));
    attrs.dtype.reset();
    return AddTile(std::move(name), op, {x}, std::move(attrs));
  }
  const size_t want = op == TileOp::kMatmul      ? 2
                      : op == TileOp::kLayerNorm ? 3
                      : op == TileOp::kRmsNorm   ? 2
                                                 : 1;
  // rms_norm without its weight, layer_norm without its bias or both parameters
  // (F.layer_norm(x, shape, w) and elementwise_affine=False): the norm written op by op.
  const bool norm = op == TileOp::kRmsNorm || op == TileOp::kLayerNorm;
  if (norm && inputs.size() >= 2 && nodes_[inputs[1]].shape.size() > 1) {
    return AddNormOverTrailingDims(std::move(name), op, std::move(inputs), std::move(attrs));
  }
  if (norm && !inputs.empty() && inputs.size() < want) return AddNormOpByOp(std::move(name), op, inputs, attrs);
  // Rows wider than a row kernel holds: the norm op by op (a row kernel walking them in chunks).
  const bool wide = !inputs.empty() && !nodes_[inputs[0]].shape.empty() &&
                    nodes_[inputs[0]].shape.back().is_static() && nodes_[inputs[0]].shape.back().value > kMaxRowWidth;
  if (norm && wide && inputs.size() == want) return AddNormOpByOp(std::move(name), op, inputs, attrs);
  if (inputs.size() != want) {
    return err(absl::StrCat("takes ", want, " operands, got ", inputs.size(),
                            norm ? absl::StrCat(" (x then ", op == TileOp::kRmsNorm ? "an optional weight" : "an optional weight and bias", ")") : ""));
  }
  const Node& x = nodes_[inputs[0]];
  Shape shape = x.shape;
  DType dtype = x.dtype;
  if (!IsTileFloat(x.dtype)) {
    return err(absl::StrCat("operand '", x.name, "' is ", DTypeName(x.dtype), " (expected f32, f16 or bf16",
                            IsFloating(x.dtype) || x.dtype == DType::kI8 || x.dtype == DType::kI4
                                ? "; dequant or cast a low-precision operand first)"
                                : ")"));
  }
  if (op == TileOp::kLogSoftmax) return AddLogSoftmax(std::move(name), inputs[0], std::move(attrs));
  switch (op) {
    case TileOp::kMatmul: {
      const Node& w = nodes_[inputs[1]];
      // 2-D, or batched: equal leading dims (a broadcast batch is an expand view first).
      const size_t rank = x.shape.size();
      const bool batch_equal = rank == w.shape.size() && std::equal(x.shape.begin(), x.shape.end() - 2, w.shape.begin());
      if (rank < 2 || w.shape.size() < 2 || (rank > 2 && !batch_equal)) {
        return err(absl::StrCat("operands must be 2-D, or batched with equal leading dims, got ", ShapeText(x.id),
                                " and ", ShapeText(w.id), " (expected [M, K] x [K, N] or [..., M, K] x [..., K, N])"));
      }
      if (!(x.shape[rank - 1] == w.shape[rank - 2])) {
        return err(absl::StrCat("inner dims differ: '", x.name, "' ", ShapeText(x.id), " and '",
                                w.name, "' ", ShapeText(w.id), " (expected [..., M, K] x [..., K, N])"));
      }
      if (!IsTileFloat(w.dtype)) {
        return err(absl::StrCat("operand '", w.name, "' is ", DTypeName(w.dtype),
                                " (expected f32, f16 or bf16; dequant or cast a low-precision operand first)"));
      }
      if (w.dtype != x.dtype) {
        return err(absl::StrCat("operand dtypes differ: ", DTypeName(x.dtype), " and ",
                                DTypeName(w.dtype), " (expected equal; insert a cast)"));
      }
      shape = x.shape;
      shape.back() = w.shape.back();
      break;
    }
    case TileOp::kRmsNorm:
    case TileOp::kLayerNorm: {
      if (x.shape.empty()) return err("operand must have rank >= 1");
      for (size_t i = 1; i < inputs.size(); ++i) {
        const Node& p = nodes_[inputs[i]];
        if (p.shape.size() != 1 || !(p.shape[0] == x.shape.back())) {
          return err(absl::StrCat("parameter '", p.name, "' has shape ", ShapeText(p.id),
                                  " (expected ", ShapeString({x.shape.back()}, symbols_),
                                  " to match the last dim of '", x.name, "')"));
        }
        if (!IsTileFloat(p.dtype)) {
          return err(absl::StrCat("parameter '", p.name, "' is ", DTypeName(p.dtype),
                                  " (expected f32, f16 or bf16)"));
        }
        dtype = PromoteTypes(dtype, p.dtype);
      }
      if (!attrs.eps) attrs.eps = DefaultNormEps(op, x.dtype);
      if (!(*attrs.eps >= 0)) return err(absl::StrCat("eps ", *attrs.eps, " is negative"));
      break;
    }
    case TileOp::kSoftmax: {
      if (x.shape.empty()) return err("operand must have rank >= 1");
      auto axis = NormalizeAxis(attrs.dim.value_or(-1), static_cast<int>(x.shape.size()));
      if (!axis.ok()) return err(axis.status().message());
      if (*axis != static_cast<int>(x.shape.size()) - 1 || wide) {
        // Over another dim, or rows wider than a row kernel holds: exp(x - logsumexp(x)) in
        // f32 (log_softmax's lowering, then exp), reductions down that dim instead of a
        // row-wise tile.
        const DType type = x.dtype;
        const int in = inputs[0];
        TF_ASSIGN_OR_RETURN(const int lse, LogsumexpF32(absl::StrCat(name, ".lse"), in,
                                                        Attrs{.dim = *axis, .keepdim = true}, absl::StrCat(name, ".lse")));
        TF_ASSIGN_OR_RETURN(const int d, AddPointwise(absl::StrCat(name, ".shifted"), PointwiseOp::kSub, {in, lse}));
        if (type == DType::kF32) return AddPointwise(std::move(name), PointwiseOp::kExp, {d});
        TF_ASSIGN_OR_RETURN(const int e, AddPointwise(absl::StrCat(name, ".f32"), PointwiseOp::kExp, {d}));
        return AddPointwise(std::move(name), PointwiseOp::kCast, {e}, Attrs{.dtype = type});
      }
      attrs.dim = *axis;
      break;
    }
    case TileOp::kLogSoftmax:
      return absl::InternalError("log_softmax is lowered before it reaches here");
  }
  Node n;
  n.name = std::move(name);
  n.kind = NodeKind::kTile;
  n.tile = op;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  n.dtype = dtype;
  n.shape = std::move(shape);
  return Append(std::move(n));
}

absl::StatusOr<int> Graph::AddCustomTile(std::string name,
                                         std::shared_ptr<const CustomTileKernel> kernel,
                                         std::vector<int> inputs, Attrs attrs) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, inputs));
  if (kernel == nullptr) return NodeError(name, "custom", "no kernel given");
  const auto err = [&](absl::string_view what) { return NodeError(name, kernel->name, what); };
  if (inputs.size() != static_cast<size_t>(1 + kernel->num_params)) {
    return err(absl::StrCat("takes ", 1 + kernel->num_params, " operands, got ", inputs.size()));
  }
  const Node& x = nodes_[inputs[0]];
  if (x.shape.empty() || !IsFloating(x.dtype)) {
    return err(absl::StrCat("operand '", x.name, "' must be a floating tensor of rank >= 1"));
  }
  for (size_t i = 1; i < inputs.size(); ++i) {
    const Node& p = nodes_[inputs[i]];
    if (p.shape.size() != 1 || !(p.shape[0] == x.shape.back())) {
      return err(absl::StrCat("parameter '", p.name, "' has shape ", ShapeText(p.id), " (expected ",
                              ShapeString({x.shape.back()}, symbols_), ")"));
    }
  }
  Node n;
  n.name = std::move(name);
  n.kind = NodeKind::kTile;
  n.custom = std::move(kernel);
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  if (!n.attrs.eps) n.attrs.eps = 0;
  n.dtype = x.dtype;
  n.shape = x.shape;
  return Append(std::move(n));
}

absl::StatusOr<int> Graph::AddNormOverTrailingDims(std::string name, TileOp op, std::vector<int> inputs, Attrs attrs) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, inputs));
  const auto err = [&](absl::string_view what) { return NodeError(name, OpName(op), what); };
  const Shape x = nodes_[inputs[0]].shape;
  const Shape p = nodes_[inputs[1]].shape;
  const size_t k = p.size();
  if (x.size() < k) {
    return err(absl::StrCat("parameter '", nodes_[inputs[1]].name, "' has shape ", ShapeText(inputs[1]),
                            ", more dims than '", nodes_[inputs[0]].name, "' ", ShapeText(inputs[0])));
  }
  int64_t n = 1;
  for (size_t i = 0; i < k; ++i) {
    const Dim& d = x[x.size() - k + i];
    if (!d.is_static() || !(d == p[i])) {
      return err(absl::StrCat("parameter '", nodes_[inputs[1]].name, "' has shape ", ShapeText(inputs[1]),
                              " (expected the last ", k, " dims of '", nodes_[inputs[0]].name, "' ",
                              ShapeText(inputs[0]), ", static)"));
    }
    n *= d.value;
  }
  Shape flat(x.begin(), x.end() - static_cast<std::ptrdiff_t>(k));
  flat.push_back(Dim::Static(n));
  std::vector<int> merged;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int in = inputs[i];
    if (i > 0 && !(nodes_[in].shape == p)) {
      return err(absl::StrCat("parameter '", nodes_[in].name, "' has shape ", ShapeText(in), " (expected ",
                              ShapeText(inputs[1]), ", as '", nodes_[inputs[1]].name, "')"));
    }
    TF_ASSIGN_OR_RETURN(const int v, AddView(absl::StrCat(name, ".flat", i), ViewOp::kReshape, in,
                                             Attrs{.shape = i == 0 ? flat : Shape{Dim::Static(n)}}));
    merged.push_back(v);
  }
  TF_ASSIGN_OR_RETURN(const int y, AddTile(absl::StrCat(name, ".rows"), op, merged, attrs));
  return AddView(std::move(name), ViewOp::kReshape, y, Attrs{.shape = x});
}

// A reduction over several axes. Axes that are adjacent and static, of a value that is not
// a view, merge into one (a reshape, free for a computed value or an input): one kernel,
// any reduction. Otherwise one single-axis reduction per axis, last axis first (so that the
// others keep their positions), in fp32 between casts from and back to a narrower float
// input: one rounding, as PyTorch rounds once; a mean of equal-sized means is the mean, and
// var is the sum of squared deviations from the mean over every axis, divided by
// n - correction. Each runs as its own kernel (the first may fold into a tile kernel's
// store); the intermediate nodes are named NAME.dimD (NAME.merged and NAME.reduced where the
// axes merge, NAME.mean and NAME.ss for var).
absl::StatusOr<int> Graph::AddMultiAxisReduce(std::string name, ReduceOp op, int input, Attrs attrs) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, {input}));
  const auto err = [&](absl::string_view what) { return NodeError(name, OpName(op), what); };
  TF_RETURN_IF_ERROR(NotAConstant(nodes_[input], name, OpName(op)));
  if (op == ReduceOp::kArgmax || op == ReduceOp::kArgmin) {
    return err(absl::StrCat("reduces ", attrs.dims.size(), " axes (", OpName(op), " takes one dim, as in PyTorch)"));
  }
  if (op == ReduceOp::kVar && !IsFloating(nodes_[input].dtype)) {
    return err(absl::StrCat("operand '", nodes_[input].name, "' is ", DTypeName(nodes_[input].dtype),
                            " (expected a floating dtype, as torch.var does)"));
  }
  const Shape x = nodes_[input].shape;
  const int rank = static_cast<int>(x.size());
  std::vector<int> axes;
  for (int d : attrs.dims) {
    auto a = NormalizeAxis(d, rank);
    if (!a.ok()) return err(a.status().message());
    if (std::find(axes.begin(), axes.end(), *a) != axes.end()) return err(absl::StrCat("dim ", *a, " appears twice"));
    axes.push_back(*a);
  }
  std::sort(axes.begin(), axes.end());
  Shape kept = x;  // the result with keepdim
  int64_t n = 1;   // elements per output, where every reduced axis is static
  bool all_static = true;
  for (int a : axes) {
    kept[a] = Dim::Static(1);
    all_static &= x[a].is_static();
    if (x[a].is_static()) n *= x[a].value;
  }
  Attrs one = attrs;
  one.dims.clear();
  if (axes.back() - axes.front() + 1 == static_cast<int>(axes.size()) && all_static &&
      nodes_[input].kind != NodeKind::kView) {
    Shape merged(x.begin(), x.begin() + axes.front());
    merged.push_back(Dim::Static(n));
    merged.insert(merged.end(), x.begin() + axes.back() + 1, x.end());
    TF_ASSIGN_OR_RETURN(const int m, AddView(absl::StrCat(name, ".merged"), ViewOp::kReshape, input,
                                             Attrs{.shape = merged}));
    one.dim = axes.front();
    if (!attrs.keepdim) return AddReduce(std::move(name), op, m, one);
    TF_ASSIGN_OR_RETURN(const int r, AddReduce(absl::StrCat(name, ".reduced"), op, m, one));
    return AddView(std::move(name), ViewOp::kReshape, r, Attrs{.shape = kept});
  }
  const DType dtype = nodes_[input].dtype;
  const bool widen = IsFloating(dtype) && dtype != DType::kF32;
  int cur = input;
  if (widen) {
    TF_ASSIGN_OR_RETURN(cur, AddPointwise(absl::StrCat(name, ".f32"), PointwiseOp::kCast, {cur},
                                          Attrs{.dtype = DType::kF32}));
  }
  if (op == ReduceOp::kVar) {
    const int64_t correction = attrs.correction.value_or(1);
    if (!all_static) {
      return err(absl::StrCat("var over axes of ", ShapeText(input),
                              " that are not adjacent and static: its count must be known (reduce fewer axes, or "
                              "make them adjacent)"));
    }
    Attrs mean;
    mean.dims = axes;
    mean.keepdim = true;
    TF_ASSIGN_OR_RETURN(const int m, AddMultiAxisReduce(absl::StrCat(name, ".mean"), ReduceOp::kMean, cur, mean));
    TF_ASSIGN_OR_RETURN(const int d, AddPointwise(absl::StrCat(name, ".dev"), PointwiseOp::kSub, {cur, m}));
    TF_ASSIGN_OR_RETURN(const int d2, AddPointwise(absl::StrCat(name, ".dev2"), PointwiseOp::kMul, {d, d}));
    Attrs sum = mean;
    sum.keepdim = attrs.keepdim;
    TF_ASSIGN_OR_RETURN(const int ss, AddMultiAxisReduce(absl::StrCat(name, ".ss"), ReduceOp::kSum, d2, sum));
    // PyTorch: n - correction <= 0 divides by zero (inf or nan), as here.
    TF_ASSIGN_OR_RETURN(const int c, AddScalar(1.0 / static_cast<double>(n - correction)));
    if (!widen) return AddPointwise(std::move(name), PointwiseOp::kMul, {ss, c});
    TF_ASSIGN_OR_RETURN(cur, AddPointwise(absl::StrCat(name, ".var"), PointwiseOp::kMul, {ss, c}));
    return AddPointwise(std::move(name), PointwiseOp::kCast, {cur}, Attrs{.dtype = dtype});
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    const int a = axes[axes.size() - 1 - i];  // last axis first
    Attrs single;
    single.dim = a;
    single.keepdim = attrs.keepdim;
    const bool last = i + 1 == axes.size() && !widen;
    TF_ASSIGN_OR_RETURN(cur, AddReduce(last ? name : absl::StrCat(name, ".dim", a), op, cur, single));
  }
  if (widen) {
    TF_ASSIGN_OR_RETURN(cur, AddPointwise(name, PointwiseOp::kCast, {cur}, Attrs{.dtype = dtype}));
  }
  return cur;
}

// logsumexp in ops tilefuse has, computed in f32 and rounded once to a narrower float
// input's dtype: s = amax(x) (exact in x's dtype) with an infinite max replaced by 0 (a row
// of -inf gives -inf, not NaN, as torch.logsumexp does), widened to f32, then
// log(sum(exp(x - s))) + s. x itself is read as it is (x - s is f32 by promotion), so no
// widened copy of it is stored. The intermediate nodes are named NAME.max, NAME.shift,
// NAME.sum and so on.
absl::StatusOr<int> Graph::LogsumexpF32(const std::string& name, int input, const Attrs& attrs,
                                        std::string result_name) {
  const auto part = [&](absl::string_view what) { return absl::StrCat(name, ".", what); };
  const int x = input;
  Attrs keep = attrs;
  keep.keepdim = true;
  TF_ASSIGN_OR_RETURN(const int m, AddReduce(part("max"), ReduceOp::kAmax, x, keep));
  TF_ASSIGN_OR_RETURN(const int abs_m, AddPointwise(part("absmax"), PointwiseOp::kAbs, {m}));
  TF_ASSIGN_OR_RETURN(const int inf, AddScalar(INFINITY, DType::kF32));
  TF_ASSIGN_OR_RETURN(const int infinite, AddPointwise(part("infinite"), PointwiseOp::kEq, {abs_m, inf}));
  TF_ASSIGN_OR_RETURN(const int zero, AddScalar(0.0, DType::kF32));
  TF_ASSIGN_OR_RETURN(int s, AddPointwise(part("shift"), PointwiseOp::kWhere, {infinite, zero, m}));
  if (nodes_[s].dtype != DType::kF32) {
    TF_ASSIGN_OR_RETURN(s, AddPointwise(part("shift_f32"), PointwiseOp::kCast, {s}, Attrs{.dtype = DType::kF32}));
  }
  TF_ASSIGN_OR_RETURN(const int centered, AddPointwise(part("centered"), PointwiseOp::kSub, {x, s}));
  TF_ASSIGN_OR_RETURN(const int e, AddPointwise(part("exp"), PointwiseOp::kExp, {centered}));
  TF_ASSIGN_OR_RETURN(const int t, AddReduce(part("sum"), ReduceOp::kSum, e, attrs));
  TF_ASSIGN_OR_RETURN(const int l, AddPointwise(part("log"), PointwiseOp::kLog, {t}));
  int shift = s;
  if (!attrs.keepdim) {
    TF_ASSIGN_OR_RETURN(shift, AddView(part("shift_squeezed"), ViewOp::kReshape, s, Attrs{.shape = nodes_[t].shape}));
  }
  return AddPointwise(std::move(result_name), PointwiseOp::kAdd, {l, shift});
}

absl::StatusOr<int> Graph::AddLogsumexp(std::string name, int input, Attrs attrs) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, {input}));
  TF_RETURN_IF_ERROR(NotAConstant(nodes_[input], name, "logsumexp"));
  const DType in_dtype = nodes_[input].dtype;
  const DType out_dtype = IsFloating(in_dtype) ? in_dtype : DType::kF32;
  if (out_dtype == DType::kF32) return LogsumexpF32(name, input, attrs, name);
  TF_ASSIGN_OR_RETURN(const int r, LogsumexpF32(name, input, attrs, absl::StrCat(name, ".result")));
  return AddPointwise(std::move(name), PointwiseOp::kCast, {r}, Attrs{.dtype = out_dtype});
}

// log_softmax(x, dim) = x - logsumexp(x, dim, keepdim), the subtraction in f32 and rounded
// once to x's dtype; any dim (default the last). Nodes NAME.lse.max and so on.
absl::StatusOr<int> Graph::AddLogSoftmax(std::string name, int input, Attrs attrs) {
  const Node& x = nodes_[input];
  if (x.shape.empty()) return NodeError(name, "log_softmax", "operand must have rank >= 1");
  auto axis = NormalizeAxis(attrs.dim.value_or(-1), static_cast<int>(x.shape.size()));
  if (!axis.ok()) return NodeError(name, "log_softmax", axis.status().message());
  const DType dtype = x.dtype;
  TF_ASSIGN_OR_RETURN(const int lse, LogsumexpF32(absl::StrCat(name, ".lse"), input,
                                                  Attrs{.dim = *axis, .keepdim = true}, absl::StrCat(name, ".lse")));
  if (dtype == DType::kF32) return AddPointwise(std::move(name), PointwiseOp::kSub, {input, lse});
  TF_ASSIGN_OR_RETURN(const int d, AddPointwise(absl::StrCat(name, ".f32"), PointwiseOp::kSub, {input, lse}));
  return AddPointwise(std::move(name), PointwiseOp::kCast, {d}, Attrs{.dtype = dtype});
}

absl::StatusOr<int> Graph::AddReduce(std::string name, ReduceOp op, int input, Attrs attrs) {
  if (attrs.dtype) {
    // torch.sum / mean / prod(x, dim, dtype=...): x cast to dtype first, as PyTorch does.
    if (op != ReduceOp::kSum && op != ReduceOp::kMean && op != ReduceOp::kProd) {
      return NodeError(name, OpName(op), "only sum, mean and prod take 'dtype' (x is cast to it first)");
    }
    TF_RETURN_IF_ERROR(CheckNewNode(name, {input}));
    TF_ASSIGN_OR_RETURN(const int x, AddPointwise(absl::StrCat(name, ".in"), PointwiseOp::kCast, {input},
                                                  Attrs{.dtype = attrs.dtype}));
    attrs.dtype.reset();
    return AddReduce(std::move(name), op, x, std::move(attrs));
  }
  if (op == ReduceOp::kLogsumexp) return AddLogsumexp(std::move(name), input, std::move(attrs));
  if (attrs.dims.size() > 1) return AddMultiAxisReduce(std::move(name), op, input, std::move(attrs));
  TF_RETURN_IF_ERROR(CheckNewNode(name, {input}));
  const auto err = [&](absl::string_view what) { return NodeError(name, OpName(op), what); };
  const Node& x = nodes_[input];
  TF_RETURN_IF_ERROR(NotAConstant(x, name, OpName(op)));
  const int rank = static_cast<int>(x.shape.size());
  Shape shape;
  if (attrs.dim) {
    auto axis = NormalizeAxis(*attrs.dim, rank);
    if (!axis.ok()) return err(axis.status().message());
    attrs.dim = *axis;
    for (int i = 0; i < rank; ++i) {
      if (i != *axis) {
        shape.push_back(x.shape[i]);
      } else if (attrs.keepdim) {
        shape.push_back(Dim::Static(1));
      }
    }
  } else if (attrs.keepdim) {
    shape.assign(rank, Dim::Static(1));
  }
  DType dtype = x.dtype;
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kProd:
      if (!IsFloating(x.dtype)) dtype = DType::kI32;  // PyTorch gives int64; tilefuse has i32
      break;
    case ReduceOp::kMean:
    case ReduceOp::kVar:
      if (!IsFloating(x.dtype)) {
        return err(absl::StrCat("operand '", x.name, "' is ", DTypeName(x.dtype), " (expected a floating dtype, as torch.",
                                OpName(op), " does)"));
      }
      break;
    case ReduceOp::kArgmax:
    case ReduceOp::kArgmin:
      dtype = DType::kI32;
      break;
    case ReduceOp::kAmax:
    case ReduceOp::kAmin:
      break;
    case ReduceOp::kLogsumexp:
      return absl::InternalError("logsumexp is lowered before it reaches here");
  }
  Node n;
  n.name = std::move(name);
  n.kind = NodeKind::kReduce;
  n.reduce = op;
  n.inputs = {input};
  n.attrs = std::move(attrs);
  n.dtype = dtype;
  n.shape = std::move(shape);
  return Append(std::move(n));
}

// The shape of a permute, slice, narrow, select, expand or flip of `x`, with `attrs`
// normalized (axes and positions non-negative, slice's end and step filled in).
absl::StatusOr<Shape> Graph::ViewShape(const std::string& name, ViewOp op, const Node& x, Attrs& attrs) const {
  const auto err = [&](absl::string_view what) { return NodeError(name, OpName(op), what); };
  const int rank = static_cast<int>(x.shape.size());
  Shape shape = x.shape;
  const auto axis = [&](int a) -> absl::StatusOr<int> {
    auto n = NormalizeAxis(a, rank);
    if (!n.ok()) return err(n.status().message());
    return *n;
  };
  // Unique, normalized axes (permute: all of them, in the new order).
  const auto axes = [&](bool all) -> absl::Status {
    std::vector<bool> seen(rank, false);
    for (int& a : attrs.dims) {
      TF_ASSIGN_OR_RETURN(a, axis(a));
      if (seen[a]) return err(absl::StrCat("dim ", a, " appears twice in 'dims'"));
      seen[a] = true;
    }
    if (all && static_cast<int>(attrs.dims.size()) != rank) {
      return err(absl::StrCat("'dims' names ", attrs.dims.size(), " axes of ", ShapeText(x.id), " (expected all ",
                              rank, ")"));
    }
    return absl::OkStatus();
  };
  // The static size of axis `d`, for positions counted from its end.
  const auto static_size = [&](int d) -> absl::StatusOr<int64_t> {
    if (!x.shape[d].is_static()) {
      return err(absl::StrCat("dim ", d, " of ", ShapeText(x.id), " is symbolic (expected a static size to index)"));
    }
    return x.shape[d].value;
  };
  switch (op) {
    case ViewOp::kPermute:
      TF_RETURN_IF_ERROR(axes(true));
      for (int i = 0; i < rank; ++i) shape[i] = x.shape[attrs.dims[i]];
      return shape;
    case ViewOp::kFlip:
      if (attrs.dims.empty()) return err("needs 'dims'");
      TF_RETURN_IF_ERROR(axes(false));
      return shape;
    case ViewOp::kSlice:
    case ViewOp::kNarrow: {
      if (!attrs.dim) return err("needs 'dim'");
      TF_ASSIGN_OR_RETURN(const int d, axis(*attrs.dim));
      attrs.dim = d;
      const int64_t step = attrs.step.value_or(1);
      if (step < 1) return err(absl::StrCat("step ", step, " (expected a positive step)"));
      if (op == ViewOp::kSlice && x.shape[d].is_static() == false && attrs.start.value_or(0) == 0 && !attrs.end &&
          step == 1) {
        attrs.start = 0;
        attrs.step = 1;
        return shape;  // the whole of a symbolic axis
      }
      TF_ASSIGN_OR_RETURN(const int64_t size, static_size(d));
      int64_t start = attrs.start.value_or(0), end;
      if (op == ViewOp::kNarrow) {
        if (!attrs.start || !attrs.length) return err("needs 'start' and 'length'");
        if (start < 0) start += size;
        if (start < 0 || *attrs.length < 0 || start + *attrs.length > size) {
          return err(absl::StrCat("start ", *attrs.start, " and length ", *attrs.length, " leave dim ", d,
                                  " of size ", size));
        }
        end = start + *attrs.length;
      } else {
        // Python's slice rules: negative positions count from the end; both are clamped.
        end = attrs.end.value_or(size);
        if (start < 0) start += size;
        if (end < 0) end += size;
        start = std::clamp<int64_t>(start, 0, size);
        end = std::clamp<int64_t>(end, start, size);
      }
      attrs.start = start;
      attrs.end = end;
      attrs.step = step;
      shape[d] = Dim::Static((end - start + step - 1) / step);
      return shape;
    }
    case ViewOp::kSelect: {
      if (!attrs.dim || !attrs.index) return err("needs 'dim' and 'index'");
      TF_ASSIGN_OR_RETURN(const int d, axis(*attrs.dim));
      TF_ASSIGN_OR_RETURN(const int64_t size, static_size(d));
      int64_t index = *attrs.index < 0 ? *attrs.index + size : *attrs.index;
      if (index < 0 || index >= size) {
        return err(absl::StrCat("index ", *attrs.index, " is out of range for dim ", d, " of size ", size));
      }
      attrs.dim = d;
      attrs.index = index;
      shape.erase(shape.begin() + d);
      return shape;
    }
    case ViewOp::kExpand: {
      if (!attrs.shape) return err("needs 'shape'");
      const Shape& target = *attrs.shape;
      if (target.size() < x.shape.size()) {
        return err(absl::StrCat("shape ", ShapeString(target, symbols_), " has fewer dims than ", ShapeText(x.id)));
      }
      const size_t lead = target.size() - x.shape.size();
      shape = target;
      for (size_t i = 0; i < target.size(); ++i) {
        const bool keep = target[i].is_static() && target[i].value == -1;
        if (i < lead) {
          if (keep || (target[i].is_static() && target[i].value < 0)) {
            return err(absl::StrCat("new leading dim ", i, " is ", target[i].value, " (expected a size)"));
          }
          continue;
        }
        const Dim& have = x.shape[i - lead];
        if (keep) {
          shape[i] = have;
        } else if (!(target[i] == have) && !have.is_one()) {
          return err(absl::StrCat("cannot expand dim ", i - lead, " of ", ShapeText(x.id), " to ",
                                  ShapeString(target, symbols_), " (only size-1 dims expand)"));
        } else if (target[i].is_static() && target[i].value < 0) {
          return err(absl::StrCat("dim ", target[i].value, " is negative"));
        }
      }
      if (!StaticNumelFits(shape)) return err("the expanded shape has more than 2^48 elements");
      attrs.shape = shape;
      return shape;
    }
    case ViewOp::kTranspose:
    case ViewOp::kReshape:
      break;
  }
  return err("is not a view of this kind");
}

absl::StatusOr<int> Graph::AddView(std::string name, ViewOp op, int input, Attrs attrs) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, {input}));
  const auto err = [&](absl::string_view what) { return NodeError(name, OpName(op), what); };
  const Node& x = nodes_[input];
  TF_RETURN_IF_ERROR(NotAConstant(x, name, OpName(op)));
  const int rank = static_cast<int>(x.shape.size());
  Shape shape = x.shape;
  if (op == ViewOp::kTranspose) {
    if (!attrs.dim0 || !attrs.dim1) return err("needs 'dim0' and 'dim1'");
    auto a = NormalizeAxis(*attrs.dim0, rank);
    if (!a.ok()) return err(a.status().message());
    auto b = NormalizeAxis(*attrs.dim1, rank);
    if (!b.ok()) return err(b.status().message());
    attrs.dim0 = *a;
    attrs.dim1 = *b;
    std::swap(shape[*a], shape[*b]);
  } else if (op != ViewOp::kReshape) {
    TF_ASSIGN_OR_RETURN(shape, ViewShape(name, op, x, attrs));
  } else {
    if (!attrs.shape) return err("needs 'shape'");
    shape = *attrs.shape;
    Shape known_dims = shape;  // the -1 left out: a sum that overflows is refused before it is formed
    std::erase_if(known_dims, [](const Dim& d) { return d.is_static() && d.value == -1; });
    if (!StaticNumelFits(known_dims)) {
      return err(absl::StrCat("shape ", ShapeString(known_dims, symbols_), " has a negative dim or more than 2^",
                              kMaxNumelLog2, " elements"));
    }
    // A single -1 is inferred, as in torch.reshape.
    int infer = -1;
    SizeExpr known;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i].is_static() && shape[i].value == -1) {
        if (infer >= 0) return err("more than one dim is -1");
        infer = static_cast<int>(i);
      } else if (shape[i].is_static() && shape[i].value < 0) {
        return err(absl::StrCat("dim ", shape[i].value, " is negative"));
      } else {
        known = known * SizeExpr::Of(shape[i]);
      }
    }
    const SizeExpr total = Numel(x.shape);
    if (infer >= 0) {
      std::vector<int> rest = total.symbols;
      bool ok = known.constant != 0 && total.constant % known.constant == 0;
      for (int s : known.symbols) {
        auto it = std::find(rest.begin(), rest.end(), s);
        if (it == rest.end()) {
          ok = false;
          break;
        }
        rest.erase(it);
      }
      if (!ok || rest.size() > 1) {
        return err(absl::StrCat("cannot infer the -1 dim of ", ShapeString(shape, symbols_),
                                " from ", ShapeText(x.id)));
      }
      shape[infer] = rest.empty() ? Dim::Static(total.constant / known.constant)
                                  : (total.constant == known.constant ? Dim::Sym(rest[0])
                                                                      : Dim::Static(-1));
      if (shape[infer].is_static() && shape[infer].value < 0) {
        return err(absl::StrCat("cannot infer the -1 dim of ", ShapeString(shape, symbols_),
                                " from ", ShapeText(x.id)));
      }
    } else if (!(known == total)) {
      return err(absl::StrCat("shape ", ShapeString(shape, symbols_), " does not have the ",
                              "element count of '", x.name, "' ", ShapeText(x.id)));
    }
    attrs.shape = shape;
  }
  if (shape.size() > kMaxRank) return err(absl::StrCat("rank exceeds ", kMaxRank));
  Node n;
  n.name = std::move(name);
  n.kind = NodeKind::kView;
  n.view = op;
  n.inputs = {input};
  n.attrs = std::move(attrs);
  n.dtype = x.dtype;
  n.shape = std::move(shape);
  return Append(std::move(n));
}

absl::Status Graph::AddOutput(int id) {
  if (id < 0 || id >= static_cast<int>(nodes_.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("output id ", id, " does not name a node (the graph has ", nodes_.size(),
                     " nodes)"));
  }
  if (nodes_[id].kind == NodeKind::kConstant) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output '", nodes_[id].name, "' is a constant (expected a tensor value)"));
  }
  outputs_.push_back(id);
  return absl::OkStatus();
}

}  // namespace tilefuse::internal
