// Tile kernels that users register: CUDA C++ written against the hook contract
// (kernels/hook_contract.cuh), which fuse exactly like the built-in row-wise kernels.
//
// A custom row-wise kernel takes x [..., N] and `num_params` per-column parameters [N] and
// produces a value of x's shape and dtype. Its source defines
//   template <class H> __device__ void FUNCTION(const typename H::Params& p);
// and may use the helpers of kernels/rowwise.cuh (tf::RowSpan, tf::load_row, tf::row_reduce,
// tf::store_row). `reference` gives its meaning on the host, one row at a time, for the
// CPU reference evaluator and tests.
//
//   TileRegistry registry;
//   TF_RETURN_IF_ERROR(registry.Register({.name = "absmax_scale", .function = "absmax_scale",
//                                         .source = kSource, .num_params = 1,
//                                         .reference = AbsmaxScaleRow}));
//   TF_ASSIGN_OR_RETURN(Graph g, GraphFromJson(text, &registry));
#ifndef TILEFUSE_RUNTIME_GRAPH_CUSTOM_TILE_H_
#define TILEFUSE_RUNTIME_GRAPH_CUSTOM_TILE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tilefuse::internal {

struct CustomTileKernel {
  std::string name;      // the op name graphs use
  std::string function;  // the template function the source defines
  std::string source;    // CUDA C++; compiled by NVRTC after tilefuse's templates
  int num_params = 0;    // per-column parameter inputs after x
  std::function<void(const float* x, const std::vector<const float*>& params, int64_t cols,
                     float* y)>
      reference;
};

// Registered kernels by name; owned by the caller and passed to the graph reader.
class TileRegistry {
 public:
  // kInvalidArgument for an empty name, function or source, a name a built-in op has, or
  // a name already registered.
  absl::Status Register(CustomTileKernel kernel);
  std::shared_ptr<const CustomTileKernel> Find(const std::string& name) const;

 private:
  std::map<std::string, std::shared_ptr<const CustomTileKernel>> kernels_;
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_CUSTOM_TILE_H_
