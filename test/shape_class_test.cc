// Shape classes of GEMMs with a symbolic M: which classes a plan gets, their signatures
// and reports, Run's choice of class at the bounds, and warmup of every class (real NVRTC,
// no GPU).
#include <unistd.h>

#include <array>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "codegen/generate.h"
#include "runtime/autotune.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "test/gemm_dtype_graphs.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {
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

// The plan and NVRTC's front end (CompileOptions::check_only): for what a plan holds. The
// tile configs' builds through ptxas are the Hopper tests' below.
Plan MustPlan(const std::string& json, CompileOptions o = {}) {
  o.check_only = true;
  return MustCompile(json, o);
}

TEST(ShapeClasses, SymbolicMGetsTheDefaultClasses) {
  const Plan plan = MustPlan(Gemm("\"M\""));
  const std::vector<ShapeClass>& classes = plan.fusion_plan().kernels[0].classes;
  // N = K = 4096 on 132 SMs: the decode mma.sync tile over 64 column tiles, K split in two;
  // then the Hopper kernel, 128 CTAs each: 64 x 64 tiles split in two (12 stages up to 32
  // rows, 8 past), 128 x 64 split in two, 128 x 128 split in two.
  ASSERT_EQ(classes.size(), 5u) << plan.Explain();
  EXPECT_EQ(classes[0].max_m, 16);
  EXPECT_EQ(classes[0].gemm.ToString(), "16x64x128 w1x4 s4 split 2");
  EXPECT_EQ(classes[1].max_m, 32);
  EXPECT_EQ(classes[1].gemm.ToString(), "wgmma 64x64x64 w1x4 s12 split 2");
  EXPECT_EQ(classes[2].max_m, 64);
  EXPECT_EQ(classes[2].gemm.ToString(), "wgmma 64x64x64 w1x4 s8 split 2");
  EXPECT_EQ(classes[3].max_m, 128);
  EXPECT_EQ(classes[3].gemm.ToString(), "wgmma 128x64x64 w2x4 s8 split 2");
  EXPECT_EQ(classes[4].max_m, 256);
  EXPECT_EQ(classes[4].gemm.ToString(), "wgmma 128x128x64 w2x4 s6 split 2");
  EXPECT_TRUE(plan.fusion_plan().kernels[0].spec.gemm.wgmma);  // past 256: the ping-pong kernel
  EXPECT_EQ(plan.fusion_plan().kernels[0].spec.gemm.split_k, 1);
  // One binary per class, each reported; Explain lists them.
  ASSERT_EQ(plan.reports().size(), 6u);
  std::set<std::string> entries;
  for (const KernelReport& r : plan.reports()) {
    entries.insert(r.entry_name);
    EXPECT_EQ(r.kernel, 0);
  }
  EXPECT_EQ(entries.size(), 6u);
  EXPECT_EQ(plan.reports()[1].shape_class, "M <= 16");
  EXPECT_NE(plan.Explain().find("class M <= 16: 16x64x128 w1x4 s4 split 2"), std::string::npos) << plan.Explain();
  EXPECT_NE(plan.Explain().find("class M > 256: wgmma"), std::string::npos) << plan.Explain();
  EXPECT_NE(plan.Explain().find("class M <= 256: wgmma 128x128x64 w2x4 s6 split 2"), std::string::npos)
      << plan.Explain();
  EXPECT_EQ(plan.num_kernels(), 1);  // launches per run
}

// The device's SM count sizes the splits: half the SMs, half the CTAs per tile.
TEST(ShapeClasses, TheSmCountSizesTheSplits) {
  CompileOptions o;
  o.sm_count = 66;
  const Plan plan = MustPlan(Gemm("\"M\""), o);
  const std::vector<ShapeClass>& classes = plan.fusion_plan().kernels[0].classes;
  ASSERT_GE(classes.size(), 3u) << plan.Explain();
  EXPECT_EQ(classes[0].gemm.ToString(), "16x64x128 w1x4 s4");  // 64 tiles fill 66 SMs
  EXPECT_EQ(classes[1].gemm.ToString(), "wgmma 64x128x64 w1x4 s8 split 2");  // 32 tiles x 2
  EXPECT_EQ(classes[2].gemm.ToString(), "wgmma 128x128x64 w2x4 s6 split 2");
}

