// The decode GEMM of a weight computed in its load (kBLayout 3: B's prologue runs over
// [N, K], a dequantized int8, int4 or fp8 weight): M <= 16 rows of x against the weight,
// which is the MMA's A operand (C^T = W x^T, mma.sync m16n8k16), each warp taking 16 weight
// rows. K is split over the CTAs of a tile as gemm_kernel splits it (a cluster on sm_90),
// and the epilogue is gemm_kernel's. Two forms of the main loop:
// - the TMA form (kWeightTma: sm_90, a packed weight read, x plain; the host makes the maps
//   where the operands are aligned): the weight's raw bytes and x come by TMA into a ring of
//   shared memory stages (SkinnyTma below);
// - the register form (any prologue, any alignment): each warp streams its weight rows
//   from memory into registers, several blocks ahead, and x is staged per CTA by cp.async.
//
// Lane (r, q) = (lane / 4, lane % 4) takes k = kb + 16q .. kb + 16q + 15 of weight rows
// skinny_row(r) and skinny_row(r) + 8 of its warp's 16 and of x rows r and r + 8 (a block
// of 64 of K per warp). The MMA sums over k in any order both operands agree on: step s (of
// 4) puts the lane's k = kb + 16q + 4s + 0, 1 in the fragment slots of columns 2q, 2q + 1,
// and + 2, 3 in those of 2q + 8, 2q + 9.
//
// Hooks beyond gemm_kernel's: kBLayout == 3, kBM == 16, kWarpsM == 1, kBN == 16 * kWarpsN;
// kWeightRead, kWeightScale, kWeightGroup(s), kWeightTma, kWeightStages (kBK: bytes of a
// weight row per stage), and with a packed read w_ptr and ws_ptr (the raw weight and
// scale).
#ifndef TILEFUSE_KERNELS_GEMM_SKINNY_CUH_
#define TILEFUSE_KERNELS_GEMM_SKINNY_CUH_

