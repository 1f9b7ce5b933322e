// The Hopper GEMM tile kernel: wgmma (sm_90a) fed by the bulk tensor copy engine (TMA),
// written against the hook contract (kernels/hook_contract.cuh).
//
// Two forms share the pieces below. gemm_sm90_kernel: a CTA computes one tile of C of 64
// or 128 rows by 64 or 128 columns (128 rows also by 192 or 256), or with kSplitK > 1 its
// slice of K, the tile's CTAs a cluster that sums the partials through distributed shared
// memory (split_k_cluster: small M, few tiles); a consumer warpgroup per 64 rows multiplies
// them with wgmma m64nBNk16 from shared memory and releases the stage on an "empty"
// mbarrier.
// gemm_sm90_pingpong_kernel: 128 x 128 tiles, persistent, each consumer warpgroup takes
// whole tiles in turn (see there). In both, the threads after the consumers produce: one
// of them issues TMA copies of A [M, K] and B [N, K] into 128-byte-swizzled stages, each
// completing on a "full" mbarrier. An operand with a prologue (kAsyncA false), or a run
// whose rows are not whole 16-byte chunks or aligned (Params::vector_ok unset), is loaded
// by the producers through its hook and written to the same swizzled layout. The epilogue
// stages the fp32 tile through shared memory and calls the store hook with 8 consecutive
// columns.
//
// The producers are one warp when A comes by TMA (288 threads with two consumer
// warpgroups: two one-tile CTAs fit an SM at three stages), a warpgroup when A has a
// prologue (its register-staged loads need the threads). The host picks the form and the
// launch (GemmLaunchOf).
//
// Hooks: kBM (64 or 128) and kBN (64, 128, 192 or 256), kStages, kSplitK,
// kRowTiles and kRowCluster (the one-tile form's column tiles of a row band, kernel above), kF16,
// kF8A and kF8B (fp8 operands: 1 e4m3, 2 e5m2; 0 for 16-bit ones), kAsyncA, kSmemBytes,
// kGroup (the tile walk's rows of tiles, sm90_tile_origin),
// load_in0/load_in1/store, and Params rows (M), cols (N), depth (K). The entry passes the
// tensor maps, whose boxes are 128 bytes of K (64 elements, or 128 of fp8) by kBM rows
// (A) and kBN rows (B). kDual (a dual GEMM, kernels/gemm.cuh): a third map, of the second
// B; each B map's box is kBN / 2 rows, the tile's first half from the first, its second
// from the second, at the same columns of C.
#ifndef TILEFUSE_KERNELS_GEMM_SM90_CUH_
#define TILEFUSE_KERNELS_GEMM_SM90_CUH_

namespace tf {

// Generic-proxy writes to shared memory become visible to wgmma (the async proxy).
TF_DEVICE void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// wgmma descriptor of a tile with 128-byte rows, 128-byte swizzle, groups of 8 rows 1024
// bytes apart (the stride offset). K-major (A, a [N, K] B): the leading offset is unused
// (16). N-major (a row-major [K, N] B): rows of k of 64 columns, panels of 64 columns
// `lead_bytes` apart.
TF_DEVICE unsigned long long wgmma_desc(const void* p, unsigned lead_bytes = 16) {
  const unsigned long long addr = smem_addr(p);
  return ((addr & 0x3FFFF) >> 4) | (static_cast<unsigned long long>(lead_bytes >> 4) << 16) |
         ((1024ull >> 4) << 32) | (1ull << 62);
}

// The "+f" constraints of 32 consecutive wgmma accumulators from d[o]: the operand lists of
// the m64nN instructions below take N / 64 of them.
#define TF_WGMMA_ACC32(d, o) \
  "+f"(d[(o) + 0]), "+f"(d[(o) + 1]), "+f"(d[(o) + 2]), "+f"(d[(o) + 3]), \
  "+f"(d[(o) + 4]), "+f"(d[(o) + 5]), "+f"(d[(o) + 6]), "+f"(d[(o) + 7]), \
  "+f"(d[(o) + 8]), "+f"(d[(o) + 9]), "+f"(d[(o) + 10]), "+f"(d[(o) + 11]), \
  "+f"(d[(o) + 12]), "+f"(d[(o) + 13]), "+f"(d[(o) + 14]), "+f"(d[(o) + 15]), \
  "+f"(d[(o) + 16]), "+f"(d[(o) + 17]), "+f"(d[(o) + 18]), "+f"(d[(o) + 19]), \
  "+f"(d[(o) + 20]), "+f"(d[(o) + 21]), "+f"(d[(o) + 22]), "+f"(d[(o) + 23]), \
  "+f"(d[(o) + 24]), "+f"(d[(o) + 25]), "+f"(d[(o) + 26]), "+f"(d[(o) + 27]), \
  "+f"(d[(o) + 28]), "+f"(d[(o) + 29]), "+f"(d[(o) + 30]), "+f"(d[(o) + 31])

// One wgmma m64nN`kind` (k16 of f16 or bf16, or k32 of e4m3 / e5m2) with fp32
// accumulators d and both operands from shared memory (descriptors desc_a, desc_b); `tail`
// the immediates after them (scales, and for 16-bit types the transposes).
#define TF_WGMMA_M64N128(kind, tail)                                                                        \
  asm volatile("{\n"                                                                                     \
               "wgmma.mma_async.sync.aligned.m64n128" kind " "                          \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, " tail ";\n" \
               "}\n"                                                                                     \
               : TF_WGMMA_ACC32(d, 0), TF_WGMMA_ACC32(d, 32)                                             \
               : "l"(desc_a), "l"(desc_b))
#define TF_WGMMA_M64N256(kind, tail) \
  asm volatile("{\n" \
               "wgmma.mma_async.sync.aligned.m64n256" kind " " \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, " tail ";\n" \
               "}\n" \
               : TF_WGMMA_ACC32(d, 0), TF_WGMMA_ACC32(d, 32), TF_WGMMA_ACC32(d, 64), TF_WGMMA_ACC32(d, 96) \
               : "l"(desc_a), "l"(desc_b))
#define TF_WGMMA_M64N192(kind, tail) \
  asm volatile("{\n" \
               "wgmma.mma_async.sync.aligned.m64n192" kind " " \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95}, %96, %97, " tail ";\n" \
               "}\n" \
               : TF_WGMMA_ACC32(d, 0), TF_WGMMA_ACC32(d, 32), TF_WGMMA_ACC32(d, 64) \
               : "l"(desc_a), "l"(desc_b))