// Past the narrow tiles, 128-row tiles of 192 or 256 columns where their waves leave less
// work in the busiest SM than the ping-pong kernel's 128 x 128 (ties to it); a symbolic M
// gets them as the classes up to 1024 (kDefaultMClasses) and the ping-pong kernel past.
TEST(ShapeClasses, WideTilesWhereTheyLeaveTheLeastWork) {
  const auto config = [](int64_t m, int64_t n) {
    const std::optional<GemmConfig> c = SmallMGemmConfig(m, n, 4096, /*hopper=*/true, 132);
    return c ? c->ToString() : std::string("ping-pong");
  };
  EXPECT_EQ(config(512, 6144), "wgmma 128x192x64 w2x4 s4");   // 128 tiles against 192 on 132 SMs
  EXPECT_EQ(config(1024, 6144), "ping-pong");                 // 3 waves of 128 columns = 2 of 192
  EXPECT_EQ(config(1024, 4096), "ping-pong");                 // 2 waves of 128 = 1 of 256: a tie
  EXPECT_EQ(config(4096, 4096), "ping-pong");
  EXPECT_EQ(config(512, 1000), "ping-pong");                  // 32 tiles: one wave
  EXPECT_EQ(SmallMGemmConfig(512, 6144, 4096, /*hopper=*/false, 132), std::nullopt);
  EXPECT_EQ(SmallMGemmConfig(512, 0, 4096, /*hopper=*/true, 132), std::nullopt);  // N unknown
  EXPECT_EQ(config(300, 6144), "wgmma 128x192x64 w2x4 s4");

  const Plan plan =
      MustPlan(absl::StrReplaceAll(Gemm("\"M\""), {{"[4096, 4096]", "[6144, 4096]"}, {"[4096]", "[6144]"}}));
  const std::vector<ShapeClass>& classes = plan.fusion_plan().kernels[0].classes;
  ASSERT_FALSE(classes.empty()) << plan.Explain();
  EXPECT_EQ(classes.back().max_m, 512) << plan.Explain();
  EXPECT_EQ(classes.back().gemm.ToString(), "wgmma 128x192x64 w2x4 s4");
  // 256: two bands of 32 wide tiles, K split in two, fill 128 SMs (128 x 128 tiles 96).
  EXPECT_EQ(classes[classes.size() - 2].max_m, 256);
  EXPECT_EQ(classes[classes.size() - 2].gemm.ToString(), "wgmma 128x192x64 w2x4 s4 split 2");
  EXPECT_NE(plan.Explain().find("class M <= 512: wgmma 128x192x64 w2x4 s4"), std::string::npos) << plan.Explain();
}