namespace tf {

// The slow path of skinny_fetch16, out of line so that the main loop's code stays small.
template <class H>
__device__ __noinline__ void skinny_fetch16_slow(const typename H::Params& p, long long row, long long rows,
                                                 long long k, long long kend, long long K, float* v) {
  hook_load_elements<H, 1>(p, row, rows, k, kend, K, 16, v);
}

// 16 consecutive elements of weight row `row` at k read through the B hook, as 8 packed
// registers; zero past `rows` and past `kend` (the split's end).
template <class H>
TF_DEVICE void skinny_fetch16(const typename H::Params& p, long long row, long long rows, long long k,
                              long long kend, long long K, bool vec, unsigned (&out)[8]) {
  float v[16];
  if (vec && row < rows && k + 16 <= kend) {
    H::template load_in1<16>(p, row * K + k, v);
  } else {
    float slow[16];
    skinny_fetch16_slow<H>(p, row, rows, k, kend, K, slow);
#pragma unroll
    for (int e = 0; e < 16; ++e) v[e] = slow[e];
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = pack2<H::kF16>(v[2 * i], v[2 * i + 1]);
}

// ---- Packed weight reads (H::kWeightRead 1: int8, 2: int4, 3: e4m3; runtime/fusion/weight_read.h) ----
// The prologue is f32(q) [* scale], the scale in the operand's 16-bit type: the raw bytes
// become exact 16-bit values (kernels/packed_weights.cuh), and one paired multiply by the
// scale rounds as the reference's cast does (the product of such a q and a 16-bit float
// is exact in f32). The generic hook took some four times the instructions per weight.

// int4 pairs come out as (k, k + 4) of each 8 k; x's consecutive pairs are put in that
// order, so that both operands agree on each slot's k.
TF_DEVICE void nibble_order(unsigned (&r)[8]) {
#pragma unroll
  for (int j = 0; j < 8; j += 4) {
    const unsigned a = r[j], b = r[j + 1], c = r[j + 2], d = r[j + 3];
    r[j] = __byte_perm(a, c, 0x5410), r[j + 1] = __byte_perm(a, c, 0x7632);
    r[j + 2] = __byte_perm(b, d, 0x5410), r[j + 3] = __byte_perm(b, d, 0x7632);
  }
}

// The register form's constants.
template <class H>
struct Skinny {
  // Registers of one weight row's 16 k as loaded: 16 bytes of int8 or e4m3, 8 of int4,
  // or the hook's 8 packed pairs.
  static constexpr int kRaw = H::kWeightRead == 1 || H::kWeightRead == 3 ? 4 : H::kWeightRead == 2 ? 2 : 8;
  // Blocks of 64 k whose weight loads a warp keeps in flight (fewer for the hook's wider
  // registers).
  static constexpr int kDepth = H::kWeightRead != 0 ? 4 : 2;
  // x in shared memory: chunks of 256 k (4 blocks), rows padded by 64 bytes so that the
  // 16-byte reads of lanes (r, q) and (r + 1, q') fall in different banks (a row 4 chunks
  // of 16 bytes further round the 8 that share the banks).
  static constexpr int kChunk = 256, kBlocks = kChunk / 64;
  static constexpr int kXRow = kChunk * 2 + 64, kXBytes = 16 * kXRow;
  static_assert(kBlocks % kDepth == 0, "a chunk's blocks cycle through the load buffers");
};

// The scale of weight row `row` at k, its 16 bits (zero past the rows); weight_convert
// makes the pair, so that a group scale's load is not waited for when it is issued.
template <class H>
TF_DEVICE unsigned weight_scale(const typename H::Params& p, long long row, long long rows, long long k) {
  if constexpr (H::kWeightScale == 0) {
    return 0;
  } else {
    long long at = 0;
    if constexpr (H::kWeightScale == 2) at = row;
    if constexpr (H::kWeightScale == 3) {
      // K < 2^24 (the dequant's group index is exact in f32): 32-bit division.
      at = row * H::kWeightGroups + static_cast<unsigned>(k) / static_cast<unsigned>(H::kWeightGroup);
    }
    return row < rows ? H::ws_ptr(p)[at] : 0u;
  }
}

// A weight row's 16 bytes (int8, e4m3) or nibbles (int4) at k, byte by byte: zero past
// the rows and past kend (a zero byte or nibble is the value 0). Out of line: tails and
// misaligned weights only.
template <class H>
__device__ __noinline__ void skinny_weight_bytes(const typename H::Params& p, long long row, long long rows,
                                                 long long k, long long kend, long long K, unsigned* out) {
  const unsigned char* src = H::w_ptr(p);
  for (int i = 0; i < Skinny<H>::kRaw; ++i) out[i] = 0;
  for (int e = 0; e < 16; ++e) {
    if (row >= rows || k + e >= kend) continue;
    const long long at = row * K + k + e;
    if constexpr (H::kWeightRead != 2) {
      out[e / 4] |= static_cast<unsigned>(src[at]) << (8 * (e % 4));
    } else {
      out[e / 8] |= ((static_cast<unsigned>(src[at / 2]) >> (4 * (at & 1))) & 0xfu) << (4 * (e % 8));
    }
  }
}

// Issues the loads of weight row `row`'s 16 k at k: raw bytes with a packed read (and its
// scale s, 16 bits), else through the hook. `at` addresses the 16 when `fast` (the row and
// the 16 k in range, aligned): the kernel keeps a pointer per row rather than computing
// row * K + k per block, which took more instructions than the conversion.
template <class H>
TF_DEVICE void skinny_weight_load(const typename H::Params& p, const unsigned char* at, bool fast, long long row,
                                  long long rows, long long k, long long kend, long long K, bool vec, unsigned scale,
                                  unsigned (&w)[Skinny<H>::kRaw], unsigned& s) {
  if constexpr (H::kWeightRead != 0) {
    if constexpr (H::kWeightScale == 3) scale = weight_scale<H>(p, row, rows, k);
    s = scale;
    if (fast) {
      // Read once: no L1 allocation.
      if constexpr (H::kWeightRead != 2) {
        asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(w[0]), "=r"(w[1]), "=r"(w[2]), "=r"(w[3]) : "l"(at));
      } else {
        asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];" : "=r"(w[0]), "=r"(w[1]) : "l"(at));
      }
    } else {
      unsigned bytes[Skinny<H>::kRaw];
      skinny_weight_bytes<H>(p, row, rows, k, kend, K, bytes);
#pragma unroll
      for (int i = 0; i < Skinny<H>::kRaw; ++i) w[i] = bytes[i];
    }
  } else {
    (void)at, (void)fast, (void)scale;
    s = 0;
    skinny_fetch16<H>(p, row, rows, k, kend, K, vec, w);
  }
}

