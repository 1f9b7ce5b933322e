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

}  // namespace tilefuse
