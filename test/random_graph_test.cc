// Seeded random pointwise graphs on the CPU: fused and unfused plans (interpreted on the
// host) agree with the reference evaluator, and every kernel compiles with NVRTC.
#include <algorithm>
#include <random>

#include "gtest/gtest.h"
#include "runtime/fusion/planner.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "runtime/reference.h"
#include "test/host_data.h"
#include "test/plan_interpreter.h"
#include "test/random_graphs.h"
#include "test/sanitizer.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

constexpr int kGraphs = 300;

// The fused and unfused plans of r, interpreted on the host, against the reference; the
// plans go to `seen` (fused first).
void CheckPlans(const RandomGraph& r, std::mt19937_64& rng, std::vector<FusionPlan>& seen) {
  SCOPED_TRACE(GraphToJson(r.graph));
  const std::vector<int64_t> syms = BindSymbols(r.graph, r.symbols);
  const auto inputs = RandomInputs(r.graph, syms, rng);
  TF_ASSERT_OK_AND_ASSIGN(auto ref, EvaluateReference(r.graph, inputs));
  for (bool fuse : {true, false}) {
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(r.graph, PlanOptions{fuse}));
    TF_ASSERT_OK_AND_ASSIGN(auto got, InterpretPlan(r.graph, plan, inputs, syms));
    for (size_t k = 0; k < ref.size(); ++k) {
      ASSERT_TRUE(AllClose(got[k], ref[k], ToleranceFor(r.graph))) << (fuse ? "fused" : "unfused") << " output " << k;
    }
    seen.push_back(std::move(plan));
  }
}

TEST(RandomGraphs, PlansAgreeWithTheReference) {
  std::mt19937_64 rng(2024);
  size_t fused_kernels = 0, unfused_kernels = 0;
  for (int seed = 0; seed < (kUnderSanitizer ? kGraphs / 3 : kGraphs); ++seed) {
    std::vector<FusionPlan> plans;
    CheckPlans(MakeRandomPointwiseGraph(seed), rng, plans);
    if (HasFatalFailure()) return;
    fused_kernels += plans[0].kernels.size();
    unfused_kernels += plans[1].kernels.size();
  }
  EXPECT_LT(fused_kernels, unfused_kernels);  // fusion happened somewhere
}

// NVRTC's front end checks every kernel (CompileOptions::check_only), fused, and unfused
// for one graph in two (whose one-op kernels repeat); one graph in ten is built through
// ptxas.
TEST(RandomGraphs, EveryKernelCompiles) {
  KernelCache cache;
  for (int seed = 0; seed < (kUnderSanitizer ? kGraphs / 10 : kGraphs); ++seed) {
    RandomGraph r = MakeRandomPointwiseGraph(seed);
    for (bool fuse : {true, false}) {
      if (!fuse && seed % 2 != 0) continue;
      CompileOptions o;
      o.arch = "sm_90";
      o.fuse = fuse;
      o.cache = &cache;
      o.check_only = seed % 10 != 0;
      auto plan = Compile(r.graph, o);
      ASSERT_TRUE(plan.ok()) << GraphToJson(r.graph) << "\n" << plan.status();
    }
  }
  // Unfused single-op kernels repeat across graphs and come from the cache.
  EXPECT_GT(cache.stats().hits, 0);
}

// Random row programs: the plans (row kernels, their stages, views of per-row values)
// compute what the reference does, and every kernel compiles.
TEST(RandomGraphs, RowProgramsAgreeWithTheReference) {
  std::mt19937_64 rng(77);
  KernelCache cache;
  int with_row_kernels = 0;
  for (int seed = 0; seed < 200; seed += kUnderSanitizer ? 3 : 1) {  // the interpreter's time under a sanitizer
    RandomGraph r = MakeRandomRowGraph(seed);
    std::vector<FusionPlan> plans;
    CheckPlans(r, rng, plans);
    if (HasFatalFailure()) return;
    with_row_kernels += std::any_of(plans[0].kernels.begin(), plans[0].kernels.end(),
                                    [](const KernelPlan& k) { return k.spec.tile == "row"; });
    if (seed % 2 != 0) continue;  // NVRTC's front end for a sample, one in five built
    CompileOptions o;
    o.arch = "sm_90";
    o.cache = &cache;
    o.check_only = seed % 10 != 0;
    auto plan = Compile(r.graph, o);
    ASSERT_TRUE(plan.ok()) << plan.status();
  }
  EXPECT_GT(with_row_kernels, kUnderSanitizer ? 15 : 60);  // the generator writes row programs, not just reductions
}

}  // namespace
}  // namespace tilefuse::internal
