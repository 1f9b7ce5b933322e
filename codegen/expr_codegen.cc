#include "codegen/expr_codegen.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "runtime/graph/promotion.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

absl::string_view ComputeTypeName(DType t) {
  switch (ComputeKindOf(t)) {
    case ComputeKind::kFloat: return "float";
    case ComputeKind::kInt: return "int";
    case ComputeKind::kBool: return "bool";
  }
  return "?";
}

std::string ConvertKind(const std::string& code, DType from, DType to) {
  const ComputeKind a = ComputeKindOf(from), b = ComputeKindOf(to);
  if (a == b) return code;
  switch (b) {
    case ComputeKind::kFloat:
      if (from == DType::kI8 || from == DType::kI4) return absl::StrCat("tf::small_int_to_float(", code, ")");
      return a == ComputeKind::kBool ? absl::StrCat("(", code, " ? 1.0f : 0.0f)")
                                     : absl::StrCat("static_cast<float>(", code, ")");
    case ComputeKind::kInt:
      return a == ComputeKind::kFloat ? absl::StrCat("tf::to_int(", code, ")")
                                      : absl::StrCat("static_cast<int>(", code, ")");
    case ComputeKind::kBool:
      return a == ComputeKind::kFloat ? absl::StrCat("(", code, " != 0.0f)")
                                      : absl::StrCat("(", code, " != 0)");
  }
  return code;
}

std::string Literal(double v, DType t) {
  switch (ComputeKindOf(t)) {
    case ComputeKind::kBool:
      return v != 0 ? "true" : "false";
    case ComputeKind::kInt: {
      // Negative literals in parentheses: `-` of one must not read as `--`.
      const long long i = static_cast<long long>(v);
      if (i == -2147483648LL) return "(-2147483647 - 1)";
      return i < 0 ? absl::StrCat("(", i, ")") : absl::StrCat(i);
    }
    case ComputeKind::kFloat:
      break;
  }
  const float f = static_cast<float>(v);
  if (std::isnan(f)) return "tf::bits_to_float(0x7fc00000u)";
  if (std::isinf(f)) return f > 0 ? "tf::bits_to_float(0x7f800000u)" : "tf::bits_to_float(0xff800000u)";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%af", static_cast<double>(f));
  return std::signbit(f) ? absl::StrCat("(", buf, ")") : std::string(buf);
}