#define TF_WGMMA_M64N64(kind, tail)                                                                         \
  asm volatile("{\n"                                                                                     \
               "wgmma.mma_async.sync.aligned.m64n64" kind " "                           \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, " tail ";\n" \
               "}\n"                                                                                     \
               : TF_WGMMA_ACC32(d, 0)                                                                    \
               : "l"(desc_a), "l"(desc_b))

// One wgmma over 32 bytes of K (k16 of a 16-bit type, k32 of fp8), N = 64, 128, 192 or
// 256 (N / 2 accumulators per thread). kF8A / kF8B: 0 for 16-bit operands (kF16 says
// which), else the fp8 type of A and of B (1 e4m3, 2 e5m2; wgmma takes any mix).
// kTransB: B N-major (imm-trans-b), 16-bit types only.
#define TF_WGMMA_16(n, t)                                         \
  if constexpr (kTransB) {                                        \
    TF_WGMMA_M64N##n("k16.f32." t "." t, "1, 1, 1, 0, 1");        \
  } else {                                                        \
    TF_WGMMA_M64N##n("k16.f32." t "." t, "1, 1, 1, 0, 0");        \
  }
#define TF_WGMMA_F8(n, ta, tb) TF_WGMMA_M64N##n("k32.f32." ta "." tb, "1, 1, 1")
#define TF_WGMMA_ANY(n)                                           \
  if constexpr (kF8A == 0 && kF16) {                             \
    TF_WGMMA_16(n, "f16");                                       \
  } else if constexpr (kF8A == 0) {                              \
    TF_WGMMA_16(n, "bf16");                                      \
  } else if constexpr (kF8A == 1 && kF8B == 1) {                 \
    TF_WGMMA_F8(n, "e4m3", "e4m3");                              \
  } else if constexpr (kF8A == 1) {                              \
    TF_WGMMA_F8(n, "e4m3", "e5m2");                              \
  } else if constexpr (kF8B == 1) {                              \
    TF_WGMMA_F8(n, "e5m2", "e4m3");                              \
  } else {                                                       \
    TF_WGMMA_F8(n, "e5m2", "e5m2");                              \
  }
template <int kF8A, int kF8B, bool kF16, int N, bool kTransB = false>
TF_DEVICE void wgmma_m64_slice(float (&d)[N / 2], unsigned long long desc_a, unsigned long long desc_b) {
  static_assert(!kTransB || kF8A == 0, "an N-major B is 16-bit");
  if constexpr (N == 256) {
    TF_WGMMA_ANY(256)
  } else if constexpr (N == 192) {
    TF_WGMMA_ANY(192)
  } else if constexpr (N == 128) {
    TF_WGMMA_ANY(128)
  } else {
    static_assert(N == 64, "wgmma tiles of 64, 128, 192 or 256 columns");
    TF_WGMMA_ANY(64)
  }
}
#undef TF_WGMMA_ANY
#undef TF_WGMMA_F8
#undef TF_WGMMA_16

TF_DEVICE void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
// Pins accumulator registers as they are here, so that their start values (the ping-pong
// kernel's copy of d0 into d1) are in place before the turn wait rather than moved in later
// (96 fewer SASS lines in the bias + gelu kernel; without it ptxas raised no C7515 either).
template <int N>
TF_DEVICE void wgmma_fence_operand(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
TF_DEVICE void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
TF_DEVICE void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }


// Byte offset of 16-byte chunk c of row r in a 128-byte-swizzled tile (what TMA writes).
TF_DEVICE int swizzle128(int r, int c) { return r * 128 + ((c ^ (r & 7)) << 4); }

