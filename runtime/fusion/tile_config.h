// Launch shapes of the row-wise tile kernels, chosen from the row width.
#ifndef TILEFUSE_RUNTIME_FUSION_TILE_CONFIG_H_
#define TILEFUSE_RUNTIME_FUSION_TILE_CONFIG_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/fusion/fusion_plan.h"
#include "runtime/fusion/kernel_spec.h"
#include "runtime/graph/ops.h"
#include "runtime/graph/shape.h"

namespace tilefuse::internal {

// A static width gets a config sized for it: about two vectors per thread, a warp per row
// for short rows (several rows per CTA), up to 512 threads per row; past kMaxRowWidth the
// chunked config (generated row kernels only). A symbolic width gets the config for
// kMaxRowWidth, and Run checks the bound width against it.
absl::StatusOr<RowConfig> ChooseRowConfig(const Dim& width, int vec);
// The config of rows wider than kMaxRowWidth: a CTA of 512 threads per row, walking it in
// chunks of 4 vectors per thread (each thread's loads of a chunk in flight together).
RowConfig ChunkedRowConfig();

// The GEMM config used without tuning: 128x128x32 tiles, 8 warps, 4 stages; for a static
// M <= 16 (decode) 16x32x128 tiles, 2 warps, 6 stages, so that many CTAs stream the weights
// with several copies in flight each. (On sm_90 with a K-major B the planner picks the TMA +
// wgmma kernel instead: WgmmaGemmConfig.)
GemmConfig DefaultGemmConfig(const Dim& m);
// A batched matmul's config (the mma.sync kernel, no split-K): by M, tiles of 16, 64 or
// 128 rows.
GemmConfig BatchedGemmConfig(const Dim& m);
// OK when the kernels can be built with `c` (the layout contracts their static_asserts
// state, the shared memory a CTA may have); else kInvalidArgument saying which rule fails.
// Tuning records and forced configs are checked with them before anything reaches NVRTC.
absl::Status ValidateGemmConfig(const GemmConfig& c);
absl::Status ValidateRowConfig(const RowConfig& c);
// The Hopper (TMA + wgmma) config, for sm_90 targets when B is read by TMA. Five stages by
// default: the most that fit beside the ping-pong kernel's staging buffers (H100: plain
// 4096^3 GEMM 191 us against 200 at four); more only in the one-tile-per-CTA form, which
// also takes tiles of 64 rows or columns (a consumer warpgroup per 64 rows: warps bm / 64
// by 4).
GemmConfig WgmmaGemmConfig(int stages = 5, int bm = 128, int bn = 128);
// The ping-pong kernel's 128 x 128 tiles, five stages, in clusters of two that share B
// tiles (GemmConfig::multicast). Opt-in (a forced config or a tuning record), not planned
// or tuned: on the H200 it ran 11-17% slower than the same kernel unclustered (NOTES,
// session 19).
GemmConfig MulticastGemmConfig();
// Candidates the autotuner times for a GEMM of this M.
std::vector<GemmConfig> GemmCandidates(const Dim& m);

// Candidates the row tuner times for a static width: 32 to 512 threads per row with at
// most 8 vectors each (the default among them), and each again with the CTA looping over
// 2, 4 or 8 row groups (the next groups' rows prefetched into L2). Past kMaxRowWidth,
// chunked configs of 256 to 1024 threads (the default first).
std::vector<RowConfig> RowCandidates(int64_t width, int vec);

// The M classes a GEMM with a symbolic M is compiled for when CompileOptions gives none:
// decode batches, small batches, mid ranges, and the rest.
inline constexpr int64_t kDefaultMClasses[] = {16, 32, 64, 128, 256, 512, 1024};

// The SM count configs are sized for when no device says otherwise (H100, H200).
inline constexpr int kDefaultSmCount = 132;

// The untuned config for a GEMM whose M is at most `max_m` (N and K static, else 0), on a
// device of `sms` SMs; `hopper`: the Hopper kernel can run it (GemmWgmmaCapable). From the
// H200 config grid (bench_fusion --sweep_configs, docs/NOTES.md):
//   M <= 16   16 x 64 x 128 mma.sync tile, 4 warps, 4 stages, K split (1 to 8) while the
//             CTAs stay within 1.5 per SM and slices keep 512 of K;
//   M <= 256  the Hopper kernel: tiles of 64 rows (M <= 64) or 128, of 128 or 64 columns,
//             K split over a cluster of 1 to 3 CTAs with slices of at least 2048: the most
//             CTAs that fit one per SM, ties to the wider tile and the smaller split; 6 to
//             12 stages. Where no tile fits one per SM: the 32-row mma.sync tile (M <= 32),
//             the 64 x 128 Hopper tile (M <= 64), 128-row tiles as past 256 below;
//             nullopt where the choice is 128 x 128 unsplit (the ping-pong kernel).
//   M > 256   128-row tiles: the ping-pong kernel's 128 x 128 (nullopt) or the one-tile
//             kernel's 128 x 192 or 128 x 256 at 4 stages, whichever leaves the least
//             work in the busiest SM (waves of tiles times a tile's columns; ties to the
//             ping-pong kernel).
// Without the Hopper kernel (or with N or K unknown): 32 x 64 x 128 mma.sync up to 32
// rows, 64 x 128 x 64 up to 64, nullopt past them. Used for a static M by the planner and
// for the shape classes of a symbolic M.
std::optional<GemmConfig> SmallMGemmConfig(int64_t max_m, int64_t n, int64_t k, bool hopper,
                                           int sms = kDefaultSmCount);

// The skinny kernel (kernels/gemm_skinny.cuh) for a B computed over [N, K] at M <= 16: 64
// columns of C (four warps of 16 weight rows) per CTA, K split (up to 8) while the CTAs
// stay within 4 per SM and each slice keeps 256 of K; its TMA form's stages 128 bytes of
// each weight row, 4 deep (2 for int4 weights, whose stages hold twice the k of x: about
// 48 KiB either way, four CTAs per SM).
GemmConfig SkinnyGemmConfig(int64_t n, int64_t k, int sms = kDefaultSmCount, bool int4 = false);
// The config of a GEMM kernel's class of M <= max_m: SkinnyGemmConfig where B is computed
// over [N, K] and max_m <= 16, else SmallMGemmConfig (nullopt: the planned config), except
// that fp8 GEMMs past 256 rows keep the planned ping-pong kernel.
std::optional<GemmConfig> ClassGemmConfig(const KernelSpec& spec, int64_t max_m, int64_t n, int64_t k,
                                          int sms = kDefaultSmCount);

// The bounded classes of a GEMM kernel (KernelPlan::classes) for `bounds` (ascending): for
// a built-in matmul whose M is symbolic and that folds no store-site reduction, one class
// per bound with a config of its own, neighbours with the same config merged; none else.
std::vector<ShapeClass> GemmShapeClasses(const KernelPlan& k, absl::Span<const int64_t> bounds,
                                         int sms = kDefaultSmCount);

// Candidates the autotuner times for the shape class of M <= max_m (N and K static, else
// 0): the default (SmallMGemmConfig, else the planned Hopper or mma.sync config) and its
// neighbours: other tiles, stage counts and splits of K.
std::vector<GemmConfig> GemmClassCandidates(int64_t max_m, int64_t n, int64_t k, bool hopper,
                                            int sms = kDefaultSmCount);
// Whether the autotuner can time `spec`'s GEMM on a plain GEMM of its layout (not where B
// is computed over [N, K], which no plain GEMM reads).
bool GemmTunable(const KernelSpec& spec);

// Columns a config holds at once (a chunked config's chunk).
inline int64_t RowCapacity(const RowConfig& c, int vec) {
  return int64_t{c.row_threads} * c.vecs * vec;
}
// Whether a config runs rows of `width` columns: a chunked one runs any.
inline bool RowCovers(const RowConfig& c, int vec, int64_t width) {
  return c.chunked || RowCapacity(c, vec) >= width;
}

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_TILE_CONFIG_H_
