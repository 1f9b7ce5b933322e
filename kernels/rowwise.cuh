// Row-wise tile kernels: rms_norm, layer_norm and softmax over the last dim, written
// against the hook contract (kernels/hook_contract.cuh).
//
// A CTA of kThreads threads handles kThreads / kRowThreads rows; the kRowThreads threads
// of a row hold it in registers (up to kVecs vectors of kVec elements each), so every
// input element is loaded exactly once, through the load hook, and every output element
// is stored once, through the store hook. Statistics are fp32 and reduced in a fixed order
// (warp shuffles, then the row's warps in index order): the same bits every run.
//
// A store-site reduction over the row (H::kReduceOp >= 0, e.g. rms_norm(x, w).sum(-1)) is
// persistent: the row's threads hold the whole row, so each combines the values its
// store_reduce calls hand back, the row's threads reduce those in the same fixed order,
// and the row's first thread passes the result to store_reduced.
#ifndef TILEFUSE_KERNELS_ROWWISE_CUH_
#define TILEFUSE_KERNELS_ROWWISE_CUH_

namespace tf {

// Combines v over the kRowThreads threads of a row with `f`. `smem` holds kThreads / 32
// floats. Every thread of the CTA must call it (it may hold a barrier).
template <int kRowThreads, class F>
TF_DEVICE float row_combine(float v, float* smem, F f) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = f(v, __shfl_xor_sync(0xffffffffu, v, o));
  if constexpr (kRowThreads > 32) {
    constexpr int kWarps = kRowThreads / 32;
    const int warp = threadIdx.x >> 5;
    const int first = warp / kWarps * kWarps;
    __syncthreads();  // earlier readers of smem are done
    if ((threadIdx.x & 31) == 0) smem[warp] = v;
    __syncthreads();
    v = smem[first];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) v = f(v, smem[first + w]);
  }
  return v;
}

// The Welford merge over the kRowThreads threads of a row, in the same fixed order.
// `smem` holds 3 * kThreads / 32 floats.
template <int kRowThreads>
TF_DEVICE Welford row_welford(Welford w, float* smem) {
  w = warp_welford(w);
  if constexpr (kRowThreads > 32) {
    constexpr int kWarps = kRowThreads / 32;
    const int warp = threadIdx.x >> 5;
    const int first = warp / kWarps * kWarps;
    __syncthreads();
    if ((threadIdx.x & 31) == 0) {
      smem[3 * warp] = w.n;
      smem[3 * warp + 1] = w.mean;
      smem[3 * warp + 2] = w.m2;
    }
    __syncthreads();
    w = Welford{smem[3 * first], smem[3 * first + 1], smem[3 * first + 2]};
#pragma unroll
    for (int i = 1; i < kWarps; ++i) {
      w = welford_merge(w, Welford{smem[3 * (first + i)], smem[3 * (first + i) + 1], smem[3 * (first + i) + 2]});
    }
  }
  return w;
}

// What a thread accumulates of a store-site reduction: a value, or a Welford state (op 5).
template <int kOp>
struct RowAcc {
  float v = reduce_identity<kOp>();
  TF_DEVICE void add(float x) { v = reduce_apply<kOp>(v, x); }
};
template <>
struct RowAcc<5> {
  Welford w{0.f, 0.f, 0.f};
  TF_DEVICE void add(float x) { w = welford_add(w, x); }
};

// Sum (or max) over the kRowThreads threads of a row.
template <int kRowThreads, bool kMax>
TF_DEVICE float row_reduce(float v, float* smem) {
  return row_combine<kRowThreads>(v, smem, [](float a, float b) { return kMax ? fmaxf(a, b) : a + b; });
}

// Where a thread's vectors of a row start, and which of them exist.
template <class H>
struct RowSpan {
  static constexpr int V = H::kVec, RT = H::kRowThreads, I = H::kVecs;
  long long row;
  long long cols;
  int t;
  bool active;
  bool vec_ok;

  // Row group `group` of this CTA's H::kLoop groups (kThreads / kRowThreads rows each).
  TF_DEVICE explicit RowSpan(const typename H::Params& p, int group = 0) {
    constexpr int kRowsPerCta = H::kThreads / RT;
    row = (static_cast<long long>(blockIdx.x) * H::kLoop + group) * kRowsPerCta + threadIdx.x / RT;
    t = threadIdx.x % RT;
    cols = p.cols;
    active = row < p.rows;
    vec_ok = p.vector_ok != 0;
  }
  TF_DEVICE long long col(int it) const { return (static_cast<long long>(it) * RT + t) * V; }
};

