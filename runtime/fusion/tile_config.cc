#include "runtime/fusion/tile_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/fusion/weight_read.h"

namespace tilefuse::internal {

absl::StatusOr<RowConfig> ChooseRowConfig(const Dim& width, int vec) {
  const int64_t cols = width.is_static() ? width.value : kMaxRowWidth;
  if (cols > kMaxRowWidth) return ChunkedRowConfig();
  const int64_t vectors = (std::max<int64_t>(cols, 1) + vec - 1) / vec;
  RowConfig c;
  c.row_threads = 32;
  // Two vectors per thread keep loads in flight; more threads per row past that.
  while (c.row_threads < 512 && int64_t{c.row_threads} * 2 < vectors) c.row_threads *= 2;
  c.vecs = static_cast<int>((vectors + c.row_threads - 1) / c.row_threads);
  c.threads = std::max(c.row_threads, 256);
  return c;
}

RowConfig ChunkedRowConfig() { return RowConfig{512, 512, 4, 1, true}; }

std::vector<RowConfig> RowCandidates(int64_t width, int vec) {
  const int64_t vectors = (std::max<int64_t>(width, 1) + vec - 1) / vec;
  std::vector<RowConfig> out;
  if (width > kMaxRowWidth) {  // chunked: a CTA per row, 2 to 8 vectors in flight per thread
    out.push_back(ChunkedRowConfig());  // the default first
    for (const auto& [threads, vecs] : {std::pair{1024, 2}, {1024, 4}, {512, 8}, {256, 8}}) {
      out.push_back(RowConfig{threads, threads, vecs, 1, true});
    }
    return out;
  }
  for (int rt = 32; rt <= 512; rt *= 2) {
    const int64_t vecs = (vectors + rt - 1) / rt;
    if (vecs > 8 || (rt > 32 && rt / 2 >= vectors)) continue;  // too many registers, or idle threads
    out.push_back(RowConfig{std::max(rt, 256), rt, static_cast<int>(vecs)});
  }
  // Each CTA looping over 2, 4 or 8 row groups, asking L2 for the next groups' rows while
  // it reduces the current one (kernels/rowwise.cuh): registers as for one group.
  const size_t base = out.size();
  for (size_t i = 0; i < base; ++i) {
    for (int loop : {2, 4, 8}) {
      RowConfig c = out[i];
      c.loop = loop;
      out.push_back(c);
    }
  }
  return out;
}

absl::Status ValidateGemmConfig(const GemmConfig& c) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("GEMM config ", c.ToString(), ": ", why));
  };
  if (c.a_rows != 0 && !c.wgmma) return bad("A stages of 16 rows are the Hopper kernel's");
  if ((c.row_cluster != 1 || c.row_tiles != 1) && !c.wgmma) return bad("row tiles and clusters are the Hopper kernel's");
  if (c.group != 0 && !c.wgmma) return bad("tile walk groups are the Hopper kernel's");
  if (c.group < 0 || c.group > 64) return bad("tile walk groups of 1 to 64 rows of tiles (0: the default)");
  if (c.skinny) {
    if (c.wgmma || c.bm != 16 || c.warps_m != 1 || c.bn != 16 * c.warps_n || (c.warps_n & (c.warps_n - 1)) != 0 ||
        c.warps_n > 8) {
      return bad("the skinny kernel's tiles are 16 rows by 16 columns per warp, 1 to 8 warps");
    }
    if (c.split_k < 1 || c.split_k > 8) return bad("split-K of 1 to 8 (a portable cluster on sm_90)");
    if (c.bk != 128 && c.bk != 256 && c.bk != 512) {
      return bad("the skinny kernel's stages take 128, 256 or 512 bytes of a row");
    }
    if (c.stages < 2 || c.stages > 16 || SkinnyTmaSmemBytes(c, /*int4=*/true) > 227 * 1024) {
      return bad(absl::StrCat("the skinny kernel's TMA form takes 2 to 16 stages of bn * bk + 64 * bk bytes, in ",
                              "227 KiB (", SkinnyTmaSmemBytes(c, true), " bytes)"));
    }
    return absl::OkStatus();
  }
  if (c.wgmma) {
    const bool rows = c.row_tiles > 1 || c.row_cluster > 1;
    if ((c.bm != 64 && c.bm != 128) || (c.bn != 64 && c.bn != 128 && c.bn != 192 && c.bn != 256) || c.bk != 64) {
      return bad("the Hopper kernel's tiles are 64 or 128 rows by 64, 128, 192 or 256 columns, 64 of K");
    }
    const GemmConfig w = WgmmaGemmConfig(c.stages, c.bm, c.bn);
    if (c.warps_m != w.warps_m || c.warps_n != w.warps_n) {
      return bad(absl::StrCat("the Hopper kernel's warps follow its tile (", w.ToString(), ")"));
    }
    if (c.stages < 3 || c.stages > 16) return bad("the Hopper kernel takes 3 to 16 stages");
    if (c.a_rows != 0 && !(c.a_rows == 16 && c.bm == 64)) return bad("A stages of 16 rows go with 64-row tiles");
    if (c.split_k < 1 || c.split_k > 8) return bad("split-K of 1 to 8 (a portable cluster)");
    if (c.row_cluster < 1 || c.row_cluster > 8 || c.row_tiles < 1 || c.row_tiles > 4 ||
        (rows && c.split_k > 1)) {
      return bad("row tiles of 1 to 4 per CTA and a row cluster of 1 to 8 CTAs (a portable cluster), without split-K");
    }
    if (c.multicast != 1 && !(c.multicast == 2 && c.bm == 128 && c.bn == 128 && c.split_k == 1 && !rows)) {
      return bad("multicast clusters of 2 go with 128 x 128 tiles, no split-K or row tiles (the ping-pong kernel)");
    }
    if (c.SmemBytes() > 227 * 1024) return bad(absl::StrCat(c.SmemBytes(), " bytes of shared memory (at most 232448)"));
    return absl::OkStatus();
  }
  if (c.multicast != 1) return bad("multicast clusters are the Hopper kernel's");
  const auto pow2 = [](int v, int lo, int hi) { return v >= lo && v <= hi && (v & (v - 1)) == 0; };
  if (!pow2(c.bm, 16, 256) || !pow2(c.bn, 16, 256) || !pow2(c.bk, 16, 256)) {
    return bad("tile sides are powers of two: bm and bn in [16, 256], bk in [16, 256]");
  }
  if (!pow2(c.warps_m, 1, 16) || !pow2(c.warps_n, 1, 16) || c.warps_m * c.warps_n > 16) {
    return bad("warps are powers of two, at most 16 per CTA");
  }
  if (c.bm % (16 * c.warps_m) != 0 || c.bn % (16 * c.warps_n) != 0) return bad("warp tiles are multiples of 16x16");
  const int threads = 32 * c.warps_m * c.warps_n;
  if (c.bm * c.bk / 8 % threads != 0 || c.bk * c.bn / 8 % threads != 0 || c.bm * c.bk / 8 < threads ||
      c.bk * c.bn / 8 < threads) {
    return bad("the 16-byte chunks of the A and B tiles split evenly over the threads, one or more each");
  }
  if (c.stages < 2 || c.stages > 16) return bad("2 to 16 stages");
  if (c.split_k < 1 || c.split_k > 8) return bad("split-K of 1 to 8 (a portable cluster on sm_90)");
  if (c.SmemBytes() > 227 * 1024) return bad(absl::StrCat(c.SmemBytes(), " bytes of shared memory (at most 232448)"));
  return absl::OkStatus();
}

