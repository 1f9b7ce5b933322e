// Emits an expression DAG as SSA statements in the value's compute kind (float, int,
// bool). Used for pointwise kernel bodies and, for tile kernels, load and store hooks.
#ifndef TILEFUSE_CODEGEN_EXPR_CODEGEN_H_
#define TILEFUSE_CODEGEN_EXPR_CODEGEN_H_

#include "absl/strings/string_view.h"
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "codegen/emitter.h"
#include "runtime/fusion/expr.h"

namespace tilefuse::internal {

// "float", "int" or "bool".
absl::string_view ComputeTypeName(DType t);
// C++ text converting `code` (of dtype `from`'s compute kind) to `to`'s compute kind.
std::string ConvertKind(const std::string& code, DType from, DType to);
// A C++ literal for a constant of dtype `t`, exact.
std::string Literal(double v, DType t);

class ExprEmitter {
 public:
  // `leaf` gives the C++ expression for a load or tile-value leaf (in its compute kind).
  ExprEmitter(Emitter& e, std::function<std::string(const ExprNode&)> leaf)
      : e_(e), leaf_(std::move(leaf)) {}
  // Emits statements computing `expr`; returns the name (or literal) holding the value.
  // Shared nodes are computed once per emitter.
  absl::StatusOr<std::string> Emit(const Expr& expr);
  // `node` is already computed, in `name` (a value hoisted out of the emitter's scope).
  void Define(const ExprNode* node, std::string name) { done_[node] = std::move(name); }
  // Text for op nodes that `special` takes (it may Emit their operands), in place of the
  // op's usual text; nullopt leaves a node to the usual text.
  using Special = std::function<absl::StatusOr<std::optional<std::string>>(const ExprNode&)>;
  void SetSpecial(Special special) { special_ = std::move(special); }
  // Text reading a gather's operand (ExprKind::kGather) at the position `index` (an int) of
  // its gathered axis. Unset: gathers are refused.
  using Gather = std::function<std::string(const ExprNode&, const std::string& index)>;
  void SetGather(Gather gather) { gather_ = std::move(gather); }

 private:
  Emitter& e_;
  std::function<std::string(const ExprNode&)> leaf_;
  std::map<const ExprNode*, std::string> done_;
  Special special_;
  Gather gather_;
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_EXPR_CODEGEN_H_