// Loads the row through hook input 0; missing elements become `fill`. The vector path is
// chosen once per row (vector_ok implies whole vectors), so that the vectors' loads sit in
// one branch-free block: all of them are in flight before the first is used, one memory
// round trip per row rather than one per branch.
template <class H>
TF_DEVICE void load_row(const typename H::Params& p, const RowSpan<H>& s,
                        float (&x)[H::kVecs][H::kVec], float fill) {
  constexpr int V = H::kVec;
  if (s.vec_ok) {
#pragma unroll
    for (int it = 0; it < H::kVecs; ++it) {
      const long long c = s.col(it);
      if (s.active && c < s.cols) {
        H::template load_in0<V>(p, s.row * s.cols + c, x[it]);
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) x[it][k] = fill;
      }
    }
    return;
  }
#pragma unroll
  for (int it = 0; it < H::kVecs; ++it) {
    const long long c = s.col(it);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      float one[1] = {fill};
      if (s.active && c + k < s.cols) H::template load_in0<1>(p, s.row * s.cols + c + k, one);
      x[it][k] = one[0];
    }
  }
}

// Runs body(s, x) on each of the CTA's H::kLoop row groups, x the group's row loaded with
// `fill` where it has no element. With kLoop > 1 the rows of the next two groups are asked
// of L2 (H::prefetch_in0) before a group is loaded: their DRAM reads are in flight during
// this group's reductions and stores without holding registers, and their loads then hit
// L2. Every thread runs every group (body may hold barriers).
template <class H, class Body>
TF_DEVICE void for_each_row(const typename H::Params& p, float fill, Body body) {
  const auto prefetch = [&](int g) {
    if constexpr (H::kLoop > 1) {
      const RowSpan<H> s(p, g);
      if (g < H::kLoop && s.active && s.t == 0) H::prefetch_in0(p, s.row * s.cols, s.cols);
    }
  };
  prefetch(1);
#pragma unroll 1
  for (int g = 0; g < H::kLoop; ++g) {
    prefetch(g + 2);
    const RowSpan<H> s(p, g);
    float x[H::kVecs][H::kVec];
    load_row<H>(p, s, x, fill);
    body(s, x);
  }
}

// Stores W values at flat index i: through store, or through store_reduce when the kernel
// has a store-site reduction, combining the values it hands back into acc.
template <class H, int W, class Acc>
TF_DEVICE void store_one(const typename H::Params& p, long long i, const float (&y)[W], Acc& acc) {
  if constexpr (H::kReduceOp >= 0) {
    float red[W];
    H::template store_reduce<W>(p, i, y, red);
#pragma unroll
    for (int k = 0; k < W; ++k) acc.add(red[k]);
  } else {
    H::template store<W>(p, i, y);
  }
}

// Stores y (vector `it` of the row) through the store hook, with parameters from hook
// inputs 1 and 2 when the kernel has them: f(x, w, b) -> y. Then finishes the row's
// store-site reduction, if any, with `smem` (3 * kThreads / 32 floats; registered kernels,
// which the planner never gives a reduction, may leave it out).
template <class H, int kParams, class F>
TF_DEVICE void store_row(const typename H::Params& p, const RowSpan<H>& s,
                         const float (&x)[H::kVecs][H::kVec], F f, float* smem = nullptr) {
  constexpr int V = H::kVec;
  RowAcc<H::kReduceOp> acc;
  if (s.vec_ok) {  // whole vectors (as in load_row): the parameter loads need no branches
#pragma unroll
    for (int it = 0; it < H::kVecs; ++it) {
      const long long c = s.col(it);
      if (!s.active || c >= s.cols) continue;
      float w[V], b[V], y[V];
      if constexpr (kParams >= 1) H::template load_in1<V>(p, c, w);
      if constexpr (kParams >= 2) H::template load_in2<V>(p, c, b);
#pragma unroll
      for (int k = 0; k < V; ++k) y[k] = f(x[it][k], kParams >= 1 ? w[k] : 0.f, kParams >= 2 ? b[k] : 0.f);
      store_one<H, V>(p, s.row * s.cols + c, y, acc);
    }
  } else {
#pragma unroll
    for (int it = 0; it < H::kVecs; ++it) {
      const long long c = s.col(it);
      for (int k = 0; k < V && s.active && c + k < s.cols; ++k) {
        float w[1] = {0.f}, b[1] = {0.f}, y[1];
        if constexpr (kParams >= 1) H::template load_in1<1>(p, c + k, w);
        if constexpr (kParams >= 2) H::template load_in2<1>(p, c + k, b);
        y[0] = f(x[it][k], w[0], b[0]);
        store_one<H, 1>(p, s.row * s.cols + c + k, y, acc);
      }
    }
  }
  if constexpr (H::kReduceOp == 5) {
    const Welford w = row_welford<H::kRowThreads>(acc.w, smem);
    if (s.active && s.t == 0) H::store_reduced(p, s.row, w.mean, welford_var(w, H::kCorrection));
  } else if constexpr (H::kReduceOp >= 0) {
    const float v =
        row_combine<H::kRowThreads>(acc.v, smem, [](float a, float b) { return reduce_apply<H::kReduceOp>(a, b); });
    if (s.active && s.t == 0) H::store_reduced(p, s.row, v, 0.f);
  }
}

