// Lowers a tile KernelSpec (rms_norm, layer_norm, softmax) to CUDA C++: the glue (Params,
// the Hooks with one load hook per tile input and the store hook, the extern "C" entry)
// after the kernel templates of kernels/rowwise.cuh.
#ifndef TILEFUSE_CODEGEN_TILE_CODEGEN_H_
#define TILEFUSE_CODEGEN_TILE_CODEGEN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/fusion/kernel_spec.h"

namespace tilefuse::internal {

// Template files a tile kernel of `spec.tile` needs, in include order.
absl::StatusOr<std::vector<std::string>> TileTemplateFiles(const KernelSpec& spec);

// Threads per CTA of the reduction kernel: a warp per output, or the CTA for one output
// where the axis is contiguous (inner 1) and at least kReduceWideCols long
// (kernels/reduce.cuh reduce_wide; Plan::Run sizes the grid by the same test).
inline constexpr int kReduceThreads = 256;
inline constexpr int64_t kReduceWideCols = 4096;

// Threads per CTA of a tile kernel.
int ThreadsOf(const KernelSpec& spec);

absl::StatusOr<std::string> GenerateTileGlue(const KernelSpec& spec, const std::string& entry_name);

// Templates + marker + glue: a complete translation unit for NVRTC.
absl::StatusOr<std::string> GenerateTileSource(const KernelSpec& spec, const std::string& entry_name);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_TILE_CODEGEN_H_
