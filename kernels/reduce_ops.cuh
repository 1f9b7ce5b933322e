// Reduction operators shared by the reduce kernel and the store-site reductions of the
// tile kernels: op 0 sum, 1 amax, 2 amin, 3 mean (a sum divided at the end), 4 argmax.
// max and min propagate NaN as PyTorch's amax/amin do.
#ifndef TILEFUSE_KERNELS_REDUCE_OPS_CUH_
#define TILEFUSE_KERNELS_REDUCE_OPS_CUH_

namespace tf {

// The value every reduction starts from (argmax starts from -inf with no index).
template <int kOp>
TF_DEVICE float reduce_identity() {
  const float inf = __int_as_float(0x7f800000);
  return kOp == 1 || kOp == 4 ? -inf : kOp == 2 ? inf : 0.f;
}

// a (op) b for the value-only operators (sum, amax, amin, mean).
template <int kOp>
TF_DEVICE float reduce_apply(float a, float b) {
  static_assert(kOp >= 0 && kOp <= 3, "reduce_apply: value-only operators (argmax carries an index)");
  if constexpr (kOp == 1) return max_f(a, b);
  if constexpr (kOp == 2) return min_f(a, b);
  return a + b;
}

// Reduces v over the 32 lanes of a warp with a fixed xor tree: the same bits every run.
template <int kOp>
TF_DEVICE float warp_reduce(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = reduce_apply<kOp>(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_REDUCE_OPS_CUH_
