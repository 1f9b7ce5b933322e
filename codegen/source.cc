#include "codegen/source.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "kernels/embedded.h"

namespace tilefuse {

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

uint64_t StableHash(absl::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  // splitmix64's finalizer spreads FNV's weak low bits.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace tilefuse
