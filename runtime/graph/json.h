// The JSON graph format of the design (DESIGN.md, "The graph file"): read and written.
//
//   {"name": "g", "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"}],
//    "nodes": [{"name": "y", "op": "mul", "inputs": ["x", 0.5]}], "outputs": ["y"]}
//
// Nodes may be listed in any order; they are added in dependency order, and a cycle, an
// unknown op, name, attribute or key is an error naming the node. "format" (optional)
// versions the file: kGraphFormat is the newest this reader takes; GraphToJson writes it.
// Format 2 added the index ops (iota, arange, gather); a file of format 1 reads as ever.
// docs/graph.schema.json describes the format (json_test keeps its op and dtype lists in
// step with the reader).
#ifndef TILEFUSE_RUNTIME_GRAPH_JSON_H_
#define TILEFUSE_RUNTIME_GRAPH_JSON_H_

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

inline constexpr int kGraphFormat = 2;

// `registry` (optional) supplies ops beyond the built-in ones: registered tile kernels.
absl::StatusOr<Graph> GraphFromJson(absl::string_view text, const TileRegistry* registry = nullptr);
absl::StatusOr<Graph> GraphFromJsonFile(const std::string& path,
                                        const TileRegistry* registry = nullptr);
// Constants are written inline as numbers; the output reads back to the same graph.
std::string GraphToJson(const Graph& graph);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_JSON_H_
