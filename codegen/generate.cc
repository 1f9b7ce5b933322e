#include "codegen/generate.h"

#include "codegen/pointwise_codegen.h"
#include "codegen/tile_codegen.h"

namespace tilefuse::internal {

absl::StatusOr<std::vector<std::string>> TemplateFilesFor(const KernelSpec& spec) {
  if (spec.is_pointwise()) return PointwiseTemplateFiles();
  return TileTemplateFiles(spec);
}

absl::StatusOr<std::string> GenerateSource(const KernelSpec& spec, const std::string& entry_name) {
  if (spec.is_pointwise()) return GeneratePointwiseSource(spec, entry_name);
  return GenerateTileSource(spec, entry_name);
}

int ThreadsPerBlock(const KernelSpec& spec) {
  return spec.is_pointwise() ? kPointwiseThreads : ThreadsOf(spec);
}

}  // namespace tilefuse::internal
