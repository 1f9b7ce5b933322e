// The single-axis reduction kernel: sum, amax, amin, mean, argmax and argmin over one axis (or
// all elements), written against the hook contract (kernels/hook_contract.cuh), so that
// pointwise producers fuse into its load and consumers of the reduced value into its store.
//
// The input is viewed as [outer, R, inner]; output o = (outer index, inner index) reduces
// the R elements at flat indices ((o / inner) * R + r) * inner + o % inner. A warp reduces
// one output (lanes stride over R, then a shuffle tree: the same order, so the same bits,
// every run); a CTA holds kThreads / 32 outputs. Hooks: kOp (0 sum, 1 amax, 2 amin, 3 mean,
// 4 argmax, 5 var, 6 merge of Welford triples (n, mean, m2) that a split store-site
// reduction left, element r at 3 * index, 7 argmin), kCorrection (var), kThreads; Params rows
// (outputs), cols (R), depth (inner), red_n (what a mean divides by: R, or the original
// axis length when the input holds partials of a split store-site reduction). Results go
// out through store_pair(p, o, value, second): the mean and the variance for 5 and 6.
#ifndef TILEFUSE_KERNELS_REDUCE_CUH_
#define TILEFUSE_KERNELS_REDUCE_CUH_

namespace tf {

// Combines (v, index) with (w, wi): the reduction's operator, NaN-propagating for max/min
// and first-index-on-ties for argmax and argmin (a NaN wins both, as in PyTorch).
template <int kOp>
TF_DEVICE void reduce_combine(float& v, long long& vi, float w, long long wi) {
  if constexpr (kOp <= 3 || kOp == 8) {
    v = reduce_apply<kOp>(v, w);
  } else {
    const bool vn = v != v, wn = w != w;
    const bool better = kOp == 4 ? w > v : w < v;
    const bool take = (wn && !vn) || (wn == vn && (better || (w == v && wi < vi)));
    if (take) {
      v = w;
      vi = wi;
    }
  }
}

// Ops 5 and 6: one warp's Welford merge over its output's R elements (or partials).
template <class H>
TF_DEVICE void reduce_welford(const typename H::Params& p, long long o, long long base, int lane) {
  const long long R = p.cols, inner = p.depth;
  Welford w{0.f, 0.f, 0.f};
  for (long long r = lane; r < R; r += 32) {
    if constexpr (H::kOp == 5) {
      float x[1];
      H::template load_in0<1>(p, base + r * inner, x);
      w = welford_add(w, x[0]);
    } else {
      float t[3];
#pragma unroll
      for (int k = 0; k < 3; ++k) {
        float one[1];
        H::template load_in0<1>(p, 3 * (base + r * inner) + k, one);
        t[k] = one[0];
      }
      w = welford_merge(w, Welford{t[0], t[1], t[2]});
    }
  }
  w = warp_welford(w);
  if (lane == 0) H::store_pair(p, o, w.mean, welford_var(w, H::kCorrection));
}

template <class H>
TF_DEVICE void reduce_kernel(const typename H::Params& p) {
  constexpr int kOp = H::kOp;
  const long long o = static_cast<long long>(blockIdx.x) * (H::kThreads / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (o >= p.rows) return;  // a whole warp leaves together: no barrier follows
  const long long R = p.cols, inner = p.depth;
  const long long base = (o / inner) * R * inner + o % inner;
  constexpr bool kIndex = kOp == 4 || kOp == 7;  // argmax, argmin
  if constexpr (kOp == 5 || kOp == 6) {
    reduce_welford<H>(p, o, base, lane);
  } else {
    float v = reduce_identity<kOp>();
    long long vi = R;  // argmax, argmin: "no index yet" loses every tie
    bool any = false;
    for (long long r = lane; r < R; r += 32) {
      float x[1];
      H::template load_in0<1>(p, base + r * inner, x);
      if (kIndex && !any) {
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
      H::store_pair(p, o, kOp == 3 ? v / static_cast<float>(p.red_n) : kIndex ? static_cast<float>(vi) : v, 0.f);
    }
  }
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_REDUCE_CUH_
