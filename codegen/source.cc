#include "codegen/source.h"

#include "absl/strings/str_cat.h"
#include "kernels/embedded.h"

namespace tilefuse::internal {

absl::StatusOr<std::string> TemplateText(const std::vector<std::string>& files) {
  std::string text;
  for (const std::string& name : files) {
    bool found = false;
    for (const EmbeddedFile& f : EmbeddedKernelFiles()) {
      if (f.name != name) continue;
      absl::StrAppend(&text, "// ---- kernels/", name, " ----\n", f.text, "\n");
      found = true;
      break;
    }
    if (!found) {
      return absl::InternalError(absl::StrCat("kernel template '", name, "' is not embedded"));
    }
  }
  return text;
}

}  // namespace tilefuse::internal
