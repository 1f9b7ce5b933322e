// Runs a FusionPlan on the host: every kernel's expression DAGs evaluated per element with
// the reference's scalar semantics, through the same operand bindings (access classes,
// inner sizes, strides) and buffers that the GPU run uses. It checks the planner's work
// without a GPU.
#ifndef TILEFUSE_TEST_PLAN_INTERPRETER_H_
#define TILEFUSE_TEST_PLAN_INTERPRETER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "runtime/fusion/fusion_plan.h"
#include "runtime/reference.h"

namespace tilefuse::internal {

absl::StatusOr<std::vector<HostTensor>> InterpretPlan(const Graph& graph, const FusionPlan& plan,
                                                      const std::vector<HostTensor>& inputs,
                                                      const std::vector<int64_t>& symbols);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_TEST_PLAN_INTERPRETER_H_
