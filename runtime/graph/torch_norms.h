// PyTorch's norm spellings, lowered to the graph's ops in f32 and rounded once, as PyTorch
// computes them: group_norm and instance_norm (x [N, C, ...] viewed as [N, G, rest], one row
// kernel, then the per-channel affine), batch_norm in inference (running statistics per
// channel of dim 1), normalize, vector_norm and norm (orders p > 0).
#ifndef TILEFUSE_RUNTIME_GRAPH_TORCH_NORMS_H_
#define TILEFUSE_RUNTIME_GRAPH_TORCH_NORMS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

// Adds node `name` for `op` where it is one of the spellings above; nullopt when it is not.
absl::StatusOr<std::optional<int>> AddTorchNorm(Graph& g, const std::string& op, const std::string& name,
                                                const std::vector<int>& ins, const Attrs& attrs,
                                                const std::string& where);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_TORCH_NORMS_H_
