// The single-axis reduction kernel: sum, amax, amin, mean, argmax and argmin over one axis (or
// all elements), written against the hook contract (kernels/hook_contract.cuh), so that
// pointwise producers fuse into its load and consumers of the reduced value into its store.
//
// The input is viewed as [outer, R, inner]; output o = (outer index, inner index) reduces
// the R elements at flat indices ((o / inner) * R + r) * inner + o % inner. A warp reduces
// one output (lanes stride over R, then a shuffle tree: the same order, so the same bits,
// every run); a CTA holds kThreads / 32 outputs. Where the axis is contiguous and long
// (inner 1, R >= kWideCols: a vocabulary's logits), a CTA reduces one output, its warps'
// results combined in warp order: a warp per output kept too few loads in flight (softmax
// over 1024 x 128256 took 1.6 ms on the H200 in three such kernels). Hooks: kOp (0 sum,
// 1 amax, 2 amin, 3 mean, 4 argmax, 5 var, 6 merge of Welford triples (n, mean, m2) that a
// split store-site reduction left, element r at 3 * index, 7 argmin), kCorrection (var),
// kThreads, kVec, kWideCols; Params rows (outputs), cols (R), depth (inner), red_n (what a
// mean divides by: R, or the original axis length when the input holds partials of a split
// store-site reduction). Results go out through store_pair(p, o, value, second): the mean
// and the variance for 5 and 6.
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

// Whether a CTA reduces one output (see above); plan.cc sizes the grid by the same test.
template <class H>
TF_DEVICE bool reduce_wide(const typename H::Params& p) {
  return p.depth == 1 && p.cols >= H::kWideCols;
}

// Calls f(x, r) for this thread's elements r = first, first + step, ... of the output at
// `base`, in that order, four loads in flight at a time. A wide output whose operands are
// whole aligned vectors (vector_ok: R a multiple of kVec, 16-byte operands) is read a
// vector at a time: thread t takes vectors t, t + kThreads, ...
template <class H, class F>
TF_DEVICE void reduce_walk(const typename H::Params& p, long long base, long long first, long long step, F f) {
  const long long R = p.cols, inner = p.depth;
  if (reduce_wide<H>(p) && p.vector_ok) {
    constexpr int W = H::kVec;
    for (long long r = first * W; r < R; r += step * W) {
      float x[W];
      H::template load_in0<W>(p, base + r, x);
#pragma unroll
      for (int l = 0; l < W; ++l) f(x[l], r + l);
    }
    return;
  }
  long long r = first;
  for (; r + 3 * step < R; r += 4 * step) {
    float x[4][1];
#pragma unroll
    for (int k = 0; k < 4; ++k) H::template load_in0<1>(p, base + (r + k * step) * inner, x[k]);
#pragma unroll
    for (int k = 0; k < 4; ++k) f(x[k][0], r + k * step);
  }
  for (; r < R; r += step) {
    float x[1];
    H::template load_in0<1>(p, base + r * inner, x);
    f(x[0], r);
  }
}

// Ops 5 and 6: a Welford merge over this thread's elements (or partials).
template <class H>
TF_DEVICE Welford reduce_welford(const typename H::Params& p, long long base, long long first, long long step) {
  const long long R = p.cols, inner = p.depth;
  Welford w{0.f, 0.f, 0.f};
  if constexpr (H::kOp == 5) {
    reduce_walk<H>(p, base, first, step, [&](float x, long long) { w = welford_add(w, x); });
  } else {
    for (long long r = first; r < R; r += step) {
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
  return w;
}

template <class H>
TF_DEVICE void reduce_kernel(const typename H::Params& p) {
  constexpr int kOp = H::kOp, kWarps = H::kThreads / 32;
  const bool wide = reduce_wide<H>(p);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const long long o = wide ? static_cast<long long>(blockIdx.x) : static_cast<long long>(blockIdx.x) * kWarps + warp;
  if (o >= p.rows) return;  // a whole warp (wide: the whole CTA) leaves together
  const long long R = p.cols, inner = p.depth;
  const long long base = (o / inner) * R * inner + o % inner;
  const long long first = wide ? threadIdx.x : lane, step = wide ? H::kThreads : 32;
  constexpr bool kIndex = kOp == 4 || kOp == 7;  // argmax, argmin
  if constexpr (kOp == 5 || kOp == 6) {
    Welford w = warp_welford(reduce_welford<H>(p, base, first, step));
    if (wide) {
      __shared__ float sw[3 * kWarps];
      if (lane == 0) {
        sw[3 * warp] = w.n;
        sw[3 * warp + 1] = w.mean;
        sw[3 * warp + 2] = w.m2;
      }
      __syncthreads();
      if (threadIdx.x != 0) return;
      w = Welford{sw[0], sw[1], sw[2]};
      for (int i = 1; i < kWarps; ++i) w = welford_merge(w, Welford{sw[3 * i], sw[3 * i + 1], sw[3 * i + 2]});
    }
    if (lane == 0) H::store_pair(p, o, w.mean, welford_var(w, H::kCorrection));
  } else {
    float v = reduce_identity<kOp>();
    long long vi = R;  // argmax, argmin: "no index yet" loses every tie
    bool any = false;
    reduce_walk<H>(p, base, first, step, [&](float x, long long r) {
      if (kIndex && !any) {
        v = x;
        vi = r;
        any = true;
      } else {
        reduce_combine<kOp>(v, vi, x, r);
      }
    });
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      const float w = __shfl_xor_sync(0xffffffffu, v, off);
      const long long wi = __shfl_xor_sync(0xffffffffu, vi, off);
      reduce_combine<kOp>(v, vi, w, wi);
    }
    if (wide) {
      __shared__ float sv[kWarps];
      __shared__ long long si[kWarps];
      if (lane == 0) {
        sv[warp] = v;
        si[warp] = vi;
      }
      __syncthreads();
      if (threadIdx.x != 0) return;
      v = sv[0];
      vi = si[0];
      for (int i = 1; i < kWarps; ++i) reduce_combine<kOp>(v, vi, sv[i], si[i]);
    }
    if (lane == 0) {
      H::store_pair(p, o, kOp == 3 ? v / static_cast<float>(p.red_n) : kIndex ? static_cast<float>(vi) : v, 0.f);
    }
  }
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_REDUCE_CUH_
