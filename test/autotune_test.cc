// GEMM tuning records on the CPU: persistence, corruption, and a recorded config reaching
// the fused kernel. (Timing candidates needs a GPU: gpu_plans_test.)
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "codegen/generate.h"
#include "codegen/params.h"
#include "runtime/autotune.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "test/sanitizer.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {
namespace {

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
  // A foreign or corrupt file, a malformed record, a config no kernel can run: left out
  // and described, never an error (records only pick among configs).
  for (const char* text : {"{\"version\": 99}", "{\"version\": \"1\", \"records\": {}}", "[1, 2", ""}) {
    std::ofstream(path) << text;
    TF_ASSERT_OK_AND_ASSIGN(TuningRecords foreign, TuningRecords::Load(path));
    EXPECT_EQ(foreign.size(), 0u);
    ASSERT_EQ(foreign.problems().size(), 1u) << text;
    EXPECT_NE(foreign.problems()[0].find("not a version 1"), std::string::npos) << foreign.problems()[0];
  }
  std::ofstream(path) << R"({"version": 1, "records": {"k": {"config": {}},
    "zero": {"us": 1, "config": {"bm": 0, "bn": 128, "bk": 32, "warps_m": 2, "warps_n": 4, "stages": 4, "wgmma": false}},
    "row": {"us": 1, "row": {"threads": 100, "row_threads": 7, "vecs": 2}},
    "good": {"us": 2, "config": {"bm": 64, "bn": 128, "bk": 32, "warps_m": 2, "warps_n": 2, "stages": 4, "wgmma": false}}}})";
  TF_ASSERT_OK_AND_ASSIGN(TuningRecords mixed, TuningRecords::Load(path));
  EXPECT_EQ(mixed.size(), 1u);
  EXPECT_TRUE(mixed.Find("good").has_value());
  ASSERT_EQ(mixed.problems().size(), 3u);
  EXPECT_NE(mixed.problems()[0].find("entry 'k' is malformed (no 'us' number)"), std::string::npos) << mixed.problems()[0];
  EXPECT_NE(mixed.problems()[1].find("entry 'row' is malformed (row config"), std::string::npos) << mixed.problems()[1];
  EXPECT_NE(mixed.problems()[2].find("entry 'zero' is malformed (GEMM config 0x128x32"), std::string::npos)
      << mixed.problems()[2];
}

TEST(TuningRecords, EveryCandidateAndDefaultConfigIsValid) {
  for (const Dim& m : {Dim::Static(1), Dim::Static(16), Dim::Static(64), Dim::Static(256), Dim::Static(4096), Dim::Sym(0)}) {
    TF_EXPECT_OK(ValidateGemmConfig(DefaultGemmConfig(m)));
    for (const GemmConfig& c : GemmCandidates(m)) TF_EXPECT_OK(ValidateGemmConfig(c));
  }
  for (int stages : {3, 4, 5}) TF_EXPECT_OK(ValidateGemmConfig(WgmmaGemmConfig(stages)));
  for (int64_t width : {64, 700, 4096, 16384, 16385, 128256}) {
    for (int vec : {4, 8}) {
      for (const RowConfig& c : RowCandidates(width, vec)) TF_EXPECT_OK(ValidateRowConfig(c));
    }
  }
}

// A corrupt tuning file slows nothing down but a tune: every GEMM and row-wise graph still
// compiles, and the plan says what was ignored.
TEST(TuningRecords, CorruptFileDoesNotBreakCompiles) {
  const std::string path = ::testing::TempDir() + "/tuning_corrupt.json";
  std::ofstream(path) << "{\"version\": 1, \"records\": {\"x\": 5}";
  for (const char* name : {"gemm_bias_gelu", "wgmma_bias_gelu"}) {
    TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(NamedTestGraph(name).json));
    CompileOptions o;
    o.arch = "sm_90";
    o.tuning_path = path;
    o.check_only = true;  // what the plan says: NVRTC's front end is enough
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
    EXPECT_NE(plan.Explain().find("tuning records '" + path + "' are not a version 1"), std::string::npos)
        << plan.Explain();
  }
  CompileOptions forced;
  forced.arch = "sm_90";
  forced.gemm_config = GemmConfig{0, 128, 32, 2, 4, 4};
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(NamedTestGraph("gemm_bias_gelu").json));
  EXPECT_TRUE(StatusIs(Compile(g, forced), absl::StatusCode::kInvalidArgument, "GEMM config 0x128x32"));
}

