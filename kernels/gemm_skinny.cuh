// The decode GEMM of a weight computed in its load (kBLayout 3: B's prologue runs over
// [N, K], a dequantized int8, int4 or fp8 weight): M <= 16 rows of x against the weight,
// which is the MMA's A operand (C^T = W x^T, mma.sync m16n8k16), so that each warp streams
// 16 weight rows straight from memory into registers with 16-element hook loads, no shared
// memory, no barrier in the main loop. K is split over the CTAs of a tile as gemm_kernel
// splits it (a cluster on sm_90), and the epilogue is gemm_kernel's.
//
// Lane (r, q) = (lane / 4, lane % 4) reads k = kb + 16q .. kb + 16q + 15 of weight rows
// n + r and n + r + 8 and of x rows r and r + 8 (a block of 64 of K per warp). The MMA
// sums over k in any order both operands agree on: step s (of 4) puts the lane's
// k = kb + 16q + 4s + 0, 1 in the fragment slots of columns 2q, 2q + 1, and + 2, 3 in
// those of 2q + 8, 2q + 9. Two blocks are in flight (the next one loads while this one
// multiplies) in at most 128 registers, four CTAs per SM.
//
// Hooks beyond gemm_kernel's: kBLayout == 3, kBM == 16, kWarpsM == 1, kBN == 16 * kWarpsN.
#ifndef TILEFUSE_KERNELS_GEMM_SKINNY_CUH_
#define TILEFUSE_KERNELS_GEMM_SKINNY_CUH_

namespace tf {

// Two fp32 values as one register of the operand type, lo in the low half.
template <bool kF16>
TF_DEVICE unsigned pack2(float lo, float hi) {
  unsigned u;
  if constexpr (kF16) {
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(u) : "f"(hi), "f"(lo));
  } else {
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(u) : "f"(hi), "f"(lo));
  }
  return u;
}

// The slow path of skinny_fetch16, out of line so that the main loop's code stays small.
template <class H, int kInput>
__device__ __noinline__ void skinny_fetch16_slow(const typename H::Params& p, long long row, long long rows,
                                                 long long k, long long kend, long long K, float* v) {
  hook_load_elements<H, kInput>(p, row, rows, k, kend, K, 16, v);
}

// 16 consecutive elements of row `row` at k of a [rows, K] operand read through hook
// kInput, as 8 packed registers; zero past `rows` and past `kend` (the split's end). A
// plain x (kAsyncA) is read as it is stored: already the operand type.
template <class H, int kInput>
TF_DEVICE void skinny_fetch16(const typename H::Params& p, long long row, long long rows, long long k,
                              long long kend, long long K, bool vec, unsigned (&out)[8]) {
  const bool fast = vec && row < rows && k + 16 <= kend;
  if constexpr (kInput == 0 && H::kAsyncA) {
    if (fast) {
      const uint4* src = reinterpret_cast<const uint4*>(H::a_ptr(p) + row * K + k);
      const uint4 lo = src[0], hi = src[1];
      out[0] = lo.x, out[1] = lo.y, out[2] = lo.z, out[3] = lo.w;
      out[4] = hi.x, out[5] = hi.y, out[6] = hi.z, out[7] = hi.w;
      return;
    }
  }
  float v[16];
  if (fast) {
    if constexpr (kInput == 0) H::template load_in0<16>(p, row * K + k, v);
    else H::template load_in1<16>(p, row * K + k, v);
  } else {
    float slow[16];
    skinny_fetch16_slow<H, kInput>(p, row, rows, k, kend, K, slow);
#pragma unroll
    for (int e = 0; e < 16; ++e) v[e] = slow[e];
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = pack2<H::kF16>(v[2 * i], v[2 * i + 1]);
}

// One lane's share of a 64-of-K block: 16 k of two weight rows and two x rows.
struct SkinnyBlock {
  unsigned w0[8], w1[8];  // weight rows r and r + 8
  unsigned x0[8], x1[8];  // x rows r and r + 8
};

template <class H>
TF_DEVICE void skinny_load(const typename H::Params& p, SkinnyBlock& b, long long n, long long N, long long M,
                           long long k, long long kend, long long K, bool vec, int r, bool two) {
  skinny_fetch16<H, 1>(p, n + r, N, k, kend, K, vec, b.w0);
  skinny_fetch16<H, 1>(p, n + r + 8, N, k, kend, K, vec, b.w1);
  skinny_fetch16<H, 0>(p, r, M, k, kend, K, vec, b.x0);
  if (two) skinny_fetch16<H, 0>(p, r + 8, M, k, kend, K, vec, b.x1);
}

template <class H>
TF_DEVICE void skinny_mma(const SkinnyBlock& b, float (&acc)[2][4], bool two) {
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    const unsigned a[4] = {b.w0[2 * s], b.w1[2 * s], b.w0[2 * s + 1], b.w1[2 * s + 1]};
    mma16816<H::kF16>(acc[0], a, b.x0[2 * s], b.x0[2 * s + 1]);
    if (two) mma16816<H::kF16>(acc[1], a, b.x1[2 * s], b.x1[2 * s + 1]);
  }
}