// Tiles of 64 or 128 rows (one consumer warpgroup per 64) and 64 to 256 columns (wgmma
// m64nBN); each consumer thread holds BN / 2 accumulators.
template <class H>
struct GemmSm90 {
  // A stage holds 128 bytes of K per row (the swizzle's row): 64 of a 16-bit type, 128 of
  // fp8 (kF8A set: both operands are fp8, their scales applied by the epilogue hook).
  static constexpr int kElemBytes = H::kF8A ? 1 : 2;
  static constexpr int BM = H::kBM, BN = H::kBN, BK = 128 / kElemBytes, ST = H::kStages;
  // A stage holds kARows rows of A (GemmConfig::a_rows: 16 of a 64-row tile at M <= 16);
  // the wgmmas read 64 from there, the rest being the next stages' (or B's) bytes, whose
  // products land in rows the epilogue never stores. The window past the last stage is
  // kAOverhang bytes of the pipeline.
  static constexpr int kARows = H::kARows;
  static constexpr int kABytes = kARows * 128, kBBytes = BN * 128;
  static constexpr int kAOverhang = (BM - kARows) * 128;
  static_assert(kARows == BM || (kARows == 16 && BM == 64 && H::kF8A == 0),
                "A stages of 16 rows: 64-row tiles of 16-bit operands");
  static constexpr int kConsumers = BM / 64 * 128;  // consumer threads
  static constexpr int kProducers = H::kAsyncA ? 32 : 128;
  static constexpr int kThreads = kConsumers + kProducers;  // GemmLaunchOf(spec).threads on the host
  static constexpr int kAcc = BN / 2;
  static constexpr int TN = H::kDual ? BN / 2 : BN;  // columns of C per tile
  // B's stage: K-major, [BN rows of n][128 bytes of k]; or N-major (kNMajorB: a row-major
  // [K, N] B, 16-bit), [BN / 64 panels][BK rows of k][128 bytes of n], by BN / 64 TMA boxes
  // of 64 columns. A wgmma's k16 slice starts 32 bytes on (K-major) or 16 rows on (N-major):
  // kBStep in descriptor units.
  static constexpr bool kNMajorB = H::kNMajorB;
  static constexpr int kBPanelBytes = BK * 128;
  static constexpr int kBStep = kNMajorB ? 16 * 128 >> 4 : 2;
  static_assert(!kNMajorB || (H::kF8A == 0 && !H::kDual && BN % 64 == 0), "an N-major B: 16-bit, not dual");
  static_assert(!H::kDual || (H::kF8A == 0 && !H::kAccInit && !H::kRowEpilogue && H::kReduceOp < 0),
                "dual GEMMs: 16-bit operands, no accumulator start, row epilogue or store-site reduction");
  static_assert((BM == 64 || BM == 128) && (BN == 64 || BN == 128 || BN == 192 || BN == 256),
                "tiles of 64 or 128 rows by 64, 128, 192 or 256 columns");
};

// Producers: thread t of GemmSm90<H>::kProducers fills stage `s` with k-tile `kt` through
// hooks.
// 16 fp8 codes of type kType (1 e4m3, 2 e5m2) from f32 values that are fp8 values already
// (the f8 operands' loads): exact.
template <int kType>
TF_DEVICE uint4 pack16_f8(const float (&v)[16]) {
  unsigned int w[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const unsigned int lo = kType == 1 ? f8e4m3x2_bits(v[4 * i], v[4 * i + 1]) : f8e5m2x2_bits(v[4 * i], v[4 * i + 1]);
    const unsigned int hi =
        kType == 1 ? f8e4m3x2_bits(v[4 * i + 2], v[4 * i + 3]) : f8e5m2x2_bits(v[4 * i + 2], v[4 * i + 3]);
    w[i] = lo | (hi << 16);
  }
  return make_uint4(w[0], w[1], w[2], w[3]);
}

// The fp8 kernel's producers without TMA (an unaligned run): 16-byte chunks of 16 codes, A
// [m][k] through load_in0, B [n][k] through load_in1 at its [K, N] index, element by
// element (a slow path: the aligned runs take TMA).
template <class H>
TF_DEVICE void sm90_hook_fill_f8(const typename H::Params& p, char* sa, char* sb, bool a_hook, bool b_hook,
                                 long long m0, long long n0, long long k0, int t) {
  using G = GemmSm90<H>;
  const long long M = p.rows, N = p.cols, K = p.depth;
  if (a_hook) {
    for (int q = t; q < G::BM * 8; q += G::kProducers) {
      const int r = q / 8, c = q % 8;
      float v[16];
#pragma unroll 1
      for (int e = 0; e < 16; ++e) {
        float one[1] = {0.f};
        if (m0 + r < M && k0 + c * 16 + e < K) H::template load_in0<1>(p, (m0 + r) * K + k0 + c * 16 + e, one);
        v[e] = one[0];
      }
      *reinterpret_cast<uint4*>(sa + swizzle128(r, c)) = pack16_f8<H::kF8A>(v);
    }
  }
  if (b_hook) {
    for (int q = t; q < G::BN * 8; q += G::kProducers) {
      const int r = q / 8, c = q % 8;
      float v[16];
#pragma unroll 1
      for (int e = 0; e < 16; ++e) {
        float one[1] = {0.f};
        const long long k = k0 + c * 16 + e;
        if (n0 + r < N && k < K) H::template load_in1<1>(p, k * N + n0 + r, one);
        v[e] = one[0];
      }
      *reinterpret_cast<uint4*>(sb + swizzle128(r, c)) = pack16_f8<H::kF8B>(v);
    }
  }
  fence_proxy_async();
}