absl::Status ValidateRowConfig(const RowConfig& c) {
  if (c.threads < 32 || c.threads > 1024 || c.threads % 32 != 0 || c.row_threads < 32 ||
      c.threads % c.row_threads != 0 || c.vecs < 1 || c.vecs > 16 || c.loop < 1 || c.loop > 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "row config ", c.ToString(), " (threads ", c.threads, ", row_threads ", c.row_threads, ", vecs ", c.vecs,
        ", loop ", c.loop, "): expected 32 to 1024 threads in rows of at least 32, 1 to 16 vectors, a loop of 1 to 16"));
  }
  return absl::OkStatus();
}

GemmConfig DefaultGemmConfig(const Dim& m) {
  if (m.is_static() && m.value <= 16) return GemmConfig{16, 32, 128, 1, 2, 6};
  return GemmConfig{128, 128, 32, 2, 4, 4};
}

GemmConfig BatchedGemmConfig(const Dim& m) {
  // Batches are CTAs of their own: no split-K. Tiles of 16, 64 or 128 rows by M.
  if (m.is_static() && m.value <= 16) return GemmConfig{16, 32, 128, 1, 2, 6};
  if (m.is_static() && m.value <= 64) return GemmConfig{64, 64, 32, 2, 2, 4};
  return GemmConfig{128, 128, 32, 2, 4, 4};
}