TEST(TuningRecords, RecordedConfigReachesTheFusedKernel) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(NamedTestGraph("gemm_bias_gelu").json));
  CompileOptions o;
  o.arch = "sm_90";
  o.check_only = true;  // what the plan says: NVRTC's front end is enough
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

// A record of 16-row A stages (GemmConfig::a_rows) round-trips and serves the class of
// M <= 16 it was made for, never a larger one (whose runs would have rows it never loads).
TEST(TuningRecords, SixteenRowARecordsServeOnlySixteenRows) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(NamedTestGraph("wgmma_bias_gelu").json));
  CompileOptions o;
  o.arch = "sm_90";
  o.check_only = true;  // what the plan says: NVRTC's front end is enough
  o.m_classes = std::vector<int64_t>{16, 32};
  TF_ASSERT_OK_AND_ASSIGN(Plan first, Compile(g, o));
  const KernelPlan& k = first.fusion_plan().kernels[0];
  ASSERT_EQ(k.classes.size(), 2u) << first.Explain();
  GemmConfig a16 = WgmmaGemmConfig(12, 64, 64);
  a16.split_k = 2;
  a16.a_rows = 16;
  TuningRecords r;
  r.Put(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 16), TuningRecord{a16, 1.0});
  r.Put(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 32), TuningRecord{a16, 1.0});
  const std::string path = ::testing::TempDir() + "/tuning_a16.json";
  TF_ASSERT_OK(r.Save(path));
  TF_ASSERT_OK_AND_ASSIGN(TuningRecords back, TuningRecords::Load(path));
  ASSERT_TRUE(back.Find(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 16)).has_value());
  EXPECT_EQ(back.Find(GemmTuningKey(g, k.tile_node, k.spec, "sm_90", 16))->config.ToString(), a16.ToString());
  o.tuning_path = path;
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
  const std::vector<ShapeClass>& classes = plan.fusion_plan().kernels[0].classes;
  ASSERT_EQ(classes.size(), 2u) << plan.Explain();
  EXPECT_EQ(classes[0].gemm.ToString(), a16.ToString());
  EXPECT_EQ(classes[1].gemm.a_rows, 0) << plan.Explain();
}

// Records of the multicast ping-pong config (GemmConfig::multicast) and of a tile walk
// group (GemmConfig::group) round-trip and are planned as recorded.
TEST(TuningRecords, MulticastAndGroupRecordsRoundTrip) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(NamedTestGraph("wgmma_bias_gelu").json));
  GemmConfig grouped = WgmmaGemmConfig(5);
  grouped.group = 3;
  EXPECT_EQ(grouped.ToString(), "wgmma 128x128x64 w2x4 s5 group 3");
  for (const GemmConfig& c : {MulticastGemmConfig(), grouped}) {
    CompileOptions o;
    o.arch = "sm_90";
    o.check_only = true;
    TF_ASSERT_OK_AND_ASSIGN(Plan first, Compile(g, o));
    const KernelPlan& k = first.fusion_plan().kernels[0];
    TuningRecords r;
    r.Put(GemmTuningKey(g, k.tile_node, k.spec, "sm_90"), TuningRecord{c, 1.0});
    const std::string path = ::testing::TempDir() + "/tuning_multicast.json";
    TF_ASSERT_OK(r.Save(path));
    TF_ASSERT_OK_AND_ASSIGN(TuningRecords back, TuningRecords::Load(path));
    const auto found = back.Find(GemmTuningKey(g, k.tile_node, k.spec, "sm_90"));
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->config.multicast, c.multicast);
    EXPECT_EQ(found->config.group, c.group);
    o.tuning_path = path;
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
    EXPECT_EQ(plan.fusion_plan().kernels[0].spec.gemm.ToString(), c.ToString()) << plan.Explain();
  }
}

