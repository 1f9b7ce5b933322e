// The one list of operators. Every table that names ops (the enum, the names, the JSON
// reader, the CPU reference, codegen) is fed from these X-macros, so an op cannot be
// known to one layer and silently missing from another.
#ifndef TILEFUSE_RUNTIME_GRAPH_OPS_H_
#define TILEFUSE_RUNTIME_GRAPH_OPS_H_

#include "absl/strings/string_view.h"
#include <optional>
#include <string_view>

namespace tilefuse {

// X(enum, "name", arity, result rule). Result rules:
//   kSame    - result has the (promoted) input dtype; bool inputs are refused.
//   kFloat   - like kSame, but integer inputs give f32 (torch.exp(int) is float).
//   kPromote - PyTorch type promotion of the operands.
//   kDiv     - promotion, then integer results become f32 (true division).
//   kWhere   - first operand is the bool condition, the others are promoted.
//   kCast    - the dtype attribute.
#define TILEFUSE_FOR_EACH_POINTWISE_OP(X) \
  X(kNeg, "neg", 1, kSame)                \
  X(kAbs, "abs", 1, kSame)                \
  X(kRelu, "relu", 1, kSame)              \
  X(kGelu, "gelu", 1, kFloat)             \
  X(kSilu, "silu", 1, kFloat)             \
  X(kSigmoid, "sigmoid", 1, kFloat)       \
  X(kTanh, "tanh", 1, kFloat)             \
  X(kExp, "exp", 1, kFloat)               \
  X(kLog, "log", 1, kFloat)               \
  X(kSqrt, "sqrt", 1, kFloat)             \
  X(kRsqrt, "rsqrt", 1, kFloat)           \
  X(kCast, "cast", 1, kCast)              \
  X(kClamp, "clamp", 1, kSame)            \
  X(kAdd, "add", 2, kPromote)             \
  X(kSub, "sub", 2, kPromote)             \
  X(kMul, "mul", 2, kPromote)             \
  X(kDiv, "div", 2, kDiv)                 \
  X(kMaximum, "maximum", 2, kPromote)     \
  X(kMinimum, "minimum", 2, kPromote)     \
  X(kPow, "pow", 2, kPromote)             \
  X(kWhere, "where", 3, kWhere)

// Tile kernels: X(enum, "name").
#define TILEFUSE_FOR_EACH_TILE_OP(X) \
  X(kMatmul, "matmul")               \
  X(kRmsNorm, "rms_norm")            \
  X(kLayerNorm, "layer_norm")        \
  X(kSoftmax, "softmax")

// Reductions over one axis: X(enum, "name").
#define TILEFUSE_FOR_EACH_REDUCE_OP(X) \
  X(kSum, "sum")                       \
  X(kAmax, "amax")                     \
  X(kAmin, "amin")                     \
  X(kMean, "mean")                     \
  X(kArgmax, "argmax")                 \
  X(kVar, "var")

// Views, which move no data: X(enum, "name").
#define TILEFUSE_FOR_EACH_VIEW_OP(X) \
  X(kTranspose, "transpose")         \
  X(kReshape, "reshape")

#define TILEFUSE_OP_ENUM_(e, ...) e,
enum class PointwiseOp { TILEFUSE_FOR_EACH_POINTWISE_OP(TILEFUSE_OP_ENUM_) };
enum class TileOp { TILEFUSE_FOR_EACH_TILE_OP(TILEFUSE_OP_ENUM_) };
enum class ReduceOp { TILEFUSE_FOR_EACH_REDUCE_OP(TILEFUSE_OP_ENUM_) };
enum class ViewOp { TILEFUSE_FOR_EACH_VIEW_OP(TILEFUSE_OP_ENUM_) };
#undef TILEFUSE_OP_ENUM_

enum class ResultRule { kSame, kFloat, kPromote, kDiv, kWhere, kCast };

absl::string_view OpName(PointwiseOp op);
absl::string_view OpName(TileOp op);
absl::string_view OpName(ReduceOp op);
absl::string_view OpName(ViewOp op);
int Arity(PointwiseOp op);
ResultRule ResultRuleOf(PointwiseOp op);

std::optional<PointwiseOp> ParsePointwiseOp(absl::string_view name);
std::optional<TileOp> ParseTileOp(absl::string_view name);
std::optional<ReduceOp> ParseReduceOp(absl::string_view name);
std::optional<ViewOp> ParseViewOp(absl::string_view name);

}  // namespace tilefuse

#endif  // TILEFUSE_RUNTIME_GRAPH_OPS_H_