namespace {

// Text of `op` applied to `a` (already converted to the right kinds), result of dtype `t`.
absl::StatusOr<std::string> OpText(const ExprNode& n, const std::vector<std::string>& a) {
  const bool is_int = ComputeKindOf(n.dtype) == ComputeKind::kInt;
  const auto call = [&](absl::string_view f_name, absl::string_view i_name) {
    return absl::StrCat(is_int ? i_name : f_name, "(", a[0], a.size() > 1 ? ", " : "",
                        a.size() > 1 ? a[1] : "", ")");
  };
  switch (n.op) {
    case PointwiseOp::kNeg: return is_int ? absl::StrCat("tf::neg_i(", a[0], ")") : absl::StrCat("(-", a[0], ")");
    case PointwiseOp::kAbs: return call("fabsf", "tf::abs_i");
    case PointwiseOp::kRelu: return call("tf::relu_f", "tf::relu_i");
    case PointwiseOp::kGelu:
      return absl::StrCat(n.attrs.approximate.value_or("none") == "tanh" ? "tf::gelu_tanh("
                                                                         : "tf::gelu_erf(",
                          a[0], ")");
    case PointwiseOp::kSilu: return absl::StrCat("tf::silu_f(", a[0], ")");
    case PointwiseOp::kSigmoid: return absl::StrCat("tf::sigmoid_f(", a[0], ")");
    case PointwiseOp::kTanh: return absl::StrCat("tanhf(", a[0], ")");
    case PointwiseOp::kExp: return absl::StrCat("expf(", a[0], ")");
    case PointwiseOp::kLog: return absl::StrCat("logf(", a[0], ")");
    case PointwiseOp::kSqrt: return absl::StrCat("sqrtf(", a[0], ")");
    case PointwiseOp::kRsqrt: return absl::StrCat("tf::rsqrt_f(", a[0], ")");
    case PointwiseOp::kLog1p: return absl::StrCat("log1pf(", a[0], ")");
    case PointwiseOp::kExpm1: return absl::StrCat("expm1f(", a[0], ")");
    case PointwiseOp::kErf: return absl::StrCat("erff(", a[0], ")");
    case PointwiseOp::kSin: return absl::StrCat("sinf(", a[0], ")");
    case PointwiseOp::kCos: return absl::StrCat("cosf(", a[0], ")");
    case PointwiseOp::kExp2: return absl::StrCat("exp2f(", a[0], ")");
    case PointwiseOp::kLog2: return absl::StrCat("log2f(", a[0], ")");
    case PointwiseOp::kLog10: return absl::StrCat("log10f(", a[0], ")");
    case PointwiseOp::kTan: return absl::StrCat("tanf(", a[0], ")");
    case PointwiseOp::kAtan: return absl::StrCat("atanf(", a[0], ")");
    case PointwiseOp::kAsin: return absl::StrCat("asinf(", a[0], ")");
    case PointwiseOp::kAcos: return absl::StrCat("acosf(", a[0], ")");
    case PointwiseOp::kSinh: return absl::StrCat("sinhf(", a[0], ")");
    case PointwiseOp::kCosh: return absl::StrCat("coshf(", a[0], ")");
    case PointwiseOp::kReciprocal: return absl::StrCat("(1.0f / ", a[0], ")");
    case PointwiseOp::kSoftplus:
      return absl::StrCat("tf::softplus_f(", a[0], ", ", Literal(n.attrs.beta.value_or(1.0), DType::kF32), ", ",
                          Literal(n.attrs.threshold.value_or(20.0), DType::kF32), ")");
    case PointwiseOp::kLeakyRelu:
      return absl::StrCat("tf::leaky_relu_f(", a[0], ", ", Literal(n.attrs.negative_slope.value_or(0.01), DType::kF32),
                          ")");
    case PointwiseOp::kElu:
      return absl::StrCat("tf::elu_f(", a[0], ", ", Literal(n.attrs.alpha.value_or(1.0), DType::kF32), ")");
    case PointwiseOp::kHardswish: return absl::StrCat("tf::hardswish_f(", a[0], ")");
    case PointwiseOp::kHardsigmoid: return absl::StrCat("tf::hardsigmoid_f(", a[0], ")");
    case PointwiseOp::kMish: return absl::StrCat("tf::mish_f(", a[0], ")");
    case PointwiseOp::kFloor: return is_int ? a[0] : absl::StrCat("floorf(", a[0], ")");
    case PointwiseOp::kCeil: return is_int ? a[0] : absl::StrCat("ceilf(", a[0], ")");
    case PointwiseOp::kRound: return is_int ? a[0] : absl::StrCat("rintf(", a[0], ")");
    case PointwiseOp::kTrunc: return is_int ? a[0] : absl::StrCat("truncf(", a[0], ")");
    case PointwiseOp::kSign: return call("tf::sign_f", "tf::sign_i");
    case PointwiseOp::kSquare:
      return is_int ? absl::StrCat("tf::mul_i(", a[0], ", ", a[0], ")") : absl::StrCat("(", a[0], " * ", a[0], ")");
    case PointwiseOp::kLogicalNot: return absl::StrCat("(!", a[0], ")");
    case PointwiseOp::kLogicalAnd: return absl::StrCat("(", a[0], " && ", a[1], ")");
    case PointwiseOp::kLogicalOr: return absl::StrCat("(", a[0], " || ", a[1], ")");
    case PointwiseOp::kEq: return absl::StrCat("(", a[0], " == ", a[1], ")");
    case PointwiseOp::kNe: return absl::StrCat("(", a[0], " != ", a[1], ")");
    case PointwiseOp::kLt: return absl::StrCat("(", a[0], " < ", a[1], ")");
    case PointwiseOp::kLe: return absl::StrCat("(", a[0], " <= ", a[1], ")");
    case PointwiseOp::kGt: return absl::StrCat("(", a[0], " > ", a[1], ")");
    case PointwiseOp::kGe: return absl::StrCat("(", a[0], " >= ", a[1], ")");
    case PointwiseOp::kCast:
      if (n.dtype == DType::kBF16) return absl::StrCat("tf::round_bf16(", a[0], ")");
      if (n.dtype == DType::kF16) return absl::StrCat("tf::round_half(", a[0], ")");
      if (n.dtype == DType::kF8E4M3) return absl::StrCat("tf::round_f8e4m3(", a[0], ")");
      if (n.dtype == DType::kF8E5M2) return absl::StrCat("tf::round_f8e5m2(", a[0], ")");
      if (n.dtype == DType::kI8) return absl::StrCat("tf::wrap_i8(", a[0], ")");
      if (n.dtype == DType::kI4) return absl::StrCat("tf::wrap_i4(", a[0], ")");
      return a[0];
    case PointwiseOp::kClamp: {
      std::string v = a[0];
      if (n.attrs.min) {
        v = absl::StrCat(is_int ? "tf::max_i(" : "tf::max_f(", v, ", ", Literal(*n.attrs.min, n.dtype), ")");
      }
      if (n.attrs.max) {
        v = absl::StrCat(is_int ? "tf::min_i(" : "tf::min_f(", v, ", ", Literal(*n.attrs.max, n.dtype), ")");
      }
      return v;
    }
    case PointwiseOp::kAdd: return is_int ? call("", "tf::add_i") : absl::StrCat("(", a[0], " + ", a[1], ")");
    case PointwiseOp::kSub: return is_int ? call("", "tf::sub_i") : absl::StrCat("(", a[0], " - ", a[1], ")");
    case PointwiseOp::kMul: return is_int ? call("", "tf::mul_i") : absl::StrCat("(", a[0], " * ", a[1], ")");
    case PointwiseOp::kDiv: return absl::StrCat("(", a[0], " / ", a[1], ")");
    case PointwiseOp::kMaximum: return call("tf::max_f", "tf::max_i");
    case PointwiseOp::kMinimum: return call("tf::min_f", "tf::min_i");
    case PointwiseOp::kPow:
      // x ** 2 (decomposed norms' square) as one multiply: exact, where powf is ~20
      // instructions and within 2 ulp.
      if (!is_int && n.args[1]->kind == ExprKind::kConstant && n.args[1]->constant == 2.0) {
        return absl::StrCat("(", a[0], " * ", a[0], ")");
      }
      return call("powf", "tf::pow_i");
    case PointwiseOp::kWhere: return absl::StrCat("(", a[0], " ? ", a[1], " : ", a[2], ")");
  }
  return absl::InternalError(absl::StrCat("codegen does not handle op '", OpName(n.op), "'"));
}

}  // namespace