// fp8 GEMMs past 256 rows keep the ping-pong kernel where a bf16 one of the same shape
// takes the wide one-tile kernel (8192^3: 21 waves of 128 x 192 against 32 of 128 x 128).
TEST(ShapeClasses, Fp8GemmsKeepThePingPongKernelPastTheNarrowTiles) {
  // y = x @ w.T over [M, 8192] by [N, 8192]: bf16, or fp8 codes cast to bf16 (the fp8 GEMM).
  const auto gemm = [](const std::string& m, const std::string& n, bool f8) {
    const std::string casts = f8 ? R"({"name": "x", "op": "cast", "inputs": ["a"], "attrs": {"dtype": "bf16"}},
                {"name": "v", "op": "cast", "inputs": ["w"], "attrs": {"dtype": "bf16"}},)"
                                 : "";
    return absl::StrReplaceAll(R"({"name": "g", "inputs": [{"name": "A", "shape": [M, 8192], "dtype": "T"},
        {"name": "W", "shape": [N, 8192], "dtype": "T"}],
      "nodes": [CASTS {"name": "wt", "op": "transpose", "inputs": ["V"], "attrs": {"dim0": 0, "dim1": 1}},
                {"name": "y", "op": "matmul", "inputs": ["X", "wt"]}], "outputs": ["y"]})",
                               {{"[M,", absl::StrCat("[", m, ",")},
                                {"[N,", absl::StrCat("[", n, ",")},
                                {"\"T\"", f8 ? "\"f8e4m3\"" : "\"bf16\""},
                                {"CASTS", casts},
                                {"\"A\"", f8 ? "\"a\"" : "\"x\""},
                                {"\"W\"", f8 ? "\"w\"" : "\"v\""},
                                {"\"X\"", "\"x\""},
                                {"\"V\"", "\"v\""}});
  };
  const auto planned = [](const Plan& plan) { return plan.fusion_plan().kernels[0].spec.gemm.ToString(); };
  EXPECT_EQ(planned(MustPlan(gemm("8192", "8192", false))), "wgmma 128x192x64 w2x4 s4");
  const Plan f8 = MustPlan(gemm("8192", "8192", true));
  ASSERT_NE(f8.Explain().find("fp8 codes on wgmma"), std::string::npos) << f8.Explain();
  EXPECT_EQ(planned(f8), "wgmma 128x128x64 w2x4 s5");
  // Symbolic M: the bf16 GEMM's class at 512 (N = 6144) is wide, the fp8 one's is not.
  const Plan bf16_classes = MustPlan(gemm("\"M\"", "6144", false));
  const Plan f8_classes = MustPlan(gemm("\"M\"", "6144", true));
  EXPECT_EQ(bf16_classes.gemm_config_for(0, 512).ToString(), "wgmma 128x192x64 w2x4 s4") << bf16_classes.Explain();
  // (The fp8 plan's second kernel: past 128 rows, kernel 0 being the weight-only form.)
  ASSERT_EQ(f8_classes.fusion_plan().kernels.size(), 2u) << f8_classes.Explain();
  EXPECT_EQ(f8_classes.gemm_config_for(1, 512).ToString(), "wgmma 128x128x64 w2x4 s5") << f8_classes.Explain();
  EXPECT_EQ(f8_classes.gemm_config_for(1, 8192).ToString(), "wgmma 128x128x64 w2x4 s5") << f8_classes.Explain();
}

// Between 17 and 256 rows: the most CTAs up to one per SM, narrow tiles split up to 3
// ways first; 192- or 256-column tiles split up to 2 ways only where they fill more.
TEST(ShapeClasses, MidMTilesFillTheSms) {
  const auto config = [](int64_t m, int64_t n, int64_t k) {
    const std::optional<GemmConfig> c = SmallMGemmConfig(m, n, k, /*hopper=*/true, 132);
    if (c) TF_EXPECT_OK(ValidateGemmConfig(*c));
    return c ? c->ToString() : std::string("ping-pong");
  };
  EXPECT_EQ(config(64, 6144, 4096), "wgmma 64x128x64 w1x4 s8 split 2");    // 96; 32 x 2 wide: 64
  EXPECT_EQ(config(256, 6144, 4096), "wgmma 128x192x64 w2x4 s4 split 2");  // 64 x 2 against 96
  EXPECT_EQ(config(64, 28672, 4096), "wgmma 64x256x64 w1x4 s4");           // 112; 128 columns: 224
  EXPECT_EQ(config(40, 1000, 4096), "wgmma 64x64x64 w1x4 s8 split 2");     // 16 x 2; no split past 3
  EXPECT_EQ(config(64, 4096, 4096), "wgmma 64x64x64 w1x4 s8 split 2");
  EXPECT_EQ(config(128, 4096, 14336), "wgmma 128x64x64 w2x4 s8 split 2");
  // Past one CTA per SM: the least work in the busiest SM, ties to the widest tile at two
  // row bands (448 tiles of 128 columns, 4 waves of 128, against 224 of 256, 2 of 256)
  // and to the ping-pong kernel past them.
  EXPECT_EQ(config(256, 28672, 4096), "wgmma 128x256x64 w2x4 s4");
  EXPECT_EQ(config(1024, 4096, 14336), "ping-pong");      // 256 tiles of 128, 128 of 256
}

