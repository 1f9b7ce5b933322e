// Lowers a KernelSpec to CUDA C++: the glue (Params, Hooks, the extern "C" entry)
// after the kernels/pointwise.cuh template. The entry is named by the caller (from the
// signature), so the same spec always gives the same bytes.
#ifndef TILEFUSE_CODEGEN_POINTWISE_CODEGEN_H_
#define TILEFUSE_CODEGEN_POINTWISE_CODEGEN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/fusion/kernel_spec.h"

namespace tilefuse::internal {

inline constexpr int kPointwiseThreads = 256;

// Template files the pointwise glue needs, in include order.
const std::vector<std::string>& PointwiseTemplateFiles();

// Only the generated glue (no templates); see AssemblePointwiseSource.
absl::StatusOr<std::string> GeneratePointwiseGlue(const KernelSpec& spec,
                                                  const std::string& entry_name);

// Templates + marker + glue: a complete translation unit for NVRTC.
absl::StatusOr<std::string> GeneratePointwiseSource(const KernelSpec& spec,
                                                    const std::string& entry_name);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_POINTWISE_CODEGEN_H_