// Split-K configs: recorded and read back; every decode candidate that splits K reaches
// the fused kernel (its partials in the parameter block) and compiles; a GEMM with a
// store-site reduction keeps one CTA per tile whatever it is given.
TEST(GemmSplitK, CandidatesRoundTripCompileAndStayOffReductions) {
  GemmConfig split{16, 32, 128, 1, 2, 6};
  split.split_k = 4;
  EXPECT_EQ(split.ToString(), "16x32x128 w1x2 s6 split 4");
  const std::string path = ::testing::TempDir() + "/tuning_split.json";
  TuningRecords r;
  r.Put("decode", TuningRecord{split, 3.0});
  TF_ASSERT_OK(r.Save(path));
  TF_ASSERT_OK_AND_ASSIGN(TuningRecords back, TuningRecords::Load(path));
  ASSERT_TRUE(back.Find("decode").has_value());
  EXPECT_EQ(back.Find("decode")->config.split_k, 4);

  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(NamedTestGraph("gemm_decode_bias_silu").json));
  int splits = 0;
  for (const GemmConfig& c : GemmCandidates(Dim::Static(16))) {
    if (c.split_k == 1 || (kUnderSanitizer && splits > 0)) continue;  // NVRTC-bound: a sample there
    ++splits;
    // sm_90: the splits of a tile are one cluster (no partial buffers); sm_80: the
    // partials go through global memory.
    for (const char* arch : {"sm_90", "sm_80"}) {
      SCOPED_TRACE(absl::StrCat(c.ToString(), " ", arch));
      CompileOptions o;
      o.arch = arch;
      o.gemm_config = c;
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
      const KernelSpec& spec = plan.fusion_plan().kernels[0].spec;
      EXPECT_EQ(spec.gemm.split_k, c.split_k);
      EXPECT_NE(SpecText(spec).find("silu"), std::string::npos);  // the epilogue is kept
      const bool cluster = std::string(arch) == "sm_90";
      EXPECT_EQ(GemmClusterSplit(spec), cluster);
      const std::vector<ParamField> layout = ParamLayout(spec);
      EXPECT_EQ(std::any_of(layout.begin(), layout.end(), [](const ParamField& f) { return f.kind == ParamField::kSplitK; }),
                !cluster);
      TF_ASSERT_OK_AND_ASSIGN(std::string source, GenerateSource(spec, "k"));
      EXPECT_EQ(source.find(absl::StrCat("__cluster_dims__(", c.split_k, ", 1, 1)")) != std::string::npos, cluster);
    }
  }
  EXPECT_GE(splits, kUnderSanitizer ? 1 : 3);

  const TestGraph* reduced = &NamedTestGraph("gemm_bias_gelu_rowsum_split");
  ASSERT_NE(reduced, nullptr);
  TF_ASSERT_OK_AND_ASSIGN(Graph rg, GraphFromJson(reduced->json));
  CompileOptions o;
  o.arch = "sm_90";
  o.gemm_config = split;
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(rg, o));
  EXPECT_EQ(plan.fusion_plan().kernels[0].spec.gemm.split_k, 1);
  EXPECT_GE(plan.fusion_plan().kernels[0].spec.reduce.op, 0);
}

TEST(RowTuning, CandidatesCoverTheWidthWithinTheRegisterBudget) {
  for (const auto& [width, vec] :
       std::vector<std::pair<int64_t, int>>{{4096, 8}, {1000, 4}, {16384, 8}, {37, 8}, {16385, 8}, {128256, 4}}) {
    SCOPED_TRACE(width);
    const std::vector<RowConfig> c = RowCandidates(width, vec);
    ASSERT_FALSE(c.empty());
    // Rows a config holds are held; wider ones are walked in chunks (and only those), the
    // default config first.
    if (width > kMaxRowWidth) EXPECT_EQ(c.front().ToString(), ChooseRowConfig(Dim::Static(width), vec)->ToString());
    for (const RowConfig& r : c) {
      EXPECT_TRUE(RowCovers(r, vec, width));
      EXPECT_EQ(r.chunked, width > kMaxRowWidth);
      EXPECT_LE(r.vecs, 8);
      EXPECT_EQ(r.threads % r.row_threads, 0);
      EXPECT_TRUE(r.loop == 1 || r.loop == 2 || r.loop == 4 || r.loop == 8);
    }
  }
  // 64 x 8, 128 x 4, 256 x 2, 512 x 1, and each looping over 2, 4 or 8 row groups.
  EXPECT_EQ(RowCandidates(4096, 8).size(), 16u);
}

