#include "test/host_data.h"

#include <algorithm>
#include <cmath>

namespace tilefuse::internal {

std::vector<int64_t> BindSymbols(const Graph& g, const std::map<std::string, int64_t>& sizes,
                                 int64_t fallback) {
  std::vector<int64_t> v;
  for (const std::string& s : g.symbols()) {
    auto it = sizes.find(s);
    v.push_back(it == sizes.end() ? fallback : it->second);
  }
  return v;
}

std::vector<int64_t> ConcreteShape(const Shape& s, const std::vector<int64_t>& symbols) {
  std::vector<int64_t> out;
  for (const Dim& d : s) out.push_back(d.is_static() ? d.value : symbols[d.symbol]);
  return out;
}

std::vector<HostTensor> RandomInputs(const Graph& g, const std::vector<int64_t>& symbols,
                                     std::mt19937_64& rng) {
  std::uniform_real_distribution<double> real(-2.0, 2.0);
  std::uniform_int_distribution<int> integer(-50, 50);
  std::vector<HostTensor> inputs;
  for (int id : g.inputs()) {
    const Node& n = g.node(id);
    HostTensor t = HostTensor::Zeros(n.dtype, ConcreteShape(n.shape, symbols));
    for (int64_t i = 0; i < t.numel(); ++i) {
      switch (ComputeKindOf(n.dtype)) {
        case ComputeKind::kFloat: t.Set(i, real(rng)); break;
        case ComputeKind::kInt: t.Set(i, integer(rng)); break;
        case ComputeKind::kBool: t.Set(i, rng() & 1); break;
      }
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

DType LeastPreciseFloat(const Graph& g) {
  // Unit roundoffs, most precise first.
  const auto roundoff = [](DType t) {
    switch (t) {
      case DType::kF8E5M2: return 1.0 / 8;
      case DType::kF8E4M3: return 1.0 / 16;
      case DType::kBF16: return 1.0 / 256;
      case DType::kF16: return 1.0 / 2048;
      default: return 0.0;
    }
  };
  DType worst = DType::kF32;
  for (const Node& n : g.nodes()) {
    if (roundoff(n.dtype) > roundoff(worst)) worst = n.dtype;
  }
  return worst;
}

double ToleranceFor(const Graph& g) {
  const DType t = LeastPreciseFloat(g);
  // Unit roundoff; f32 gets a floor for libm differences between host and device.
  double eps = t == DType::kF8E5M2 ? 1.0 / 8 : t == DType::kF8E4M3 ? 1.0 / 16 : t == DType::kBF16 ? 1.0 / 256
               : t == DType::kF16 ? 1.0 / 2048 : 2e-6;
  // An f32 GEMM runs on the bf16 MMA with split operands (kernels/gemm.cuh kSplitF32):
  // about 2^-16 relative error per product.
  for (const Node& n : g.nodes()) {
    if (n.kind == NodeKind::kTile && n.tile == TileOp::kMatmul && n.dtype == DType::kF32) eps = std::max(eps, 1.0 / 65536);
  }
  int ops = 0;
  for (const Node& n : g.nodes()) ops += n.kind == NodeKind::kPointwise;
  // What a fused kernel does differently from the reference is amplified by two things the
  // per-op count misses. A sum of R terms is taken in another order: its error grows with
  // sqrt(R) times the terms' rounding, which against a result that cancels (a full sum of
  // random signs) is far more than the result's own rounding. And a softmax or exp turns an
  // absolute error in its input into a relative one in its output: a 16-bit intermediate
  // the reference rounds (attention's scores before their scale, up to |s| ~ 45 on these
  // inputs) and the fused epilogue keeps in f32 moves the probabilities by up to a few
  // parts in 1000. (Both were seen on the H200: a full f32 sum of 7000 values off by 2e-5
  // of a result near 1, an f16 attention output by 1.4e-3.)
  int64_t longest = 1;  // the longest static reduction
  bool exp_like = false;
  for (const Node& n : g.nodes()) {
    if (n.kind == NodeKind::kReduce && !n.inputs.empty()) {
      const Shape& in = g.node(n.inputs[0]).shape;
      int64_t r = 1;
      for (size_t d = 0; d < in.size(); ++d) {
        const bool reduced = !n.attrs.dim || static_cast<int>(d) == *n.attrs.dim;
        if (reduced && in[d].is_static()) r *= in[d].value;
      }
      longest = std::max(longest, r);
    }
    exp_like |= (n.kind == NodeKind::kTile && (n.tile == TileOp::kSoftmax || n.tile == TileOp::kLogSoftmax)) ||
                (n.kind == NodeKind::kPointwise && n.pointwise == PointwiseOp::kExp);
  }
  // The sums accumulate in f32 on both sides: their part is f32's rounding, sqrt(R) times,
  // with room for cancellation; the softmax's multiplies the 16-bit rounding.
  const double sums = 16 * 0x1p-24 * std::sqrt(static_cast<double>(longest));
  return 4 * eps * (ops + 1) * (exp_like && t != DType::kF32 ? 8 : 1) + sums;
}

::testing::AssertionResult AllClose(const HostTensor& got, const HostTensor& ref, double tol) {
  if (got.dtype != ref.dtype || got.shape != ref.shape) {
    return ::testing::AssertionFailure() << "dtype or shape differs from the reference";
  }
  const int64_t n = ref.numel();
  double sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double r = ref.Get(i);
    if (std::isfinite(r)) sum_sq += r * r;
  }
  const double rms = n > 0 ? std::sqrt(sum_sq / n) : 0;
  // Integers match exactly, but for i8, the type of quantized values: a value computed in a
  // different order on the device may land on the other side of a rounding tie (one step).
  const bool exact = !IsFloating(ref.dtype);
  const double int_slack = ref.dtype == DType::kI8 ? 1.0 : 0.0;
  int bad = 0;
  ::testing::AssertionResult result = ::testing::AssertionSuccess();
  for (int64_t i = 0; i < n; ++i) {
    const double a = got.Get(i), r = ref.Get(i);
    bool ok;
    if (exact) {
      ok = std::fabs(a - r) <= int_slack;
    } else if (std::isnan(r) || std::isnan(a)) {
      ok = std::isnan(r) && std::isnan(a);
    } else if (std::isinf(r) || std::isinf(a)) {
      ok = a == r;
    } else {
      ok = std::fabs(a - r) <= tol * (std::fabs(r) + rms + 1e-30);
    }
    if (!ok && bad++ < 5) {
      if (bad == 1) result = ::testing::AssertionFailure();
      result << "element " << i << ": got " << a << ", reference " << r << "; ";
    }
  }
  if (bad > 0) result << bad << " of " << n << " elements differ (tol " << tol << ")";
  return result;
}

}  // namespace tilefuse::internal
