// Names in messages: node, input and symbol names are the user's text, so a message quotes
// them with control characters escaped (a name never reaches generated CUDA source).
#ifndef TILEFUSE_RUNTIME_GRAPH_NAMES_H_
#define TILEFUSE_RUNTIME_GRAPH_NAMES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tilefuse::internal {

// No byte below 0x20 and no DEL: graph names must be printable (UTF-8 is fine).
bool IsPrintableName(absl::string_view name);

// 'name' with \n, \t and other control bytes written as C escapes, cut after 200 bytes.
std::string QuotedName(absl::string_view name);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_NAMES_H_
