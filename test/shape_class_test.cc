// Shape classes of GEMMs with a symbolic M: which classes a plan gets, their signatures
// and reports, Run's choice of class at the bounds, and warmup of every class (real NVRTC,
// no GPU).
#include <unistd.h>

#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/autotune.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse {
namespace {

std::string Gemm(const std::string& m, bool rowsum = false) {
  return absl::StrCat(R"({"name": "g", "inputs": [{"name": "x", "shape": [)", m, R"(, 4096], "dtype": "bf16"},
      {"name": "w", "shape": [4096, 4096], "dtype": "bf16"}, {"name": "b", "shape": [4096], "dtype": "bf16"}],
    "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
              {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},
              {"name": "z", "op": "add", "inputs": ["y", "b"]},
              {"name": "s", "op": "silu", "inputs": ["z"]})",
                      rowsum ? R"(, {"name": "r", "op": "sum", "inputs": ["s"], "attrs": {"dim": 1}}], "outputs": ["r"]})"
                             : R"(], "outputs": ["s"]})");
}

Plan MustCompile(const std::string& json, CompileOptions o = {}) {
  static KernelCache* shared = new KernelCache;  // the tests compile the same kernels
  o.arch = "sm_90";
  if (o.cache == nullptr) o.cache = shared;
  auto g = GraphFromJson(json);
  EXPECT_TRUE(g.ok()) << g.status();
  auto p = Compile(*g, o);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

TEST(ShapeClasses, SymbolicMGetsTheDefaultClasses) {
  const Plan plan = MustCompile(Gemm("\"M\""));
  const std::vector<ShapeClass>& classes = plan.fusion_plan().kernels[0].classes;
  ASSERT_EQ(classes.size(), 2u) << plan.Explain();
  EXPECT_EQ(classes[0].max_m, 16);
  EXPECT_EQ(classes[0].gemm.ToString(), "16x32x128 w1x2 s6 split 4");
  EXPECT_EQ(classes[1].max_m, 64);
  EXPECT_EQ(classes[1].gemm.ToString(), "64x64x32 w2x2 s4 split 8");
  EXPECT_TRUE(plan.fusion_plan().kernels[0].spec.gemm.wgmma);  // past 64: the Hopper kernel
  // One binary per class, each reported; Explain lists them.
  ASSERT_EQ(plan.reports().size(), 3u);
  std::set<std::string> entries;
  for (const KernelReport& r : plan.reports()) {
    entries.insert(r.entry_name);
    EXPECT_EQ(r.kernel, 0);
  }
  EXPECT_EQ(entries.size(), 3u);
  EXPECT_EQ(plan.reports()[1].shape_class, "M <= 16");
  EXPECT_NE(plan.Explain().find("class M <= 16: 16x32x128 w1x2 s6 split 4"), std::string::npos) << plan.Explain();
  EXPECT_NE(plan.Explain().find("class M > 64: wgmma"), std::string::npos) << plan.Explain();
  EXPECT_EQ(plan.num_kernels(), 1);  // launches per run
}

TEST(ShapeClasses, RunPicksTheClassAtItsBounds) {
  const Plan plan = MustCompile(Gemm("\"M\""));
  const auto entry = [&](int64_t m) { return plan.compiled_kernel_for(0, m).entry_name(); };
  EXPECT_EQ(entry(1), entry(16));
  EXPECT_NE(entry(16), entry(17));
  EXPECT_EQ(entry(17), entry(64));
  EXPECT_NE(entry(64), entry(65));
  EXPECT_EQ(entry(65), plan.compiled_kernel(0).entry_name());
  EXPECT_EQ(entry(100000), plan.compiled_kernel(0).entry_name());
}

TEST(ShapeClasses, NoneWhereOneKernelServesEveryM) {
  EXPECT_TRUE(MustCompile(Gemm("16")).fusion_plan().kernels[0].classes.empty());   // M static
  EXPECT_TRUE(MustCompile(Gemm("\"M\"", true)).fusion_plan().kernels[0].classes.empty());  // a row sum
  CompileOptions none;
  none.m_classes.clear();
  EXPECT_TRUE(MustCompile(Gemm("\"M\""), none).fusion_plan().kernels[0].classes.empty());
  CompileOptions forced;
  forced.gemm_config = WgmmaGemmConfig(4);
  EXPECT_TRUE(MustCompile(Gemm("\"M\""), forced).fusion_plan().kernels[0].classes.empty());
}

TEST(ShapeClasses, AnEnginesBoundsMergeWhereTheConfigIsTheSame) {
  CompileOptions o;
  o.m_classes = {1, 2, 4, 8, 16, 32, 48, 64, 128, 4096};
  const Plan plan = MustCompile(Gemm("\"M\""), o);
  const std::vector<ShapeClass>& classes = plan.fusion_plan().kernels[0].classes;
  ASSERT_EQ(classes.size(), 2u) << plan.Explain();  // 1 to 16 share the decode config, 32 to 64 theirs
  EXPECT_EQ(classes[0].max_m, 16);
  EXPECT_EQ(classes[1].max_m, 64);
}

// Warmup compiles every class into the disk cache; a later compile runs no NVRTC.
TEST(ShapeClasses, WarmupCoversEveryClass) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/tf_classes_", ::getpid());
  std::filesystem::remove_all(dir);
  KernelCache memory;
  DiskCache disk(DiskCacheOptions{dir});
  CompileOptions o;
  o.cache = &memory;
  o.disk_cache = &disk;
  MustCompile(Gemm("\"M\""), o);
  EXPECT_EQ(disk.stats().writes, 3);
  KernelCache fresh;
  o.cache = &fresh;
  const Plan warm = MustCompile(Gemm("\"M\""), o);
  for (const KernelReport& r : warm.reports()) EXPECT_TRUE(r.disk_hit) << r.entry_name;
}

}  // namespace
}  // namespace tilefuse
