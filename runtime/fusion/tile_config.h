// Launch shapes of the row-wise tile kernels, chosen from the row width.
#ifndef TILEFUSE_RUNTIME_FUSION_TILE_CONFIG_H_
#define TILEFUSE_RUNTIME_FUSION_TILE_CONFIG_H_

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

// Columns a config covers.
inline int64_t RowCapacity(const RowConfig& c, int vec) {
  return int64_t{c.row_threads} * c.vecs * vec;
}

}  // namespace tilefuse

#endif  // TILEFUSE_RUNTIME_FUSION_TILE_CONFIG_H_
