// GEMM tuning records on the CPU: persistence, corruption, and a recorded config reaching
// the fused kernel. (Timing candidates needs a GPU: gpu_plans_test.)
#include <cstdio>
#include <fstream>

#include "gtest/gtest.h"
#include "runtime/autotune.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse {
namespace {

const TestGraph& GemmGraph(const std::string& name) {
  for (const TestGraph& t : GemmTestGraphs()) {
    if (t.name == name) return t;
  }
  static TestGraph none;
  return none;
}

TEST(TuningRecords, RoundTripAndCorruption) {
  const std::string path = ::testing::TempDir() + "/tuning_roundtrip.json";
  std::remove(path.c_str());
  TF_ASSERT_OK_AND_ASSIGN(TuningRecords empty, TuningRecords::Load(path));  // absent: empty
  EXPECT_EQ(empty.size(), 0u);
  TuningRecords r;
  r.Put("k1", TuningRecord{GemmConfig{64, 128, 32, 2, 2, 4}, 12.5});
  TF_ASSERT_OK(r.Save(path));
  TF_ASSERT_OK_AND_ASSIGN(TuningRecords back, TuningRecords::Load(path));
  ASSERT_TRUE(back.Find("k1").has_value());
  EXPECT_EQ(back.Find("k1")->config.ToString(), "64x128x32 w2x2 s4");
  EXPECT_DOUBLE_EQ(back.Find("k1")->us, 12.5);
  std::ofstream(path) << "{\"version\": 99}";
  EXPECT_TRUE(StatusIs(TuningRecords::Load(path), absl::StatusCode::kDataLoss, "not a version 1"));
  std::ofstream(path) << "{\"version\": 1, \"records\": {\"k\": {\"config\": {}}}}";
  EXPECT_TRUE(StatusIs(TuningRecords::Load(path), absl::StatusCode::kDataLoss, "entry 'k' is malformed"));
}

TEST(TuningRecords, RecordedConfigReachesTheFusedKernel) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(GemmGraph("gemm_bias_gelu").json));
  CompileOptions o;
  o.arch = "sm_90";
  TF_ASSERT_OK_AND_ASSIGN(Plan first, Compile(g, o));
  const KernelPlan& k = first.fusion_plan().kernels[0];
  const GemmConfig tuned{64, 64, 32, 2, 2, 4};
  TuningRecords r;
  r.Put(GemmTuningKey(g, k.tile_node, k.spec, "sm_90"), TuningRecord{tuned, 1.0});
  const std::string path = ::testing::TempDir() + "/tuning_fused.json";
  TF_ASSERT_OK(r.Save(path));
  o.tuning_path = path;
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
  const KernelSpec& spec = plan.fusion_plan().kernels[0].spec;
  EXPECT_EQ(spec.gemm.ToString(), tuned.ToString());
  EXPECT_NE(SpecText(spec).find("gelu"), std::string::npos);  // the fusion is kept
  EXPECT_NE(plan.Explain().find("(recorded, 1 us)"), std::string::npos) << plan.Explain();
}

}  // namespace
}  // namespace tilefuse
