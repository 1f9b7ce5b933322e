// Element types of tensors and how PyTorch promotes them.
//
// Arithmetic in generated kernels happens in a "compute kind": fp32 for every floating
// dtype, int32 for i32, bool for bool. Values are rounded to their storage dtype when
// stored, and at explicit casts.
#ifndef TILEFUSE_RUNTIME_GRAPH_DTYPE_H_
#define TILEFUSE_RUNTIME_GRAPH_DTYPE_H_

#include "absl/strings/string_view.h"
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace tilefuse::internal {

enum class DType : uint8_t { kF32, kF16, kBF16, kI32, kBool };

// What a value is computed as inside a kernel.
enum class ComputeKind : uint8_t { kFloat, kInt, kBool };

// "f32", "f16", "bf16", "i32", "bool".
absl::string_view DTypeName(DType t);
absl::StatusOr<DType> ParseDType(absl::string_view name);
int DTypeSize(DType t);
bool IsFloating(DType t);
ComputeKind ComputeKindOf(DType t);
// The CUDA C++ storage type used by generated code ("float", "unsigned short", ...).
absl::string_view DeviceStorageType(DType t);

// PyTorch's category order: bool < integer < floating.
int DTypeCategory(DType t);

// promote_types(a, b) of PyTorch for two tensors of the same priority:
// bf16 + f16 -> f32, i32 + bf16 -> bf16, bool + x -> x.
DType PromoteTypes(DType a, DType b);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_DTYPE_H_