GemmConfig WgmmaGemmConfig(int stages, int bm, int bn) {
  GemmConfig c{bm, bn, 64, bm / 64, 4, stages};
  c.wgmma = true;
  return c;
}

GemmConfig MulticastGemmConfig() {
  GemmConfig c = WgmmaGemmConfig();
  c.multicast = 2;
  return c;
}

std::vector<GemmConfig> GemmCandidates(const Dim& m) {
  if (m.is_static() && m.value <= 16) {
    std::vector<GemmConfig> c = {GemmConfig{16, 32, 128, 1, 2, 6}, GemmConfig{16, 32, 128, 1, 2, 8},
                                 GemmConfig{16, 16, 256, 1, 1, 6}, GemmConfig{16, 64, 64, 1, 4, 8}};
    // K split over 2 to 8 CTAs per tile: N / 32 tiles alone leave SMs idle.
    for (int split : {2, 4, 8}) {
      for (const GemmConfig& base : {GemmConfig{16, 32, 128, 1, 2, 6}, GemmConfig{16, 64, 64, 1, 4, 8},
                                     GemmConfig{16, 128, 64, 1, 4, 6}, GemmConfig{16, 64, 128, 1, 4, 4}}) {
        GemmConfig s = base;
        s.split_k = split;
        c.push_back(s);
      }
    }
    return c;
  }
  if (m.is_static() && m.value <= 64) {
    return {GemmConfig{64, 64, 32, 2, 2, 4}, GemmConfig{32, 64, 64, 2, 2, 4},
            GemmConfig{128, 128, 32, 2, 4, 4}};
  }
  return {GemmConfig{128, 128, 32, 2, 4, 4}, GemmConfig{128, 256, 32, 2, 4, 3},
          GemmConfig{128, 128, 64, 2, 4, 3}, GemmConfig{64, 128, 32, 2, 2, 4}};
}

namespace {

// K split over CTAs of one tile, doubling while the CTAs stay within 1.5 per SM and each
// slice keeps at least 512 of K (H200 grid: N = 4096 at M = 1 took 14.3 us split 2 over
// 64 tiles, 18.7 split 4; N = 28672's 448 tiles 61 us unsplit, 69 split 2).
int MmaSplit(int64_t tiles, int64_t k, int sms) {
  int split = 1;
  while (split < 8 && 2 * tiles * split * 2 <= 3 * int64_t{sms} && k / (2 * split) >= 512) split *= 2;
  return split;
}

// 128-row Hopper tiles past the narrow ones: the ping-pong kernel's 128 x 128 (nullopt)
// or the one-tile kernel's 128 x 192 or 128 x 256, whichever leaves the least work in
// its busiest SM (waves of tiles times a tile's columns), ties to the ping-pong kernel
// (H200 grid: 4096 -> 6144 at M = 512, 128 x 192 36.2 us against 45.7; 4096 -> 4096 at
// M = 1024 a tie, 46.1 against 46.8; 14336 -> 4096 at M = 1024 a tie, 159 against 152).
// At most two row bands (M <= 256) ties go to the widest tile: each B tile then feeds every
// row of M from one CTA, where the ping-pong kernel reads B twice as often per flop (4096
// -> 28672 at M = 256: 128 x 256, 224 CTAs, 97.4 us against the ping-pong kernel's 103.0).
std::optional<GemmConfig> WideTileConfig(int64_t max_m, int64_t n, int sms) {
  const auto work = [&](int bn) {
    const int64_t tiles = (max_m + 127) / 128 * ((n + bn - 1) / bn);
    return (tiles + sms - 1) / sms * bn;
  };
  const bool ties_to_wide = max_m <= 256;
  int best = 128;
  for (int bn : {192, 256}) {
    if (work(bn) < work(best) || (ties_to_wide && work(bn) == work(best))) best = bn;
  }
  if (best == 128) return std::nullopt;
  return WgmmaGemmConfig(4, 128, best);
}

}  // namespace

