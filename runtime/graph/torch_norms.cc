// PyTorch's norm spellings (runtime/graph/torch_norms.h), written with the graph's ops.
#include "runtime/graph/torch_norms.h"

#include "absl/strings/str_cat.h"
#include "runtime/graph/shape.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

// x in f32: PyTorch accumulates a 16-bit input's statistics in f32 and rounds once.
absl::StatusOr<int> InF32(Graph& g, const std::string& name, int x) {
  if (g.node(x).dtype == DType::kF32) return x;
  return g.AddPointwise(absl::StrCat(name, ".f32"), PointwiseOp::kCast, {x}, Attrs{.dtype = DType::kF32});
}

// `op`(a, b) named `name` in `dtype`: computed in f32, then cast where dtype is narrower.
absl::StatusOr<int> Last(Graph& g, const std::string& name, PointwiseOp op, std::vector<int> ins, DType dtype) {
  if (dtype == DType::kF32 || !IsFloating(dtype)) return g.AddPointwise(name, op, std::move(ins));
  TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(absl::StrCat(name, ".out"), op, std::move(ins)));
  return g.AddPointwise(name, PointwiseOp::kCast, {v}, Attrs{.dtype = dtype});
}

// A per-channel parameter [C] of x [N, C, ...] as [C, 1, ..., 1] (node `name`), broadcast
// over the rest.
absl::StatusOr<int> PerChannel(Graph& g, const std::string& name, int param, int x, const std::string& where) {
  const Shape& xs = g.node(x).shape;
  const Shape& ps = g.node(param).shape;
  if (ps.size() != 1 || !(ps[0] == xs[1])) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": parameter '", g.node(param).name, "' has shape ",
                                                   g.ShapeText(param), " (expected [C], C = dim 1 of '",
                                                   g.node(x).name, "' ", g.ShapeText(x), ")"));
  }
  Shape shape(xs.size() - 1, Dim::Static(1));
  shape[0] = ps[0];
  return g.AddView(name, ViewOp::kReshape, param, Attrs{.shape = shape});
}

// norm_p(x) over attrs' dims (all when none), keepdim as given, in f32: sqrt(sum(x^2)) for
// p = 2, sum(|x|) for 1, else sum(|x|^p)^(1/p).
absl::StatusOr<int> NormF32(Graph& g, const std::string& name, int xf, double p, const Attrs& attrs,
                            const std::string& where) {
  if (!(p > 0)) return absl::InvalidArgumentError(absl::StrCat(where, ": norm order p = ", p, " (expected > 0)"));
  Attrs red;
  red.dim = attrs.dim;
  red.dims = attrs.dims;
  red.keepdim = attrs.keepdim;
  if (p == 2) {
    TF_ASSIGN_OR_RETURN(const int sq, g.AddPointwise(absl::StrCat(name, ".sq"), PointwiseOp::kMul, {xf, xf}));
    TF_ASSIGN_OR_RETURN(const int s, g.AddReduce(absl::StrCat(name, ".sum"), ReduceOp::kSum, sq, red));
    return g.AddPointwise(absl::StrCat(name, ".norm"), PointwiseOp::kSqrt, {s});
  }
  TF_ASSIGN_OR_RETURN(const int a, g.AddPointwise(absl::StrCat(name, ".abs"), PointwiseOp::kAbs, {xf}));
  if (p == 1) return g.AddReduce(absl::StrCat(name, ".norm"), ReduceOp::kSum, a, red);
  TF_ASSIGN_OR_RETURN(const int e, g.AddScalar(p));
  TF_ASSIGN_OR_RETURN(const int ap, g.AddPointwise(absl::StrCat(name, ".pow"), PointwiseOp::kPow, {a, e}));
  TF_ASSIGN_OR_RETURN(const int s, g.AddReduce(absl::StrCat(name, ".sum"), ReduceOp::kSum, ap, red));
  TF_ASSIGN_OR_RETURN(const int inv, g.AddScalar(1.0 / p));
  return g.AddPointwise(absl::StrCat(name, ".norm"), PointwiseOp::kPow, {s, inv});
}

