// The GEMM tile kernel: C[M, N] = A[M, K] x B[K, N], bf16 or f16 operands, fp32
// accumulation on tensor cores (mma.sync m16n8k16, ldmatrix), a multistage cp.async
// pipeline, written against the hook contract (kernels/hook_contract.cuh).
//
// Hooks (beyond the contract's load/store):
//   kBM, kBN, kBK, kWarpsM, kWarpsN, kStages   the tile config
//   kF16                                         operands are f16 (else bf16)
//   kSplitF32    f32 operands: each is split into bf16 hi = bf16(x) and lo = bf16(x - hi),
//                and the kernel runs over 3 K pieces, hi x hi + hi x lo + lo x hi (products
//                exact in fp32, about 2^-16 relative error: f32 accuracy on the bf16 MMA).
//                Both operands then go through their hooks (no cp.async)
//   kAsyncA      A has no prologue and is [M, K] contiguous: cp.async from Params::a_ptr
//   kBLayout     0: B goes through load_in1 (a prologue or another layout);
//                1: B is [K, N] contiguous, cp.async from b_ptr; 2: B is a transposed
//                view of [N, K] contiguous (a weight used as w.T), cp.async from b_ptr;
//                3: B is the transpose of a value load_in1 computes over [N, K] (a weight
//                dequantized in the load): 8 consecutive k per hook call, staged as 2 is
//   kDual        a dual GEMM (runtime/fusion/dual_gemm.h): B is K-major (kBLayout 2), a second
//                B comes from b2_ptr (load_in2 on the hook path), and a tile of BN columns
//                multiplies BN / 2 columns of each; the store hook takes both products
//                (store(p, i, v, v2)) for the BN / 2 columns of C
//   kSmemBytes   dynamic shared memory the launch provides
//   kSplitK      CTAs per tile, each over a slice of K
//   kClusterSplit  the kSplitK CTAs of a tile are a thread-block cluster and sum their
//                partials through distributed shared memory (sm_90); else through
//                Params::splitk and splitk_count
// Operands without cp.async are staged through registers: load_in0 (A at m * K + k) or
// load_in1 (B at k * N + n) applies the prologue, the values are rounded to the operand
// type and written to shared memory while the tensor cores work on the previous stage.
// The epilogue stages the fp32 tile through shared memory so that the store hook sees 8
// consecutive columns per call (wide, coalesced stores).
#ifndef TILEFUSE_KERNELS_GEMM_CUH_
#define TILEFUSE_KERNELS_GEMM_CUH_

