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
// Hooks beyond gemm_kernel's: kBLayout == 3, kBM == 16, kWarpsM == 1, kBN == 16 * kWarpsN;
// kWeightRead, kWeightScale, kWeightGroup(s), and with a packed read w_ptr and ws_ptr (the
// raw weight and scale).
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

// ---- Packed weight reads (H::kWeightRead 1: int8, 2: int4; codegen/weight_read.h) ----
// The prologue is f32(q) [* scale], the scale in the operand's 16-bit type: the raw bytes
// become exact 16-bit integers (byte permutes into a float's mantissa for int8; a mask
// into a 16-bit float's for int4, two at a time), and one paired multiply by the scale
// rounds as the reference's cast does (the product of an int8 and a 16-bit float is exact
// in f32). The generic hook took some four times the instructions per weight.

// a * b + c on 16-bit pairs, rounded once.
template <bool kF16>
TF_DEVICE unsigned fma2(unsigned a, unsigned b, unsigned c) {
  unsigned d;
  if constexpr (kF16) {
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  } else {
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  }
  return d;
}

// int4 pairs come out as (k, k + 4) of each 8 k; the other operand's (and a hook-read
// weight's) consecutive pairs are put in that order, so that both agree on each slot's k.
TF_DEVICE void nibble_order(unsigned (&r)[8]) {
#pragma unroll
  for (int j = 0; j < 8; j += 4) {
    const unsigned a = r[j], b = r[j + 1], c = r[j + 2], d = r[j + 3];
    r[j] = __byte_perm(a, c, 0x5410), r[j + 1] = __byte_perm(a, c, 0x7632);
    r[j + 2] = __byte_perm(b, d, 0x5410), r[j + 3] = __byte_perm(b, d, 0x7632);
  }
}

// The scale pair of weight row `row` at k (zero past the rows).
template <class H>
TF_DEVICE unsigned weight_scale2(const typename H::Params& p, long long row, long long rows, long long k) {
  if constexpr (H::kWeightScale == 0) {
    return 0;
  } else {
    long long at = 0;
    if constexpr (H::kWeightScale == 2) at = row;
    if constexpr (H::kWeightScale == 3) {
      // K < 2^24 (the dequant's group index is exact in f32): 32-bit division.
      at = row * H::kWeightGroups + static_cast<unsigned>(k) / static_cast<unsigned>(H::kWeightGroup);
    }
    const unsigned s = row < rows ? H::ws_ptr(p)[at] : 0u;
    return s | (s << 16);
  }
}

// 16 weights of row `row` at k as they are stored (no L1 allocation: read once): 16 bytes
// of int8 in out[0..3], 8 of int4 in out[0..1]. Converted when the block is multiplied
// (weight_convert), so that the next block's loads stay in flight meanwhile.
template <class H>
TF_DEVICE void skinny_weight_raw16(const typename H::Params& p, long long row, long long k, long long K,
                                   unsigned (&out)[8]) {
  const unsigned char* src = H::w_ptr(p);
  if constexpr (H::kWeightRead == 1) {
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(out[0]), "=r"(out[1]), "=r"(out[2]), "=r"(out[3]) : "l"(src + row * K + k));
  } else {
    asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];"
                 : "=r"(out[0]), "=r"(out[1]) : "l"(src + (row * K + k) / 2));
  }
}

// skinny_weight_raw16's bytes as 8 registers of the operand type, times the scale pair s2.
template <class H>
TF_DEVICE void weight_convert(unsigned (&w)[8], unsigned s2) {
  constexpr bool f16 = H::kF16;
  if constexpr (H::kWeightRead == 1) {
    const unsigned raw[4] = {w[0], w[1], w[2], w[3]};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const unsigned u = raw[i] ^ 0x80808080u;  // q + 128, unsigned
      float f[4];
      // 2^23 + (q + 128) as a float, less 2^23 + 128: q, exactly.
#pragma unroll
      for (int b = 0; b < 4; ++b) f[b] = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7440 | b)) - 8388736.0f;
      w[2 * i] = pack2<f16>(f[0], f[1]);
      w[2 * i + 1] = pack2<f16>(f[2], f[3]);
    }
  } else {
    const unsigned raw[2] = {w[0], w[1]};
    // 128 + (q + 8) in bf16 (1024 + (q + 8) in f16), less 136 (1032): q, exactly.
    const unsigned magic = f16 ? 0x64006400u : 0x43004300u, one = f16 ? 0x3c003c00u : 0x3f803f80u;
    const unsigned bias = f16 ? 0xe408e408u : 0xc308c308u;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const unsigned u = raw[i] ^ 0x88888888u;
#pragma unroll
      for (int j = 0; j < 4; ++j) w[4 * i + j] = fma2<f16>(((u >> (4 * j)) & 0x000f000fu) | magic, one, bias);
    }
  }
  if constexpr (H::kWeightScale != 0) {
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = fma2<f16>(w[i], s2, 0x80008000u);  // + -0 keeps a zero's sign
  }
}

