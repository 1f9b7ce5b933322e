#include "runtime/graph/promotion.h"

#include <optional>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {
namespace {

std::optional<DType> PromoteOpt(std::optional<DType> a, DType b) {
  return a ? PromoteTypes(*a, b) : b;
}

// c10's combine_categories: `higher` wins unless `lower` is of a higher category.
std::optional<DType> Combine(std::optional<DType> higher, std::optional<DType> lower) {
  if (!higher) return lower;
  if (!lower) return higher;
  if (IsFloating(*higher)) return higher;
  if (*higher == DType::kBool || IsFloating(*lower)) return PromoteTypes(*higher, *lower);
  return higher;
}

}  // namespace

DType ResultType(const std::vector<PromotionOperand>& operands) {
  std::optional<DType> dim, zero, wrapped;
  for (const PromotionOperand& o : operands) {
    if (o.is_literal) {
      wrapped = PromoteOpt(wrapped, o.dtype);
    } else if (o.rank == 0) {
      zero = PromoteOpt(zero, o.dtype);
    } else {
      dim = PromoteOpt(dim, o.dtype);
    }
  }
  return Combine(dim, Combine(zero, wrapped)).value_or(DType::kF32);
}

absl::StatusOr<DType> PointwiseResultDType(PointwiseOp op, DType promoted) {
  switch (ResultRuleOf(op)) {
    case ResultRule::kSame:
    case ResultRule::kPromote:
      if (promoted == DType::kBool) {
        return absl::InvalidArgumentError(absl::StrCat(
            "op '", OpName(op), "' does not take bool operands (expected a number type; "
            "cast to i32 or f32 first)"));
      }
      return promoted;
    case ResultRule::kFloat:
    case ResultRule::kDiv:
      return IsFloating(promoted) ? promoted : DType::kF32;
    case ResultRule::kWhere:
      return promoted;
    case ResultRule::kCompare:
    case ResultRule::kLogical:
      return DType::kBool;
    case ResultRule::kCast:
      break;
  }
  return absl::InternalError("cast takes its dtype from its attribute");
}

DType OperandDType(PointwiseOp op, DType result, absl::Span<const DType> operands, size_t i) {
  if (op == PointwiseOp::kWhere && i == 0) return DType::kBool;
  switch (ResultRuleOf(op)) {
    case ResultRule::kCompare:
      for (DType d : operands) {
        if (ComputeKindOf(d) == ComputeKind::kFloat) return DType::kF32;
      }
      return DType::kI32;
    case ResultRule::kLogical:
      return DType::kBool;
    default:
      return result;
  }
}

}  // namespace tilefuse::internal
