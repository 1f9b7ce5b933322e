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
    if (c.stages < 3 || c.stages > 5) return bad("the Hopper kernel takes 3 to 5 stages");
    const GemmConfig w = WgmmaGemmConfig(c.stages);
    if (c.bm != w.bm || c.bn != w.bn || c.bk != w.bk || c.warps_m != w.warps_m || c.warps_n != w.warps_n ||
        c.split_k != 1) {
      return bad(absl::StrCat("the Hopper kernel's tile is fixed (", w.ToString(), ")"));
    }
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
  if (c.stages < 2 || c.stages > 8) return bad("2 to 8 stages");
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

std::optional<GemmConfig> SmallMGemmConfig(int64_t max_m, int64_t n, int64_t k) {
  constexpr int64_t kSms = 132, kTargetCtas = 2 * kSms, kMinSliceK = 512;
  if (max_m > 64) return std::nullopt;
  // Past 16 rows the 128-column tiles of the planned kernel keep every SM busy once N has
  // a tile per SM; there they stream the weights faster than 64 x 64 tiles (H200 sweep:
  // N = 28672 at M = 64, 88 us against 110).
  if (max_m > 16 && (n <= 0 || (n + 127) / 128 >= kSms)) return std::nullopt;
  GemmConfig c = max_m <= 16 ? GemmConfig{16, 32, 128, 1, 2, 6} : GemmConfig{64, 64, 32, 2, 2, 4};
  if (n <= 0 || k <= 0) return c;
  const int64_t tiles = (max_m + c.bm - 1) / c.bm * ((n + c.bn - 1) / c.bn);
  while (c.split_k < 8 && tiles * c.split_k < kTargetCtas && k / (2 * c.split_k) >= kMinSliceK) c.split_k *= 2;
  return c;
}

std::vector<ShapeClass> GemmShapeClasses(const KernelPlan& k, absl::Span<const int64_t> bounds) {
  const KernelSpec& spec = k.spec;
  if (spec.tile != "matmul" || spec.custom != nullptr || spec.reduce.op >= 0 || k.rows.is_static()) return {};
  const int64_t n = k.cols.is_static() ? k.cols.constant : 0, depth = k.depth.is_static() ? k.depth.constant : 0;
  std::vector<ShapeClass> classes;
  for (int64_t b : bounds) {
    if (b <= 0 || (!classes.empty() && b <= classes.back().max_m)) continue;
    const std::optional<GemmConfig> c = SmallMGemmConfig(b, n, depth);
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