// A forced config reaches the fused kernel, which still compiles; one that cannot cover
// the row is refused with the node's name; a recorded one is used and said.
TEST(RowTuning, ForcedAndRecordedConfigsReachTheFusedKernel) {
  const std::string json = R"({"name": "rms_sum", "inputs": [{"name": "x", "shape": ["M", 4096], "dtype": "bf16"},
      {"name": "w", "shape": [4096], "dtype": "bf16"}],
    "nodes": [{"name": "y", "op": "rms_norm", "inputs": ["x", "w"]},
              {"name": "s", "op": "sum", "inputs": ["y"], "attrs": {"dim": 1}}], "outputs": ["s"]})";
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(json));
  CompileOptions o;
  o.arch = "sm_90";
  TF_ASSERT_OK_AND_ASSIGN(Plan planned, Compile(g, o));
  const KernelSpec default_spec = planned.fusion_plan().kernels[0].spec;
  EXPECT_EQ(default_spec.row.row_threads, 256);
  o.row_config = RowConfig{256, 128, 4};
  TF_ASSERT_OK_AND_ASSIGN(Plan forced, Compile(g, o));
  EXPECT_EQ(forced.fusion_plan().kernels[0].spec.row.row_threads, 128);
  EXPECT_EQ(forced.fusion_plan().kernels[0].spec.reduce.op, 0);  // the fusion is kept
  o.row_config = RowConfig{256, 128, 2};  // 128 x 2 x 8 = 2048 columns < 4096
  EXPECT_TRUE(StatusIs(Compile(g, o).status(), absl::StatusCode::kInvalidArgument, "cannot run 'y'"));
  o.row_config.reset();
  TuningRecords r;
  r.Put(RowTuningKey(default_spec, "sm_90"), TuningRecord{GemmConfig{}, 2.5, RowConfig{256, 64, 8}});
  const std::string path = ::testing::TempDir() + "/tuning_rows.json";
  TF_ASSERT_OK(r.Save(path));
  o.tuning_path = path;
  TF_ASSERT_OK_AND_ASSIGN(Plan recorded, Compile(g, o));
  EXPECT_EQ(recorded.fusion_plan().kernels[0].spec.row.row_threads, 64);
  EXPECT_EQ(recorded.fusion_plan().kernels[0].spec.row.vecs, 8);
  EXPECT_NE(recorded.Explain().find("uses row config 64x8 (recorded, 2.5 us)"), std::string::npos)
      << recorded.Explain();
  // The built-in tile holds its rows: a chunked config is refused for it.
  o.tuning_path.clear();
  o.row_config = ChunkedRowConfig();
  EXPECT_TRUE(StatusIs(Compile(g, o).status(), absl::StatusCode::kInvalidArgument, "walk rows in chunks"));
}