// Where a packed read's scale applies (kernels' choice; the reference rounds each q * scale
// to the operand type, these sum in f32 first, well inside the GEMM's rounding):
// 0: in the conversion, a 16-bit multiply per weight pair; 1 (per tensor or per row, the
// same for a column's whole sum): to the f32 sum after the K loop; 2 (groups of a multiple
// of 64 k, the TMA form): to each 64-k block's f32 sum (a block's 16 k per lane share a
// group). 1 and 2 take a fraction of the multiplies of 0.
template <class H>
inline constexpr int kSkinnyScaleAt = H::kWeightRead == 0 || H::kWeightScale == 0 ? 0
                                      : H::kWeightScale != 3                       ? 1
                                      : H::kWeightGroup % 64 == 0                  ? 2
                                                                                   : 0;

// A scale's 16 bits (the operand type) as f32.
template <bool kF16>
TF_DEVICE float scale_f32(unsigned s) {
  if constexpr (kF16) {
    float f;
    asm("{.reg .b16 h;\n cvt.u16.u32 h, %1;\n cvt.f32.f16 %0, h;\n}" : "=f"(f) : "r"(s));
    return f;
  } else {
    return __uint_as_float(s << 16);
  }
}

// A weight row's loaded registers as 8 registers of the operand type (times its scale s,
// 16 bits, with kScale).
template <class H, bool kScale = true>
TF_DEVICE void weight_convert(const unsigned (&w)[Skinny<H>::kRaw], unsigned s, unsigned (&out)[8]) {
  constexpr bool f16 = H::kF16;
  if constexpr (H::kWeightRead == 0) {
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = w[i];
    return;
  } else if constexpr (H::kWeightRead == 1) {
#pragma unroll
    for (int i = 0; i < 4; ++i) i8x4_to_pairs<f16>(w[i], out[2 * i], out[2 * i + 1]);
  } else if constexpr (H::kWeightRead == 3) {
    // One test of the 16 codes for NaN, one branch.
    unsigned nan = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      e4m3x4_to_pairs_finite<f16>(w[i], out[2 * i], out[2 * i + 1]);
      nan |= e4m3x4_has_nan(w[i]);
    }
    if constexpr (!f16) {
      if (__builtin_expect(nan != 0, 0)) {
#pragma unroll
        for (int i = 0; i < 4; ++i) e4m3x4_mend_nan(w[i], out[2 * i], out[2 * i + 1]);
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      unsigned pairs[4];
      i4x8_to_pairs<f16>(w[i], pairs);
#pragma unroll
      for (int j = 0; j < 4; ++j) out[4 * i + j] = pairs[j];
    }
  }
  if constexpr (kScale && H::kWeightRead != 0 && H::kWeightScale != 0) {
    const unsigned s2 = __byte_perm(s, 0, 0x1010);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = fma2<f16>(out[i], s2, 0x80008000u);  // + -0 keeps a zero's sign
  }
}

// The weight loads of one block in flight: rows r and r + 8.
template <class H>
struct SkinnyWeights {
  unsigned w0[Skinny<H>::kRaw], w1[Skinny<H>::kRaw];
  unsigned s0, s1;
};

// A lane's two weight rows: where their 16 k of the split's first block start (packed
// reads), and whether each row is in range.
struct SkinnyRows {
  const unsigned char* at[2];
  bool ok[2];
};

// Block b of the split: its weight rows' loads, the 16 k from kbegin + 64b + 16q (scale:
// the rows' scales when per tensor or per row).
template <class H>
TF_DEVICE void skinny_weights_load(const typename H::Params& p, SkinnyWeights<H>& w, const SkinnyRows& rows,
                                   long long b, long long n, long long N, long long k, long long kend, long long K,
                                   bool vec, int r, const unsigned (&scale)[2]) {
  // Bytes per 64 k of a row: 64 of int8 or e4m3, 32 of int4.
  constexpr long long kBlockBytes = H::kWeightRead == 2 ? 32 : 64;
  const bool kfast = vec && k + 16 <= kend;
  skinny_weight_load<H>(p, rows.at[0] + b * kBlockBytes, kfast && rows.ok[0], n + r, N, k, kend, K, vec, scale[0],
                        w.w0, w.s0);
  skinny_weight_load<H>(p, rows.at[1] + b * kBlockBytes, kfast && rows.ok[1], n + r + 8, N, k, kend, K, vec, scale[1],
                        w.w1, w.s1);
}