// The GPU dtype tests' long-K graphs reach split-K in both kernels through the classes, so
// that running them at the class bounds covers the splits.
TEST(ShapeClasses, TheGpuTestsLongKGraphsSplitInBothKernels) {
  int checked = 0;
  for (const TestGraph& t : GemmDtypeTestGraphs()) {
    if (t.name.find("_k4104_") == std::string::npos) continue;
    SCOPED_TRACE(t.name);
    const Plan plan = MustPlan(t.json);
    const std::vector<ShapeClass>& classes = plan.fusion_plan().kernels[0].classes;
    // Every tile of the Hopper kernel's small-M classes, split in two.
    ASSERT_EQ(classes.size(), 4u) << plan.Explain();
    EXPECT_EQ(classes[0].gemm.ToString(), "16x64x128 w1x4 s4 split 8");
    EXPECT_EQ(classes[1].gemm.ToString(), "wgmma 64x64x64 w1x4 s12 split 2");
    EXPECT_EQ(classes[2].gemm.ToString(), "wgmma 64x64x64 w1x4 s8 split 2");
    EXPECT_EQ(classes[3].max_m, 256);
    EXPECT_EQ(classes[3].gemm.ToString(), "wgmma 128x64x64 w2x4 s8 split 2");
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

TEST(ShapeClasses, RunPicksTheClassAtItsBounds) {
  const Plan plan = MustPlan(Gemm("\"M\""));
  const auto entry = [&](int64_t m) { return plan.compiled_kernel_for(0, m).entry_name(); };
  EXPECT_EQ(entry(1), entry(16));
  EXPECT_NE(entry(16), entry(17));
  EXPECT_EQ(entry(17), entry(32));
  EXPECT_NE(entry(32), entry(33));
  EXPECT_EQ(entry(33), entry(64));
  EXPECT_NE(entry(64), entry(65));
  EXPECT_EQ(entry(65), entry(128));
  EXPECT_NE(entry(128), entry(129));
  EXPECT_EQ(entry(129), entry(256));
  EXPECT_NE(entry(256), entry(257));
  EXPECT_EQ(entry(257), plan.compiled_kernel(0).entry_name());
  EXPECT_EQ(entry(100000), plan.compiled_kernel(0).entry_name());
  // The config of the binary that runs: the class's, past the classes the kernel's.
  const KernelPlan& k = plan.fusion_plan().kernels[0];
  EXPECT_EQ(plan.gemm_config_for(0, 16).ToString(), k.classes.front().gemm.ToString());
  EXPECT_EQ(plan.gemm_config_for(0, 256).ToString(), k.classes.back().gemm.ToString());
  EXPECT_EQ(plan.gemm_config_for(0, 257).ToString(), k.spec.gemm.ToString());
}

TEST(ShapeClasses, NoneWhereOneKernelServesEveryM) {
  EXPECT_TRUE(MustPlan(Gemm("16")).fusion_plan().kernels[0].classes.empty());   // M static
  EXPECT_TRUE(MustPlan(Gemm("\"M\"", true)).fusion_plan().kernels[0].classes.empty());  // a row sum
  CompileOptions none;
  none.m_classes.clear();
  EXPECT_TRUE(MustPlan(Gemm("\"M\""), none).fusion_plan().kernels[0].classes.empty());
  CompileOptions forced;
  forced.gemm_config = WgmmaGemmConfig(4);
  EXPECT_TRUE(MustPlan(Gemm("\"M\""), forced).fusion_plan().kernels[0].classes.empty());
}

TEST(ShapeClasses, AnEnginesBoundsMergeWhereTheConfigIsTheSame) {
  CompileOptions o;
  o.m_classes = {1, 2, 4, 8, 16, 32, 48, 64, 128, 4096};
  const Plan plan = MustPlan(Gemm("\"M\""), o);
  const std::vector<ShapeClass>& classes = plan.fusion_plan().kernels[0].classes;
  // 1 to 16 share the decode config, 48 and 64 theirs; 4096 takes the planned one.
  ASSERT_EQ(classes.size(), 4u) << plan.Explain();
  EXPECT_EQ(classes[0].max_m, 16);
  EXPECT_EQ(classes[1].max_m, 32);
  EXPECT_EQ(classes[2].max_m, 64);
  EXPECT_EQ(classes[2].gemm.ToString(), "wgmma 64x64x64 w1x4 s8 split 2");
  EXPECT_EQ(classes[3].max_m, 128);
}

// Each class has a tuning record of its own, keyed by its bound (a static M shares the key
// of the class that holds it): recorded configs replace the defaults, neighbours that come
// out the same merge, and the decisions say so.
TEST(ShapeClasses, EachClassTakesItsOwnTuningRecord) {
  const Plan planned = MustPlan(Gemm("\"M\""));
  const KernelPlan& k = planned.fusion_plan().kernels[0];
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(Gemm("\"M\"")));
  TF_ASSERT_OK_AND_ASSIGN(Graph g20, GraphFromJson(Gemm("20")));
  EXPECT_EQ(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 32), GemmTuningKey(g20, k.tile_node, k.spec, "sm_90"));
  EXPECT_NE(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 16), GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 32));
  EXPECT_NE(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 16).find(" m=16 "), std::string::npos);

  const GemmConfig decode{16, 32, 128, 1, 2, 6, false, 4};
  GemmConfig hopper = WgmmaGemmConfig(4);
  hopper.split_k = 3;
  TuningRecords r;
  r.Put(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 16), TuningRecord{decode, 2.0});
  r.Put(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 32), TuningRecord{decode, 3.0});
  r.Put(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 256), TuningRecord{hopper, 9.0});
  const std::string path = absl::StrCat(::testing::TempDir(), "/tuning_classes_", ::getpid(), ".json");
  TF_ASSERT_OK(r.Save(path));
  CompileOptions o;
  o.tuning_path = path;
  const Plan plan = MustPlan(Gemm("\"M\""), o);
  const std::vector<ShapeClass>& classes = plan.fusion_plan().kernels[0].classes;
  ASSERT_EQ(classes.size(), 4u) << plan.Explain();
  EXPECT_EQ(classes[0].max_m, 32);  // 16 and 32 recorded alike: one binary
  EXPECT_EQ(classes[0].gemm.ToString(), decode.ToString());
  EXPECT_EQ(classes[1].max_m, 64);  // no record: the defaults
  EXPECT_EQ(classes[2].max_m, 128);
  EXPECT_EQ(classes[3].max_m, 256);
  EXPECT_EQ(classes[3].gemm.ToString(), hopper.ToString());
  EXPECT_NE(plan.Explain().find("tuned: 'y' class M <= 16 uses 16x32x128 w1x2 s6 split 4 (recorded, 2 us)"),
            std::string::npos)
      << plan.Explain();
  EXPECT_EQ(plan.fusion_plan().kernels[0].spec.gemm.ToString(), WgmmaGemmConfig().ToString());  // no record: planned
}