absl::StatusOr<std::string> ExprEmitter::Emit(const Expr& expr) {
  if (auto it = done_.find(expr.get()); it != done_.end()) return it->second;
  std::string result;
  switch (expr->kind) {
    case ExprKind::kConstant:
      return Literal(expr->constant, expr->dtype);
    case ExprKind::kLoad:
    case ExprKind::kTileValue:
      return leaf_(*expr);
    case ExprKind::kGather: {
      if (!gather_) return absl::InternalError("a gather outside a pointwise kernel");
      TF_ASSIGN_OR_RETURN(std::string at, Emit(expr->args[0]));
      result = e_.Fresh("v");
      e_.Line(absl::StrCat("const ", ComputeTypeName(expr->dtype), " ", result, " = ",
                           gather_(*expr, ConvertKind(at, expr->args[0]->dtype, DType::kI32)), ";"));
      break;
    }
    case ExprKind::kOp: {
      if (special_) {
        TF_ASSIGN_OR_RETURN(std::optional<std::string> text, special_(*expr));
        if (text) {
          result = e_.Fresh("v");
          e_.Line(absl::StrCat("const ", ComputeTypeName(expr->dtype), " ", result, " = ", *text, ";"));
          break;
        }
      }
      std::vector<std::string> args;
      std::vector<DType> arg_dtypes;
      for (const Expr& a : expr->args) arg_dtypes.push_back(a->dtype);
      for (size_t i = 0; i < expr->args.size(); ++i) {
        const Expr& a = expr->args[i];
        TF_ASSIGN_OR_RETURN(std::string code, Emit(a));
        // Operands are brought to the kind the op computes in (OperandDType: the result's,
        // but where's condition, comparisons and logical ops).
        args.push_back(ConvertKind(code, a->dtype, OperandDType(expr->op, expr->dtype, arg_dtypes, i)));
      }
      TF_ASSIGN_OR_RETURN(std::string text, OpText(*expr, args));
      result = e_.Fresh("v");
      e_.Line(absl::StrCat("const ", ComputeTypeName(expr->dtype), " ", result, " = ", text, ";"));
      break;
    }
  }
  done_[expr.get()] = result;
  return result;
}

}  // namespace tilefuse::internal
