#include "runtime/tensor.h"

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {

TensorArg TensorArg::Make(void* data, DType dtype, std::initializer_list<int64_t> shape) {
  TensorArg t;
  t.data = data;
  t.dtype = dtype;
  for (int64_t d : shape) {
    if (t.rank < kMaxRank) t.shape[t.rank] = d;
    ++t.rank;
  }
  return t;
}

int64_t TensorArg::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= shape[i];
  return n;
}

namespace {
// Type codes of DLPack 1.1, newer than the dlpack.h this builds against (v0.6).
constexpr int kDLBoolCode = 6, kDLFloat8E4M3FnCode = 10, kDLFloat8E5M2Code = 12;
}  // namespace

absl::StatusOr<TensorArg> FromDLTensor(const DLTensor& t) {
  if (t.device.device_type != kDLCUDA) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DLTensor is on device type ", static_cast<int>(t.device.device_type),
        t.device.device_type == kDLCPU ? " (host memory)" : "", "; expected CUDA memory (kDLCUDA)"));
  }
  TensorArg a;
  if (t.dtype.lanes != 1) return absl::InvalidArgumentError("DLTensor has vector lanes");
  const int code = t.dtype.code, bits = t.dtype.bits;
  if (code == kDLFloat && bits == 32) a.dtype = DType::kF32;
  else if (code == kDLFloat && bits == 16) a.dtype = DType::kF16;
  else if (code == kDLBfloat && bits == 16) a.dtype = DType::kBF16;
  else if (code == kDLInt && bits == 32) a.dtype = DType::kI32;
  else if ((code == kDLUInt && bits == 8) || (code == kDLBoolCode && bits == 8)) a.dtype = DType::kBool;
  else if (code == kDLInt && bits == 8) a.dtype = DType::kI8;
  else if (code == kDLInt && bits == 4) a.dtype = DType::kI4;
  else if (code == kDLFloat8E4M3FnCode && bits == 8) a.dtype = DType::kF8E4M3;
  else if (code == kDLFloat8E5M2Code && bits == 8) a.dtype = DType::kF8E5M2;
  else {
    return absl::InvalidArgumentError(absl::StrCat(
        "DLTensor dtype code ", code, " with ", bits,
        " bits (expected f32, f16, bf16, i32, bool, f8e4m3fn (code 10), f8e5m2 (code 12), i8 or i4)"));
  }
  if (t.ndim > kMaxRank) {
    return absl::InvalidArgumentError(absl::StrCat("DLTensor rank ", t.ndim, " exceeds ", kMaxRank));
  }
  a.rank = t.ndim;
  int64_t expect = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    a.shape[i] = t.shape[i];
    if (t.strides != nullptr && t.shape[i] != 1 && t.strides[i] != expect) {
      return absl::InvalidArgumentError(absl::StrCat(
          "DLTensor dim ", i, " has stride ", t.strides[i], " (expected ", expect,
          ": tilefuse takes compact row-major tensors)"));
    }
    expect *= t.shape[i];
  }
  a.data = static_cast<char*>(t.data) + t.byte_offset;
  return a;
}

}  // namespace tilefuse::internal