// One lane's share of a 64-of-K block: 16 k of two weight rows and two x rows. With a
// packed read, raw[t] says weight row t holds raw bytes still (and s[t] its scale pair).
struct SkinnyBlock {
  unsigned w0[8], w1[8];  // weight rows r and r + 8
  unsigned x0[8], x1[8];  // x rows r and r + 8
  unsigned s[2];
  bool raw[2];
};

// 16 weights of row `row` at k: raw where the kernel has a packed read and the 16 lie in
// the split, else through the hook (in the packed read's k order).
template <class H>
TF_DEVICE void skinny_fetch_weight(const typename H::Params& p, long long row, long long rows, long long k,
                                   long long kend, long long K, bool vec, unsigned s2, unsigned (&out)[8],
                                   unsigned& s, bool& raw) {
  raw = false;
  if constexpr (H::kWeightRead != 0) {
    if (vec && row < rows && k + 16 <= kend) {
      if constexpr (H::kWeightScale == 3) s2 = weight_scale2<H>(p, row, rows, k);
      s = s2;
      raw = true;
      skinny_weight_raw16<H>(p, row, k, K, out);
      return;
    }
  }
  skinny_fetch16<H, 1>(p, row, rows, k, kend, K, vec, out);
  if constexpr (H::kWeightRead == 2) nibble_order(out);
}

// Issues a block's loads. s2: the two weight rows' scale pairs (per tensor or per row; a
// group's is read here).
template <class H>
TF_DEVICE void skinny_load(const typename H::Params& p, SkinnyBlock& b, long long n, long long N, long long M,
                           long long k, long long kend, long long K, bool vec, int r, bool two,
                           const unsigned (&s2)[2]) {
  skinny_fetch_weight<H>(p, n + r, N, k, kend, K, vec, s2[0], b.w0, b.s[0], b.raw[0]);
  skinny_fetch_weight<H>(p, n + r + 8, N, k, kend, K, vec, s2[1], b.w1, b.s[1], b.raw[1]);
  skinny_fetch16<H, 0>(p, r, M, k, kend, K, vec, b.x0);
  if (two) skinny_fetch16<H, 0>(p, r + 8, M, k, kend, K, vec, b.x1);
}

// What a block needs once its loads are in: raw weights converted, x in the int4 k order.
template <class H>
TF_DEVICE void skinny_finish(SkinnyBlock& b, bool two) {
  if constexpr (H::kWeightRead != 0) {
    if (b.raw[0]) weight_convert<H>(b.w0, b.s[0]);
    if (b.raw[1]) weight_convert<H>(b.w1, b.s[1]);
  }
  if constexpr (H::kWeightRead == 2) {
    nibble_order(b.x0);
    if (two) nibble_order(b.x1);
  }
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
  // One block's loads in flight while the other converts and multiplies; two named blocks
  // (the loop unrolled by two) rather than a copy of the next into the current one, which
  // took a select per register.
  SkinnyBlock b0, b1;
  unsigned s2[2] = {0u, 0u};
  if constexpr (H::kWeightScale == 1 || H::kWeightScale == 2) {
    s2[0] = weight_scale2<H>(p, n + r, N, 0);
    s2[1] = weight_scale2<H>(p, n + r + 8, N, 0);
  }
  const long long lane_k = 16 * q;
  if (kbegin < kend) skinny_load<H>(p, b0, n, N, M, kbegin + lane_k, kend, K, vec, r, two, s2);
  for (long long kb = kbegin; kb < kend; kb += 128) {
    const bool second = kb + 64 < kend;
    if (second) skinny_load<H>(p, b1, n, N, M, kb + 64 + lane_k, kend, K, vec, r, two, s2);
    skinny_finish<H>(b0, two);
    skinny_mma<H>(b0, acc, two);
    if (!second) break;
    if (kb + 128 < kend) skinny_load<H>(p, b0, n, N, M, kb + 128 + lane_k, kend, K, vec, r, two, s2);
    skinny_finish<H>(b1, two);
    skinny_mma<H>(b1, acc, two);
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