// F.group_norm(x, G, w, b, eps) (and F.instance_norm, G = C): x [N, C, *] viewed as
// [N, G, C / G * prod(*)], each row normalized in f32 with its biased variance (one row
// kernel), viewed back, the per-channel affine applied, rounded once.
absl::StatusOr<int> GroupNorm(Graph& g, const std::string& name, const std::vector<int>& ins, int64_t groups,
                              double eps, const std::string& where, const char* op) {
  const int x = ins[0];
  const Shape xs = g.node(x).shape;
  const auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": '", op, "' ", what));
  };
  if (xs.size() < 2) return bad(absl::StrCat("takes x of rank >= 2 ([N, C, ...]), got ", g.ShapeText(x)));
  if (!IsFloating(g.node(x).dtype)) return bad(absl::StrCat("takes a floating x, got ", DTypeName(g.node(x).dtype)));
  int64_t rest = 1;
  for (size_t i = 1; i < xs.size(); ++i) {
    if (!xs[i].is_static()) return bad(absl::StrCat("needs static dims past N, got ", g.ShapeText(x)));
    if (i > 1) rest *= xs[i].value;
  }
  const int64_t c = xs[1].value;
  if (groups <= 0 || c % groups != 0) {
    return bad(absl::StrCat("num_groups ", groups, " does not divide the ", c, " channels of ", g.ShapeText(x)));
  }
  TF_ASSIGN_OR_RETURN(const int xg, g.AddView(absl::StrCat(name, ".grouped"), ViewOp::kReshape, x,
                                               Attrs{.shape = Shape{xs[0], Dim::Static(groups),
                                                                    Dim::Static(c / groups * rest)}}));
  TF_ASSIGN_OR_RETURN(const int xf, InF32(g, name, xg));
  TF_ASSIGN_OR_RETURN(const int m, g.AddReduce(absl::StrCat(name, ".mean"), ReduceOp::kMean, xf,
                                               Attrs{.dim = -1, .keepdim = true}));
  TF_ASSIGN_OR_RETURN(const int v, g.AddReduce(absl::StrCat(name, ".var"), ReduceOp::kVar, xf,
                                               Attrs{.dim = -1, .keepdim = true, .correction = 0}));
  TF_ASSIGN_OR_RETURN(const int e, g.AddScalar(eps));
  TF_ASSIGN_OR_RETURN(const int ve, g.AddPointwise(absl::StrCat(name, ".var_eps"), PointwiseOp::kAdd, {v, e}));
  TF_ASSIGN_OR_RETURN(const int r, g.AddPointwise(absl::StrCat(name, ".rstd"), PointwiseOp::kRsqrt, {ve}));
  TF_ASSIGN_OR_RETURN(const int d, g.AddPointwise(absl::StrCat(name, ".centered"), PointwiseOp::kSub, {xf, m}));
  const DType dtype = g.node(x).dtype;
  if (ins.size() == 1) {
    TF_ASSIGN_OR_RETURN(const int n, Last(g, absl::StrCat(name, ".groups"), PointwiseOp::kMul, {d, r}, dtype));
    return g.AddView(name, ViewOp::kReshape, n, Attrs{.shape = xs});
  }
  TF_ASSIGN_OR_RETURN(const int n, g.AddPointwise(absl::StrCat(name, ".normed"), PointwiseOp::kMul, {d, r}));
  TF_ASSIGN_OR_RETURN(const int nb, g.AddView(absl::StrCat(name, ".norm"), ViewOp::kReshape, n, Attrs{.shape = xs}));
  TF_ASSIGN_OR_RETURN(const int w, PerChannel(g, absl::StrCat(name, ".weight"), ins[1], x, where));
  if (ins.size() == 2) return Last(g, name, PointwiseOp::kMul, {nb, w}, dtype);
  TF_ASSIGN_OR_RETURN(const int y, g.AddPointwise(absl::StrCat(name, ".scaled"), PointwiseOp::kMul, {nb, w}));
  TF_ASSIGN_OR_RETURN(const int b, PerChannel(g, absl::StrCat(name, ".bias"), ins[2], x, where));
  return Last(g, name, PointwiseOp::kAdd, {y, b}, dtype);
}

}  // namespace