// A softmax over a vocabulary is one generated row kernel walking its rows in chunks (its
// reductions were reduce kernels of their own); a chunked config may also be forced on a
// narrow generated row kernel, and a recorded one round-trips through the tuning file.
TEST(RowTuning, WideRowsRunChunkedAndChunkedConfigsAreRecorded) {
  const std::string json = R"({"name": "vocab", "inputs": [{"name": "x", "shape": ["M", 128256], "dtype": "bf16"}],
    "nodes": [{"name": "p", "op": "softmax", "inputs": ["x"]}], "outputs": ["p"]})";
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(json));
  CompileOptions o;
  o.arch = "sm_90";
  o.check_only = true;
  TF_ASSERT_OK_AND_ASSIGN(Plan planned, Compile(g, o));
  ASSERT_EQ(planned.fusion_plan().kernels.size(), 1u);
  const KernelSpec spec = planned.fusion_plan().kernels[0].spec;
  EXPECT_EQ(spec.tile, "row");
  EXPECT_EQ(spec.row.ToString(), ChunkedRowConfig().ToString());
  EXPECT_NE(spec.row.ToString().find("chunked"), std::string::npos);
  TuningRecords r;
  r.Put(RowTuningKey(spec, "sm_90"), TuningRecord{GemmConfig{}, 250.0, RowConfig{1024, 1024, 2, 1, true}});
  const std::string path = ::testing::TempDir() + "/tuning_chunked.json";
  TF_ASSERT_OK(r.Save(path));
  TF_ASSERT_OK_AND_ASSIGN(TuningRecords loaded, TuningRecords::Load(path));
  ASSERT_TRUE(loaded.Find(RowTuningKey(spec, "sm_90")).has_value());
  EXPECT_TRUE(loaded.Find(RowTuningKey(spec, "sm_90"))->row->chunked);
  o.tuning_path = path;
  TF_ASSERT_OK_AND_ASSIGN(Plan recorded, Compile(g, o));
  EXPECT_NE(recorded.Explain().find("uses row config 1024x2 chunked (recorded"), std::string::npos)
      << recorded.Explain();
  // A held config cannot run rows this wide; a chunked one runs a narrow generated kernel.
  o.tuning_path.clear();
  o.row_config = RowConfig{512, 512, 4};
  EXPECT_TRUE(StatusIs(Compile(g, o).status(), absl::StatusCode::kInvalidArgument, "cannot run"));
  TF_ASSERT_OK_AND_ASSIGN(Graph ng, GraphFromJson(NamedTestGraph("norms_without_affine").json));
  o.row_config = RowConfig{256, 256, 1, 1, true};
  TF_ASSERT_OK_AND_ASSIGN(Plan chunked, Compile(ng, o));
  int rows = 0;
  for (const KernelPlan& k : chunked.fusion_plan().kernels) {
    rows += k.spec.tile == "row";
    EXPECT_TRUE(k.spec.row.chunked);
  }
  EXPECT_EQ(rows, 3);
}

// Every candidate the tuner may pick (looping over row groups included) compiles with
// NVRTC for every row-wise kernel and reduction kind (the first built through ptxas, the
// others checked by its front end).
TEST(RowTuning, EveryCandidateConfigCompilesForEveryRowwiseKernel) {
  for (const char* name : {"rms_norm_then_sum", "layer_norm_amax_keepdim", "softmax_mean_var_pair",
                           "rms_norm_relu_mean_also_output"}) {
    if (kUnderSanitizer && std::string(name) != "rms_norm_then_sum") continue;  // NVRTC-bound: a sample there
    SCOPED_TRACE(name);
    const TestGraph* t = nullptr;
    for (const TestGraph& c : StoreReduceTestGraphs()) {
      if (c.name == name) t = &c;
    }
    ASSERT_NE(t, nullptr);
    TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(t->json));
    CompileOptions o;
    o.arch = "sm_90";
    TF_ASSERT_OK_AND_ASSIGN(Plan planned, Compile(g, o));
    const KernelPlan& k = planned.fusion_plan().kernels[0];
    ASSERT_TRUE(k.cols.is_static());
    const std::vector<RowConfig> candidates = RowCandidates(k.cols.constant, k.spec.Vec());
    EXPECT_GE(candidates.size(), 4u);
    for (const RowConfig& c : candidates) {
      SCOPED_TRACE(c.ToString());
      o.row_config = c;
      o.check_only = &c != &candidates.front();  // NVRTC's front end for all but the first
      TF_ASSERT_OK_AND_ASSIGN(Plan tuned, Compile(g, o));
      EXPECT_EQ(tuned.fusion_plan().kernels[0].spec.row.ToString(), c.ToString());
    }
  }
}

}  // namespace
}  // namespace tilefuse::internal
