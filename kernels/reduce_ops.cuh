// Reduction operators shared by the reduce kernel and the store-site reductions of the
// tile kernels: op 0 sum, 1 amax, 2 amin, 3 mean (a sum divided at the end), 4 argmax,
// 5 var (Welford: count, mean and sum of squared deviations, merged pairwise, which also
// yields the mean), 6 the merge of partial Welford triples of a split reduction, 7 argmin,
// 8 prod.
// max and min propagate NaN as PyTorch's amax/amin do.
#ifndef TILEFUSE_KERNELS_REDUCE_OPS_CUH_
#define TILEFUSE_KERNELS_REDUCE_OPS_CUH_

namespace tf {

// The value every reduction starts from (argmax from -inf, argmin from inf, with no index).
template <int kOp>
TF_DEVICE float reduce_identity() {
  const float inf = __int_as_float(0x7f800000);
  return kOp == 1 || kOp == 4 ? -inf : kOp == 2 || kOp == 7 ? inf : kOp == 8 ? 1.f : 0.f;
}

// a (op) b for the value-only operators (sum, amax, amin, mean, prod).
template <int kOp>
TF_DEVICE float reduce_apply(float a, float b) {
  static_assert((kOp >= 0 && kOp <= 3) || kOp == 8, "reduce_apply: value-only operators (argmax carries an index)");
  if constexpr (kOp == 1) return max_f(a, b);
  if constexpr (kOp == 2) return min_f(a, b);
  if constexpr (kOp == 8) return a * b;
  return a + b;
}

// Reduces v over the 32 lanes of a warp with a fixed xor tree: the same bits every run.
template <int kOp>
TF_DEVICE float warp_reduce(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = reduce_apply<kOp>(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Welford state of a set of values: count, mean, sum of squared deviations from the mean.
struct Welford {
  float n, mean, m2;
};

// Chan et al.'s merge of two disjoint sets: exact in real arithmetic, stable in fp32.
TF_DEVICE Welford welford_merge(const Welford& a, const Welford& b) {
  const float n = a.n + b.n;
  if (n == 0.f) return a;
  const float d = b.mean - a.mean, f = b.n / n;
  return Welford{n, fmaf(d, f, a.mean), a.m2 + b.m2 + d * d * a.n * f};
}

TF_DEVICE Welford welford_add(const Welford& a, float x) { return welford_merge(a, Welford{1.f, x, 0.f}); }

// The merge over a warp's 32 lanes with a fixed xor tree.
TF_DEVICE Welford warp_welford(Welford w) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const Welford other{__shfl_xor_sync(0xffffffffu, w.n, o), __shfl_xor_sync(0xffffffffu, w.mean, o),
                        __shfl_xor_sync(0xffffffffu, w.m2, o)};
    w = welford_merge(w, other);
  }
  return w;
}

// The variance of a finished Welford state, dividing by n - correction (PyTorch's var).
TF_DEVICE float welford_var(const Welford& w, int correction) {
  return w.m2 / (w.n - static_cast<float>(correction));
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_REDUCE_OPS_CUH_
