// Views move no data: a transpose or reshape is read through the buffer of the value it
// views, with other strides. ResolveViews maps every node to that buffer and those strides.
#ifndef TILEFUSE_RUNTIME_FUSION_VIEWS_H_
#define TILEFUSE_RUNTIME_FUSION_VIEWS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "runtime/graph/graph.h"

namespace tilefuse {

struct ViewInfo {
  int base = -1;                  // the node whose buffer holds the data
  std::vector<SizeExpr> strides;  // element strides of this node's dims in that buffer
  bool contiguous = true;         // strides are the row-major strides of this node's shape
};

// One entry per node. A reshape of a non-contiguous view (which would need a copy) is an
// error naming the node.
absl::StatusOr<std::vector<ViewInfo>> ResolveViews(const Graph& graph);

}  // namespace tilefuse

#endif  // TILEFUSE_RUNTIME_FUSION_VIEWS_H_
