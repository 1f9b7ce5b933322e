// Between the public API's types (include/tilefuse) and the internals'.
#ifndef TILEFUSE_RUNTIME_API_CONVERT_H_
#define TILEFUSE_RUNTIME_API_CONVERT_H_

#include "absl/status/status.h"
#include "runtime/graph/dtype.h"
#include "runtime/graph/graph.h"
#include "tilefuse/graph.h"
#include "tilefuse/status.h"

namespace tilefuse {

struct Graph::Impl {
  internal::Graph graph;
};

namespace api {

inline Status FromAbsl(const absl::Status& s) {
  if (s.ok()) return Status();
  return Status(static_cast<StatusCode>(static_cast<int>(s.code())), std::string(s.message()));
}

inline internal::DType ToInternal(DType d) { return static_cast<internal::DType>(static_cast<int>(d)); }
inline DType FromInternal(internal::DType d) { return static_cast<DType>(static_cast<int>(d)); }

}  // namespace api
}  // namespace tilefuse

#endif  // TILEFUSE_RUNTIME_API_CONVERT_H_