template <class H>
TF_DEVICE void sm90_hook_fill(const typename H::Params& p, char* sa, char* sb, bool a_hook, bool b_hook,
                              long long m0, long long n0, long long k0, int t) {
  using G = GemmSm90<H>;
  const long long M = p.rows, N = p.cols, K = p.depth;
  if constexpr (H::kF8A != 0) {
    sm90_hook_fill_f8<H>(p, sa, sb, a_hook, b_hook, m0, n0, k0, t);
    return;
  }
  if (a_hook) {
    // Eight chunks of this thread are loaded before any is written, so that eight loads
    // are in flight rather than one.
    constexpr int kPerThread = G::kARows * 8 / G::kProducers;
    constexpr int kBatch = kPerThread < 8 ? kPerThread : 8;
#pragma unroll 1
    for (int b = 0; b < kPerThread; b += kBatch) {
      float v[kBatch][8];
#pragma unroll
      for (int i = 0; i < kBatch; ++i) {
        const int q = t + (b + i) * G::kProducers, r = q / 8, c = q % 8;
        const long long m = m0 + r, k = k0 + c * 8;
        if (m < M && k + 8 <= K && p.vector_ok) {
          H::template load_in0<8>(p, m * K + k, v[i]);
        } else {
#pragma unroll 1
          for (int e = 0; e < 8; ++e) {
            float one[1] = {0.f};
            if (m < M && k + e < K) H::template load_in0<1>(p, m * K + k + e, one);
            v[i][e] = one[0];
          }
        }
      }
#pragma unroll
      for (int i = 0; i < kBatch; ++i) {
        const int q = t + (b + i) * G::kProducers;
        *reinterpret_cast<uint4*>(sa + swizzle128(q / 8, q % 8)) = pack8<H::kF16>(v[i]);
      }
    }
  }
  if (G::kNMajorB && b_hook) {
    // B staged [panel][k][n]: 8 columns of row k per chunk, the row's run of B.
    for (int q = t; q < G::BN * G::BK / 8; q += G::kProducers) {
      const int panel = q / (G::BK * 8), r = q / 8 % G::BK, c = q % 8;
      const long long k = k0 + r, n = n0 + panel * 64 + c * 8;
      float v[8];
      if (k < K && n + 8 <= N && p.vector_ok) {
        H::template load_in1<8>(p, k * N + n, v);
      } else {
#pragma unroll 1
        for (int e = 0; e < 8; ++e) {
          float one[1] = {0.f};
          if (k < K && n + e < N) H::template load_in1<1>(p, k * N + n + e, one);
          v[e] = one[0];
        }
      }
      *reinterpret_cast<uint4*>(sb + panel * G::kBPanelBytes + swizzle128(r, c)) = pack8<H::kF16>(v);
    }
  } else if (b_hook) {
    for (int q = t; q < G::BN * 8; q += G::kProducers) {  // B staged [n][k]: 8 k of column n per chunk
      const int r = q / 8, c = q % 8;
      uint4 u;
      if (H::kDual && r >= G::TN) {  // the second B's rows
        u = fetch_b_column8<H, H::kDual ? 2 : 1>(p, n0 + r - G::TN, k0 + c * 8, N, K, false);
      } else {
        u = fetch_b_column8<H>(p, n0 + r, k0 + c * 8, N, K, false);
      }
      *reinterpret_cast<uint4*>(sb + swizzle128(r, c)) = u;
    }
  }
  fence_proxy_async();
}

// Origin (m0, n0) of tile `pid`, in groups of `group` tile rows (H::kGroup, 8 unless a
// config says) that walk the columns together, so that CTAs running at once share their A
// and B tiles in L2.
TF_DEVICE void sm90_tile_origin(long long pid, long long M, long long N, int bm, int bn, long long group,
                                long long& m0, long long& n0) {
  const long long tiles_m = (M + bm - 1) / bm, tiles_n = (N + bn - 1) / bn;
  const long long per_group = group * tiles_n;
  const long long first_m = pid / per_group * group;
  const long long rows_in_group = tiles_m - first_m < group ? tiles_m - first_m : group;
  m0 = (first_m + (pid % per_group) % rows_in_group) * bm;
  n0 = ((pid % per_group) / rows_in_group) * bn;
}

// Producer thread t's share of filling one stage (a, b) with k-tile kt of the tile at
// (m0, n0): TMA copies where the operands allow, hook loads otherwise; then its arrival.
// kMulticast 2 (the ping-pong kernel in clusters of two): B's map boxes are half a tile's
// columns; `share` (the cluster's two tiles have the same columns) sends each CTA's half to
// both CTAs, else each CTA copies both halves for itself.
template <class H>
TF_DEVICE void sm90_produce(const typename H::Params& p, const TmaDesc& ta, const TmaDesc& tb, const TmaDesc& tb2,
                            char* a, char* b, unsigned long long* full, int kt, long long m0, long long n0, int t,
                            bool share = false) {
  using G = GemmSm90<H>;
  const bool tma = p.vector_ok != 0;
  const bool a_hook = !(H::kAsyncA && tma), b_hook = !tma;
  const unsigned tx = (a_hook ? 0 : G::kABytes) + (b_hook ? 0 : G::kBBytes);
  // The copy traffic is announced before any arrival, so the phase cannot complete until
  // both the copies and every thread's hook writes are in.
  if (t == 0 && tx > 0) {
    mbar_expect_tx(full, tx);
    // A batched GEMM's maps hold every batch's rows: batch blockIdx.y's start there. A tile
    // past its batch's M or N reads the next batch's rows, which the store leaves out.
    const long long ma = H::kBatched ? m0 + static_cast<long long>(blockIdx.y) * p.rows : m0;
    // (kBShared: one B for every batch, read at its own rows.)
    constexpr bool kBBatched = H::kBatched && !H::kBShared;
    if (!a_hook) tma_load_2d(a, &ta, full, kt * G::BK, static_cast<int>(ma));
    if constexpr (G::kNMajorB) {
      // Boxes of 64 columns by BK rows of k; a batched GEMM's rows of k follow its batch's.
      const long long kb = (kBBatched ? static_cast<long long>(blockIdx.y) * p.depth : 0) + kt * G::BK;
#pragma unroll
      for (int panel = 0; panel < G::BN / 64 && !b_hook; ++panel) {
        tma_load_2d(b + panel * G::kBPanelBytes, &tb, full, static_cast<int>(n0 + panel * 64), static_cast<int>(kb));
      }
    } else if (!b_hook && H::kMulticast > 1) {
      constexpr int kHalf = G::BN / 2;
      if (share) {
        const int r = static_cast<int>(cluster_rank());
        tma_load_2d_multicast(b + r * kHalf * 128, &tb, full, kt * G::BK, static_cast<int>(n0 + r * kHalf), 3);
      } else {
        tma_load_2d(b, &tb, full, kt * G::BK, static_cast<int>(n0));
        tma_load_2d(b + kHalf * 128, &tb, full, kt * G::BK, static_cast<int>(n0 + kHalf));
      }
    } else if (!b_hook) {
      const long long nb = kBBatched ? n0 + static_cast<long long>(blockIdx.y) * p.cols : n0;
      tma_load_2d(b, &tb, full, kt * G::BK, static_cast<int>(nb));
    }
    if (H::kDual && !b_hook) tma_load_2d(b + G::TN * 128, &tb2, full, kt * G::BK, static_cast<int>(n0));
  }
  if (a_hook || b_hook) sm90_hook_fill<H>(p, a, b, a_hook, b_hook, m0, n0, static_cast<long long>(kt) * G::BK, t);
  mbar_arrive(full);
}

