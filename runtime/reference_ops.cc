#include "runtime/reference_ops.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/tf_math.cuh"

namespace tilefuse::internal {

Scalar FromDouble(double v, DType t) {
  Scalar s;
  switch (ComputeKindOf(t)) {
    case ComputeKind::kFloat: s.f = static_cast<float>(v); break;
    case ComputeKind::kInt: s.i = static_cast<int>(v); break;
    case ComputeKind::kBool: s.i = v != 0; break;
  }
  return s;
}

// Converts between compute kinds exactly as codegen's ConvertKind does.
Scalar Convert(Scalar s, DType from, DType to) {
  const ComputeKind a = ComputeKindOf(from), b = ComputeKindOf(to);
  if (a == b) return s;
  Scalar r;
  if (b == ComputeKind::kFloat) r.f = a == ComputeKind::kBool ? (s.i ? 1.0f : 0.0f) : static_cast<float>(s.i);
  else if (b == ComputeKind::kInt) r.i = a == ComputeKind::kFloat ? tf::to_int(s.f) : s.i;
  else r.i = a == ComputeKind::kFloat ? (s.f != 0.0f) : (s.i != 0);
  return r;
}

absl::StatusOr<Scalar> ApplyPointwise(PointwiseOp op, const Attrs& attrs, DType dtype, const Scalar* a,
                                      DType operand) {
  const bool is_int = ComputeKindOf(dtype) == ComputeKind::kInt;
  // Comparisons: of floats or of ints (OperandDType), a bool result.
  const bool cmp_float = ComputeKindOf(operand) == ComputeKind::kFloat;
  const auto compare = [&](auto f_cmp, auto i_cmp) { return cmp_float ? f_cmp(a[0].f, a[1].f) : i_cmp(a[0].i, a[1].i); };
  Scalar r;
  float& f = r.f;
  int& i = r.i;
  switch (op) {
    case PointwiseOp::kNeg: if (is_int) i = tf::neg_i(a[0].i); else f = -a[0].f; break;
    case PointwiseOp::kAbs: if (is_int) i = tf::abs_i(a[0].i); else f = std::fabs(a[0].f); break;
    case PointwiseOp::kRelu: if (is_int) i = tf::relu_i(a[0].i); else f = tf::relu_f(a[0].f); break;
    case PointwiseOp::kGelu:
      f = attrs.approximate.value_or("none") == "tanh" ? tf::gelu_tanh(a[0].f) : tf::gelu_erf(a[0].f);
      break;
    case PointwiseOp::kSilu: f = tf::silu_f(a[0].f); break;
    case PointwiseOp::kSigmoid: f = tf::sigmoid_f(a[0].f); break;
    case PointwiseOp::kTanh: f = tanhf(a[0].f); break;
    case PointwiseOp::kExp: f = expf(a[0].f); break;
    case PointwiseOp::kLog: f = logf(a[0].f); break;
    case PointwiseOp::kSqrt: f = sqrtf(a[0].f); break;
    case PointwiseOp::kRsqrt: f = tf::rsqrt_f(a[0].f); break;
    case PointwiseOp::kLog1p: f = log1pf(a[0].f); break;
    case PointwiseOp::kExpm1: f = expm1f(a[0].f); break;
    case PointwiseOp::kErf: f = erff(a[0].f); break;
    case PointwiseOp::kSin: f = sinf(a[0].f); break;
    case PointwiseOp::kCos: f = cosf(a[0].f); break;
    case PointwiseOp::kExp2: f = exp2f(a[0].f); break;
    case PointwiseOp::kLog2: f = log2f(a[0].f); break;
    case PointwiseOp::kLog10: f = log10f(a[0].f); break;
    case PointwiseOp::kTan: f = tanf(a[0].f); break;
    case PointwiseOp::kAtan: f = atanf(a[0].f); break;
    case PointwiseOp::kAsin: f = asinf(a[0].f); break;
    case PointwiseOp::kAcos: f = acosf(a[0].f); break;
    case PointwiseOp::kSinh: f = sinhf(a[0].f); break;
    case PointwiseOp::kCosh: f = coshf(a[0].f); break;
    case PointwiseOp::kReciprocal: f = 1.0f / a[0].f; break;
    case PointwiseOp::kSoftplus:
      f = tf::softplus_f(a[0].f, static_cast<float>(attrs.beta.value_or(1.0)),
                         static_cast<float>(attrs.threshold.value_or(20.0)));
      break;
    case PointwiseOp::kLeakyRelu: f = tf::leaky_relu_f(a[0].f, static_cast<float>(attrs.negative_slope.value_or(0.01))); break;
    case PointwiseOp::kElu: f = tf::elu_f(a[0].f, static_cast<float>(attrs.alpha.value_or(1.0))); break;
    case PointwiseOp::kHardswish: f = tf::hardswish_f(a[0].f); break;
    case PointwiseOp::kHardsigmoid: f = tf::hardsigmoid_f(a[0].f); break;
    case PointwiseOp::kMish: f = tf::mish_f(a[0].f); break;
    case PointwiseOp::kFloor: if (is_int) i = a[0].i; else f = floorf(a[0].f); break;
    case PointwiseOp::kCeil: if (is_int) i = a[0].i; else f = ceilf(a[0].f); break;
    case PointwiseOp::kRound: if (is_int) i = a[0].i; else f = rintf(a[0].f); break;
    case PointwiseOp::kTrunc: if (is_int) i = a[0].i; else f = truncf(a[0].f); break;
    case PointwiseOp::kSign: if (is_int) i = tf::sign_i(a[0].i); else f = tf::sign_f(a[0].f); break;
    case PointwiseOp::kSquare: if (is_int) i = tf::mul_i(a[0].i, a[0].i); else f = a[0].f * a[0].f; break;
    case PointwiseOp::kLogicalNot: i = !a[0].i; break;
    case PointwiseOp::kLogicalAnd: i = a[0].i && a[1].i; break;
    case PointwiseOp::kLogicalOr: i = a[0].i || a[1].i; break;
    case PointwiseOp::kEq: i = compare([](float x, float y) { return x == y; }, [](int x, int y) { return x == y; }); break;
    case PointwiseOp::kNe: i = compare([](float x, float y) { return x != y; }, [](int x, int y) { return x != y; }); break;
    case PointwiseOp::kLt: i = compare([](float x, float y) { return x < y; }, [](int x, int y) { return x < y; }); break;
    case PointwiseOp::kLe: i = compare([](float x, float y) { return x <= y; }, [](int x, int y) { return x <= y; }); break;
    case PointwiseOp::kGt: i = compare([](float x, float y) { return x > y; }, [](int x, int y) { return x > y; }); break;
    case PointwiseOp::kGe: i = compare([](float x, float y) { return x >= y; }, [](int x, int y) { return x >= y; }); break;
    case PointwiseOp::kCast:
      r = a[0];
      if (dtype == DType::kBF16) f = tf::round_bf16(f);
      if (dtype == DType::kF16) f = tf::round_half(f);
      if (dtype == DType::kF8E4M3) f = tf::round_f8e4m3(f);
      if (dtype == DType::kF8E5M2) f = tf::round_f8e5m2(f);
      if (dtype == DType::kI8) i = tf::wrap_i8(i);
      if (dtype == DType::kI4) i = tf::wrap_i4(i);
      break;
    case PointwiseOp::kClamp:
      r = a[0];
      if (is_int) {
        if (attrs.min) i = tf::max_i(i, static_cast<int>(*attrs.min));
        if (attrs.max) i = tf::min_i(i, static_cast<int>(*attrs.max));
      } else {
        if (attrs.min) f = tf::max_f(f, static_cast<float>(*attrs.min));
        if (attrs.max) f = tf::min_f(f, static_cast<float>(*attrs.max));
      }
      break;
    case PointwiseOp::kAdd: if (is_int) i = tf::add_i(a[0].i, a[1].i); else f = a[0].f + a[1].f; break;
    case PointwiseOp::kSub: if (is_int) i = tf::sub_i(a[0].i, a[1].i); else f = a[0].f - a[1].f; break;
    case PointwiseOp::kMul: if (is_int) i = tf::mul_i(a[0].i, a[1].i); else f = a[0].f * a[1].f; break;
    case PointwiseOp::kDiv: f = a[0].f / a[1].f; break;
    case PointwiseOp::kMaximum: if (is_int) i = tf::max_i(a[0].i, a[1].i); else f = tf::max_f(a[0].f, a[1].f); break;
    case PointwiseOp::kMinimum: if (is_int) i = tf::min_i(a[0].i, a[1].i); else f = tf::min_f(a[0].f, a[1].f); break;
    case PointwiseOp::kPow: if (is_int) i = tf::pow_i(a[0].i, a[1].i); else f = powf(a[0].f, a[1].f); break;
    case PointwiseOp::kWhere: r = a[0].i ? a[1] : a[2]; break;
    default:
      return absl::UnimplementedError(
          absl::StrCat("reference does not handle op '", OpName(op), "'"));
  }
  return r;
}

float ReduceValues(int op, int64_t n, const std::function<float(int64_t)>& at, int correction) {
  if (op == 5) {
    double mean = 0, m2 = 0;
    for (int64_t r = 0; r < n; ++r) mean += at(r);
    mean /= static_cast<double>(n);
    for (int64_t r = 0; r < n; ++r) m2 += (at(r) - mean) * (at(r) - mean);
    return static_cast<float>(m2 / static_cast<double>(n - correction));
  }
  if (op == 4 || op == 7) {
    // argmax / argmin: the first index of the largest / smallest value; a NaN wins both.
    float best = 0;
    int64_t idx = n;
    for (int64_t r = 0; r < n; ++r) {
      const float v = at(r);
      const bool vn = v != v, bn = best != best;
      const bool better = op == 4 ? v > best : v < best;
      if (idx == n || (vn && !bn) || (vn == bn && better)) {
        best = v;
        idx = r;
      }
    }
    return static_cast<float>(idx);
  }
  double acc = op == 1 ? -INFINITY : op == 2 ? INFINITY : op == 8 ? 1.0 : 0.0;
  float m = static_cast<float>(acc);
  for (int64_t r = 0; r < n; ++r) {
    const float v = at(r);
    if (op == 0 || op == 3) acc += v;
    if (op == 8) acc *= v;
    if (op == 1) m = tf::max_f(m, v);
    if (op == 2) m = tf::min_f(m, v);
  }
  if (op == 1 || op == 2) return m;
  return static_cast<float>(op == 3 ? acc / static_cast<double>(n) : acc);
}

double Dot(const float* a, const float* b, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t e = 0;
  for (; e + 4 <= n; e += 4) {
    s0 += static_cast<double>(a[e]) * b[e];
    s1 += static_cast<double>(a[e + 1]) * b[e + 1];
    s2 += static_cast<double>(a[e + 2]) * b[e + 2];
    s3 += static_cast<double>(a[e + 3]) * b[e + 3];
  }
  for (; e < n; ++e) s0 += static_cast<double>(a[e]) * b[e];
  return (s0 + s1) + (s2 + s3);
}

}  // namespace tilefuse::internal
