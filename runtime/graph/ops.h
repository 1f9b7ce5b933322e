// The one list of operators. Every table that names ops (the enum, the names, the JSON
// reader, the CPU reference, codegen) is fed from these X-macros, so an op cannot be
// known to one layer and silently missing from another.
#ifndef TILEFUSE_RUNTIME_GRAPH_OPS_H_
#define TILEFUSE_RUNTIME_GRAPH_OPS_H_

#include "absl/strings/string_view.h"
#include <cstdint>
#include <optional>
#include <string_view>

namespace tilefuse::internal {

// X(enum, "name", arity, result rule). Result rules:
//   kSame    - result has the (promoted) input dtype; bool inputs are refused.
//   kFloat   - like kSame, but integer inputs give f32 (torch.exp(int) is float).
//   kPromote - PyTorch type promotion of the operands.
//   kDiv     - promotion, then integer results become f32 (true division).
//   kWhere   - first operand is the bool condition, the others are promoted.
//   kCast    - the dtype attribute.
//   kCompare - bool, comparing the operands in their promoted category (f32 when any
//              is floating, else i32).
//   kLogical - bool, of the operands' truth values (nonzero is true).
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
  X(kLog1p, "log1p", 1, kFloat)           \
  X(kExpm1, "expm1", 1, kFloat)           \
  X(kErf, "erf", 1, kFloat)               \
  X(kSin, "sin", 1, kFloat)               \
  X(kCos, "cos", 1, kFloat)               \
  X(kExp2, "exp2", 1, kFloat)             \
  X(kLog2, "log2", 1, kFloat)             \
  X(kLog10, "log10", 1, kFloat)           \
  X(kTan, "tan", 1, kFloat)               \
  X(kAtan, "atan", 1, kFloat)             \
  X(kAsin, "asin", 1, kFloat)             \
  X(kAcos, "acos", 1, kFloat)             \
  X(kSinh, "sinh", 1, kFloat)             \
  X(kCosh, "cosh", 1, kFloat)             \
  X(kReciprocal, "reciprocal", 1, kFloat) \
  X(kSoftplus, "softplus", 1, kFloat)     \
  X(kLeakyRelu, "leaky_relu", 1, kFloat)  \
  X(kElu, "elu", 1, kFloat)               \
  X(kHardswish, "hardswish", 1, kFloat)   \
  X(kHardsigmoid, "hardsigmoid", 1, kFloat) \
  X(kMish, "mish", 1, kFloat)             \
  X(kFloor, "floor", 1, kSame)            \
  X(kCeil, "ceil", 1, kSame)              \
  X(kRound, "round", 1, kSame)            \
  X(kTrunc, "trunc", 1, kSame)            \
  X(kSign, "sign", 1, kSame)              \
  X(kSquare, "square", 1, kSame)          \
  X(kLogicalNot, "logical_not", 1, kLogical) \
  X(kCast, "cast", 1, kCast)              \
  X(kClamp, "clamp", 1, kSame)            \
  X(kAdd, "add", 2, kPromote)             \
  X(kSub, "sub", 2, kPromote)             \
  X(kMul, "mul", 2, kPromote)             \
  X(kDiv, "div", 2, kDiv)                 \
  X(kMaximum, "maximum", 2, kPromote)     \
  X(kMinimum, "minimum", 2, kPromote)     \
  X(kPow, "pow", 2, kPromote)             \
  X(kEq, "eq", 2, kCompare)               \
  X(kNe, "ne", 2, kCompare)               \
  X(kLt, "lt", 2, kCompare)               \
  X(kLe, "le", 2, kCompare)               \
  X(kGt, "gt", 2, kCompare)               \
  X(kGe, "ge", 2, kCompare)               \
  X(kLogicalAnd, "logical_and", 2, kLogical) \
  X(kLogicalOr, "logical_or", 2, kLogical) \
  X(kWhere, "where", 3, kWhere)

// Tile kernels: X(enum, "name"). log_softmax (dim, default the last) is lowered when added
// (Graph::AddLogSoftmax: x - logsumexp) and never reaches a kernel.
// The widest row a row-wise kernel (a tile's or a generated one) holds. A built-in norm or
// softmax over a wider static row is written op by op when it is added (Graph::AddTile):
// a generated row kernel walking its rows in chunks (RowConfig::chunked).
inline constexpr int64_t kMaxRowWidth = 16384;

#define TILEFUSE_FOR_EACH_TILE_OP(X) \
  X(kMatmul, "matmul")               \
  X(kRmsNorm, "rms_norm")            \
  X(kLayerNorm, "layer_norm")        \
  X(kSoftmax, "softmax")             \
  X(kLogSoftmax, "log_softmax")

// Reductions over one axis: X(enum, "name"). An op's value is its kernel reduction code
// (kernels/reduce_ops.cuh, StoreReduceOp; code 6, the merge of Welford partials, is no op:
// logsumexp there is lowered to other ops when added, Graph::AddReduce, and never reaches a
// kernel); argmin is code 7, prod code 8.
#define TILEFUSE_FOR_EACH_REDUCE_OP(X) \
  X(kSum, "sum")                       \
  X(kAmax, "amax")                     \
  X(kAmin, "amin")                     \
  X(kMean, "mean")                     \
  X(kArgmax, "argmax")                 \
  X(kVar, "var")                       \
  X(kLogsumexp, "logsumexp")           \
  X(kArgmin, "argmin")                 \
  X(kProd, "prod")

// Views, which move no data: X(enum, "name"). Attributes as PyTorch's: transpose (dim0,
// dim1), reshape (shape), permute (dims), slice (dim, start, end, step; x[..., start:end:
// step]), narrow (dim, start, length), select (dim, index), expand (shape, -1 keeps a dim),
// flip (dims).
#define TILEFUSE_FOR_EACH_VIEW_OP(X) \
  X(kTranspose, "transpose")         \
  X(kReshape, "reshape")             \
  X(kPermute, "permute")             \
  X(kSlice, "slice")                 \
  X(kNarrow, "narrow")               \
  X(kSelect, "select")               \
  X(kExpand, "expand")               \
  X(kFlip, "flip")

#define TILEFUSE_OP_ENUM_(e, ...) e,
enum class PointwiseOp { TILEFUSE_FOR_EACH_POINTWISE_OP(TILEFUSE_OP_ENUM_) };
enum class TileOp { TILEFUSE_FOR_EACH_TILE_OP(TILEFUSE_OP_ENUM_) };
enum class ReduceOp { TILEFUSE_FOR_EACH_REDUCE_OP(TILEFUSE_OP_ENUM_) };
enum class ViewOp { TILEFUSE_FOR_EACH_VIEW_OP(TILEFUSE_OP_ENUM_) };
#undef TILEFUSE_OP_ENUM_

enum class ResultRule { kSame, kFloat, kPromote, kDiv, kWhere, kCast, kCompare, kLogical };

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

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_OPS_H_
