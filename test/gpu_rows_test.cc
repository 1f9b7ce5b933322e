// Row-wise launch configs on the GPU: every config the row tuner may pick computes the
// reference's function (the tuner chooses by time alone), and the tuner records a winner.
#include <cstdio>
#include <random>
#include <vector>

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

// Test graph `name` compiled with each row config configs(k) gives for its first kernel k
// (row-wise, of a static width), against the reference.
template <class Configs>
void ExpectEachConfigMatches(const char* name, std::mt19937_64& rng, Configs configs) {
  SCOPED_TRACE(name);
  const TestGraph& t = NamedTestGraph(name);
  const Graph g = ParseTestGraph(t);
  const auto syms = BindSymbols(g, t.symbols);
  CompileOptions o = GpuOptions();
  TF_ASSERT_OK_AND_ASSIGN(Plan planned, Compile(g, o));
  const KernelPlan& k = planned.fusion_plan().kernels[0];
  ASSERT_TRUE(k.cols.is_static());
  for (const RowConfig& c : configs(k)) {
    SCOPED_TRACE(c.ToString());
    o.row_config = c;
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
    EXPECT_TRUE(MatchesReference(plan, syms, rng));
  }
}

TEST(GpuRows, EveryCandidateConfigMatchesTheReference) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(21);
  for (const char* name : {"rms_norm_then_sum", "layer_norm_amax_keepdim", "softmax_mean_var_pair",
                           "rms_norm_relu_mean_also_output"}) {
    ExpectEachConfigMatches(name, rng,
                            [](const KernelPlan& k) { return RowCandidates(k.cols.constant, k.spec.Vec()); });
  }
}

// Rows walked in chunks: wider than a row kernel holds (every chunked candidate), and
// narrow rows under a forced chunk of one vector per thread (many chunks, a partial last
// one, rows that are not whole vectors).
TEST(GpuRows, ChunkedRowsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(34);
  for (const char* name : {"chunked_rows_odd_width", "rows_wider_than_a_row_kernel", "norms_without_affine"}) {
    ExpectEachConfigMatches(name, rng, [](const KernelPlan& k) {
      EXPECT_EQ(k.spec.tile, "row");
      std::vector<RowConfig> configs = {RowConfig{64, 32, 1, 1, true}};
      if (k.cols.constant > kMaxRowWidth) {
        EXPECT_TRUE(k.spec.row.chunked);
        for (const RowConfig& c : RowCandidates(k.cols.constant, k.spec.Vec())) configs.push_back(c);
      }
      return configs;
    });
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