template <class H>
TF_DEVICE void gemm_skinny_kernel(const typename H::Params& p) {
  static_assert(H::kBLayout == 3 && H::kBM == 16 && H::kWarpsM == 1 && H::kBN == 16 * H::kWarpsN,
                "the skinny GEMM: B computed over [N, K], 16 rows of C, 16 weight rows per warp");
  static_assert(!H::kSplitF32 && !H::kRowEpilogue, "bf16 or f16 operands, a plain epilogue");
  constexpr int BN = H::kBN, kThreads = 32 * H::kWarpsN, S = H::kSplitK;
  extern __shared__ __align__(128) char smem[];
  const long long M = p.rows, N = p.cols, K = p.depth;
  const long long tiles = (N + BN - 1) / BN;
  const long long tile = S == 1 ? blockIdx.x : H::kClusterSplit ? blockIdx.x / S : blockIdx.x % tiles;
  const int split = S == 1 ? 0 : static_cast<int>(H::kClusterSplit ? blockIdx.x % S : blockIdx.x / tiles);
  const long long n0 = tile * BN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = lane / 4, q = lane % 4;
  const long long n = n0 + warp * 16;
  // 16-element hook loads: aligned where K is a multiple of 16 (1-byte and packed types).
  const bool vec = p.vector_ok && K % 16 == 0;
  const bool two = M > 8;

  // K slices of whole 64-blocks; the accumulators' start (a bias) in split 0 only. Row n of
  // the weight is column n of C: fragments 0, 1 are column n + r, 2, 3 column n + r + 8.
  const long long per = (K + 64LL * S - 1) / (64LL * S) * 64;
  const long long kbegin = split * per < K ? split * per : K;
  const long long kend = kbegin + per < K ? kbegin + per : K;
  float acc[2][4];
  {
    float2 lo = make_float2(0.f, 0.f), hi = make_float2(0.f, 0.f);
    if (split == 0) {
      lo = gemm_acc_start<H>(p, n + r, N);
      hi = gemm_acc_start<H>(p, n + r + 8, N);
    }
#pragma unroll
    for (int t = 0; t < 2; ++t) {
      acc[t][0] = acc[t][1] = lo.x;
      acc[t][2] = acc[t][3] = hi.x;
    }
  }
  // One block in flight while the previous one multiplies.
  SkinnyBlock cur, next;
  long long kb = kbegin;
  if (kb < kend) skinny_load<H>(p, cur, n, N, M, kb + 16 * q, kend, K, vec, r, two);
  for (; kb < kend; kb += 64) {
    const bool more = kb + 64 < kend;
    if (more) skinny_load<H>(p, next, n, N, M, kb + 64 + 16 * q, kend, K, vec, r, two);
    skinny_mma<H>(cur, acc, two);
    if (more) cur = next;
  }

  // C^T's fragments into the fp32 tile [16 rows of M][BN columns of N].
  float* ctile = reinterpret_cast<float*>(smem);
  const int c0 = warp * 16 + r;
#pragma unroll
  for (int t = 0; t < 2; ++t) {
    const int m = 8 * t + 2 * q;
    ctile[staging_at<BN>(m, c0)] = acc[t][0];
    ctile[staging_at<BN>(m + 1, c0)] = acc[t][1];
    ctile[staging_at<BN>(m, c0 + 8)] = acc[t][2];
    ctile[staging_at<BN>(m + 1, c0 + 8)] = acc[t][3];
  }
  __syncthreads();
  if constexpr (H::kClusterSplit) {
    split_k_cluster<H, 16, BN, kThreads>(p, ctile, 0, n0, M, N);
    return;
  } else if constexpr (S > 1) {
    if (!split_k_combine<H, 16, BN, kThreads>(p, ctile, tile, split, tiles)) return;
  }
  gemm_epilogue<H, 16, BN, kThreads>(p, ctile, 0, n0, M, N, threadIdx.x, 0);
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_GEMM_SKINNY_CUH_
