// The few NCCL entry points the example uses, from libnccl.so.2 loaded with dlopen: the
// example builds wherever nccl.h is, and finds the library at run time (LD_LIBRARY_PATH,
// or $NCCL_LIBRARY, e.g. the nvidia-nccl-cu13 wheel's lib/libnccl.so.2).
#ifndef TILEFUSE_EXAMPLES_TP_MLP_NCCL_API_H_
#define TILEFUSE_EXAMPLES_TP_MLP_NCCL_API_H_

#include <nccl.h>

#include "absl/status/statusor.h"

namespace tilefuse::internal::example {

struct Nccl {
  decltype(&::ncclGetVersion) GetVersion = nullptr;
  decltype(&::ncclGetUniqueId) GetUniqueId = nullptr;
  decltype(&::ncclCommInitRank) CommInitRank = nullptr;
  decltype(&::ncclCommInitAll) CommInitAll = nullptr;
  decltype(&::ncclCommDestroy) CommDestroy = nullptr;
  decltype(&::ncclAllReduce) AllReduce = nullptr;
  decltype(&::ncclGetErrorString) GetErrorString = nullptr;

  // OK, or the call and NCCL's message.
  absl::Status Check(ncclResult_t r, const char* call) const;
};

// Loaded once per process.
absl::StatusOr<const Nccl*> LoadNccl();

}  // namespace tilefuse::internal::example

#endif  // TILEFUSE_EXAMPLES_TP_MLP_NCCL_API_H_
