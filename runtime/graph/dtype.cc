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
    case DType::kF8E4M3: return "f8e4m3";
    case DType::kF8E5M2: return "f8e5m2";
    case DType::kI8: return "i8";
    case DType::kI4: return "i4";
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  for (DType t : kAllDTypes) {
    if (DTypeName(t) == name) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", name, "'; expected one of f32, f16, bf16, i32, bool, f8e4m3, f8e5m2, i8, i4"));
}

int DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: return 2;
    case DType::kBool: case DType::kF8E4M3: case DType::kF8E5M2: case DType::kI8: case DType::kI4: return 1;
  }
  return 0;
}

int DTypeBits(DType t) { return t == DType::kI4 ? 4 : 8 * DTypeSize(t); }

int64_t StorageBytes(DType t, int64_t numel) { return (numel * DTypeBits(t) + 7) / 8; }

bool IsFloating(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || IsFloat8(t);
}

bool IsTileFloat(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

bool IsFloat8(DType t) { return t == DType::kF8E4M3 || t == DType::kF8E5M2; }

ComputeKind ComputeKindOf(DType t) {
  if (IsFloating(t)) return ComputeKind::kFloat;
  return t == DType::kBool ? ComputeKind::kBool : ComputeKind::kInt;
}

absl::string_view DeviceStorageType(DType t) {
  switch (t) {
    case DType::kF32: return "float";
    case DType::kF16: return "tf::half_t";
    case DType::kBF16: return "tf::bf16_t";
    case DType::kI32: return "int";
    case DType::kBool: return "bool";
    case DType::kF8E4M3: return "tf::f8e4m3_t";
    case DType::kF8E5M2: return "tf::f8e5m2_t";
    case DType::kI8: return "signed char";
    case DType::kI4: return "tf::i4x2_t";
  }
  return "?";
}

int DTypeCategory(DType t) {
  if (t == DType::kBool) return 0;
  return IsFloating(t) ? 2 : 1;
}

DType PromoteTypes(DType a, DType b) {
  if (a == b) return a;
  const int ca = DTypeCategory(a), cb = DTypeCategory(b);
  if (ca != cb) return ca > cb ? a : b;
  // Same category, different types. Integers: the wider (i4 < i8 < i32).
  if (ca == 1) return DTypeBits(a) > DTypeBits(b) ? a : b;
  // Floats: f16 with bf16 promotes to f32, as in PyTorch; an f8 type (which PyTorch does
  // not promote) yields to any wider float, and two f8 types meet at bf16, which holds both.
  if (IsFloat8(a) && IsFloat8(b)) return DType::kBF16;
  if (IsFloat8(a)) return b;
  if (IsFloat8(b)) return a;
  return DType::kF32;
}

}  // namespace tilefuse::internal
