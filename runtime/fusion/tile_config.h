// Launch shapes of the row-wise tile kernels, chosen from the row width.
#ifndef TILEFUSE_RUNTIME_FUSION_TILE_CONFIG_H_
#define TILEFUSE_RUNTIME_FUSION_TILE_CONFIG_H_

#include <vector>

#include "absl/status/statusor.h"
#include "runtime/fusion/kernel_spec.h"
#include "runtime/graph/shape.h"

namespace tilefuse {

// The widest row a row-wise kernel takes.
inline constexpr int64_t kMaxRowWidth = 16384;

// A static width gets a config sized for it: about two vectors per thread, a warp per row
// for short rows (several rows per CTA), up to 512 threads per row. A symbolic width gets
// the config for kMaxRowWidth, and Run checks the bound width against it.
absl::StatusOr<RowConfig> ChooseRowConfig(const Dim& width, int vec);

// The GEMM config used without tuning: 128x128x32 tiles, 8 warps, 4 stages; for a static
// M <= 16 (decode) 16x32x128 tiles, 2 warps, 6 stages, so that many CTAs stream the weights
// with several copies in flight each. (On sm_90 with a K-major B the planner picks the TMA +
// wgmma kernel instead: WgmmaGemmConfig.)
GemmConfig DefaultGemmConfig(const Dim& m);
// OK when the kernels can be built with `c` (the layout contracts their static_asserts
// state, the shared memory a CTA may have); else kInvalidArgument saying which rule fails.
// Tuning records and forced configs are checked with them before anything reaches NVRTC.
absl::Status ValidateGemmConfig(const GemmConfig& c);
absl::Status ValidateRowConfig(const RowConfig& c);
// The Hopper (TMA + wgmma) config, for sm_90 targets when B is read by TMA. Five stages by
// default: the most that fit beside the ping-pong kernel's staging buffers (H100: plain
// 4096^3 GEMM 191 us against 200 at four).
GemmConfig WgmmaGemmConfig(int stages = 5);
// Candidates the autotuner times for a GEMM of this M.
std::vector<GemmConfig> GemmCandidates(const Dim& m);

// Candidates the row tuner times for a static width: 32 to 512 threads per row with at
// most 8 vectors each (the default among them), and each again with the CTA looping over
// 2, 4 or 8 row groups (the next groups' rows prefetched into L2).
std::vector<RowConfig> RowCandidates(int64_t width, int vec);

// Columns a config covers.
inline int64_t RowCapacity(const RowConfig& c, int vec) {
  return int64_t{c.row_threads} * c.vecs * vec;
}

}  // namespace tilefuse

#endif  // TILEFUSE_RUNTIME_FUSION_TILE_CONFIG_H_
