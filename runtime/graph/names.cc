#include "runtime/graph/names.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tilefuse::internal {

bool IsPrintableName(absl::string_view name) {
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string QuotedName(absl::string_view name) {
  constexpr size_t kMax = 200;
  const bool cut = name.size() > kMax;
  return absl::StrCat("'", absl::CHexEscape(name.substr(0, kMax)), cut ? "...'" : "'");
}

}  // namespace tilefuse::internal