// y = x * rsqrt(mean(x^2) + eps) * w
template <class H>
TF_DEVICE void rms_norm_kernel(const typename H::Params& p) {
  __shared__ float smem[3 * H::kThreads / 32];  // 3: a Welford state per warp
  for_each_row<H>(p, 0.f, [&](const RowSpan<H>& s, const float (&x)[H::kVecs][H::kVec]) {
    float ss = 0.f;
#pragma unroll
    for (int it = 0; it < H::kVecs; ++it)
#pragma unroll
      for (int k = 0; k < H::kVec; ++k) ss += x[it][k] * x[it][k];
    ss = row_reduce<H::kRowThreads, false>(ss, smem);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(s.cols) + static_cast<float>(p.eps));
    store_row<H, 1>(p, s, x, [inv](float v, float w, float) { return v * inv * w; }, smem);
  });
}

// y = (x - mean) * rsqrt(var + eps) * w + b, with the biased variance (two passes over the
// registers for accuracy).
template <class H>
TF_DEVICE void layer_norm_kernel(const typename H::Params& p) {
  __shared__ float smem[3 * H::kThreads / 32];  // 3: a Welford state per warp
  for_each_row<H>(p, 0.f, [&](const RowSpan<H>& s, const float (&x)[H::kVecs][H::kVec]) {
    float sum = 0.f;
#pragma unroll
    for (int it = 0; it < H::kVecs; ++it)
#pragma unroll
      for (int k = 0; k < H::kVec; ++k) sum += x[it][k];
    const float mean = row_reduce<H::kRowThreads, false>(sum, smem) / static_cast<float>(s.cols);
    float sq = 0.f;
#pragma unroll
    for (int it = 0; it < H::kVecs; ++it)
#pragma unroll
      for (int k = 0; k < H::kVec; ++k) {
        const float d = s.col(it) + k < s.cols ? x[it][k] - mean : 0.f;
        sq += d * d;
      }
    const float var = row_reduce<H::kRowThreads, false>(sq, smem) / static_cast<float>(s.cols);
    const float inv = 1.0f / sqrtf(var + static_cast<float>(p.eps));
    store_row<H, 2>(p, s, x, [mean, inv](float v, float w, float b) { return (v - mean) * inv * w + b; }, smem);
  });
}

// y = exp(x - max) / sum(exp(x - max)), as exp2((x - max) * log2(e)): one multiply and the
// hardware exp2 per element (error ~2 ulp of fp32, far below any stored dtype's rounding).
template <class H>
TF_DEVICE void softmax_kernel(const typename H::Params& p) {
  __shared__ float smem[3 * H::kThreads / 32];  // 3: a Welford state per warp
  const float kNegInf = -__int_as_float(0x7f800000);
  for_each_row<H>(p, kNegInf, [&](const RowSpan<H>& s, const float (&xin)[H::kVecs][H::kVec]) {
    constexpr float kLog2e = 1.4426950408889634f;
    float x[H::kVecs][H::kVec];
    float m = kNegInf;
#pragma unroll
    for (int it = 0; it < H::kVecs; ++it)
#pragma unroll
      for (int k = 0; k < H::kVec; ++k) m = fmaxf(m, x[it][k] = xin[it][k]);
    m = row_reduce<H::kRowThreads, true>(m, smem) * kLog2e;
    float sum = 0.f;
#pragma unroll
    for (int it = 0; it < H::kVecs; ++it)
#pragma unroll
      for (int k = 0; k < H::kVec; ++k) {
        x[it][k] = exp2f(fmaf(x[it][k], kLog2e, -m));  // exp2(-inf) = 0 for padding
        sum += x[it][k];
      }
    const float inv = 1.0f / row_reduce<H::kRowThreads, false>(sum, smem);
    store_row<H, 0>(p, s, x, [inv](float e, float, float) { return e * inv; }, smem);
  });
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_ROWWISE_CUH_