// The Hopper kernel splits K over a cluster of 2 to 8 CTAs per tile (one tile per CTA, no
// partial buffers): the config reaches the fused kernel, which NVRTC compiles.
TEST(HopperSplitK, ForcedSplitsCompileAsClusters) {
  for (int split : {2, 3, 8}) {
    SCOPED_TRACE(split);
    CompileOptions o;
    o.gemm_config = WgmmaGemmConfig(3);
    o.gemm_config->split_k = split;
    const Plan plan = MustCompile(Gemm("\"M\""), o);
    const KernelSpec& spec = plan.fusion_plan().kernels[0].spec;
    ASSERT_TRUE(spec.gemm.wgmma);
    EXPECT_EQ(spec.gemm.split_k, split);
    EXPECT_TRUE(GemmClusterSplit(spec));
    EXPECT_FALSE(GemmLaunchOf(spec).pingpong);
    EXPECT_NE(SpecText(spec).find("silu"), std::string::npos);  // the epilogue is kept
    TF_ASSERT_OK_AND_ASSIGN(std::string source, GenerateSource(spec, "k"));
    EXPECT_NE(source.find(absl::StrCat("__cluster_dims__(", split, ", 1, 1)")), std::string::npos);
    EXPECT_NE(source.find(absl::StrCat("kSplitK = ", split, ";")), std::string::npos);
  }
  GemmConfig nine = WgmmaGemmConfig(3);
  nine.split_k = 9;
  EXPECT_FALSE(ValidateGemmConfig(nine).ok());
}

