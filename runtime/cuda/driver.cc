#include "runtime/cuda/driver.h"

#include <dlfcn.h>

#include <mutex>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "runtime/status_macros.h"

namespace tilefuse {
namespace {

using GetProcAddressFn = CUresult (*)(const char*, void**, int, cuuint64_t,
                                      CUdriverProcAddressQueryResult*);

// The ABI each entry point is asked for. CUDA 13 gave cuCtxSynchronize a context argument
// (cuCtxSynchronize_v2); asked for at 13.0 the driver returns that one, which the
// argument-less calls here would feed a garbage context (a crash seen on the H100).
// Every other entry point keeps the prototype of the header we build against.
int AbiVersion(const char* name) {
  return std::string_view(name) == "cuCtxSynchronize" ? 12000 : CUDA_VERSION;
}

}  // namespace

absl::StatusOr<const Driver*> LoadDriverTable() {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no CUDA driver: dlopen(libcuda.so.1) failed (", dlerror(),
        "); planning and compiling work without one, running needs a GPU"));
  }
  auto get_proc = reinterpret_cast<GetProcAddressFn>(dlsym(lib, "cuGetProcAddress_v2"));
  if (get_proc == nullptr) {
    return absl::FailedPreconditionError(
        "the CUDA driver is too old: cuGetProcAddress_v2 is missing (need a CUDA 12+ driver)");
  }
  auto* d = new Driver();  // lives for the process, like the library it points into
  std::string missing;
#define TILEFUSE_CU_RESOLVE_(name)                                                     \
  {                                                                                    \
    void* fn = nullptr;                                                                \
    CUdriverProcAddressQueryResult q;                                                  \
    if (get_proc(#name, &fn, AbiVersion(#name), CU_GET_PROC_ADDRESS_DEFAULT, &q) ==     \
            CUDA_SUCCESS &&                                                            \
        fn != nullptr) {                                                               \
      d->name = reinterpret_cast<decltype(d->name)>(fn);                               \
    } else {                                                                           \
      absl::StrAppend(&missing, missing.empty() ? "" : ", ", #name);                   \
    }                                                                                  \
  }
  TILEFUSE_FOR_EACH_CU_FUNCTION(TILEFUSE_CU_RESOLVE_)
#undef TILEFUSE_CU_RESOLVE_
  if (!missing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CUDA driver lacks entry points tilefuse needs: ", missing));
  }
  const CUresult r = d->cuInit(0);
  if (r != CUDA_SUCCESS) {
    absl::Status s = d->Check(r, "cuInit");
    return absl::FailedPreconditionError(
        absl::StrCat("the CUDA driver did not initialize: ", s.message()));
  }
  return d;
}

absl::StatusOr<const Driver*> Driver::Get() {
  // Loaded once; the outcome (a table or the reason there is none) is kept.
  static const absl::StatusOr<const Driver*>* loaded =
      new absl::StatusOr<const Driver*>(LoadDriverTable());
  return *loaded;
}

absl::Status Driver::Check(CUresult r, absl::string_view call) const {
  if (r == CUDA_SUCCESS) return absl::OkStatus();
  const char* name = "?";
  const char* text = "?";
  if (cuGetErrorName) cuGetErrorName(r, &name);
  if (cuGetErrorString) cuGetErrorString(r, &text);
  const std::string msg = absl::StrCat(call, " failed: ", name, " (", text, ")");
  if (r == CUDA_ERROR_NO_DEVICE || r == CUDA_ERROR_NOT_INITIALIZED ||
      r == CUDA_ERROR_INVALID_DEVICE) {
    return absl::FailedPreconditionError(msg);
  }
  if (r == CUDA_ERROR_INVALID_VALUE) return absl::InvalidArgumentError(msg);
  if (r == CUDA_ERROR_OUT_OF_MEMORY) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

std::string DeviceInfo::Arch() const { return absl::StrCat("sm_", cc_major, cc_minor); }

absl::StatusOr<std::string> DeviceArch(int ordinal) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  CUdevice dev;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDeviceGet(&dev, ordinal), "cuDeviceGet"));
  int major = 0, minor = 0;
  TF_RETURN_IF_ERROR(cu->Check(
      cu->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev),
      "cuDeviceGetAttribute"));
  TF_RETURN_IF_ERROR(cu->Check(
      cu->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev),
      "cuDeviceGetAttribute"));
  return absl::StrCat("sm_", major, minor);
}

absl::StatusOr<int> DeviceSmCount(int ordinal) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  CUdevice dev;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDeviceGet(&dev, ordinal), "cuDeviceGet"));
  int sms = 0;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev),
                               "cuDeviceGetAttribute"));
  return sms;
}

absl::StatusOr<DeviceInfo> UseDevice(int ordinal) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  int count = 0;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDeviceGetCount(&count), "cuDeviceGetCount"));
  if (ordinal < 0 || ordinal >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat("device ", ordinal, " does not exist (", count, " CUDA devices found)"));
  }
  CUdevice dev;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDeviceGet(&dev, ordinal), "cuDeviceGet"));
  CUcontext ctx;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain"));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuCtxSetCurrent(ctx), "cuCtxSetCurrent"));
  DeviceInfo info;
  info.ordinal = ordinal;
  const auto attr = [&](CUdevice_attribute a, int* v) {
    return cu->Check(cu->cuDeviceGetAttribute(v, a, dev), "cuDeviceGetAttribute");
  };
  TF_RETURN_IF_ERROR(attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &info.cc_major));
  TF_RETURN_IF_ERROR(attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &info.cc_minor));
  TF_RETURN_IF_ERROR(attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &info.sm_count));
  TF_RETURN_IF_ERROR(attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                          &info.max_shared_per_block_optin));
  char name[256] = {0};
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDeviceGetName(name, sizeof(name), dev), "cuDeviceGetName"));
  info.name = name;
  return info;
}

}  // namespace tilefuse