// The descriptor of B's stage at `sb` (GemmSm90::kNMajorB says which layout).
template <class H>
TF_DEVICE unsigned long long sm90_desc_b(const void* sb) {
  if constexpr (GemmSm90<H>::kNMajorB) return wgmma_desc(sb, GemmSm90<H>::kBPanelBytes);
  return wgmma_desc(sb);
}

// One stage's wgmmas for 64 rows of A against the stage's B, given the descriptors of their
// first k16 slices. A descriptor's low 14 bits are the address / 16, so the next slice (32
// bytes on) is +2, and another stage or row block is a constant more: the main loops add
// offsets to descriptors made once instead of rebuilding them from addresses, which kept
// the issuing warp too busy to queue the next wgmmas in time (ncu: the wait before each
// k-tile's wgmmas was almost never the tensor core).
template <class H>
TF_DEVICE void sm90_mma_stage(float (&d)[GemmSm90<H>::kAcc], unsigned long long desc_a, unsigned long long desc_b) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {  // 32 bytes of K each
    wgmma_m64_slice<H::kF8A, H::kF8B, H::kF16, GemmSm90<H>::BN, GemmSm90<H>::kNMajorB>(
        d, desc_a + 2 * kk, desc_b + GemmSm90<H>::kBStep * kk);
  }
}

// The warp-uniform value of x (the same in every lane) as the compiler can see it: read from
// lane 0, so that what follows from it (stage indices, descriptors) lives in uniform
// registers rather than being moved into them before every wgmma.
TF_DEVICE int warp_uniform(int x) { return __shfl_sync(0xffffffffu, x, 0); }

// The start of a 64 x BN wgmma accumulator of the tile at column n0 (gemm_acc_start):
// d[4 nb + e] holds column nb * 8 + 2 * (lane % 4) + e % 2, the same in every row.
template <class H>
TF_DEVICE void sm90_acc_start(const typename H::Params& p, float (&d)[GemmSm90<H>::kAcc], long long n0, long long N,
                              int lane) {
#pragma unroll
  for (int nb = 0; nb < GemmSm90<H>::BN / 8; ++nb) {
    const float2 v = gemm_acc_start<H>(p, n0 + nb * 8 + 2 * (lane % 4), N);
    d[nb * 4] = d[nb * 4 + 2] = v.x;
    d[nb * 4 + 1] = d[nb * 4 + 3] = v.y;
  }
}

// A warp's share of a 64 x 128 wgmma accumulator into the fp32 staging tile (staging_at):
// rows row0 + lane / 4 and 8 below it, two columns per 8. Column block nb's place is
// linear in nb among the blocks the layout's swizzle leaves alone (nb % 8 < 4), and among
// those it flips: two base addresses, then constant offsets (the compiler had built one
// address per block).
template <int BN>
TF_DEVICE void sm90_stage_acc(const float (&d)[BN / 2], float* ctile, int row0, int lane) {
  const int r = row0 + lane / 4, c = (lane % 4) * 2;
  float* const base[2] = {ctile + staging_at<BN>(r, c), ctile + staging_at<BN>(r, 32 + c) - 32};
#pragma unroll
  for (int nb = 0; nb < BN / 8; ++nb) {
    float* at = base[(nb >> 2) & 1] + nb * 8;
    *reinterpret_cast<float2*>(at) = make_float2(d[nb * 4], d[nb * 4 + 1]);
    *reinterpret_cast<float2*>(at + 8 * kStagingLd<BN>) = make_float2(d[nb * 4 + 2], d[nb * 4 + 3]);
  }
}

