#include "runtime/graph/ops.h"

namespace tilefuse::internal {
namespace {

template <class E, size_t N>
std::optional<E> Find(const absl::string_view (&names)[N], absl::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return static_cast<E>(i);
  }
  return std::nullopt;
}

#define TILEFUSE_OP_NAME_(e, name, ...) name,
constexpr absl::string_view kPointwiseNames[] = {TILEFUSE_FOR_EACH_POINTWISE_OP(TILEFUSE_OP_NAME_)};
constexpr absl::string_view kTileNames[] = {TILEFUSE_FOR_EACH_TILE_OP(TILEFUSE_OP_NAME_)};
constexpr absl::string_view kReduceNames[] = {TILEFUSE_FOR_EACH_REDUCE_OP(TILEFUSE_OP_NAME_)};
constexpr absl::string_view kViewNames[] = {TILEFUSE_FOR_EACH_VIEW_OP(TILEFUSE_OP_NAME_)};
#undef TILEFUSE_OP_NAME_

#define TILEFUSE_OP_ARITY_(e, name, arity, rule) arity,
constexpr int kArity[] = {TILEFUSE_FOR_EACH_POINTWISE_OP(TILEFUSE_OP_ARITY_)};
#undef TILEFUSE_OP_ARITY_

#define TILEFUSE_OP_RULE_(e, name, arity, rule) ResultRule::rule,
constexpr ResultRule kRule[] = {TILEFUSE_FOR_EACH_POINTWISE_OP(TILEFUSE_OP_RULE_)};
#undef TILEFUSE_OP_RULE_

}  // namespace

absl::string_view OpName(PointwiseOp op) { return kPointwiseNames[static_cast<int>(op)]; }
absl::string_view OpName(TileOp op) { return kTileNames[static_cast<int>(op)]; }
absl::string_view OpName(ReduceOp op) { return kReduceNames[static_cast<int>(op)]; }
absl::string_view OpName(ViewOp op) { return kViewNames[static_cast<int>(op)]; }
int Arity(PointwiseOp op) { return kArity[static_cast<int>(op)]; }
ResultRule ResultRuleOf(PointwiseOp op) { return kRule[static_cast<int>(op)]; }

std::optional<PointwiseOp> ParsePointwiseOp(absl::string_view n) {
  return Find<PointwiseOp>(kPointwiseNames, n);
}
std::optional<TileOp> ParseTileOp(absl::string_view n) { return Find<TileOp>(kTileNames, n); }
std::optional<ReduceOp> ParseReduceOp(absl::string_view n) {
  return Find<ReduceOp>(kReduceNames, n);
}
std::optional<ViewOp> ParseViewOp(absl::string_view n) { return Find<ViewOp>(kViewNames, n); }

}  // namespace tilefuse::internal
