#include "runtime/graph/custom_tile.h"

#include "absl/strings/str_cat.h"
#include "runtime/graph/ops.h"

namespace tilefuse::internal {

absl::Status TileRegistry::Register(CustomTileKernel kernel) {
  const std::string where = absl::StrCat("custom tile kernel '", kernel.name, "'");
  if (kernel.name.empty() || kernel.function.empty() || kernel.source.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": needs a name, a function and source"));
  }
  if (ParsePointwiseOp(kernel.name) || ParseTileOp(kernel.name) || ParseReduceOp(kernel.name) ||
      ParseViewOp(kernel.name)) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": the name is a built-in op"));
  }
  if (kernel.num_params < 0 || kernel.num_params > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", kernel.num_params, " parameters (expected 0 to 4)"));
  }
  if (kernels_.count(kernel.name)) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": already registered"));
  }
  const std::string name = kernel.name;
  kernels_[name] = std::make_shared<const CustomTileKernel>(std::move(kernel));
  return absl::OkStatus();
}

std::shared_ptr<const CustomTileKernel> TileRegistry::Find(const std::string& name) const {
  auto it = kernels_.find(name);
  return it == kernels_.end() ? nullptr : it->second;
}

}  // namespace tilefuse::internal