// One CTA per tile: both consumer warpgroups multiply their 64 rows of it, then the whole
// CTA stores it through the pipeline's memory. Serves every fusion, store-site reductions
// included.
template <class H>
TF_DEVICE void gemm_sm90_kernel(const typename H::Params& p, const TmaDesc& ta, const TmaDesc& tb,
                                const TmaDesc& tb2) {
  using G = GemmSm90<H>;
  extern __shared__ __align__(1024) char smem_raw[];
  char* smem = align1024(smem_raw);
  char* sa = smem;
  char* sb = smem + G::ST * G::kABytes + G::kAOverhang;
  unsigned long long* full = reinterpret_cast<unsigned long long*>(sb + G::ST * G::kBBytes);
  unsigned long long* empty = full + G::ST;
  // The fp32 tiles of all but the last of a row epilogue's kRowTiles (below).
  float* extra = reinterpret_cast<float*>(empty + G::ST);

  const long long M = p.rows, N = p.cols, K = p.depth;
  // Split-K: the kSplitK CTAs of a tile are one cluster (consecutive CTAs, rank = split),
  // each over its slice of the k-tiles.
  constexpr int S = H::kSplitK;
  // A row epilogue over rows wider than a tile: the CTA computes kRowTiles column tiles
  // one after the other (the producer runs on into the next tile's stages), and the
  // kRowCluster CTAs of a band of rows, each kRowTiles tiles wide, are one cluster
  // (consecutive CTAs, rank = position along the row), which combines each row's values
  // in the epilogue (the hook row_epilogue).
  constexpr int C = H::kRowCluster, T = H::kRowTiles;
  static_assert((C == 1 && T == 1) || (S == 1 && H::kRowEpilogue), "row tiles and clusters: a row epilogue, no split-K");
  static_assert(H::kMulticast == 1, "multicast clusters: the ping-pong kernel");
  static_assert(1024 + G::ST * (G::kABytes + G::kBBytes) + G::kAOverhang + 16 * G::ST +
                        (T - 1) * G::BM * kStagingLd<G::BN> * 4 <= H::kSmemBytes,
                "kSmemBytes covers the stages, their mbarriers and the row tiles kept");
  const int split = S == 1 ? 0 : static_cast<int>(blockIdx.x % S);
  long long m0, n0;
  if constexpr (C > 1 || T > 1) {
    m0 = static_cast<long long>(blockIdx.x / C) * G::BM;
    n0 = static_cast<long long>(blockIdx.x % C) * G::TN * T;
  } else {
    sm90_tile_origin(blockIdx.x / S, M, N, G::BM, G::TN, H::kGroup, m0, n0);
  }
  const int kt_total = static_cast<int>((K + G::BK - 1) / G::BK);
  const int kt_per = (kt_total + S - 1) / S;
  const int kt_begin = min(kt_total, split * kt_per);
  const int kt_count = min(kt_total, kt_begin + kt_per) - kt_begin;

  if (threadIdx.x == 0) {
    for (int s = 0; s < G::ST; ++s) {
      mbar_init(&full[s], G::kProducers);
      mbar_init(&empty[s], G::kConsumers);
    }
    fence_mbarrier_init();
  }
  __syncthreads();

  float d[G::kAcc];
  if (threadIdx.x >= G::kConsumers) {
    // Fill g (over the CTA's tiles in turn) goes to stage g % ST.
    for (int t = 0; t < T; ++t) {
      for (int kt = 0; kt < kt_count; ++kt) {
        const int g = t * kt_count + kt, s = g % G::ST;
        if (g >= G::ST) mbar_wait(&empty[s], ((g / G::ST) - 1) & 1);
        sm90_produce<H>(p, ta, tb, tb2, sa + s * G::kABytes, sb + s * G::kBBytes, &full[s], kt_begin + kt, m0,
                        n0 + t * G::TN, threadIdx.x - G::kConsumers);
      }
    }
  } else {
    const int cw = warp_uniform(threadIdx.x / 128);  // consumer 0 or 1: rows cw * 64 .. + 63
    const unsigned long long da = wgmma_desc(sa + cw * 64 * 128), db = sm90_desc_b<H>(sb);
    for (int t = 0; t < T; ++t) {
      // The accumulators' start, in one split only. A select, not a branch: the two paths'
      // values merged inside the pipeline serialized every wgmma of the main loop (ptxas
      // C7515 in the bias-started split kernels).
      sm90_acc_start<H>(p, d, n0 + t * G::TN, N, threadIdx.x % 32);
#pragma unroll
      for (int e = 0; e < G::kAcc; ++e) d[e] = split == 0 ? d[e] : 0.f;
      wgmma_fence_operand(d);
      for (int kt = 0; kt < kt_count; ++kt) {
        const int g = t * kt_count + kt, s = g % G::ST;
        mbar_wait(&full[s], (g / G::ST) & 1);
        wgmma_fence();
        sm90_mma_stage<H>(d, da + s * (G::kABytes >> 4), db + s * (G::kBBytes >> 4));
        wgmma_commit();
        wgmma_wait<1>();  // the previous k-tile's group is done: release its stage
        if (kt > 0) mbar_arrive(&empty[(g - 1) % G::ST]);
      }
      wgmma_wait<0>();
      if constexpr (T > 1) {
        if (t + 1 < T) {  // the next tile's stages: this one's last released, its values kept
          if (kt_count > 0) mbar_arrive(&empty[((t + 1) * kt_count - 1) % G::ST]);
          sm90_stage_acc<G::BN>(d, extra + t * G::BM * kStagingLd<G::BN>, threadIdx.x / 32 * 16, threadIdx.x % 32);
        }
      }
    }
  }
  __syncthreads();  // every stage consumed: the pipeline memory holds the epilogue tile now

  float* ctile = reinterpret_cast<float*>(smem);
  // Warp w of the consumers holds rows 16w .. 16w + 15.
  if (threadIdx.x < G::kConsumers) sm90_stage_acc<G::BN>(d, ctile, threadIdx.x / 32 * 16, threadIdx.x % 32);
  __syncthreads();
  if constexpr (S > 1) {
    split_k_cluster<H, G::BM, G::BN, G::kThreads>(p, ctile, m0, n0, M, N);
  } else {
    gemm_epilogue<H, G::BM, G::BN, G::kThreads>(p, ctile, m0, n0, M, N, threadIdx.x, 0, extra);
  }
}