// The ping-pong kernel in clusters of two sharing B tiles (GemmConfig::multicast), forced:
// a cluster of 2 in the entry and half-tile B boxes, a signature of its own, the row sum
// along the tile's rows kept; a dual GEMM (two B maps of half tiles) takes no clusters; the
// rules refuse it off 128 x 128 unsplit tiles and off the Hopper kernel. NVRTC builds it.
TEST(HopperMulticast, PairsCompileAsClustersWhereThePingPongKernelRuns) {
  for (bool rowsum : {false, true}) {
    CompileOptions o;
    o.gemm_config = MulticastGemmConfig();
    const Plan plan = MustCompile(Gemm("\"M\"", rowsum), o);
    const KernelSpec& spec = plan.fusion_plan().kernels[0].spec;
    ASSERT_TRUE(GemmLaunchOf(spec).pingpong) << plan.Explain();
    EXPECT_EQ(GemmLaunchOf(spec).multicast, 2);
    EXPECT_NE(SpecText(spec).find("multicast 2"), std::string::npos);
    EXPECT_EQ(rowsum, spec.reduce.op >= 0);
    TF_ASSERT_OK_AND_ASSIGN(std::string source, GenerateSource(spec, "k"));
    EXPECT_NE(source.find("__cluster_dims__(2, 1, 1)"), std::string::npos);
    EXPECT_NE(source.find("kMulticast = 2;"), std::string::npos);
  }
  CompileOptions o;
  o.gemm_config = MulticastGemmConfig();
  const Plan dual = MustCompile(NamedTestGraph("wgmma_dual_swiglu").json, o);
  const KernelSpec& spec = dual.fusion_plan().kernels.back().spec;
  ASSERT_TRUE(spec.gemm.wgmma && spec.dual) << dual.Explain();
  EXPECT_EQ(GemmLaunchOf(spec).multicast, 1);
  TF_ASSERT_OK_AND_ASSIGN(std::string source, GenerateSource(spec, "k"));
  EXPECT_EQ(source.find("__cluster_dims__(2, 1, 1)"), std::string::npos);
  EXPECT_NE(source.find("kMulticast = 1;"), std::string::npos);

  GemmConfig narrow = WgmmaGemmConfig(8, 128, 64), split = MulticastGemmConfig(), three = MulticastGemmConfig(),
             mma;
  narrow.multicast = 2;
  split.split_k = 2;
  three.multicast = 3;
  mma.multicast = 2;
  for (const GemmConfig& bad : {narrow, split, three, mma}) {
    EXPECT_FALSE(ValidateGemmConfig(bad).ok()) << bad.ToString();
  }
  TF_EXPECT_OK(ValidateGemmConfig(MulticastGemmConfig()));
}

