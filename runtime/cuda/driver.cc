#include "runtime/cuda/driver.h"

#include <cudaTypedefs.h>
#include <dlfcn.h>

#include <mutex>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

using GetProcAddressFn = CUresult (*)(const char*, void**, int, cuuint64_t,
                                      CUdriverProcAddressQueryResult*);

// The ABI each entry point is asked for. Some entry points changed prototype after the
// name the header gives them: CUDA 13 gave cuCtxSynchronize and cuCtxGetDevice a context
// argument, CUDA 12.5 gave cuStreamGetCtx a green-context one. Asked for at CUDA_VERSION the
// driver returns the new ones, which calls made with the old prototypes feed garbage (a
// crash seen on the H100; a wrong device and context seen on two H200s), so these are asked
// for at the version of the prototype we call. Every other entry point keeps the prototype
// of the header we build against (cudaTypedefs.h lists one version for each of them, or
// versions with one prototype).
int AbiVersion(const char* name) {
  const std::string_view n(name);
  return n == "cuCtxSynchronize" || n == "cuCtxGetDevice" || n == "cuStreamGetCtx" ? 12000 : CUDA_VERSION;
}
static_assert(std::is_same_v<decltype(&::cuCtxSynchronize), PFN_cuCtxSynchronize_v2000>);
static_assert(std::is_same_v<decltype(&::cuCtxGetDevice), PFN_cuCtxGetDevice_v2000>);
static_assert(std::is_same_v<decltype(&::cuStreamGetCtx), PFN_cuStreamGetCtx_v9020>);

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

namespace {

DriverCallCounts* counts = new DriverCallCounts;
Driver* counted = nullptr;  // the table whose entry points were wrapped (once)
decltype(&::cuMemAlloc) real_alloc;
decltype(&::cuMemFree) real_free;
decltype(&::cuMemcpyHtoD) real_htod;
decltype(&::cuMemcpyDtoH) real_dtoh;
decltype(&::cuMemsetD8) real_memset;
decltype(&::cuStreamSynchronize) real_stream_sync;
decltype(&::cuCtxSynchronize) real_ctx_sync;
decltype(&::cuEventSynchronize) real_event_sync;

}  // namespace

absl::StatusOr<DriverCallCounts*> CountDriverCalls() {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  static std::once_flag once;
  std::call_once(once, [&] {
    counted = const_cast<Driver*>(cu);
    real_alloc = cu->cuMemAlloc;
    real_free = cu->cuMemFree;
    real_htod = cu->cuMemcpyHtoD;
    real_dtoh = cu->cuMemcpyDtoH;
    real_memset = cu->cuMemsetD8;
    real_stream_sync = cu->cuStreamSynchronize;
    real_ctx_sync = cu->cuCtxSynchronize;
    real_event_sync = cu->cuEventSynchronize;
    counted->cuMemAlloc = [](CUdeviceptr* p, size_t n) { return ++counts->allocs, real_alloc(p, n); };
    counted->cuMemFree = [](CUdeviceptr p) { return ++counts->frees, real_free(p); };
    counted->cuMemcpyHtoD = [](CUdeviceptr d, const void* h, size_t n) { return ++counts->syncs, real_htod(d, h, n); };
    counted->cuMemcpyDtoH = [](void* h, CUdeviceptr d, size_t n) { return ++counts->syncs, real_dtoh(h, d, n); };
    counted->cuMemsetD8 = [](CUdeviceptr d, unsigned char v, size_t n) { return ++counts->syncs, real_memset(d, v, n); };
    counted->cuStreamSynchronize = [](CUstream s) { return ++counts->syncs, real_stream_sync(s); };
    counted->cuCtxSynchronize = []() { return ++counts->syncs, real_ctx_sync(); };
    counted->cuEventSynchronize = [](CUevent e) { return ++counts->syncs, real_event_sync(e); };
  });
  return counts;
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

absl::StatusOr<DeviceInfo> GetDeviceInfo(int ordinal) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  int count = 0;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDeviceGetCount(&count), "cuDeviceGetCount"));
  if (ordinal < 0 || ordinal >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat("device ", ordinal, " does not exist (", count, " CUDA devices found)"));
  }
  CUdevice dev;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDeviceGet(&dev, ordinal), "cuDeviceGet"));
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

absl::StatusOr<CUcontext> PrimaryContext(int ordinal) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_RETURN_IF_ERROR(GetDeviceInfo(ordinal).status());  // names a missing device
  CUdevice dev;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDeviceGet(&dev, ordinal), "cuDeviceGet"));
  CUcontext ctx;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain"));
  return ctx;
}

absl::StatusOr<DeviceInfo> UseDevice(int ordinal) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_ASSIGN_OR_RETURN(DeviceInfo info, GetDeviceInfo(ordinal));
  TF_ASSIGN_OR_RETURN(CUcontext ctx, PrimaryContext(ordinal));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuCtxSetCurrent(ctx), "cuCtxSetCurrent"));
  return info;
}

absl::StatusOr<int> ContextDevice(const Driver& cu, CUcontext ctx) {
  TF_ASSIGN_OR_RETURN(ScopedContext scope, ScopedContext::Enter(cu, ctx));
  CUdevice dev;
  TF_RETURN_IF_ERROR(cu.Check(cu.cuCtxGetDevice(&dev), "cuCtxGetDevice"));
  int count = 0;
  TF_RETURN_IF_ERROR(cu.Check(cu.cuDeviceGetCount(&count), "cuDeviceGetCount"));
  for (int i = 0; i < count; ++i) {  // CUdevice is a handle, not promised to be the ordinal
    CUdevice d;
    TF_RETURN_IF_ERROR(cu.Check(cu.cuDeviceGet(&d, i), "cuDeviceGet"));
    if (d == dev) return i;
  }
  return absl::InternalError("the context's device is not among the CUDA devices");
}

absl::StatusOr<ScopedContext> ScopedContext::Enter(const Driver& cu, CUcontext ctx) {
  CUcontext previous = nullptr;
  TF_RETURN_IF_ERROR(cu.Check(cu.cuCtxGetCurrent(&previous), "cuCtxGetCurrent"));
  if (previous == ctx) return ScopedContext(nullptr, nullptr);
  TF_RETURN_IF_ERROR(cu.Check(cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent"));
  return ScopedContext(previous != nullptr ? &cu : nullptr, previous);
}

ScopedContext::~ScopedContext() {
  if (cu_ != nullptr) cu_->cuCtxSetCurrent(previous_);
}

}  // namespace tilefuse::internal
