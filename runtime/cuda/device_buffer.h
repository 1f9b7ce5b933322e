// An owned device allocation (cuMemAlloc/cuMemFree through the dlopen'ed driver), for
// tools, tests and benchmarks that move host tensors to the GPU and back.
//
//   TF_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(bytes));
//   TF_RETURN_IF_ERROR(b.Upload(host.data(), bytes));
#ifndef TILEFUSE_RUNTIME_CUDA_DEVICE_BUFFER_H_
#define TILEFUSE_RUNTIME_CUDA_DEVICE_BUFFER_H_

#include <cuda.h>

#include <cstddef>

#include "absl/status/statusor.h"

namespace tilefuse::internal {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  ~DeviceBuffer();

  // A zero-byte request still returns a valid (1-byte) allocation.
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);

  CUdeviceptr ptr() const { return ptr_; }
  void* data() const { return reinterpret_cast<void*>(ptr_); }
  size_t size() const { return size_; }

  absl::Status Upload(const void* host, size_t bytes, size_t offset = 0);
  absl::Status Download(void* host, size_t bytes, size_t offset = 0) const;
  // Fills every byte with `value` (poisoning outputs before a run).
  absl::Status Fill(unsigned char value);

 private:
  CUdeviceptr ptr_ = 0;
  size_t size_ = 0;
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_CUDA_DEVICE_BUFFER_H_