// The Hopper kernel's tile walk (GemmConfig::group): the generated hooks carry it (8 by
// default), the signature tells configs apart, NVRTC compiles the ping-pong and one-tile
// forms with it; groups past 64 rows, below 0 or on the mma.sync kernel are refused.
TEST(HopperTiles, TileWalkGroupsReachTheKernel) {
  GemmConfig wide = WgmmaGemmConfig(5, 128, 192);
  wide.group = 3;
  GemmConfig rows = WgmmaGemmConfig(5);
  rows.group = 1;
  std::set<std::string> signatures;
  for (const GemmConfig& c : {WgmmaGemmConfig(5), rows, wide}) {
    SCOPED_TRACE(c.ToString());
    TF_ASSERT_OK(ValidateGemmConfig(c));
    CompileOptions o;
    o.gemm_config = c;
    const Plan plan = MustCompile(Gemm("\"M\""), o);
    const KernelSpec& spec = plan.fusion_plan().kernels[0].spec;
    ASSERT_EQ(spec.gemm.ToString(), c.ToString());
    EXPECT_EQ(GemmLaunchOf(spec).pingpong, c.bn == 128);
    TF_ASSERT_OK_AND_ASSIGN(std::string source, GenerateSource(spec, "k"));
    EXPECT_NE(source.find(absl::StrCat("kGroup = ", c.Group(), ";")), std::string::npos);
    signatures.insert(SpecText(spec));
  }
  EXPECT_EQ(signatures.size(), 3u);
  GemmConfig eight = WgmmaGemmConfig(5);
  eight.group = 8;
  EXPECT_EQ(eight.ToString(), WgmmaGemmConfig(5).ToString());  // the default, one signature
  GemmConfig deep = WgmmaGemmConfig(5), negative = WgmmaGemmConfig(5), mma, skinny{16, 64, 128, 1, 4, 4};
  deep.group = 65;
  negative.group = -1;
  mma.group = 4;
  skinny.skinny = true;
  TF_EXPECT_OK(ValidateGemmConfig(skinny));
  skinny.group = 4;
  for (const GemmConfig& bad : {deep, negative, mma, skinny}) {
    EXPECT_FALSE(ValidateGemmConfig(bad).ok()) << bad.ToString();
  }
}

// Tiles of 64 or 128 rows by 64 to 256 columns: a consumer warpgroup
// per 64 rows, m64nBN wgmma, deep pipelines; with and without an A prologue (whose producer warpgroup fills
// a 64-row A tile in one batch), split and not. NVRTC compiles each.
TEST(HopperTiles, NarrowTilesCompileWithTheirLaunch) {
  const TestGraph& prologue = NamedTestGraph("wgmma_cast_prologue");
  for (const auto& [stages, bm, bn, split] : std::vector<std::array<int, 4>>{
           {8, 64, 64, 1}, {12, 64, 64, 2}, {8, 128, 64, 3}, {6, 64, 128, 1}, {5, 128, 192, 1}, {4, 128, 192, 2},
           {4, 128, 256, 1}, {5, 64, 192, 4}, {4, 64, 256, 2}}) {
    GemmConfig c = WgmmaGemmConfig(stages, bm, bn);
    c.split_k = split;
    SCOPED_TRACE(c.ToString());
    TF_ASSERT_OK(ValidateGemmConfig(c));
    for (const std::string& json : {Gemm("\"M\""), prologue.json}) {
      CompileOptions o;
      o.gemm_config = c;
      const Plan plan = MustCompile(json, o);
      const KernelSpec& spec = plan.fusion_plan().kernels.back().spec;
      ASSERT_EQ(spec.gemm.ToString(), c.ToString());
      const GemmLaunch launch = GemmLaunchOf(spec);
      EXPECT_FALSE(launch.pingpong);
      EXPECT_EQ(launch.threads, 128 * (bm / 64) + (spec.a_async >= 0 ? 32 : 128));
      TF_ASSERT_OK_AND_ASSIGN(std::string source, GenerateSource(spec, "k"));
      EXPECT_NE(source.find(absl::StrCat("kBM = ", bm, ", kBN = ", bn, ", kStages = ", stages)), std::string::npos);
    }
  }
  EXPECT_FALSE(ValidateGemmConfig(WgmmaGemmConfig(4, 96, 128)).ok());
  EXPECT_FALSE(ValidateGemmConfig(WgmmaGemmConfig(4, 128, 320)).ok());
  EXPECT_FALSE(ValidateGemmConfig(WgmmaGemmConfig(16, 128, 128)).ok());  // 512 KiB of stages
}