// Fills x's chunk at k0 (16 rows, zero past M and past kend) into shared memory `xs`:
// cp.async where x is plain and aligned, else through its hook; one commit group.
template <class H, int kThreads>
TF_DEVICE void skinny_fill_x(const typename H::Params& p, char* xs, long long k0, long long kend, long long M,
                             long long K, bool vec) {
  using S = Skinny<H>;
  constexpr int kPerRow = S::kChunk / 8;  // 16-byte pieces
  for (int i = threadIdx.x; i < 16 * kPerRow; i += kThreads) {
    const int m = i / kPerRow, c = i % kPerRow;
    const long long k = k0 + 8 * c;
    char* dst = xs + m * S::kXRow + c * 16;
    const bool fast = vec && m < M && k + 8 <= kend;
    if constexpr (H::kAsyncA) {
      if (fast) {
        cp_async16(smem_addr(dst), H::a_ptr(p) + m * K + k, true);
        continue;
      }
    }
    float v[8];
    if (fast) {
      H::template load_in0<8>(p, m * K + k, v);
    } else {
      hook_load_elements<H, 0>(p, m, M, k, kend, K, 8, v);
    }
    *reinterpret_cast<uint4*>(dst) = pack8<H::kF16>(v);
  }
  cp_async_commit();
}

// x rows r and r + 8 at local k of a chunk: 16 k each as 8 registers.
template <class H>
TF_DEVICE void skinny_x(const char* xs, int r, int k, bool two, unsigned (&x0)[8], unsigned (&x1)[8]) {
  using S = Skinny<H>;
  const uint4* a = reinterpret_cast<const uint4*>(xs + r * S::kXRow + 2 * k);
  uint4 lo = a[0], hi = a[1];
  x0[0] = lo.x, x0[1] = lo.y, x0[2] = lo.z, x0[3] = lo.w, x0[4] = hi.x, x0[5] = hi.y, x0[6] = hi.z, x0[7] = hi.w;
  if (two) {
    const uint4* b = reinterpret_cast<const uint4*>(xs + (r + 8) * S::kXRow + 2 * k);
    lo = b[0], hi = b[1];
    x1[0] = lo.x, x1[1] = lo.y, x1[2] = lo.z, x1[3] = lo.w, x1[4] = hi.x, x1[5] = hi.y, x1[6] = hi.z, x1[7] = hi.w;
  }
  if constexpr (H::kWeightRead == 2) {
    nibble_order(x0);
    if (two) nibble_order(x1);
  }
}

template <class H>
TF_DEVICE void skinny_mma(const unsigned (&w0)[8], const unsigned (&w1)[8], const unsigned (&x0)[8],
                          const unsigned (&x1)[8], float (&acc)[2][4], bool two) {
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    const unsigned a[4] = {w0[2 * s], w1[2 * s], w0[2 * s + 1], w1[2 * s + 1]};
    mma16816<H::kF16>(acc[0], a, x0[2 * s], x0[2 * s + 1]);
    if (two) mma16816<H::kF16>(acc[1], a, x1[2 * s], x1[2 * s + 1]);
  }
}

// The weight row of fragment row r (0..7) in its warp's 16: rows whose lanes read shared
// memory in one phase of the TMA form (16-byte reads: r and r ^ 1; 8-byte reads of int4:
// r .. r + 3 of each 4) differ in the 128-byte swizzle's row bits, so that their reads fall
// in different banks. Both forms order rows this way; the epilogue puts them back.
template <class H>
TF_DEVICE int skinny_row(int r) {
  if constexpr (H::kWeightRead == 2) return ((r & 3) << 1) | (r >> 2);
  return (r >> 1) | ((r & 1) << 2);
}

