#include "runtime/graph/dtype.h"

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {

absl::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kI32: return "i32";
    case DType::kBool: return "bool";
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kBool}) {
    if (DTypeName(t) == name) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", name, "'; expected one of f32, f16, bf16, i32, bool"));
}

int DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: return 2;
    case DType::kBool: return 1;
  }
  return 0;
}

bool IsFloating(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}

ComputeKind ComputeKindOf(DType t) {
  if (IsFloating(t)) return ComputeKind::kFloat;
  return t == DType::kI32 ? ComputeKind::kInt : ComputeKind::kBool;
}

absl::string_view DeviceStorageType(DType t) {
  switch (t) {
    case DType::kF32: return "float";
    case DType::kF16: return "tf::half_t";
    case DType::kBF16: return "tf::bf16_t";
    case DType::kI32: return "int";
    case DType::kBool: return "bool";
  }
  return "?";
}

int DTypeCategory(DType t) {
  if (t == DType::kBool) return 0;
  if (t == DType::kI32) return 1;
  return 2;
}

DType PromoteTypes(DType a, DType b) {
  if (a == b) return a;
  const int ca = DTypeCategory(a), cb = DTypeCategory(b);
  if (ca != cb) return ca > cb ? a : b;
  // Same category and different types: only the floating pairs remain.
  if (a == DType::kF32 || b == DType::kF32) return DType::kF32;
  return DType::kF32;  // f16 with bf16 promotes to f32 in PyTorch.
}

}  // namespace tilefuse::internal