// 64-row Hopper tiles whose stages hold 16 rows of A (GemmConfig::a_rows): forced, they
// serve M <= 16 only (a class of a symbolic M, a static M up to 16), with and without an
// A prologue; NVRTC compiles each; the pipeline's bytes count 16-row A stages.
TEST(HopperTiles, SixteenRowAStagesServeSixteenRowsOnly) {
  const TestGraph& prologue = NamedTestGraph("wgmma_cast_prologue");
  for (const auto& [stages, bn, split] : std::vector<std::array<int, 3>>{{8, 128, 1}, {12, 128, 2}, {16, 64, 1}, {10, 64, 4}}) {
    GemmConfig c = WgmmaGemmConfig(stages, 64, bn);
    c.split_k = split;
    c.a_rows = 16;
    SCOPED_TRACE(c.ToString());
    TF_ASSERT_OK(ValidateGemmConfig(c));
    EXPECT_EQ(c.SmemBytes(), 1024 + stages * (16 + bn) * 128 + 48 * 128 + 16 * stages);
    for (const std::string& json : {Gemm("\"M\""), prologue.json}) {
      CompileOptions o;
      o.gemm_config = c;
      const Plan plan = MustCompile(json, o);
      const KernelPlan& k = plan.fusion_plan().kernels.back();
      ASSERT_EQ(k.classes.size(), 1u) << plan.Explain();
      EXPECT_EQ(k.classes[0].max_m, 16);
      EXPECT_EQ(k.classes[0].gemm.ToString(), c.ToString());
      EXPECT_EQ(k.spec.gemm.a_rows, 0);  // past 16 rows: the planned config
      KernelSpec spec = k.spec;
      spec.gemm = c;
      TF_ASSERT_OK_AND_ASSIGN(std::string source, GenerateSource(spec, "k"));
      EXPECT_NE(source.find(absl::StrCat("kStages = ", stages, ", kSplitK = ", split, ";")), std::string::npos);
      EXPECT_NE(source.find("kARows = 16;"), std::string::npos);
    }
    CompileOptions o;
    o.gemm_config = c;
    EXPECT_EQ(MustCompile(Gemm("16"), o).fusion_plan().kernels[0].spec.gemm.ToString(), c.ToString());
    EXPECT_EQ(MustCompile(Gemm("17"), o).fusion_plan().kernels[0].spec.gemm.a_rows, 0);
  }
  GemmConfig wide = WgmmaGemmConfig(4, 128, 128);
  wide.a_rows = 16;
  EXPECT_FALSE(ValidateGemmConfig(wide).ok());
  GemmConfig odd = WgmmaGemmConfig(8, 64, 128);
  odd.a_rows = 32;
  EXPECT_FALSE(ValidateGemmConfig(odd).ok());
  GemmConfig mma{16, 64, 128, 1, 4, 4};
  mma.a_rows = 16;
  EXPECT_FALSE(ValidateGemmConfig(mma).ok());
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
  EXPECT_EQ(disk.stats().writes, 6);
  KernelCache fresh;
  o.cache = &fresh;
  const Plan warm = MustCompile(Gemm("\"M\""), o);
  for (const KernelReport& r : warm.reports()) EXPECT_TRUE(r.disk_hit) << r.entry_name;
}

}  // namespace
}  // namespace tilefuse::internal