std::optional<GemmConfig> SmallMGemmConfig(int64_t max_m, int64_t n, int64_t k, bool hopper, int sms) {
  const auto tiles = [&](int bm, int bn) { return (max_m + bm - 1) / bm * ((std::max<int64_t>(n, 1) + bn - 1) / bn); };
  const auto mma = [&](GemmConfig c) {
    if (n > 0 && k > 0) c.split_k = MmaSplit(tiles(c.bm, c.bn), k, sms);
    return c;
  };
  // Decode: mma.sync tiles of 16 rows, 64 columns, 128 of K per stage (256-byte weight
  // rows per copy), four warps (H200: 13.9 us at 4096 -> 4096, M = 1, against 17.9 for the
  // best Hopper tile, whose 64 rows are mostly empty there).
  if (max_m <= 16) {
    // Long K over few column tiles (a down projection): the Hopper kernel's 64 x 64 tile
    // whose 16 stages hold 16 rows of A each (most of the pipeline's memory for the weight,
    // by TMA), K split over a cluster of 2 to 4 with slices of at least 4096, where that
    // fills at least three quarters of the SMs one CTA each (H200 grid, bench_fusion
    // --sweep_configs --sweep_m=16: 14336 -> 4096 34.4 us against 36.6 for mma.sync; at
    // 4096 -> 4096 a tie, at 4096 -> 6144 and 28672, with more tiles, slower).
    if (hopper && n > 0 && k > 0) {
      const int64_t column_tiles = (n + 63) / 64;
      for (int split = 4; split >= 2; --split) {
        const int64_t ctas = column_tiles * split;
        if (ctas > sms || k / split < 4096) continue;
        if (4 * ctas < 3 * int64_t{sms}) break;
        GemmConfig c = WgmmaGemmConfig(16, 64, 64);
        c.split_k = split;
        c.a_rows = 16;
        return c;
      }
    }
    return mma(GemmConfig{16, 64, 128, 1, 4, 4});
  }
  if (max_m > 256) return hopper && n > 0 ? WideTileConfig(max_m, n, sms) : std::nullopt;
  if (!hopper && max_m > 64) return std::nullopt;
  if (hopper && n > 0 && k > 0) {
    // The Hopper kernel, tiles of 64 rows up to M = 64 and of 128 past it, 128 or 64
    // columns, K split over a cluster of up to 3 CTAs with slices of at least 2048: the
    // most CTAs that still fit one per SM, ties to the wider tile and the smaller split
    // (H200 grid, bench_fusion --sweep_configs: 4096 -> 4096 at M = 64 takes 64 x 64 split
    // 2, 14.1 us against cuBLAS's 14.5; at M = 128 128 x 64 split 2, 15.0 against 17.1).
    // Then 192 and 256 columns, K split up to 2 ways, where they fill more SMs (H200 grid:
    // 4096 -> 28672 at M = 64, whose 224 tiles of 128 columns pass 132 SMs, 64 x 256 62.1
    // us against 68.7 for 64 x 128; 4096 -> 6144 at M = 256, 128 x 192 split 2 26.4 against
    // 27.8 for 96 tiles of 128 x 128; 4096 -> 28672 at M = 128, 128 x 256 66.2 against the
    // ping-pong kernel's 71.0). Clusters of 3 or 4 CTAs fit fewer per wave than the
    // SMs suggest (a cluster is placed within one GPC): 32 tiles of 64 x 192 split 4, 128
    // CTAs, took 26.5 us there against 21.1 for 24 tiles of 64 x 256 split 4.
    const int bm = max_m <= 64 ? 64 : 128;
    int best_bn = 0, best_split = 0;
    int64_t best_ctas = 0;
    const auto consider = [&](int bn, int split) {
      if (split > 1 && k / split < 2048) return;
      const int64_t ctas = tiles(bm, bn) * split;
      if (ctas <= sms && ctas > best_ctas) {
        best_ctas = ctas;
        best_bn = bn;
        best_split = split;
      }
    };
    for (int bn : {128, 64}) {
      for (int split = 1; split <= 3; ++split) consider(bn, split);
    }
    for (int bn : {192, 256}) {
      for (int split = 1; split <= 2; ++split) consider(bn, split);
    }
    if (best_ctas > 0) {
      if (bm == 128 && best_bn == 128 && best_split == 1) return std::nullopt;  // the planned ping-pong kernel
      // Stages: the most of 16 to 32 KB that leave the epilogue room, fewer where more
      // measured slower (64 x 64 at M = 64: 8 stages 14.1 us, 12 14.3; at M = 32 12 faster);
      // wide tiles 4 (5 of 64 x 192), the grid's.
      int stages = bm == 128 && best_bn == 128 ? 6 : bm == 64 && best_bn == 64 && max_m <= 32 ? 12 : 8;
      if (best_bn > 128) stages = bm == 64 && best_bn == 192 ? 5 : 4;
      GemmConfig c = WgmmaGemmConfig(stages, bm, best_bn);
      c.split_k = best_split;
      return c;
    }
    // Tiles past one per SM even at 256 columns: the 64 x 128 Hopper tile at M <= 64 (4096
    // -> 28672, M = 64, before the wide tiles: 64.7 us against 80.9 for 64 x 128 mma.sync),
    // the 32-row mma.sync tile at M <= 32 (65.2 against 67.7), 128-row tiles past 64.
    if (max_m <= 32) return mma(GemmConfig{32, 64, 128, 1, 4, 4});
    if (max_m <= 64) return WgmmaGemmConfig(8, 64, 128);
    return WideTileConfig(max_m, n, sms);
  }
  // mma.sync tiles where the Hopper kernel cannot run or N or K is unknown.
  if (max_m <= 32) return mma(GemmConfig{32, 64, 128, 1, 4, 4});
  if (max_m <= 64) return mma(GemmConfig{64, 128, 64, 2, 4, 4});
  return std::nullopt;  // the planned kernel (the ping-pong one where the Hopper kernel runs)
}

