// Views move no data: a view is read through the buffer of the value it views, with other
// strides (negative for a flip, 0 for an expanded dim) and an element offset (a slice's
// start, a selected index, a flipped axis's last element). ResolveViews maps every node to
// that buffer, those strides and that offset.
#ifndef TILEFUSE_RUNTIME_FUSION_VIEWS_H_
#define TILEFUSE_RUNTIME_FUSION_VIEWS_H_

#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

struct ViewInfo {
  int base = -1;                  // the node whose buffer holds the data
  std::vector<SizeExpr> strides;  // element strides of this node's dims in that buffer
  std::vector<SizeExpr> offset;   // element offset of this node's first element: a sum
  bool contiguous = true;         // strides are the row-major strides of this node's shape
};

// The offset's value for bound symbols.
int64_t OffsetValue(absl::Span<const SizeExpr> offset, absl::Span<const int64_t> symbols);

// One entry per node. A reshape of a non-contiguous view (a transpose's, a strided slice's)
// is its own base: the planner copies its operand into a buffer of its own.
absl::StatusOr<std::vector<ViewInfo>> ResolveViews(const Graph& graph);

// Whether view node `id` is materialized (a reshape of a non-contiguous view): a kernel
// writes its elements, its operand's in row-major order.
bool IsMaterializedView(const Graph& graph, const std::vector<ViewInfo>& views, int id);

// Whether view `id` reads the whole of its base in order (a reshape of it: contiguous, no
// offset, as many elements), the base being another node.
bool IsWholeReshape(const Graph& graph, const std::vector<ViewInfo>& views, int id);

// Columns [a, a + len) of its base's [rows, cols] that view `id` reads, as (a, len): a slice
// along the last dim with the base's row stride and a static offset; nullopt otherwise.
// `trailing_dims`: also a view of higher rank whose dims after the first are one run of
// columns (a slice of the base viewed as heads: [M, 8, 128] of [M, 6144]).
std::optional<std::pair<int64_t, int64_t>> ColumnSliceOf(const Graph& graph, const std::vector<ViewInfo>& views,
                                                         int id, bool trailing_dims = false);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_VIEWS_H_
