// A stable 64-bit hash for anything stored or compared across processes (signatures,
// cache keys): FNV-1a with a final mix. The same bytes give the same value in every
// process and build, unlike absl::Hash, which is salted per process.
#ifndef TILEFUSE_RUNTIME_GRAPH_STABLE_HASH_H_
#define TILEFUSE_RUNTIME_GRAPH_STABLE_HASH_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace tilefuse::internal {

uint64_t StableHash(absl::string_view text);
// 16 lower-case hex digits.
std::string Hex64(uint64_t v);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_STABLE_HASH_H_