namespace tf {

TF_DEVICE void ldmatrix_x4(unsigned (&r)[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
TF_DEVICE void ldmatrix_x4_trans(unsigned (&r)[4], unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

template <bool kF16>
TF_DEVICE void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  if constexpr (kF16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Byte offset of 16-byte chunk `c` of row `r` in a tile whose rows hold kChunks chunks,
// XOR-swizzled so that ldmatrix's 8 rows at one logical chunk hit 8 different banks.
template <int kChunks>
TF_DEVICE int swizzle(int r, int c) {
  if constexpr (kChunks >= 8) return (r * kChunks + (c ^ (r & 7))) * 16;
  else if constexpr (kChunks == 4) return (r * kChunks + (c ^ ((r >> 1) & 3))) * 16;
  else if constexpr (kChunks == 2) return (r * kChunks + (c ^ ((r >> 2) & 1))) * 16;
  else return (r * kChunks + c) * 16;
}

// Eight fp32 values rounded to the operand type, packed as 16 bytes.
template <bool kF16>
TF_DEVICE uint4 pack8(const float (&v)[8]) {
  unsigned short h[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) h[e] = kF16 ? to_half(v[e]).bits : to_bf16(v[e]).bits;
  uint4 u;
  u.x = h[0] | (static_cast<unsigned>(h[1]) << 16);
  u.y = h[2] | (static_cast<unsigned>(h[3]) << 16);
  u.z = h[4] | (static_cast<unsigned>(h[5]) << 16);
  u.w = h[6] | (static_cast<unsigned>(h[7]) << 16);
  return u;
}

// The part of eight f32 values that piece `lo` of a split operand holds (kSplitF32): the
// bf16 head, or what the head leaves (x - bf16(x), rounded to bf16 by pack8).
TF_DEVICE void split_piece(float (&v)[8], bool lo) {
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    const float hi = round_bf16(v[e]);
    v[e] = lo ? v[e] - hi : hi;
  }
}

// 8 consecutive k of column n of B (logical [K, N], read through hook input 1, or 2 for a
// dual GEMM's second B, one element at a time: the staging layout wants k contiguous, the
// logical index has n contiguous).
template <class H, int kInput = 1>
TF_DEVICE uint4 fetch_b_column8(const typename H::Params& p, long long n, long long k, long long N,
                                long long K, bool lo) {
  float v[8];
#pragma unroll 1  // the slow path stays small: it serves layouts without an async copy
  for (int e = 0; e < 8; ++e) {
    float one[1] = {0.f};
    if constexpr (kInput == 2) {
      if (n < N && k + e < K) H::template load_in2<1>(p, (k + e) * N + n, one);
    } else {
      if (n < N && k + e < K) H::template load_in1<1>(p, (k + e) * N + n, one);
    }
    v[e] = one[0];
  }
  if constexpr (H::kSplitF32) split_piece(v, lo);
  return pack8<H::kF16>(v);
}

// The fp32 staging tile of the epilogues: rows of kStagingLd<BN> floats (the host sizes
// shared memory with the same pad), and the 16-byte chunk ch of a row stored at
// ch ^ ((ch >> 3) & 1). With it neither access pattern conflicts on shared-memory banks: a
// warp's accumulator stores (float2, 8 rows x 4 lanes: rows start 8 banks apart) and the
// store loop's loads (float4, 8 lanes reading every other chunk of a row). With rows of
// BN + 4 both took twice the wavefronts (no change in GEMM time measured on the H100).
template <int BN>
constexpr int kStagingLd = BN + 8;
template <int BN>
TF_DEVICE int staging_at(int r, int c) {
  const int ch = c >> 2;
  return r * kStagingLd<BN> + ((ch ^ ((ch >> 3) & 1)) << 2) + (c & 3);
}
// V consecutive values of row r from column c (a multiple of V, a power of two up to 8):
// 16-byte chunks stay whole in the staging layout, so one vector load per 4.
template <int BN, int V>
TF_DEVICE void staging_load(const float* ctile, int r, int c, float (&v)[V]) {
  if constexpr (V >= 4) {
#pragma unroll
    for (int e = 0; e < V; e += 4) {
      const float4 q = *reinterpret_cast<const float4*>(ctile + staging_at<BN>(r, c + e));
      v[e] = q.x;
      v[e + 1] = q.y;
      v[e + 2] = q.z;
      v[e + 3] = q.w;
    }
  } else if constexpr (V == 2) {
    const float2 q = *reinterpret_cast<const float2*>(ctile + staging_at<BN>(r, c));
    v[0] = q.x;
    v[1] = q.y;
  } else {
    v[0] = ctile[staging_at<BN>(r, c)];
  }
}

// The accumulators' start for columns n and n + 1 (of every row): zero, or with kAccInit
// the operand folded into them (hook_contract.cuh load_acc); zero past N. No branches: a
// value that reaches wgmma accumulators through one makes ptxas serialize every wgmma of
// the main loop (C7515), so loads at a clamped column and a select.
template <class H>
TF_DEVICE float2 gemm_acc_start(const typename H::Params& p, long long n, long long N) {
  float v[2] = {0.f, 0.f};
  if constexpr (H::kAccInit) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      float one[1];
      H::template load_acc<1>(p, n + e < N ? n + e : N - 1, one);
      v[e] = n + e < N ? one[0] : 0.f;
    }
  }
  return make_float2(v[0], v[1]);
}

// n elements of row `row` of an operand read through hook kInput (row stride ld) from
// column col, one at a time, zero past `rows` and past column `end`: the slow path of the
// register-staged loads (tails and misaligned runs), kept small.
template <class H, int kInput>
TF_DEVICE void hook_load_elements(const typename H::Params& p, long long row, long long rows, long long col,
                                  long long end, long long ld, int n, float* v) {
#pragma unroll 1
  for (int e = 0; e < n; ++e) {
    float one[1] = {0.f};
    if (row < rows && col + e < end) {
      if constexpr (kInput == 0) H::template load_in0<1>(p, row * ld + col + e, one);
      else H::template load_in1<1>(p, row * ld + col + e, one);
    }
    v[e] = one[0];
  }
}

template <class H>
struct Gemm;

// issue()'s path for cp.async operands whose rows are not whole 16-byte chunks (vector_ok
// unset): the hook loads, staged through registers. Out of line: inlined at each of
// issue()'s call sites (the prologue's stages and the main loop) it made up two thirds of
// the decode kernel's 158 KB of code, which each launch fetched cold (4.5 us of 19 at
// M = 16 after another kernel had run; docs/NOTES.md).
template <class H>
__device__ __noinline__ void gemm_issue_hooked(const typename H::Params& p, char* smem, long long M, long long N,
                                               long long K, long long m0, long long n0, int stage, long long k0,
                                               int piece);

template <class H>
struct Gemm {
  static constexpr int BM = H::kBM, BN = H::kBN, BK = H::kBK, ST = H::kStages;
  static constexpr int kThreads = 32 * H::kWarpsM * H::kWarpsN;
  static constexpr int WTM = BM / H::kWarpsM, WTN = BN / H::kWarpsN;
  static constexpr int MT = WTM / 16, NT = WTN / 8;
  static constexpr bool kBColMajor = H::kBLayout == 2 || H::kBLayout == 3;
  static constexpr bool kAsyncB = H::kBLayout == 1 || H::kBLayout == 2;
  // Columns of C per tile: a dual GEMM's tile holds BN / 2 of each product.
  static constexpr int TN = H::kDual ? BN / 2 : BN;
  static_assert(!H::kDual || (H::kBLayout == 2 && !H::kSplitF32 && !H::kAccInit && !H::kRowEpilogue &&
                              H::kReduceOp < 0),
                "dual GEMMs: K-major 16-bit B, no accumulator start, row epilogue or store-site reduction");
  // K pieces: with kSplitF32 the main loop runs K three times (hi x hi, hi x lo, lo x hi).
  static constexpr int kPieces = H::kSplitF32 ? 3 : 1;
  static_assert(!H::kSplitF32 || (!H::kAsyncA && !kAsyncB && !H::kF16),
                "split f32 operands go through their hooks and run on the bf16 MMA");
  // Stage layouts: A as [BM][BK]; B as [BK][BN] or, column-major, [BN][BK].
  static constexpr int kAChunks = BK / 8;
  static constexpr int kBChunks = kBColMajor ? BK / 8 : BN / 8;
  static constexpr int kABytes = BM * BK * 2, kBBytes = BK * BN * 2;
  static constexpr int kStageBytes = kABytes + kBBytes;
  static constexpr int kAPerThread = BM * BK / 8 / kThreads;
  static constexpr int kBPerThread = BK * BN / 8 / kThreads;
  static_assert(WTM % 16 == 0 && WTN % 16 == 0, "warp tiles are multiples of 16x16");
  static_assert(BK % 16 == 0, "BK is a multiple of 16");
  static_assert(kAPerThread >= 1 && BM * BK / 8 % kThreads == 0, "A tile splits evenly over threads");
  static_assert(kBPerThread >= 1 && BK * BN / 8 % kThreads == 0, "B tile splits evenly over threads");

  const typename H::Params& p;
  char* smem;
  long long M, N, K, m0, n0;
  int k_tiles;  // k-tiles of one K piece
  uint4 ra[kAPerThread], rb[kBPerThread];  // register staging for hook loads

  // Row/column of chunk q of the A tile ([BM][BK/8 chunks]) and of the B tile.
  TF_DEVICE static void a_chunk(int q, int& r, int& c) { r = q / kAChunks; c = q % kAChunks; }
  TF_DEVICE static void b_chunk(int q, int& r, int& c) { r = q / kBChunks; c = q % kBChunks; }

  TF_DEVICE void load_a_async(int stage, long long k0) {
    char* base = smem + stage * kStageBytes;
#pragma unroll
    for (int i = 0; i < kAPerThread; ++i) {
      int r, c;
      a_chunk(threadIdx.x + i * kThreads, r, c);
      const long long m = m0 + r, k = k0 + c * 8;
      const bool ok = m < M && k < K;
      const auto* src = ok ? H::a_ptr(p) + m * K + k : H::a_ptr(p);
      cp_async16(smem_addr(base + swizzle<kAChunks>(r, c)), src, ok);
    }
  }

  TF_DEVICE void load_b_async(int stage, long long k0) {
    char* stage_b = smem + stage * kStageBytes + kABytes;
#pragma unroll
    for (int i = 0; i < kBPerThread; ++i) {
      int r, c;
      b_chunk(threadIdx.x + i * kThreads, r, c);
      long long off;
      bool ok;
      const auto* base = H::b_ptr(p);
      if constexpr (kBColMajor) {  // r: n, c: k chunk; memory [N][K]
        // A dual GEMM's rows TN on are the second B's, at the same columns of C.
        const bool second = H::kDual && r >= TN;
        if constexpr (H::kDual) {
          if (second) base = H::b2_ptr(p);
        }
        const long long n = n0 + (second ? r - TN : r), k = k0 + c * 8;
        ok = n < N && k < K;
        off = n * K + k;
      } else {  // r: k, c: n chunk; memory [K][N]
        const long long k = k0 + r, n = n0 + c * 8;
        ok = k < K && n < N;
        off = k * N + n;
      }
      cp_async16(smem_addr(stage_b + swizzle<kBChunks>(r, c)), ok ? base + off : base, ok);
    }
  }

  // Hook loads of 8 consecutive elements starting at flat index i of a [rows, cols] operand.
  template <int kInput>
  TF_DEVICE uint4 fetch8(long long row, long long rows, long long col, long long cols, bool lo) {
    float v[8];
    if (row < rows && col + 8 <= cols && p.vector_ok) {
      if constexpr (kInput == 0) H::template load_in0<8>(p, row * cols + col, v);
      else H::template load_in1<8>(p, row * cols + col, v);
    } else {
      hook_load_elements<H, kInput>(p, row, rows, col, cols, cols, 8, v);
    }
    if constexpr (H::kSplitF32) split_piece(v, lo);
    return pack8<H::kF16>(v);
  }

  // Piece 2 of a split K reads A's lo part, piece 1 B's (split_piece).
  TF_DEVICE void fetch_a(long long k0, int piece) {
#pragma unroll
    for (int i = 0; i < kAPerThread; ++i) {
      int r, c;
      a_chunk(threadIdx.x + i * kThreads, r, c);
      ra[i] = fetch8<0>(m0 + r, M, k0 + c * 8, K, piece == 2);
    }
  }
  TF_DEVICE void fetch_b(long long k0, int piece) {
#pragma unroll
    for (int i = 0; i < kBPerThread; ++i) {
      int r, c;
      b_chunk(threadIdx.x + i * kThreads, r, c);
      if constexpr (H::kBLayout == 3) {  // the hook's index space is [N, K]
        rb[i] = fetch8<1>(n0 + r, N, k0 + c * 8, K, piece == 1);
      } else if constexpr (H::kDual) {  // staged [BN][BK], rows TN on from the second B
        rb[i] = r >= TN ? fetch_b_column8<H, 2>(p, n0 + r - TN, k0 + c * 8, N, K, false)
                        : fetch_b_column8<H, 1>(p, n0 + r, k0 + c * 8, N, K, false);
      } else if constexpr (kBColMajor) {  // staged [BN][BK]
        rb[i] = fetch_b_column8<H>(p, n0 + r, k0 + c * 8, N, K, piece == 1);
      } else {  // staged [BK][BN]: rows k, chunks of n
        rb[i] = fetch8<1>(k0 + r, K, n0 + c * 8, N, piece == 1);
      }
    }
  }
  TF_DEVICE void put_a(int stage) {
    char* base = smem + stage * kStageBytes;
#pragma unroll
    for (int i = 0; i < kAPerThread; ++i) {
      int r, c;
      a_chunk(threadIdx.x + i * kThreads, r, c);
      *reinterpret_cast<uint4*>(base + swizzle<kAChunks>(r, c)) = ra[i];
    }
  }
  TF_DEVICE void put_b(int stage) {
    char* base = smem + stage * kStageBytes + kABytes;
#pragma unroll
    for (int i = 0; i < kBPerThread; ++i) {
      int r, c;
      b_chunk(threadIdx.x + i * kThreads, r, c);
      *reinterpret_cast<uint4*>(base + swizzle<kBChunks>(r, c)) = rb[i];
    }
  }

  // Starts loading k-tile `kt` into `stage`: cp.async, or register fetches put later.
  // When the run's rows are not whole 16-byte chunks (vector_ok unset), the cp.async
  // operands go through their hooks too, synchronously.
  TF_DEVICE void issue(int stage, int kt) {
    const int piece = kPieces == 1 ? 0 : kt / k_tiles;
    const long long k0 = static_cast<long long>(kPieces == 1 ? kt : kt % k_tiles) * BK;
    if constexpr (H::kAsyncA && kAsyncB) {
      if (p.vector_ok) {
        load_a_async(stage, k0);
        load_b_async(stage, k0);
      } else {
        gemm_issue_hooked<H>(p, smem, M, N, K, m0, n0, stage, k0, piece);
      }
      return;
    }
    if constexpr (H::kAsyncA) {
      if (p.vector_ok) {
        load_a_async(stage, k0);
      } else {
        fetch_a(k0, piece);
        put_a(stage);
      }
    } else {
      fetch_a(k0, piece);
    }
    if constexpr (kAsyncB) {
      if (p.vector_ok) {
        load_b_async(stage, k0);
      } else {
        fetch_b(k0, piece);
        put_b(stage);
      }
    } else {
      fetch_b(k0, piece);
    }
  }
  TF_DEVICE void finish(int stage) {
    if constexpr (!H::kAsyncA) put_a(stage);
    if constexpr (!kAsyncB) put_b(stage);
  }

  TF_DEVICE void compute(int stage, float (&acc)[MT][NT][4], int wm, int wn, int lane) {
    const char* a_base = smem + stage * kStageBytes;
    const char* b_base = a_base + kABytes;
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk) {
      unsigned af[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        const int r = wm * WTM + mt * 16 + (lane % 16);
        const int c = kk * 2 + lane / 16;
        ldmatrix_x4(af[mt], smem_addr(a_base + swizzle<kAChunks>(r, c)));
      }
      unsigned bf[NT][2];
#pragma unroll
      for (int nt = 0; nt < NT; nt += 2) {
        unsigned t[4];
        if constexpr (kBColMajor) {  // [n][k]: matrices (n0-7,k0-7) (n0-7,k8-15) (n8-15,k0-7) (n8-15,k8-15)
          const int r = wn * WTN + nt * 8 + (lane % 8) + (lane / 16) * 8;
          const int c = kk * 2 + (lane / 8) % 2;
          ldmatrix_x4(t, smem_addr(b_base + swizzle<kBChunks>(r, c)));
        } else {  // [k][n], transposed: (k0-7,n0-7) (k8-15,n0-7) (k0-7,n8-15) (k8-15,n8-15)
          const int r = kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
          const int c = (wn * WTN + nt * 8) / 8 + lane / 16;
          ldmatrix_x4_trans(t, smem_addr(b_base + swizzle<kBChunks>(r, c)));
        }
        bf[nt][0] = t[0];
        bf[nt][1] = t[1];
        bf[nt + 1][0] = t[2];
        bf[nt + 1][1] = t[3];
      }
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mma16816<H::kF16>(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
    }
  }
};

// A barrier for the threads that run an epilogue: the CTA (bar 0), or the kThreads that
// meet at named barrier `bar` (a warpgroup of the ping-pong kernel).
template <int kThreads>
TF_DEVICE void epilogue_sync(int bar) {
  if (bar == 0) {
    __syncthreads();
  } else {
    asm volatile("bar.sync %0, %1;\n" ::"r"(bar), "n"(kThreads) : "memory");
  }
}

// A Welford store-site reduction (op 5) of the values that gemm_store_tile left in the
// tile: a thread walks its row (axis 1) or column (axis 0) in order. Split: the partial
// state (n, mean, m2) goes to Params::part as three floats.
template <class H, int BM, int BN, int kThreads>
TF_DEVICE void gemm_tile_welford(const typename H::Params& p, const float* ctile, long long m0, long long n0,
                                 long long M, long long N, int tid) {
  constexpr bool kRows = H::kReduceAxis == 1;
  const long long outs = kRows ? BM : BN, len = kRows ? (N - n0 < BN ? N - n0 : BN) : (M - m0 < BM ? M - m0 : BM);
  for (int o = tid; o < outs; o += kThreads) {
    const long long g = kRows ? m0 + o : n0 + o;  // the output: a row or a column of C
    if (g >= (kRows ? M : N)) continue;
    Welford w{0.f, 0.f, 0.f};
    for (int e = 0; e < len; ++e) w = welford_add(w, kRows ? ctile[staging_at<BN>(o, e)] : ctile[staging_at<BN>(e, o)]);
    if constexpr (H::kReduceSplit) {
      const long long slot = kRows ? g * ((N + BN - 1) / BN) + n0 / BN : (m0 / BM) * N + g;
      p.part[3 * slot] = w.n;
      p.part[3 * slot + 1] = w.mean;
      p.part[3 * slot + 2] = w.m2;
    } else {
      H::store_reduced(p, g, w.mean, welford_var(w, H::kCorrection));
    }
  }
}

// One thread's 8 columns (n .. n + 7) of row m of C through the store hook: staged at src
// (the first 4) and src_hi, flat index i = m * N + n. With a store-site reduction, what the
// hook hands back goes over those columns in the tile (its reduction along the row, for
// axis 1). kInterior: the caller knows that the 8 columns are inside C and that vector
// accesses are allowed, so there is no branch to get in the way of the compiler
// overlapping one call's loads with another's math (m and n are not used). A dual GEMM's
// second product for the same 8 columns is staged at src2 and src2_hi.
template <class H, bool kInterior>
TF_DEVICE void gemm_store_chunk(const typename H::Params& p, float* src, float* src_hi, long long i, long long m,
                                long long n, long long M, long long N, const float* src2 = nullptr,
                                const float* src2_hi = nullptr) {
  constexpr int kOp = H::kReduceOp;
  float red[8];
  if constexpr (kOp >= 0) {
#pragma unroll
    for (int e = 0; e < 8; ++e) red[e] = reduce_identity<kOp>();
  }
  if (kInterior || (m < M && n < N)) {
    if (kInterior || (p.vector_ok && n + 8 <= N)) {
      float v[8];
      *reinterpret_cast<float4*>(&v[0]) = *reinterpret_cast<const float4*>(src);
      *reinterpret_cast<float4*>(&v[4]) = *reinterpret_cast<const float4*>(src_hi);
      if constexpr (H::kDual) {
        float v2[8];
        *reinterpret_cast<float4*>(&v2[0]) = *reinterpret_cast<const float4*>(src2);
        *reinterpret_cast<float4*>(&v2[4]) = *reinterpret_cast<const float4*>(src2_hi);
        H::template store<8>(p, i, v, v2);
      } else if constexpr (kOp >= 0) {
        H::template store_reduce<8>(p, i, v, red);
      } else {
        H::template store<8>(p, i, v);
      }
    } else {
      for (int e = 0; e < 8 && n + e < N; ++e) {
        const float v[1] = {e < 4 ? src[e] : src_hi[e - 4]};
        if constexpr (H::kDual) {
          const float v2[1] = {e < 4 ? src2[e] : src2_hi[e - 4]};
          H::template store<1>(p, i + e, v, v2);
        } else if constexpr (kOp >= 0) {
          float one[1];
          H::template store_reduce<1>(p, i + e, v, one);
          red[e] = one[0];
        } else {
          H::template store<1>(p, i + e, v);
        }
      }
    }
  }
  if constexpr (kOp >= 0) {
    if constexpr (H::kReduceAxis == 1 && kOp != 5) {
      float a = red[0];
#pragma unroll
      for (int e = 1; e < 8; ++e) a = reduce_apply<kOp>(a, red[e]);
      src[0] = a;
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) (e < 4 ? src[e] : src_hi[e - 4]) = red[e];
    }
  }
}

// The epilogue shared by the GEMM kernels: the fp32 tile of C at (m0, n0), staged in shared
// memory (staging_at), goes out through the store hook, 8 columns per call.
//
// With a store-site reduction (H::kReduceOp >= 0) the kernel calls store_reduce instead,
// writes the values it hands back over the tile (they were read already), and reduces
// them along H::kReduceAxis in a fixed order: over N (axis 1) a thread per row, over M
// (axis 0) a thread per column. When the tile covers the axis (H::kReduceSplit unset) the
// result goes to store_reduced; otherwise it is this tile's partial, written to
// Params::part ([M, tiles of N] or [tiles of M, N]) for a second kernel to combine.
// `tid` is the thread's index among the kThreads that store, which meet at barrier `bar`
// (epilogue_sync).
//
// A tile inside C (most of them) takes a loop without bounds checks. In the ping-pong
// kernel the epilogue's instructions slow the other warpgroup's wgmmas, so fewer is better;
// unrolling this loop was slower there (H100, docs/NOTES.md).
//
// A dual GEMM's tile holds BN / 2 columns of C (kCols): each product's, side by side.
template <class H, int BM, int BN, int kThreads>
TF_DEVICE void gemm_store_tile(const typename H::Params& p, float* ctile, long long m0, long long n0,
                               long long M, long long N, int tid, int bar) {
  constexpr int kOp = H::kReduceOp;
  constexpr int kCols = H::kDual ? BN / 2 : BN;
  constexpr int kChunks = BM * kCols / 8;
  constexpr int kPerRow = kCols / 8;
  // Rows per step: the threads that cover whole rows of chunks (all but 16 where a 64-row
  // tile's 160 threads take 192 columns, 24 chunks a row).
  constexpr int kStep = kThreads / kPerRow, kIters = (BM + kStep - 1) / kStep;
  static_assert(kStep >= 1, "a row of chunks takes at most the CTA's threads");
  if (p.vector_ok && m0 + BM <= M && n0 + kCols <= N) {
    // A thread keeps its 8 columns and steps down the rows: the staging pointers and the
    // flat index advance by constants instead of being rebuilt per chunk (a third of the
    // loop's instructions).
    // Threads past the whole rows (kStep * kPerRow) start past the tile's last row.
    int r = kThreads % kPerRow == 0 || tid < kStep * kPerRow ? tid / kPerRow : BM;
    const int c = tid % kPerRow * 8;
    float* src = ctile + staging_at<BN>(r, c);
    float* src_hi = ctile + staging_at<BN>(r, c + 4);
    const float* src2 = ctile + staging_at<BN>(r, c + kCols);  // dual GEMMs only
    const float* src2_hi = ctile + staging_at<BN>(r, c + kCols + 4);
    long long i = (m0 + r) * N + n0 + c;
#pragma unroll 1
    for (int j = 0; j < kIters; ++j) {
      if ((BM % kStep == 0 && kThreads % kPerRow == 0) || r < BM) {
        gemm_store_chunk<H, true>(p, src, src_hi, i, 0, 0, M, N, src2, src2_hi);
      }
      r += kStep;
      src += kStep * kStagingLd<BN>;
      src_hi += kStep * kStagingLd<BN>;
      src2 += kStep * kStagingLd<BN>;
      src2_hi += kStep * kStagingLd<BN>;
      i += kStep * N;
    }
  } else {
    for (int q = tid; q < kChunks; q += kThreads) {
      const int r = q / kPerRow, c = (q % kPerRow) * 8;
      gemm_store_chunk<H, false>(p, ctile + staging_at<BN>(r, c), ctile + staging_at<BN>(r, c + 4),
                                 (m0 + r) * N + n0 + c, m0 + r, n0 + c, M, N, ctile + staging_at<BN>(r, c + kCols),
                                 ctile + staging_at<BN>(r, c + kCols + 4));
    }
  }
  if constexpr (kOp == 5) {
    epilogue_sync<kThreads>(bar);
    gemm_tile_welford<H, BM, BN, kThreads>(p, ctile, m0, n0, M, N, tid);
  } else if constexpr (kOp >= 0) {
    epilogue_sync<kThreads>(bar);
    if constexpr (H::kReduceAxis == 1) {
      for (int r = tid; r < BM; r += kThreads) {
        if (m0 + r >= M) continue;
        float a = ctile[staging_at<BN>(r, 0)];
        for (int c = 8; c < BN; c += 8) a = reduce_apply<kOp>(a, ctile[staging_at<BN>(r, c)]);
        if constexpr (H::kReduceSplit) {
          p.part[(m0 + r) * ((N + BN - 1) / BN) + n0 / BN] = a;
        } else {
          H::store_reduced(p, m0 + r, a, 0.f);
        }
      }
    } else {
      for (int c = tid; c < BN; c += kThreads) {
        if (n0 + c >= N) continue;
        float a = ctile[staging_at<BN>(0, c)];
        for (int r = 1; r < BM; ++r) a = reduce_apply<kOp>(a, ctile[staging_at<BN>(r, c)]);
        if constexpr (H::kReduceSplit) {
          p.part[(m0 / BM) * N + n0 + c] = a;
        } else {
          H::store_reduced(p, n0 + c, a, 0.f);
        }
      }
    }
  }
}

// The epilogue of a staged tile: the store hooks (gemm_store_tile), or, when the tile
// covers whole rows of C and a row program runs over them (H::kRowEpilogue: an rms_norm
// or a softmax of the GEMM's output, generated by codegen/row_codegen.cc), the hook
// row_epilogue, a warp per row. On sm_90 a row may span several column tiles
// (gemm_sm90.cuh): those a CTA computes one after the other (GemmConfig::row_tiles, all but
// the last staged at `extra`, one after the other) and those of a cluster's CTAs
// (GemmConfig::row_cluster), whose partial values the hook combines; every thread of the
// CTA then calls it.
template <class H, int BM, int BN, int kThreads>
TF_DEVICE void gemm_epilogue(const typename H::Params& p, float* ctile, long long m0, long long n0, long long M,
                             long long N, int tid, int bar, const float* extra = nullptr) {
  if constexpr (H::kRowEpilogue) {
    H::template row_epilogue<BM, BN, kThreads>(p, ctile, extra, m0, n0, M, N, tid);
  } else {
    gemm_store_tile<H, BM, BN, kThreads>(p, ctile, m0, n0, M, N, tid, bar);
  }
}

// Split-K: this CTA's fp32 tile (ctile) goes to its slot of Params::splitk, and the tile's
// last CTA to arrive gets true back, with the sum of every split's tile in ctile, added in
// split order: the same bits whichever CTA comes last. splitk_count counts the arrivals per
// tile; the last one sets it back to zero for the next launch.
template <class H, int BM, int BN, int kThreads>
TF_DEVICE bool split_k_combine(const typename H::Params& p, float* ctile, long long tile, int split,
                               long long tiles) {
  constexpr int kTile = BM * BN;
  float* mine = p.splitk + (split * tiles + tile) * kTile;
  for (int i = threadIdx.x; i < kTile; i += kThreads) mine[i] = ctile[staging_at<BN>(i / BN, i % BN)];
  __threadfence();  // the partial is visible before the arrival is counted
  __syncthreads();
  __shared__ bool last;
  if (threadIdx.x == 0) {
    last = atomicAdd(p.splitk_count + tile, 1u) == H::kSplitK - 1;
    if (last) p.splitk_count[tile] = 0;
  }
  __syncthreads();
  if (!last) return false;
  __threadfence();
  for (int i = threadIdx.x; i < kTile; i += kThreads) {
    float v = 0.f;
#pragma unroll
    for (int s = 0; s < H::kSplitK; ++s) v += __ldcg(p.splitk + (s * tiles + tile) * kTile + i);
    ctile[staging_at<BN>(i / BN, i % BN)] = v;
  }
  __syncthreads();
  return true;
}

// Split-K on sm_90: the tile's kSplitK CTAs are one cluster (the entry's __cluster_dims__),
// rank = split. Once every CTA has its fp32 partial in its staging tile, each sums its
// share of the tile's rows over the cluster's tiles, in split order (the same bits
// whichever CTA runs first), and stores them: no global round trip, no serial tail. A CTA
// leaves only after every peer has read its tile.
template <class H, int BM, int BN, int kThreads>
TF_DEVICE void split_k_cluster(const typename H::Params& p, float* ctile, long long m0, long long n0,
                               long long M, long long N) {
  constexpr int S = H::kSplitK;
  static_assert(H::kReduceOp < 0, "the host keeps split-K off store-site reductions");
  constexpr int kRows = BM % S == 0 ? BM / S : BM;  // else rank 0 stores the whole tile
  const int rank = static_cast<int>(cluster_rank());
  const bool mine = BM % S == 0 || rank == 0;
  const int r0 = BM % S == 0 ? rank * kRows : 0;
  float* rows = ctile + r0 * kStagingLd<BN>;
  cluster_arrive();
  cluster_wait();
  // Rows past M are zero in every partial and never stored: not summed.
  const long long left = M - (m0 + r0);
  const int live = left < kRows ? (left > 0 ? static_cast<int>(left) : 0) : kRows;
  if (mine) {
    for (int i = threadIdx.x; i < live * kStagingLd<BN> / 4; i += kThreads) {
      const unsigned at = smem_addr(rows + 4 * i);
      float4 v = cluster_load4(at, 0);
#pragma unroll
      for (int s = 1; s < S; ++s) {
        const float4 w = cluster_load4(at, s);
        v.x += w.x;
        v.y += w.y;
        v.z += w.z;
        v.w += w.w;
      }
      *reinterpret_cast<float4*>(rows + 4 * i) = v;  // rows no peer reads
    }
  }
  cluster_arrive();
  __syncthreads();
  if (mine) gemm_epilogue<H, kRows, BN, kThreads>(p, rows, m0 + r0, n0, M, N, threadIdx.x, 0);
  cluster_wait();
}

template <class H>
__device__ __noinline__ void gemm_issue_hooked(const typename H::Params& p, char* smem, long long M, long long N,
                                               long long K, long long m0, long long n0, int stage, long long k0,
                                               int piece) {
  Gemm<H> g{p, smem};
  g.M = M;
  g.N = N;
  g.K = K;
  g.m0 = m0;
  g.n0 = n0;
  g.fetch_a(k0, piece);
  g.put_a(stage);
  g.fetch_b(k0, piece);
  g.put_b(stage);
}

template <class H>
TF_DEVICE void gemm_kernel(const typename H::Params& p) {
  extern __shared__ __align__(128) char smem[];
  using G = Gemm<H>;
  static_assert(G::ST * G::kStageBytes <= H::kSmemBytes &&
                    G::BM * kStagingLd<G::BN> * 4 <= H::kSmemBytes,
                "kSmemBytes covers the pipeline and the epilogue tile");
  G g{p, smem};
  g.M = p.rows;
  g.N = p.cols;
  g.K = p.depth;
  // Tile order: groups of 8 tile rows sweep the columns together, for L2 reuse of B.
  const long long tiles_m = (g.M + G::BM - 1) / G::BM, tiles_n = (g.N + G::TN - 1) / G::TN;
  // Split-K: CTA b works on tile b % tiles over K slice b / tiles; in clusters, on tile
  // b / kSplitK over slice b % kSplitK (a cluster is kSplitK consecutive CTAs).
  const long long tiles = tiles_m * tiles_n, group = 8;
  constexpr int S = H::kSplitK;
  const long long pid = S == 1 ? blockIdx.x : H::kClusterSplit ? blockIdx.x / S : blockIdx.x % tiles;
  const int split = S == 1 ? 0 : static_cast<int>(H::kClusterSplit ? blockIdx.x % S : blockIdx.x / tiles);
  const long long per_group = group * tiles_n;
  const long long first_m = pid / per_group * group;
  const long long rows_in_group = tiles_m - first_m < group ? tiles_m - first_m : group;
  const long long tm = first_m + (pid % per_group) % rows_in_group;
  const long long tn = (pid % per_group) / rows_in_group;
  g.m0 = tm * G::BM;
  g.n0 = tn * G::TN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / H::kWarpsN, wn = warp % H::kWarpsN;

  // Fragment e of acc[i][j] holds column wn * WTN + j * 8 + 2 * (lane % 4) + e % 2. The
  // accumulators' start goes into one split only.
  float acc[G::MT][G::NT][4];
#pragma unroll
  for (int j = 0; j < G::NT; ++j) {
    float2 v = make_float2(0.f, 0.f);
    if (split == 0) v = gemm_acc_start<H>(p, g.n0 + wn * G::WTN + j * 8 + 2 * (lane % 4), g.N);
#pragma unroll
    for (int i = 0; i < G::MT; ++i) {
      acc[i][j][0] = acc[i][j][2] = v.x;
      acc[i][j][1] = acc[i][j][3] = v.y;
    }
  }

  g.k_tiles = static_cast<int>((g.K + G::BK - 1) / G::BK);
  const int kt_total = g.k_tiles * G::kPieces;
  const int kt_per = (kt_total + H::kSplitK - 1) / H::kSplitK;
  const int kt_begin = min(kt_total, split * kt_per);
  const int kt_count = min(kt_total, kt_begin + kt_per) - kt_begin;  // k-tiles of this CTA
#pragma unroll
  for (int s = 0; s < G::ST - 1; ++s) {
    if (s < kt_count) {
      g.issue(s, kt_begin + s);
      g.finish(s);
    }
    cp_async_commit();
  }
  for (int kt = 0; kt < kt_count; ++kt) {
    cp_async_wait<G::ST - 2>();
    __syncthreads();
    const int next = kt + G::ST - 1;
    if (next < kt_count) g.issue(next % G::ST, kt_begin + next);
    // The epilogue's operands, asked of L2 while the last k-tiles are in flight.
    if (kt == max(kt_count - G::ST, 0) && threadIdx.x < 32) {
      H::prefetch_tile(p, g.m0, g.n0, min(static_cast<long long>(G::BM), g.M - g.m0),
                       min(static_cast<long long>(G::TN), g.N - g.n0), static_cast<int>(threadIdx.x));
    }
    cp_async_commit();
    g.compute(kt % G::ST, acc, wm, wn, lane);
    // Register-staged tiles land after the math, into the stage that every thread finished
    // reading before this iteration's barrier.
    if (next < kt_count) g.finish(next % G::ST);
  }
  cp_async_wait<0>();
  __syncthreads();

  // Epilogue: the fp32 tile through shared memory, then 8 columns per store hook call.
  float* ctile = reinterpret_cast<float*>(smem);
  const int gr = lane / 4, gc = 2 * (lane % 4);
#pragma unroll
  for (int mt = 0; mt < G::MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < G::NT; ++nt) {
      const int r = wm * G::WTM + mt * 16 + gr, c = wn * G::WTN + nt * 8 + gc;
      *reinterpret_cast<float2*>(&ctile[staging_at<G::BN>(r, c)]) = make_float2(acc[mt][nt][0], acc[mt][nt][1]);
      *reinterpret_cast<float2*>(&ctile[staging_at<G::BN>(r + 8, c)]) = make_float2(acc[mt][nt][2], acc[mt][nt][3]);
    }
  __syncthreads();
  if constexpr (H::kClusterSplit) {
    split_k_cluster<H, G::BM, G::BN, G::kThreads>(p, ctile, g.m0, g.n0, g.M, g.N);
    return;
  } else if constexpr (S > 1) {
    if (!split_k_combine<H, G::BM, G::BN, G::kThreads>(p, ctile, pid, split, tiles)) return;
  }
  gemm_epilogue<H, G::BM, G::BN, G::kThreads>(p, ctile, g.m0, g.n0, g.M, g.N, threadIdx.x, 0);
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_GEMM_CUH_
