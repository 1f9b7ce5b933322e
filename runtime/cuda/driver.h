// The CUDA driver API, loaded with dlopen("libcuda.so.1") at first use.
//
// tilefuse never links libcuda: every binary starts on a machine without a driver (CI, a
// build host) and only calls that need a GPU fail, with kFailedPrecondition. Entry points
// come from one X-macro table and are resolved once through cuGetProcAddress; every
// CUresult becomes an absl::Status naming the call, cuGetErrorName and cuGetErrorString.
//
//   TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
//   TF_RETURN_IF_ERROR(cu->Check(cu->cuMemAlloc(&ptr, bytes), "cuMemAlloc"));
#ifndef TILEFUSE_RUNTIME_CUDA_DRIVER_H_
#define TILEFUSE_RUNTIME_CUDA_DRIVER_H_

#include "absl/strings/string_view.h"
#include <cuda.h>

#include <atomic>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tilefuse::internal {

// X(name): driver entry points tilefuse uses. The names are the unversioned API names;
// cuGetProcAddress picks the ABI that matches the CUDA headers we build against.
#define TILEFUSE_FOR_EACH_CU_FUNCTION(X) \
  X(cuInit)                              \
  X(cuDriverGetVersion)                  \
  X(cuDeviceGet)                         \
  X(cuDeviceGetCount)                    \
  X(cuDeviceGetAttribute)                \
  X(cuDeviceGetName)                     \
  X(cuDevicePrimaryCtxRetain)            \
  X(cuCtxSetCurrent)                     \
  X(cuCtxGetCurrent)                     \
  X(cuCtxGetDevice)                      \
  X(cuCtxSynchronize)                    \
  X(cuModuleLoadData)                    \
  X(cuModuleUnload)                      \
  X(cuModuleGetFunction)                 \
  X(cuFuncSetAttribute)                  \
  X(cuFuncGetAttribute)                  \
  X(cuLaunchKernel)                      \
  X(cuLaunchKernelEx)                    \
  X(cuMemAlloc)                          \
  X(cuMemFree)                           \
  X(cuMemcpyHtoD)                        \
  X(cuMemcpyDtoH)                        \
  X(cuMemcpyDtoDAsync)                   \
  X(cuMemsetD8)                          \
  X(cuMemsetD8Async)                     \
  X(cuStreamCreate)                      \
  X(cuStreamDestroy)                     \
  X(cuStreamSynchronize)                 \
  X(cuStreamIsCapturing)                 \
  X(cuStreamGetCtx)                      \
  X(cuPointerGetAttributes)              \
  X(cuStreamBeginCapture)                \
  X(cuStreamEndCapture)                  \
  X(cuGraphDestroy)                      \
  X(cuGraphInstantiateWithFlags)         \
  X(cuGraphLaunch)                       \
  X(cuGraphExecDestroy)                  \
  X(cuEventCreate)                       \
  X(cuEventDestroy)                      \
  X(cuEventRecord)                       \
  X(cuEventSynchronize)                  \
  X(cuEventElapsedTime)                  \
  X(cuTensorMapEncodeTiled)              \
  X(cuGetErrorName)                      \
  X(cuGetErrorString)

class Driver {
 public:
  // The process-wide driver table: loads libcuda and calls cuInit(0) once. Fails with
  // kFailedPrecondition (and says why) where no driver or no device exists. Thread-safe.
  static absl::StatusOr<const Driver*> Get();

  // kInternal/kFailedPrecondition status for a failed call, or OK.
  absl::Status Check(CUresult r, absl::string_view call) const;

#define TILEFUSE_CU_MEMBER_(name) decltype(&::name) name = nullptr;
  TILEFUSE_FOR_EACH_CU_FUNCTION(TILEFUSE_CU_MEMBER_)
#undef TILEFUSE_CU_MEMBER_

 private:
  friend absl::StatusOr<const Driver*> LoadDriverTable();
  Driver() = default;
};

// Test hook: after CountDriverCalls(), the driver table's allocation, free and
// synchronization entry points (cuMemAlloc, cuMemFree, cuMemcpyHtoD/DtoH, cuMemsetD8,
// cuStreamSynchronize, cuCtxSynchronize, cuEventSynchronize) count their calls here, so
// that a test can say a path makes none. Process-wide; for tests only.
struct DriverCallCounts {
  std::atomic<int64_t> allocs{0}, frees{0}, syncs{0};
};
absl::StatusOr<DriverCallCounts*> CountDriverCalls();

// Device facts tilefuse plans with.
struct DeviceInfo {
  int ordinal = 0;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  int max_shared_per_block_optin = 0;
  std::string name;
  // "sm_90"
  std::string Arch() const;
};

// "sm_90" for device `ordinal`, without creating a context.
absl::StatusOr<std::string> DeviceArch(int ordinal = 0);

// Device `ordinal`'s SM count, without creating a context.
absl::StatusOr<int> DeviceSmCount(int ordinal = 0);

// Device `ordinal`'s facts, without creating a context; says how many devices exist when
// it does not.
absl::StatusOr<DeviceInfo> GetDeviceInfo(int ordinal);

// Device `ordinal`'s primary context (the one the CUDA runtime API uses), retained for the
// life of the process.
absl::StatusOr<CUcontext> PrimaryContext(int ordinal);

// Makes device `ordinal`'s primary context current on this thread and returns its facts.
absl::StatusOr<DeviceInfo> UseDevice(int ordinal = 0);

// The device ordinal of context `ctx`.
absl::StatusOr<int> ContextDevice(const Driver& cu, CUcontext ctx);

// Makes a context current for a scope, then puts back the one that was current before. A
// thread that had none keeps the new one, as the CUDA runtime leaves its primary context.
class ScopedContext {
 public:
  static absl::StatusOr<ScopedContext> Enter(const Driver& cu, CUcontext ctx);
  ScopedContext(ScopedContext&& o) noexcept : cu_(o.cu_), previous_(o.previous_) { o.cu_ = nullptr; }
  ScopedContext& operator=(ScopedContext&&) = delete;
  ~ScopedContext();

 private:
  ScopedContext(const Driver* cu, CUcontext previous) : cu_(cu), previous_(previous) {}
  const Driver* cu_ = nullptr;  // null: nothing to restore
  CUcontext previous_ = nullptr;
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_CUDA_DRIVER_H_
