// The single-axis reduction kernel: sum, amax, amin, mean and argmax over one axis (or
// all elements), written against the hook contract (kernels/hook_contract.cuh), so that
// pointwise producers fuse into its load and consumers of the reduced value into its store.
//
// The input is viewed as [outer, R, inner]; output o = (outer index, inner index) reduces
// the R elements at flat indices ((o / inner) * R + r) * inner + o % inner. A warp reduces
// one output (lanes stride over R, then a shuffle tree: the same order, so the same bits,
// every run); a CTA holds kThreads / 32 outputs. Hooks: kOp (0 sum, 1 amax, 2 amin, 3 mean,
// 4 argmax), kThreads; Params rows (outputs), cols (R), depth (inner), red_n (what a mean
// divides by: R, or the original axis length when the input holds partials of a split
// store-site reduction).
#ifndef TILEFUSE_KERNELS_REDUCE_CUH_
#define TILEFUSE_KERNELS_REDUCE_CUH_

namespace tf {

// Combines (v, index) with (w, wi): the reduction's operator, NaN-propagating for max/min
// and first-index-on-ties for argmax (NaN counts as the largest value, as in PyTorch).
template <int kOp>
TF_DEVICE void reduce_combine(float& v, long long& vi, float w, long long wi) {
  if constexpr (kOp <= 3) {
    v = reduce_apply<kOp>(v, w);
  } else {
    const bool vn = v != v, wn = w != w;
    const bool take = (wn && !vn) || (wn == vn && (w > v || (w == v && wi < vi)));
    if (take) {
      v = w;
      vi = wi;
    }
  }
}

template <class H>
TF_DEVICE void reduce_kernel(const typename H::Params& p) {
  constexpr int kOp = H::kOp;
  const long long o = static_cast<long long>(blockIdx.x) * (H::kThreads / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (o >= p.rows) return;  // a whole warp leaves together: no barrier follows
  const long long R = p.cols, inner = p.depth;
  const long long base = (o / inner) * R * inner + o % inner;
  float v = reduce_identity<kOp>();
  long long vi = R;  // argmax: "no index yet" loses every tie
  bool any = false;
  for (long long r = lane; r < R; r += 32) {
    float x[1];
    H::template load_in0<1>(p, base + r * inner, x);
    if (kOp == 4 && !any) {
      v = x[0];
      vi = r;
      any = true;
    } else {
      reduce_combine<kOp>(v, vi, x[0], r);
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, off);
    const long long wi = __shfl_xor_sync(0xffffffffu, vi, off);
    reduce_combine<kOp>(v, vi, w, wi);
  }
  if (lane == 0) {
    float out[1] = {kOp == 3 ? v / static_cast<float>(p.red_n) : kOp == 4 ? static_cast<float>(vi) : v};
    H::template store<1>(p, o, out);
  }
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_REDUCE_CUH_