// The register form's main loop: x through shared memory in chunks of 256 k, each warp's
// weight loads kDepth blocks ahead in registers.
template <class H>
TF_DEVICE void skinny_register_loop(const typename H::Params& p, char* smem, long long n, int rr, int q,
                                    long long kbegin, long long kend, bool vec, bool two,
                                    const unsigned (&scale)[2], float (&acc)[2][4]) {
  using S = Skinny<H>;
  constexpr int kThreads = 32 * H::kWarpsN;
  const long long M = p.rows, N = p.cols, K = p.depth;
  const long long blocks = (kend - kbegin + 63) / 64, chunks = (kend - kbegin + S::kChunk - 1) / S::kChunk;
  const long long lane_k = 16 * q;
  SkinnyRows rows;
#pragma unroll
  for (int t = 0; t < 2; ++t) {
    const long long row = n + rr + 8 * t;
    rows.ok[t] = row < N;
    rows.at[t] = nullptr;
    if constexpr (H::kWeightRead != 0) {
      const long long first = (rows.ok[t] ? row : 0) * K + kbegin + lane_k;  // even: K % 16 == 0 where used
      rows.at[t] = H::w_ptr(p) + (H::kWeightRead == 2 ? first / 2 : first);
    }
  }
  // Block b's weights go to buf[b % kDepth], loaded kDepth blocks before they multiply.
  SkinnyWeights<H> buf[S::kDepth];
#pragma unroll
  for (int j = 0; j < S::kDepth; ++j) {
    if (j < blocks) skinny_weights_load<H>(p, buf[j], rows, j, n, N, kbegin + 64 * j + lane_k, kend, K, vec, rr, scale);
  }
  if (chunks > 0) skinny_fill_x<H, kThreads>(p, smem, kbegin, kend, M, K, vec);
  for (long long c = 0; c < chunks; ++c) {
    // The next chunk's x loads while this one multiplies (an empty group after the last).
    char* xs = smem + (c & 1) * S::kXBytes;
    if (c + 1 < chunks) {
      skinny_fill_x<H, kThreads>(p, smem + ((c + 1) & 1) * S::kXBytes, kbegin + (c + 1) * S::kChunk, kend, M, K, vec);
    } else {
      cp_async_commit();
    }
    cp_async_wait<1>();
    __syncthreads();
    // Unrolled by kDepth only (the buffers' indices are constants): the hook path's loads
    // are long, and NVRTC's time grows with their copies.
#pragma unroll 1
    for (int j0 = 0; j0 < S::kBlocks; j0 += S::kDepth) {
#pragma unroll
      for (int d = 0; d < S::kDepth; ++d) {
        const long long b = c * S::kBlocks + j0 + d;
        if (b >= blocks) break;
        SkinnyWeights<H>& wb = buf[d];
        unsigned w0[8], w1[8], x0[8], x1[8];
        weight_convert<H, kSkinnyScaleAt<H> != 1>(wb.w0, wb.s0, w0);
        weight_convert<H, kSkinnyScaleAt<H> != 1>(wb.w1, wb.s1, w1);
        if (b + S::kDepth < blocks) {
          skinny_weights_load<H>(p, wb, rows, b + S::kDepth, n, N, kbegin + 64 * (b + S::kDepth) + lane_k, kend, K,
                                 vec, rr, scale);
        }
        skinny_x<H>(xs, threadIdx.x % 32 / 4, 64 * (j0 + d) + static_cast<int>(lane_k), two, x0, x1);
        skinny_mma<H>(w0, w1, x0, x1, acc, two);
      }
    }
    __syncthreads();  // every warp is done with xs before it is filled again
  }
}

// ---- The TMA form (H::kWeightTma: sm_90, a packed read, x plain; SkinnyWeightTma) ----
// Stage s holds chunk c (s = c % kStages) of the CTA's K slice: kBK bytes of each of its kBN
// weight rows (kChunk = kBK k of int8 or e4m3, 2 kBK of int4) as boxes of 128 bytes by kBN
// rows, then x's same k as boxes of 64 k by 16 rows, all 128-byte swizzled (16-byte unit u
// of row R at u ^ (R % 8)). Thread 0 issues the copies; each warp releases a stage on its
// "empty" mbarrier once it has read it, and thread 0, a chunk later (so that it rarely
// waits), refills it kStages chunks ahead. Bytes in flight cost shared memory, not
// registers. (Stages of 2 or 4 boxes of a row, kBK 256 or 512, timed no faster than one.)
template <class H>
struct SkinnyTma {
  static constexpr int kRowBytes = H::kBK, kChunk = H::kWeightRead == 2 ? 2 * kRowBytes : kRowBytes;
  static constexpr int kBlocks = kChunk / 64, kBlocksPerBox = H::kWeightRead == 2 ? 4 : 2;
  static constexpr int kStages = H::kWeightStages;
  static constexpr int kBoxBytes = H::kBN * 128, kWBytes = H::kBN * kRowBytes, kXBytes = kBlocks * 2048;
  static constexpr int kStageBytes = kWBytes + kXBytes;
};

