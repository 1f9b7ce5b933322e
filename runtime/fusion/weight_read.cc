#include "runtime/fusion/weight_read.h"

namespace tilefuse::internal {
namespace {

bool IsCastOf(const Expr& e, DType to) {
  return e->kind == ExprKind::kOp && e->op == PointwiseOp::kCast && e->dtype == to && e->args.size() == 1;
}

// The weight operand read whole over [N, K] behind f32(q), or -1.
int WeightOperand(const KernelSpec& spec, const Expr& e) {
  if (!IsCastOf(e, DType::kF32) || e->args[0]->kind != ExprKind::kLoad) return -1;
  const int q = e->args[0]->operand;
  const OperandSpec& o = spec.operands[q];
  const bool packed = o.dtype == DType::kI8 || o.dtype == DType::kI4 || o.dtype == DType::kF8E4M3;
  return packed && o.access == Access::kFull && o.site == 1 && !o.iota && !o.gathered ? q : -1;
}

}  // namespace

WeightRead WeightReadOf(const KernelSpec& spec) {
  WeightRead none;
  if (spec.tile != "matmul" || !spec.gemm.skinny || spec.tile_inputs.size() != 2) return none;
  const DType t = spec.tile_inputs[1].dtype;
  if (t != DType::kBF16 && t != DType::kF16) return none;
  Expr e = spec.tile_inputs[1].expr;
  if (!IsCastOf(e, t)) return none;  // the cast to the operand type: the kernel's packing
  e = e->args[0];
  WeightRead w;
  if (e->kind == ExprKind::kOp && e->op == PointwiseOp::kMul && e->args.size() == 2 && e->dtype == DType::kF32) {
    for (int side = 0; side < 2 && w.q < 0; ++side) {
      const Expr& s = e->args[1 - side];
      w.q = WeightOperand(spec, e->args[side]);
      if (w.q < 0) continue;
      // The scale in the operand's own type (a bf16 scale for bf16 weights), read at
      // site 1 per tensor, per row of [N, K], or per group of 16k k.
      const OperandSpec* o = s->kind == ExprKind::kLoad ? &spec.operands[s->operand] : nullptr;
      if (o == nullptr || o->dtype != t || o->site != 1 || o->iota || o->gathered) return none;
      w.s = s->operand;
      if (o->access == Access::kScalar) {
        w.scale = 1;
      } else if (o->access == Access::kOuter) {
        w.scale = 2;
      } else if (o->access == Access::kGroup && o->group % 16 == 0) {
        w.scale = 3, w.group = o->group, w.groups = o->groups;
      } else {
        return none;
      }
    }
  } else {
    w.q = WeightOperand(spec, e);
  }
  if (w.q < 0) return none;
  const DType q = spec.operands[w.q].dtype;
  w.format = q == DType::kI8 ? 1 : q == DType::kI4 ? 2 : 3;
  return w;
}

WeightRead SkinnyTmaWeightRead(const KernelSpec& spec) {
  if (spec.tile != "matmul" || !spec.gemm.skinny || !spec.sm90 || spec.a_async < 0) return WeightRead{};
  return WeightReadOf(spec);
}

bool SkinnyWeightTma(const KernelSpec& spec) { return SkinnyTmaWeightRead(spec).format != 0; }

int SkinnyTmaSmemBytes(const GemmConfig& c, bool int4) {
  const int k = int4 ? 2 * c.bk : c.bk;  // the k of a stage
  return 1024 + c.stages * (c.bn * c.bk + k * 32 + 16);
}

}  // namespace tilefuse::internal