absl::StatusOr<std::optional<int>> AddTorchNorm(Graph& g, const std::string& op, const std::string& name,
                                                const std::vector<int>& ins, const Attrs& attrs,
                                                const std::string& where) {
  const auto one = [&](const char* what) -> absl::Status {
    if (ins.size() == 1) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": '", op, "' takes 1 operand (", what, "), got ", ins.size()));
  };
  if (op == "group_norm" || op == "instance_norm") {
    if (ins.empty() || ins.size() > 3) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": '", op, "' takes 1 to 3 operands (x[, weight[, bias]]), got ",
                                                     ins.size()));
    }
    const bool instance = op == "instance_norm";
    if (!instance && !attrs.num_groups) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'group_norm' needs 'num_groups'"));
    }
    const Shape& xs = g.node(ins[0]).shape;
    const int64_t groups = instance ? (xs.size() >= 2 && xs[1].is_static() ? xs[1].value : 0) : *attrs.num_groups;
    TF_ASSIGN_OR_RETURN(const int v, GroupNorm(g, name, ins, groups, attrs.eps.value_or(1e-5), where, op.c_str()));
    return std::optional<int>(v);
  }
  if (op == "batch_norm") {
    // F.batch_norm in inference: the running statistics, per channel (dim 1).
    if (ins.size() < 3 || ins.size() > 5) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": 'batch_norm' takes 3 to 5 operands (x, running_mean, running_var[, weight[, bias]]), got ",
          ins.size()));
    }
    const int x = ins[0];
    if (g.node(x).shape.size() < 2 || !IsFloating(g.node(x).dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'batch_norm' takes a floating x of rank >= 2 ([N, C, ...]), got ",
                                                     DTypeName(g.node(x).dtype), " ", g.ShapeText(x)));
    }
    TF_ASSIGN_OR_RETURN(const int xf, InF32(g, name, x));
    TF_ASSIGN_OR_RETURN(const int mean, PerChannel(g, absl::StrCat(name, ".running_mean"), ins[1], x, where));
    TF_ASSIGN_OR_RETURN(const int var, PerChannel(g, absl::StrCat(name, ".running_var"), ins[2], x, where));
    TF_ASSIGN_OR_RETURN(const int e, g.AddScalar(attrs.eps.value_or(1e-5)));
    TF_ASSIGN_OR_RETURN(const int ve, g.AddPointwise(absl::StrCat(name, ".var_eps"), PointwiseOp::kAdd, {var, e}));
    TF_ASSIGN_OR_RETURN(const int r, g.AddPointwise(absl::StrCat(name, ".rstd"), PointwiseOp::kRsqrt, {ve}));
    TF_ASSIGN_OR_RETURN(const int d, g.AddPointwise(absl::StrCat(name, ".centered"), PointwiseOp::kSub, {xf, mean}));
    const DType dtype = g.node(x).dtype;
    if (ins.size() == 3) {
      TF_ASSIGN_OR_RETURN(const int v, Last(g, name, PointwiseOp::kMul, {d, r}, dtype));
      return std::optional<int>(v);
    }
    TF_ASSIGN_OR_RETURN(const int n, g.AddPointwise(absl::StrCat(name, ".normed"), PointwiseOp::kMul, {d, r}));
    TF_ASSIGN_OR_RETURN(const int w, PerChannel(g, absl::StrCat(name, ".weight"), ins[3], x, where));
    if (ins.size() == 4) {
      TF_ASSIGN_OR_RETURN(const int v, Last(g, name, PointwiseOp::kMul, {n, w}, dtype));
      return std::optional<int>(v);
    }
    TF_ASSIGN_OR_RETURN(const int y, g.AddPointwise(absl::StrCat(name, ".scaled"), PointwiseOp::kMul, {n, w}));
    TF_ASSIGN_OR_RETURN(const int b, PerChannel(g, absl::StrCat(name, ".bias"), ins[4], x, where));
    TF_ASSIGN_OR_RETURN(const int v, Last(g, name, PointwiseOp::kAdd, {y, b}, dtype));
    return std::optional<int>(v);
  }
  if (op == "vector_norm" || op == "norm") {
    // torch.linalg.vector_norm(x, ord, dim, keepdim) and x.norm(p, dim, keepdim): in f32,
    // in x's dtype.
    TF_RETURN_IF_ERROR(one("x"));
    if (!IsFloating(g.node(ins[0]).dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": '", op, "' takes a floating x, got ",
                                                     DTypeName(g.node(ins[0]).dtype)));
    }
    TF_ASSIGN_OR_RETURN(const int xf, InF32(g, name, ins[0]));
    TF_ASSIGN_OR_RETURN(const int n, NormF32(g, name, xf, attrs.p.value_or(2.0), attrs, where));
    TF_ASSIGN_OR_RETURN(const int v, g.AddPointwise(name, PointwiseOp::kCast, {n}, Attrs{.dtype = g.node(ins[0]).dtype}));
    return std::optional<int>(v);
  }
  if (op == "normalize") {
    // F.normalize(x, p=2, dim=1, eps=1e-12): x / max(norm_p(x, dim), eps).
    TF_RETURN_IF_ERROR(one("x"));
    if (!IsFloating(g.node(ins[0]).dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'normalize' takes a floating x, got ",
                                                     DTypeName(g.node(ins[0]).dtype)));
    }
    Attrs red;
    red.dim = attrs.dim.value_or(1);
    red.keepdim = true;
    TF_ASSIGN_OR_RETURN(const int xf, InF32(g, name, ins[0]));
    TF_ASSIGN_OR_RETURN(const int n, NormF32(g, name, xf, attrs.p.value_or(2.0), red, where));
    TF_ASSIGN_OR_RETURN(const int den, g.AddPointwise(absl::StrCat(name, ".den"), PointwiseOp::kClamp, {n},
                                                      Attrs{.min = attrs.eps.value_or(1e-12)}));
    TF_ASSIGN_OR_RETURN(const int v, Last(g, name, PointwiseOp::kDiv, {xf, den}, g.node(ins[0]).dtype));
    return std::optional<int>(v);
  }
  return std::optional<int>();
}

}  // namespace tilefuse::internal