template <class H>
TF_DEVICE void skinny_tma_issue(const TmaDesc* tx, const TmaDesc* tw, char* stage, unsigned long long* full,
                                long long k, long long kend, long long n0) {
  using T = SkinnyTma<H>;
  // Boxes whose k start past the slice are not copied (the consumers skip their blocks).
  const int blocks = kend - k >= T::kChunk ? T::kBlocks : static_cast<int>((kend - k + 63) / 64);
  const int wboxes = (blocks + T::kBlocksPerBox - 1) / T::kBlocksPerBox;
  mbar_expect_tx(full, wboxes * T::kBoxBytes + blocks * 2048);
  const long long byte = H::kWeightRead == 2 ? k / 2 : k;
  for (int j = 0; j < wboxes; ++j) {
    tma_load_2d(stage + j * T::kBoxBytes, tw, full, static_cast<int>(byte + 128 * j), static_cast<int>(n0));
  }
  for (int b = 0; b < blocks; ++b) tma_load_2d(stage + T::kWBytes + b * 2048, tx, full, static_cast<int>(k + 64 * b), 0);
  mbar_arrive(full);
}

// Lane (r, q)'s 16 k of weight rows R and R + 8 in block b of a stage, as loaded (raw).
template <class H>
TF_DEVICE void skinny_tma_weights(const char* stage, int R, int q, int b, unsigned (&w0)[Skinny<H>::kRaw],
                                  unsigned (&w1)[Skinny<H>::kRaw]) {
  using T = SkinnyTma<H>;
  const char* w = stage + (b / T::kBlocksPerBox) * T::kBoxBytes;
  const int bb = b % T::kBlocksPerBox;
  if constexpr (H::kWeightRead == 2) {  // 32 bytes a block: unit 2bb + q / 2, its half q % 2
    const int u = 2 * bb + q / 2, half = 8 * (q % 2);
    const uint2 a = *reinterpret_cast<const uint2*>(w + R * 128 + ((u ^ (R & 7)) << 4) + half);
    const uint2 c = *reinterpret_cast<const uint2*>(w + (R + 8) * 128 + ((u ^ (R & 7)) << 4) + half);
    w0[0] = a.x, w0[1] = a.y, w1[0] = c.x, w1[1] = c.y;
  } else {  // 64 bytes a block: unit 4bb + q
    const int u = 4 * bb + q;
    const uint4 a = *reinterpret_cast<const uint4*>(w + R * 128 + ((u ^ (R & 7)) << 4));
    const uint4 c = *reinterpret_cast<const uint4*>(w + (R + 8) * 128 + ((u ^ (R & 7)) << 4));
    w0[0] = a.x, w0[1] = a.y, w0[2] = a.z, w0[3] = a.w;
    w1[0] = c.x, w1[1] = c.y, w1[2] = c.z, w1[3] = c.w;
  }
}

// x rows r and r + 8 at k 16q .. 16q + 15 of a 64-k box: units 2q and 2q + 1 of the rows.
template <class H>
TF_DEVICE void skinny_tma_x(const char* xb, int r, int q, bool two, unsigned (&x0)[8], unsigned (&x1)[8]) {
  const int u0 = ((2 * q) ^ (r & 7)) << 4, u1 = ((2 * q + 1) ^ (r & 7)) << 4;
  uint4 lo = *reinterpret_cast<const uint4*>(xb + r * 128 + u0), hi = *reinterpret_cast<const uint4*>(xb + r * 128 + u1);
  x0[0] = lo.x, x0[1] = lo.y, x0[2] = lo.z, x0[3] = lo.w, x0[4] = hi.x, x0[5] = hi.y, x0[6] = hi.z, x0[7] = hi.w;
  if (two) {
    const char* row = xb + (r + 8) * 128;
    lo = *reinterpret_cast<const uint4*>(row + u0), hi = *reinterpret_cast<const uint4*>(row + u1);
    x1[0] = lo.x, x1[1] = lo.y, x1[2] = lo.z, x1[3] = lo.w, x1[4] = hi.x, x1[5] = hi.y, x1[6] = hi.z, x1[7] = hi.w;
  }
  if constexpr (H::kWeightRead == 2) {
    nibble_order(x0);
    if (two) nibble_order(x1);
  }
}

