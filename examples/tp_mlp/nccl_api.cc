#include "examples/tp_mlp/nccl_api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal::example {

absl::Status Nccl::Check(ncclResult_t r, const char* call) const {
  if (r == ncclSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(call, " failed: ", GetErrorString(r)));
}

namespace {

absl::StatusOr<const Nccl*> Load() {
  const char* path = std::getenv("NCCL_LIBRARY");
  void* lib = dlopen(path != nullptr && *path != '\0' ? path : "libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load NCCL (", dlerror(), "): put libnccl.so.2 on LD_LIBRARY_PATH or name it in $NCCL_LIBRARY"));
  }
  auto* n = new Nccl();  // lives for the process, like the library
  std::string missing;
  const auto get = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    if (fn == nullptr) absl::StrAppend(&missing, " ", name);
  };
  get(n->GetVersion, "ncclGetVersion");
  get(n->GetUniqueId, "ncclGetUniqueId");
  get(n->CommInitRank, "ncclCommInitRank");
  get(n->CommInitAll, "ncclCommInitAll");
  get(n->CommDestroy, "ncclCommDestroy");
  get(n->AllReduce, "ncclAllReduce");
  get(n->GetErrorString, "ncclGetErrorString");
  if (!missing.empty()) return absl::FailedPreconditionError(absl::StrCat("NCCL lacks:", missing));
  return n;
}

}  // namespace

absl::StatusOr<const Nccl*> LoadNccl() {
  static const absl::StatusOr<const Nccl*>* loaded = new absl::StatusOr<const Nccl*>(Load());
  return *loaded;
}

}  // namespace tilefuse::internal::example
