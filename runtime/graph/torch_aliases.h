// PyTorch spellings of ops the graph holds under another name or as a short composition, so
// that a graph exported op by op from model code loads as it is written.
#ifndef TILEFUSE_RUNTIME_GRAPH_TORCH_ALIASES_H_
#define TILEFUSE_RUNTIME_GRAPH_TORCH_ALIASES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

// Adds node `name` for `op` where it is one of: view (reshape), to (cast), multiply,
// subtract, divide, true_divide, broadcast_to (expand), expand_as (expand to the second
// operand's shape), t (transpose of a 2-D value), contiguous, clone, detach (the value
// itself, as a view), relu6 and hardtanh (clamp), max and min (two operands: maximum and
// minimum; one: amax and amin, over `dim` or every axis), rsub (b - a), masked_fill
// (where(mask, value, x)), type_as, repeat_interleave, clamp_min and clamp_max, float /
// half / bfloat16 (casts), logsigmoid, glu, add and sub with alpha, and the norm spellings
// of torch_norms.h. nullopt when `op` is none of them.
// The ops AddTorchAlias takes (for the schema's list).
const std::vector<std::string>& TorchAliasNames();

absl::StatusOr<std::optional<int>> AddTorchAlias(Graph& g, const std::string& op, const std::string& name,
                                                 const std::vector<int>& ins, const Attrs& attrs,
                                                 const std::string& where);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_TORCH_ALIASES_H_