template <class H>
TF_DEVICE void skinny_tma_loop(const typename H::Params& p, const TmaDesc* tx, const TmaDesc* tw, char* smem,
                               long long n0, long long n, int rr, int q, long long kbegin, long long kend, bool two,
                               const unsigned (&scale)[2], float (&acc)[2][4]) {
  using T = SkinnyTma<H>;
  constexpr int ST = T::kStages;
  char* stages = align1024(smem);
  unsigned long long* full = reinterpret_cast<unsigned long long*>(stages + ST * T::kStageBytes);
  unsigned long long* empty = full + ST;
  const long long N = p.cols;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = lane / 4;
  const int R = warp * 16 + rr;  // the lane's first weight row in the stage
  const long long chunks = (kend - kbegin + T::kChunk - 1) / T::kChunk;
  if (threadIdx.x == 0) {
    for (int s = 0; s < ST; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], H::kWarpsN);
    }
    fence_mbarrier_init();
    for (int s = 0; s < ST && s < chunks; ++s) {
      skinny_tma_issue<H>(tx, tw, stages + s * T::kStageBytes, &full[s], kbegin + s * T::kChunk, kend, n0);
    }
  }
  __syncthreads();
  for (long long c = 0; c < chunks; ++c) {
    const int s = static_cast<int>(c % ST);
    const long long k0 = kbegin + c * T::kChunk;
    // Group scales a block ahead (the first before the wait, which hides its latency);
    // none past the slice. Per tensor or per row: `scale`.
    unsigned gs[2][2];
    const auto group_scales = [&](int b, unsigned (&g)[2]) {
#pragma unroll
      for (int t = 0; t < 2; ++t) {
        g[t] = scale[t];
        const long long k = k0 + 64 * b + 16 * q;
        if constexpr (H::kWeightScale == 3) g[t] = k < kend ? weight_scale<H>(p, n + rr + 8 * t, N, k) : 0u;
      }
    };
    group_scales(0, gs[0]);
    mbar_wait(&full[s], static_cast<unsigned>(c / ST) & 1);
    const char* stage = stages + s * T::kStageBytes;
#pragma unroll
    for (int b = 0; b < T::kBlocks; ++b) {
      if (k0 + 64 * b >= kend) break;  // past the slice: its boxes were not copied
      if (b + 1 < T::kBlocks) group_scales(b + 1, gs[(b + 1) & 1]);
      unsigned raw0[Skinny<H>::kRaw], raw1[Skinny<H>::kRaw], w0[8], w1[8], x0[8], x1[8];
      skinny_tma_weights<H>(stage, R, q, b, raw0, raw1);
      skinny_tma_x<H>(stage + T::kWBytes + b * 2048, r, q, two, x0, x1);
      weight_convert<H, kSkinnyScaleAt<H> == 0>(raw0, gs[b & 1][0], w0);
      weight_convert<H, kSkinnyScaleAt<H> == 0>(raw1, gs[b & 1][1], w1);
      if constexpr (kSkinnyScaleAt<H> == 2) {
        // The block's sum from zero, then times each row's group scale into acc.
        float part[2][4] = {};
        skinny_mma<H>(w0, w1, x0, x1, part, two);
        const float s0 = scale_f32<H::kF16>(gs[b & 1][0]), s1 = scale_f32<H::kF16>(gs[b & 1][1]);
#pragma unroll
        for (int t = 0; t < 2; ++t) {
          acc[t][0] = fmaf(part[t][0], s0, acc[t][0]), acc[t][1] = fmaf(part[t][1], s0, acc[t][1]);
          acc[t][2] = fmaf(part[t][2], s1, acc[t][2]), acc[t][3] = fmaf(part[t][3], s1, acc[t][3]);
        }
      } else {
        skinny_mma<H>(w0, w1, x0, x1, acc, two);
      }
    }
    __syncwarp();
    if (lane == 0) mbar_arrive(&empty[s]);
    // The stage of the chunk before: every warp is done with it, or nearly.
    if (threadIdx.x == 0 && c >= 1 && c - 1 + ST < chunks) {
      const int sp = static_cast<int>((c - 1) % ST);
      mbar_wait(&empty[sp], static_cast<unsigned>((c - 1) / ST) & 1);
      skinny_tma_issue<H>(tx, tw, stages + sp * T::kStageBytes, &full[sp], kbegin + (c - 1 + ST) * T::kChunk, kend,
                          n0);
    }
    __syncwarp();
  }
  __syncthreads();  // every stage read: the epilogue's tile takes their memory
}

