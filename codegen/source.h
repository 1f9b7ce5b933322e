// Assembles a translation unit: the embedded kernel templates a kernel needs, a marker
// line, then the generated glue. Errors and dumps can point past the marker.
#ifndef TILEFUSE_CODEGEN_SOURCE_H_
#define TILEFUSE_CODEGEN_SOURCE_H_

#include "absl/strings/string_view.h"
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/graph/stable_hash.h"

namespace tilefuse::internal {

inline constexpr char kGlueMarker[] = "// ---- tilefuse generated glue ----";

// The concatenated text of kernels/<name> for each name, in order; kInternal if one is
// not embedded.
absl::StatusOr<std::string> TemplateText(const std::vector<std::string>& files);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_SOURCE_H_
