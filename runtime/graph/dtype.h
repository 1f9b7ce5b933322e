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

// The low-precision types (issue 21): f8e4m3 is OCP e4m3fn (no infinity, one NaN, max
// 448), f8e5m2 IEEE-like (max 57344, infinity); i8 signed bytes; i4 signed 4-bit integers
// packed two per byte along the last axis, the even element in the low nibble (a tensor of
// shape [.., K] holds ceil(numel / 2) bytes; tilefuse reads i4 and does not write it).
enum class DType : uint8_t { kF32, kF16, kBF16, kI32, kBool, kF8E4M3, kF8E5M2, kI8, kI4 };
inline constexpr DType kAllDTypes[] = {DType::kF32,    DType::kF16,    DType::kBF16, DType::kI32, DType::kBool,
                                       DType::kF8E4M3, DType::kF8E5M2, DType::kI8,   DType::kI4};

// What a value is computed as inside a kernel.
enum class ComputeKind : uint8_t { kFloat, kInt, kBool };

// "f32", "f16", "bf16", "i32", "bool", "f8e4m3", "f8e5m2", "i8", "i4".
absl::string_view DTypeName(DType t);
absl::StatusOr<DType> ParseDType(absl::string_view name);
// Bytes of one element, rounded up (i4: 1, the byte it shares). Byte counts of whole
// tensors come from StorageBytes.
int DTypeSize(DType t);
int DTypeBits(DType t);
int64_t StorageBytes(DType t, int64_t numel);
// Types a tile kernel (matmul, the norms, softmax) computes on: f32, f16, bf16.
bool IsTileFloat(DType t);
bool IsFloat8(DType t);
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