template <class H>
TF_DEVICE void gemm_skinny_kernel(const typename H::Params& p, const TmaDesc* tx = nullptr,
                                  const TmaDesc* tw = nullptr) {
  using S = Skinny<H>;
  static_assert(H::kBLayout == 3 && H::kBM == 16 && H::kWarpsM == 1 && H::kBN == 16 * H::kWarpsN,
                "the skinny GEMM: B computed over [N, K], 16 rows of C, 16 weight rows per warp");
  static_assert(!H::kSplitF32 && !H::kRowEpilogue, "bf16 or f16 operands, a plain epilogue");
  static_assert(H::kSmemBytes >= 2 * S::kXBytes, "two x chunks in shared memory (GemmConfig::SmemBytes)");
  constexpr int BN = H::kBN, kThreads = 32 * H::kWarpsN, SK = H::kSplitK;
  extern __shared__ __align__(128) char smem[];
  const long long M = p.rows, N = p.cols, K = p.depth;
  const long long tiles = (N + BN - 1) / BN;
  const long long tile = SK == 1 ? blockIdx.x : H::kClusterSplit ? blockIdx.x / SK : blockIdx.x % tiles;
  const int split = SK == 1 ? 0 : static_cast<int>(H::kClusterSplit ? blockIdx.x % SK : blockIdx.x / tiles);
  const long long n0 = tile * BN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, q = lane % 4;
  const int rr = skinny_row<H>(lane / 4);
  const long long n = n0 + warp * 16;
  // 16-element loads: aligned where K is a multiple of 16 (1-byte and packed types).
  const bool vec = p.vector_ok && K % 16 == 0;
  const bool two = M > 8;
  // The TMA form where the host made the maps (plan.cc): weight rows of whole 16-byte
  // chunks, operands aligned.
  bool tma = false;
  if constexpr (H::kWeightTma) tma = vec && (H::kWeightRead != 2 || K % 32 == 0);
  // Its chunks, 128 or 256 k; the register form's blocks, 64.
  const long long unit = tma ? SkinnyTma<H>::kChunk : 64;

  // K slices of whole units; the accumulators' start (a bias) in split 0 only. Row n + rr
  // of the weight is column n + rr of C: fragments 0, 1 are column n + rr, 2, 3 column
  // n + rr + 8.
  const long long per = (K + unit * SK - 1) / (unit * SK) * unit;
  const long long kbegin = split * per < K ? split * per : K;
  const long long kend = kbegin + per < K ? kbegin + per : K;
  // With the scale after the K loop (kSkinnyScaleAt 1) the sums start at zero and the start
  // is added then.
  float acc[2][4];
  float2 lo = make_float2(0.f, 0.f), hi = make_float2(0.f, 0.f);
  if (split == 0) {
    lo = gemm_acc_start<H>(p, n + rr, N);
    hi = gemm_acc_start<H>(p, n + rr + 8, N);
  }
#pragma unroll
  for (int t = 0; t < 2; ++t) {
    acc[t][0] = acc[t][1] = kSkinnyScaleAt<H> == 1 ? 0.f : lo.x;
    acc[t][2] = acc[t][3] = kSkinnyScaleAt<H> == 1 ? 0.f : hi.x;
  }
  unsigned scale[2] = {0u, 0u};  // per tensor or per row: read once
  if constexpr (H::kWeightScale == 1 || H::kWeightScale == 2) {
    scale[0] = weight_scale<H>(p, n + rr, N, 0);
    scale[1] = weight_scale<H>(p, n + rr + 8, N, 0);
  }
  if constexpr (H::kWeightTma) {
    if (tma) skinny_tma_loop<H>(p, tx, tw, smem, n0, n, rr, q, kbegin, kend, two, scale, acc);
  }
  if (!tma) skinny_register_loop<H>(p, smem, n, rr, q, kbegin, kend, vec, two, scale, acc);
  if constexpr (kSkinnyScaleAt<H> == 1) {
    const float s0 = scale_f32<H::kF16>(scale[0]), s1 = scale_f32<H::kF16>(scale[1]);
#pragma unroll
    for (int t = 0; t < 2; ++t) {
      acc[t][0] = fmaf(acc[t][0], s0, lo.x), acc[t][1] = fmaf(acc[t][1], s0, lo.x);
      acc[t][2] = fmaf(acc[t][2], s1, hi.x), acc[t][3] = fmaf(acc[t][3], s1, hi.x);
    }
  }

  // C^T's fragments into the fp32 tile [16 rows of M][BN columns of N].
  float* ctile = reinterpret_cast<float*>(smem);
  const int c0 = warp * 16 + rr;
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
  } else if constexpr (SK > 1) {
    if (!split_k_combine<H, 16, BN, kThreads>(p, ctile, tile, split, tiles)) return;
  }
  gemm_epilogue<H, 16, BN, kThreads>(p, ctile, 0, n0, M, N, threadIdx.x, 0);
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_GEMM_SKINNY_CUH_
