#include "runtime/fusion/tile_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tilefuse {

absl::StatusOr<RowConfig> ChooseRowConfig(const Dim& width, int vec) {
  const int64_t cols = width.is_static() ? width.value : kMaxRowWidth;
  if (cols > kMaxRowWidth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "row width ", cols, " exceeds the ", kMaxRowWidth, " that row-wise kernels support"));
  }
  const int64_t vectors = (std::max<int64_t>(cols, 1) + vec - 1) / vec;
  RowConfig c;
  c.row_threads = 32;
  // Two vectors per thread keep loads in flight; more threads per row past that.
  while (c.row_threads < 512 && int64_t{c.row_threads} * 2 < vectors) c.row_threads *= 2;
  c.vecs = static_cast<int>((vectors + c.row_threads - 1) / c.row_threads);
  c.threads = std::max(c.row_threads, 256);
  return c;
}

std::vector<RowConfig> RowCandidates(int64_t width, int vec) {
  const int64_t vectors = (std::max<int64_t>(width, 1) + vec - 1) / vec;
  std::vector<RowConfig> out;
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
  if (c.wgmma) {
    // Six stages leave no room for the ping-pong kernel's staging buffers: one tile per CTA.
    if (c.stages < 3 || c.stages > 6) return bad("the Hopper kernel takes 3 to 6 stages");
    const GemmConfig w = WgmmaGemmConfig(c.stages);
    if (c.bm != w.bm || c.bn != w.bn || c.bk != w.bk || c.warps_m != w.warps_m || c.warps_n != w.warps_n) {
      return bad(absl::StrCat("the Hopper kernel's tile is fixed (", w.ToString(), ")"));
    }
    if (c.split_k < 1 || c.split_k > 8) return bad("split-K of 1 to 8 (a portable cluster)");
    return absl::OkStatus();
  }
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

GemmConfig WgmmaGemmConfig(int stages) {
  GemmConfig c{128, 128, 64, 2, 4, stages};
  c.wgmma = true;
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

}  // namespace

std::optional<GemmConfig> SmallMGemmConfig(int64_t max_m, int64_t n, int64_t k, bool hopper, int sms) {
  const auto tiles = [&](const GemmConfig& c) { return (max_m + c.bm - 1) / c.bm * ((std::max<int64_t>(n, 1) + c.bn - 1) / c.bn); };
  const auto mma = [&](GemmConfig c) {
    if (n > 0 && k > 0) c.split_k = MmaSplit(tiles(c), k, sms);
    return c;
  };
  // Decode and small batches: mma.sync tiles of the batch's rows, 64 columns, 128 of K per
  // stage (256-byte weight rows per copy), four warps.
  if (max_m <= 16) return mma(GemmConfig{16, 64, 128, 1, 4, 4});
  if (max_m <= 32) return mma(GemmConfig{32, 64, 128, 1, 4, 4});
  if (max_m > 256 || (!hopper && max_m > 64)) return std::nullopt;
  // Where 128-column tiles cover every SM already (N >= 128 SMs), 64 x 128 mma.sync tiles
  // stream the weights faster than the Hopper kernel's 128-row tiles at M <= 64 (N = 28672,
  // M = 64: 81 us against 97).
  if (!hopper || (max_m <= 64 && n > 0 && (n + 127) / 128 >= sms)) {
    return max_m <= 64 ? std::optional<GemmConfig>(mma(GemmConfig{64, 128, 64, 2, 4, 4})) : std::nullopt;
  }
  // The Hopper kernel with six stages (one tile per CTA), K split over a cluster of up to 3
  // CTAs per tile while the CTAs fit one per SM and each slice keeps 2048 of K (H200 grid,
  // N = 4096, M = 128: 18.4 us split 2, 19.6 split 3, 25.1 unsplit; K = 14336: 40.9 split
  // 3, 44.3 split 2; four stages 1-7% slower).
  GemmConfig c = WgmmaGemmConfig(6);
  if (n <= 0 || k <= 0) return c;
  const int64_t t = tiles(c);
  while (c.split_k < 3 && t * (c.split_k + 1) <= sms && k / (c.split_k + 1) >= 2048) ++c.split_k;
  if (c.split_k == 1) return std::nullopt;  // the planned ping-pong kernel
  return c;
}

std::vector<ShapeClass> GemmShapeClasses(const KernelPlan& k, absl::Span<const int64_t> bounds, int sms) {
  const KernelSpec& spec = k.spec;
  if (spec.tile != "matmul" || spec.custom != nullptr || spec.reduce.op >= 0 || k.rows.is_static()) return {};
  const int64_t n = k.cols.is_static() ? k.cols.constant : 0, depth = k.depth.is_static() ? k.depth.constant : 0;
  std::vector<ShapeClass> classes;
  for (int64_t b : bounds) {
    if (b <= 0 || (!classes.empty() && b <= classes.back().max_m)) continue;
    const std::optional<GemmConfig> c = SmallMGemmConfig(b, n, depth, GemmWgmmaCapable(spec), sms);
    if (!c || c->ToString() == spec.gemm.ToString()) break;  // the planned config from here on
    if (!classes.empty() && classes.back().gemm.ToString() == c->ToString()) {
      classes.back().max_m = b;  // the same kernel covers both
    } else {
      classes.push_back(ShapeClass{b, *c});
    }
  }
  return classes;
}

}  // namespace tilefuse