// Ping-pong, persistent: a CTA per SM walks tiles blockIdx.x, + gridDim.x, ...; consumer
// warpgroup w takes every other one (positions w, w + 2, ...), all 128 rows of it. Their
// main loops take turns, so that one's epilogue, through its own 32-row staging buffer,
// runs while the other's wgmmas keep the tensor cores busy, and the producer fills the
// next tile's stages meanwhile. No A prologue (one producer warp) and no store-site
// reduction down the columns, which would need both halves (GemmLaunchOf on the host).
//
// kMulticast 2: the CTAs are clusters of two (consecutive, rank = blockIdx.x % 2) that walk
// pairs of tiles, 2u and 2u + 1 of the tile order, rank r taking 2u + r. The order's pairs
// are two row bands of the same columns (except in a last group of one band): there each
// CTA copies half of the B tile into both CTAs' stages (TMA multicast), so that B comes from
// L2 once per pair. A stage is refilled when both CTAs' consumers have released it: each
// consumer thread arrives on its own CTA's barrier, and each consumer warp once on the
// partner's. A pair past the last tile repeats its first tile and stores nothing, so that
// both CTAs fill and release the same stages.
template <class H>
TF_DEVICE void gemm_sm90_pingpong_kernel(const typename H::Params& p, const TmaDesc& ta, const TmaDesc& tb,
                                         const TmaDesc& tb2) {
  using G = GemmSm90<H>;
  static_assert(H::kAsyncA && (H::kReduceOp < 0 || H::kReduceAxis == 1),
                "ping-pong: no A prologue, no store-site reduction down the columns");
  static_assert(G::BM == 128 && G::BN == 128 && G::kARows == G::BM, "ping-pong: 128 x 128 tiles");
  constexpr int MC = H::kMulticast;
  static_assert(MC == 1 || (MC == 2 && !H::kDual && !G::kNMajorB && !H::kBatched),
                "multicast clusters of two, a K-major B of one GEMM");
  constexpr int LDC = kStagingLd<G::BN>;
  extern __shared__ __align__(1024) char smem_raw[];
  char* smem = align1024(smem_raw);
  char* sa = smem;
  char* sb = smem + G::ST * G::kABytes;
  float* staging = reinterpret_cast<float*>(sb + G::ST * G::kBBytes);  // [2][32][LDC]
  unsigned long long* full = reinterpret_cast<unsigned long long*>(staging + 2 * 32 * LDC);
  unsigned long long* empty = full + G::ST;
  unsigned long long* order = empty + G::ST;  // order[w]: the other warpgroup's main loop ended

  const long long M = p.rows, N = p.cols, K = p.depth;
  const long long tiles = ((M + G::BM - 1) / G::BM) * ((N + G::TN - 1) / G::TN);
  const int kt_count = static_cast<int>((K + G::BK - 1) / G::BK);
  // Units of work: tiles, or pairs of tiles (MC 2), this CTA's first and their stride; read
  // where used, not held from here across the roles' split: at MC 1 the kernel is the
  // unclustered one instruction for instruction (held, it ran 1.6% slower).
  const long long units = (tiles + MC - 1) / MC;
  const auto first = [] { return static_cast<long long>(blockIdx.x / MC); };
  const auto stride = [] { return static_cast<long long>(gridDim.x / MC); };
  const int rank = MC == 1 ? 0 : static_cast<int>(blockIdx.x % MC);
  // Unit u's tile for this CTA (the pair's first where this rank's is past the last tile).
  const auto tile_of = [&](long long u) {
    if constexpr (MC == 1) return u;
    const long long tile = u * MC + rank;
    return tile < tiles ? tile : u * MC;
  };

  if (threadIdx.x == 0) {
    for (int s = 0; s < G::ST; ++s) {
      mbar_init(&full[s], G::kProducers);
      // One warpgroup consumes a stage: its threads arrive, and (MC 2) each warp of the
      // partner's once.
      mbar_init(&empty[s], 128 + 4 * (MC - 1));
    }
    mbar_init(&order[0], 128);
    mbar_init(&order[1], 128);
    fence_mbarrier_init();
  }
  // The last CTA-wide barrier: the roles part here (with MC 2 the partner's barriers are
  // ready too before any copy or arrival reaches them).
  if constexpr (MC > 1) {
    cluster_arrive();
    cluster_wait();
  } else {
    __syncthreads();
  }

  if (threadIdx.x >= 256) {
    // Fill number g (over this CTA's tiles in order) goes to stage s in its phase-th use;
    // from the second use on, it waits for the use before to be released.
    long long g = 0;
    int s = 0;
    unsigned phase = 0;
    for (long long u = first(); u < units; u += stride()) {
      long long m0, n0;
      sm90_tile_origin(tile_of(u), M, N, G::BM, G::TN, H::kGroup, m0, n0);
      bool share = false;
      if constexpr (MC > 1) {
        // The partner's tile (the pair's first where either is past the last tile).
        const long long other = u * MC + (rank ^ 1) < tiles ? u * MC + (rank ^ 1) : u * MC;
        long long m1, n1;
        sm90_tile_origin(other, M, N, G::BM, G::TN, H::kGroup, m1, n1);
        share = n1 == n0;
      }
      for (int kt = 0; kt < kt_count; ++kt, ++g) {
        if (g >= G::ST) mbar_wait(&empty[s], phase ^ 1);
        sm90_produce<H>(p, ta, tb, tb2, sa + s * G::kABytes, sb + s * G::kBBytes, &full[s], kt, m0, n0,
                        threadIdx.x - 256, share);
        if (++s == G::ST) {
          s = 0;
          phase ^= 1;
        }
      }
    }
    // MC 2: the cluster barrier the consumers end with (their partner's arrivals end first).
    if constexpr (MC > 1) {
      cluster_arrive();
      cluster_wait();
    }
    return;
  }
  const int w = warp_uniform(threadIdx.x / 128), t = threadIdx.x % 128;
  float* mine = staging + w * 32 * LDC;
  const unsigned long long da = wgmma_desc(sa), db = sm90_desc_b<H>(sb);
  // The release of stage `st` by this thread, and (MC 2) by its warp in the partner.
  const auto release = [&](int st) {
    mbar_arrive(&empty[st]);
    if constexpr (MC > 1) {
      __syncwarp();
      if (t % 32 == 0) mbar_arrive_cluster(&empty[st], rank ^ 1);
    }
  };
  long long i = 0;  // this warpgroup's tiles so far
  for (long long j = w; first() + j * stride() < units; j += 2, ++i) {
    const long long u = first() + j * stride();
    long long m0, n0;
    sm90_tile_origin(tile_of(u), M, N, G::BM, G::TN, H::kGroup, m0, n0);
    const bool stores = MC == 1 || u * MC + rank < tiles;
    // The accumulators' start, loaded (if at all) while this warpgroup waits its turn.
    float d0[64], d1[64];
    sm90_acc_start<H>(p, d0, n0, N, t % 32);
#pragma unroll
    for (int e = 0; e < 64; ++e) d1[e] = d0[e];
    wgmma_fence_operand(d0);
    wgmma_fence_operand(d1);
    // Main loops alternate: warpgroup 1's i-th waits for warpgroup 0's i-th, warpgroup 0's
    // i-th for warpgroup 1's (i - 1)-th. So stages are consumed in the order they are
    // filled, and no stage barrier is ever two phases from what its waiter expects.
    if (w == 1) mbar_wait(&order[1], static_cast<unsigned>(i & 1));
    if (w == 0 && i > 0) mbar_wait(&order[0], static_cast<unsigned>((i - 1) & 1));
    // The pipeline position of this tile's first k-tile: stage s, in its phase-th use.
    const unsigned long long g0 = static_cast<unsigned long long>(j) * kt_count;
    int s = static_cast<int>(g0 % G::ST), prev = 0;
    unsigned phase = static_cast<unsigned>(g0 / G::ST) & 1;
#pragma unroll 1  // compile time: the compiler would copy the loop per stage
    for (int kt = 0; kt < kt_count; ++kt) {
      mbar_wait(&full[s], phase);
      const unsigned long long a = da + s * (G::kABytes >> 4), b = db + s * (G::kBBytes >> 4);
      wgmma_fence();
      sm90_mma_stage<H>(d0, a, b);
      sm90_mma_stage<H>(d1, a + (64 * 128 >> 4), b);
      wgmma_commit();
      wgmma_wait<1>();  // the previous k-tile's group is done: release its stage
      if (kt > 0) release(prev);
      prev = s;
      if (++s == G::ST) {
        s = 0;
        phase ^= 1;
      }
    }
    wgmma_wait<0>();
    if (kt_count > 0) release(prev);
    mbar_arrive(&order[1 - w]);
    // The epilogue, 32 rows at a time (a small buffer leaves room for a fifth stage, which
    // made the plain GEMM 5% faster), two warps staging each; the named barrier holds this
    // warpgroup only. Not unrolled: both halves are live in its first two passes anyway,
    // and four copies of the store loop cost registers and compile time.
    if (!stores) continue;
#pragma unroll 1
    for (int q = 0; q < 4; ++q) {
      epilogue_sync<128>(1 + w);  // the previous stores are done reading the buffer
      const int warp = t / 32 - 2 * (q % 2);  // rows 16 warp .. + 15 of the quarter
      if (warp == 0 || warp == 1) {
        if (q < 2) {
          sm90_stage_acc<G::BN>(d0, mine, warp * 16, t % 32);
        } else {
          sm90_stage_acc<G::BN>(d1, mine, warp * 16, t % 32);
        }
      }
      epilogue_sync<128>(1 + w);
      // Each quarter holds whole rows of the tile: a reduction along them needs no other.
      gemm_epilogue<H, 32, G::BN, 128>(p, mine, m0 + q * 32, n0, M, N, t, 1 + w);
    }
  }
  // MC 2: the partner's consumers still arrive on this CTA's barriers until its last stage.
  if constexpr (MC > 1) {
    cluster_arrive();
    cluster_wait();
  }
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_GEMM_SM90_CUH_
