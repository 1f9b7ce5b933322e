#include "runtime/cuda/device_buffer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/driver.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : ptr_(std::exchange(o.ptr_, 0)), size_(std::exchange(o.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    this->~DeviceBuffer();
    ptr_ = std::exchange(o.ptr_, 0);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ == 0) return;
  if (auto cu = Driver::Get(); cu.ok()) (*cu)->cuMemFree(ptr_);
  ptr_ = 0;
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  DeviceBuffer b;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuMemAlloc(&b.ptr_, bytes == 0 ? 1 : bytes),
                               absl::StrCat("cuMemAlloc(", bytes, ")")));
  b.size_ = bytes;
  return b;
}

absl::Status DeviceBuffer::Upload(const void* host, size_t bytes, size_t offset) {
  if (offset + bytes > size_) {
    return absl::OutOfRangeError(absl::StrCat("upload of ", bytes, " bytes at ", offset,
                                              " into a buffer of ", size_));
  }
  if (bytes == 0) return absl::OkStatus();
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  return cu->Check(cu->cuMemcpyHtoD(ptr_ + offset, host, bytes), "cuMemcpyHtoD");
}

absl::Status DeviceBuffer::Download(void* host, size_t bytes, size_t offset) const {
  if (offset + bytes > size_) {
    return absl::OutOfRangeError(absl::StrCat("download of ", bytes, " bytes at ", offset,
                                              " from a buffer of ", size_));
  }
  if (bytes == 0) return absl::OkStatus();
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  return cu->Check(cu->cuMemcpyDtoH(host, ptr_ + offset, bytes), "cuMemcpyDtoH");
}

absl::Status DeviceBuffer::Fill(unsigned char value) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  return cu->Check(cu->cuMemsetD8(ptr_, value, size_ == 0 ? 1 : size_), "cuMemsetD8");
}

}  // namespace tilefuse::internal
