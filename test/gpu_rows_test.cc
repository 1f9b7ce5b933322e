// Row-wise launch configs on the GPU: every config the row tuner may pick computes the
// reference's function (the tuner chooses by time alone), and the tuner records a winner.
#include <cstdio>
#include <random>

#include "gtest/gtest.h"
#include "runtime/autotune.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/plan.h"
#include "test/gpu_harness.h"
#include "test/host_data.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {
namespace {

TEST(GpuRows, EveryCandidateConfigMatchesTheReference) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(21);
  for (const char* name : {"rms_norm_then_sum", "layer_norm_amax_keepdim", "softmax_mean_var_pair",
                           "rms_norm_relu_mean_also_output"}) {
    SCOPED_TRACE(name);
    const TestGraph& t = NamedTestGraph(name);
    const Graph g = ParseTestGraph(t);
    const auto syms = BindSymbols(g, t.symbols);
    CompileOptions o = GpuOptions();
    TF_ASSERT_OK_AND_ASSIGN(Plan planned, Compile(g, o));
    const KernelPlan& k = planned.fusion_plan().kernels[0];
    ASSERT_TRUE(k.cols.is_static());
    for (const RowConfig& c : RowCandidates(k.cols.constant, k.spec.Vec())) {
      SCOPED_TRACE(c.row_threads);
      o.row_config = c;
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
      EXPECT_TRUE(MatchesReference(plan, syms, rng));
    }
  }
}

TEST(GpuRows, TunerRecordsAWinnerThatKeepsTheFusion) {
  TF_SKIP_WITHOUT_GPU();
  const TestGraph& t = NamedTestGraph("rms_norm_then_sum");
  const Graph g = ParseTestGraph(t);
  const std::string path = ::testing::TempDir() + "/gpu_row_tuning.json";
  std::remove(path.c_str());
  CompileOptions o = GpuOptions();
  o.autotune = true;
  o.tuning_path = path;
  o.tune_m = 4096;
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
  EXPECT_NE(plan.Explain().find("uses row config"), std::string::npos) << plan.Explain();
  EXPECT_EQ(plan.fusion_plan().kernels[0].spec.reduce.op, 0);
  TF_ASSERT_OK_AND_ASSIGN(TuningRecords records, TuningRecords::Load(path));
  EXPECT_EQ(records.size(), 1u);
  std::mt19937_64 rng(5);
  EXPECT_TRUE(MatchesReference(plan, BindSymbols(g, t.symbols), rng));
}

}  // namespace
}  // namespace tilefuse::internal
