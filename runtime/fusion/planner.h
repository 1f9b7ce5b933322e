// The planner: groups graph nodes into kernels.
//
// Rules (each decision, taken or refused, is recorded in FusionPlan::decisions):
//  - Pointwise ops with the same index space (output shape) that feed each other are fused
//    into one kernel; broadcast operands are read through strides, never materialized.
//  - An op joins its producers' kernel only if that creates no cycle: no operand from
//    outside the kernel may itself depend on the kernel's nodes.
//  - A value needed outside its kernel (another kernel, a view, a graph output) is stored
//    by the kernel that computes it, even when it is an intermediate: several outputs from
//    one kernel rather than a refused fusion.
//  - Views move no data; a graph output that no kernel writes (an input, a view) gets a
//    copy kernel.
//  - With PlanOptions::fuse false, every op is its own kernel (the unfused baseline).
#ifndef TILEFUSE_RUNTIME_FUSION_PLANNER_H_
#define TILEFUSE_RUNTIME_FUSION_PLANNER_H_

#include "absl/status/statusor.h"
#include "runtime/fusion/fusion_plan.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

absl::StatusOr<FusionPlan> PlanFusion(const Graph& graph, const PlanOptions& options);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_PLANNER_H_