GemmConfig SkinnyGemmConfig(int64_t n, int64_t k, int sms, bool int4) {
  GemmConfig c{16, 64, 128, 1, 4, int4 ? 2 : 4};
  c.skinny = true;
  const int64_t tiles = (std::max<int64_t>(n, 1) + 63) / 64;
  while (c.split_k < 8 && tiles * c.split_k * 2 <= 4 * int64_t{sms} && k / (2 * c.split_k) >= 256) c.split_k *= 2;
  return c;
}

std::optional<GemmConfig> ClassGemmConfig(const KernelSpec& spec, int64_t max_m, int64_t n, int64_t k, int sms) {
  if (spec.b_layout == GemmBLayout::kHookNK && max_m <= 16) {
    // int4 weights (the planner may not have folded the dequant into a packed read yet).
    const bool int4 = std::any_of(spec.operands.begin(), spec.operands.end(),
                                  [](const OperandSpec& o) { return o.site == 1 && o.dtype == DType::kI4; });
    return SkinnyGemmConfig(n, k, sms, int4);
  }
  // At M <= 16 the Hopper kernel's one tile holds 16 rows of A per stage.
  std::optional<GemmConfig> c =
      SmallMGemmConfig(max_m, n, k, max_m > 16 ? GemmWgmmaCapable(spec) : GemmA16Capable(spec), sms);
  if (IsF8Gemm(spec) && c && !c->wgmma) return std::nullopt;  // fp8 codes: the Hopper kernel only
  // fp8 past 256 rows: the ping-pong kernel, not the one-tile kernel's wide tiles that
  // WideTileConfig finds by waves (H200, 8192^3: 128 x 128 s5 733 us against 128 x 192 s4
  // 755 in the autotuner; `tilefuse run`, three rounds, 745-794 against 809-825).
  if (IsF8Gemm(spec) && max_m > 256) return std::nullopt;
  return c;
}

