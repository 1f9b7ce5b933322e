// Tensors as the caller hands them to Plan::Run: a device pointer with dtype and shape,
// contiguous (row-major). DLPack tensors convert with FromDLTensor.
#ifndef TILEFUSE_RUNTIME_TENSOR_H_
#define TILEFUSE_RUNTIME_TENSOR_H_

#include <dlpack/dlpack.h>

#include <cstdint>
#include <initializer_list>

#include "absl/status/statusor.h"
#include "runtime/graph/dtype.h"
#include "runtime/graph/shape.h"

namespace tilefuse::internal {

struct TensorArg {
  void* data = nullptr;  // device memory, aligned at least to the element size
  DType dtype = DType::kF32;
  int rank = 0;
  int64_t shape[kMaxRank] = {};

  static TensorArg Make(void* data, DType dtype, std::initializer_list<int64_t> shape);
  int64_t numel() const;
};

// A DLTensor on a CUDA device with a dtype tilefuse knows and compact strides.
absl::StatusOr<TensorArg> FromDLTensor(const DLTensor& t);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_TENSOR_H_