bool GemmTunable(const KernelSpec& spec) { return spec.b_layout != GemmBLayout::kHookNK; }

std::vector<GemmConfig> GemmClassCandidates(int64_t max_m, int64_t n, int64_t k, bool hopper, int sms) {
  std::vector<GemmConfig> out;
  const auto add = [&](GemmConfig c, std::initializer_list<int> splits) {
    for (int split : splits) {
      c.split_k = split;
      if (ValidateGemmConfig(c).ok() &&
          std::none_of(out.begin(), out.end(), [&](const GemmConfig& o) { return o.ToString() == c.ToString(); })) {
        out.push_back(c);
      }
    }
  };
  const std::optional<GemmConfig> planned = SmallMGemmConfig(max_m, n, k, hopper, sms);
  const GemmConfig fallback = hopper ? WgmmaGemmConfig() : GemmConfig{};
  add(planned.value_or(fallback), {planned.value_or(fallback).split_k});
  if (max_m <= 16) {
    add(GemmConfig{16, 64, 128, 1, 4, 4}, {1, 2, 4});
    add(GemmConfig{16, 64, 128, 1, 4, 6}, {1, 2});
    add(GemmConfig{16, 32, 128, 1, 2, 6}, {1, 2, 4});
    return out;
  }
  if (max_m <= 32) add(GemmConfig{32, 64, 128, 1, 4, 4}, {1, 2, 4});
  if (max_m <= 64) add(GemmConfig{64, 128, 64, 2, 4, 4}, {1, 2});
  if (hopper) {
    const int bm = max_m <= 64 ? 64 : 128;
    add(WgmmaGemmConfig(8, bm, 64), {1, 2, 3});
    add(WgmmaGemmConfig(12, bm, 64), {1, 2});
    add(WgmmaGemmConfig(8, bm, 128), {1, 2, 3});
    add(WgmmaGemmConfig(6), {1, 2, 3});
    add(WgmmaGemmConfig(5), {1});
    if (max_m <= 256) {
      // (64 x 192 split 4, 32 clusters of 4 at N = 6144, took two waves: not a candidate)
      add(WgmmaGemmConfig(5, 64, 192), {1, 2});
      add(WgmmaGemmConfig(4, 64, 256), {1, 2, 4});
    }
    if (max_m > 64) {
      add(WgmmaGemmConfig(4, 128, 192), {1, 2});
      add(WgmmaGemmConfig(4, 128, 256), {1});
    }
  }
  return out;
}

std::vector<ShapeClass> GemmShapeClasses(const KernelPlan& k, absl::Span<const int64_t> bounds, int sms) {
  const KernelSpec& spec = k.spec;
  if (spec.tile != "matmul" || spec.custom != nullptr || spec.reduce.op >= 0 || !spec.stages.empty() ||
      spec.batched || k.rows.is_static()) {
    return {};
  }
  // A dual GEMM's tiles cover both products' columns: 2N as one GEMM.
  const int64_t n = k.cols.is_static() ? k.cols.constant * (spec.dual ? 2 : 1) : 0;
  const int64_t depth = k.depth.is_static() ? k.depth.constant : 0;
  std::vector<ShapeClass> classes;
  for (int64_t b : bounds) {
    if (b <= 0 || (!classes.empty() && b <= classes.back().max_m)) continue;
    // A kernel of one form of a plan runs only in its range of M: no class below it, and
    // none past the first that reaches its end.
    if (k.range && b < k.range->min) continue;
    if (k.range && k.range->max >= 0 && !classes.empty() && classes.back().max_m >= k.range->max) break;
    const GemmConfig c = ClassGemmConfig(spec, b, n, depth, sms).value_or(spec.gemm);
    if (!classes.empty() && classes.back().gemm.ToString() == c.ToString()) {
      classes.back().max_m = b;  // the same kernel covers both
    } else {
      classes.push_back(ShapeClass{b, c});
    }
  }
  // The planned config serves every M past the last class anyway.
  while (!classes.empty() && classes.back().gemm.ToString() == spec.gemm.ToString()) classes.pop_back();
  return classes;
}

}  // namespace tilefuse::internal
