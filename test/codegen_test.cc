// Codegen: every test graph compiles with the real NVRTC for sm_90; compile errors quote
// the generated line; signatures are stable and change with what changes the binary.
#include <cstdio>
#include <fstream>
#include <memory>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "codegen/pointwise_codegen.h"
#include "codegen/signature.h"
#include "codegen/tile_codegen.h"
#include "runtime/fusion/weight_read.h"
#include "gtest/gtest.h"
#include "runtime/cuda/nvrtc.h"
#include "runtime/fusion/planner.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "test/status_matchers.h"
#include "test/gemm_dtype_graphs.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {
namespace {

std::vector<std::string> EntryNames(const Plan& plan) {
  std::vector<std::string> names;
  for (const KernelReport& r : plan.reports()) names.push_back(r.entry_name);
  return names;
}

std::vector<std::string> CompileNames(const std::string& json, const std::string& arch = "sm_90") {
  auto g = GraphFromJson(json);
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok()) return {};
  CompileOptions o;
  o.arch = arch;
  auto plan = Compile(*g, o);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? EntryNames(*plan) : std::vector<std::string>{};
}

// Every graph fused with the shape classes of a symbolic M and unfused, checked by NVRTC's
// front end (CompileOptions::check_only: each template instantiated, the glue type-checked);
// one graph in five (a sample by name) also built through ptxas, fused, which checks the
// inline PTX of its tile (every class config builds in shape_class_test, every kernel in
// the GPU suites).
// Graphs with a batched GEMM are not in the built sample: their kernels are the longest
// builds (2-2.5 s each since strided reads' row crossings went out of line; 20-35 s
// before), and the GPU suite builds them all.
// Unfused plans (one op a kernel, the same few kernel forms) are checked for one graph in
// two: each pass over all of them took 44 s of this test's 118.
TEST(Codegen, EveryTestGraphCompilesWithNvrtcFusedAndUnfused) {
  KernelCache cache;
  int built = 0;
  for (const TestGraph& t : AllTestGraphs()) {
    bool build = InSample(t, 5, "built");
    const bool unfused = InSample(t, 2, "unfused");
    for (int pass = 0; pass < (build ? 3 : 2); ++pass) {
      if (pass == 1 && !unfused) continue;
      const bool fuse = pass != 1, check_only = pass < 2;
      SCOPED_TRACE(t.name + (fuse ? " fused" : " unfused") + (check_only ? " (checked)" : " (built)"));
      CompileOptions o;
      o.arch = "sm_90";
      o.fuse = fuse;
      o.cache = &cache;
      o.check_only = check_only;
      if (!check_only) o.m_classes.clear();
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(ParseTestGraph(t), o));
      EXPECT_EQ(plan.num_kernels(), fuse ? t.fused_kernels : t.unfused_kernels);
      for (const KernelPlan& k : plan.fusion_plan().kernels) build &= !(pass == 0 && k.spec.batched);
      if (check_only) continue;
      ++built;
      for (const KernelReport& r : plan.reports()) EXPECT_GT(r.cubin_bytes, 0u);
    }
  }
  EXPECT_GT(built, 20);
  EXPECT_GT(cache.stats().compiles, 0);
}

// f32 operands never reach the MMA as raw bytes: they split into bf16 parts through
// their hooks (no cp.async, no TMA); f16 and bf16 keep the async paths. One graph in three
// is built through ptxas, the others checked by NVRTC's front end.
TEST(Codegen, EveryGemmDtypeCompilesAndF32SplitsThroughItsHooks) {
  KernelCache cache;
  int split = 0, index = 0;
  for (const TestGraph& t : GemmDtypeTestGraphs()) {
    SCOPED_TRACE(t.name);
    CompileOptions o;
    o.arch = "sm_90";
    o.cache = &cache;
    o.check_only = index++ % 3 != 0;
    o.m_classes.clear();  // each kernel once (the GPU dtype suite compiles the classes)
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(ParseTestGraph(t), o));
    for (const KernelPlan& k : plan.fusion_plan().kernels) {
      if (k.spec.tile != "matmul") continue;
      const bool f32 = k.spec.tile_inputs[0].dtype == DType::kF32;
      EXPECT_EQ(GemmSplitsF32(k.spec), f32);
      if (f32) {
        ++split;
        EXPECT_EQ(k.spec.a_async, -1);
        EXPECT_EQ(k.spec.b_async, -1);
        EXPECT_FALSE(k.spec.gemm.wgmma);
      }
    }
  }
  EXPECT_GE(split, 8);
}

// Plans that once passed and then failed in NVRTC: a variance array named like an
// expression value (v2), and `-` of a negative literal written as `--`.
TEST(Codegen, GeneratedNamesAndNegativeLiteralsCompile) {
  const char* graphs[] = {
      R"({"name": "softmax_var_rsqrt", "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "f32"}],
          "nodes": [{"name": "s", "op": "softmax", "inputs": ["x"], "attrs": {"dim": 1}},
                    {"name": "t", "op": "mul", "inputs": ["s", 2.0]},
                    {"name": "m", "op": "mean", "inputs": ["t"], "attrs": {"dim": 1, "keepdim": true}},
                    {"name": "v", "op": "var", "inputs": ["t"], "attrs": {"dim": 1, "keepdim": true, "correction": 0}},
                    {"name": "a", "op": "add", "inputs": ["v", 1e-5]},
                    {"name": "r", "op": "rsqrt", "inputs": ["a"]},
                    {"name": "o", "op": "mul", "inputs": ["r", "m"]}],
          "outputs": ["o"]})",
      R"({"name": "neg_negative", "inputs": [{"name": "x", "shape": [7], "dtype": "f32"},
                                             {"name": "i", "shape": [7], "dtype": "i32"}],
          "nodes": [{"name": "c", "op": "neg", "inputs": [-1.5]},
                    {"name": "y", "op": "add", "inputs": ["x", "c"]},
                    {"name": "k", "op": "neg", "inputs": [-3]},
                    {"name": "j", "op": "mul", "inputs": ["i", "k"]}],
          "outputs": ["y", "j"]})",
  };
  for (const char* json : graphs) {
    for (bool fuse : {true, false}) {
      SCOPED_TRACE(json);
      TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(json));
      CompileOptions o;
      o.arch = "sm_90";
      o.fuse = fuse;
      TF_EXPECT_OK(Compile(g, o).status());
    }
  }
}

TEST(Codegen, GlueUsesTheAccessPathOfEachOperand) {
  const TestGraph* bias = nullptr;
  for (const TestGraph& t : PointwiseTestGraphs()) {
    if (t.name == "bias_relu") bias = &t;
  }
  ASSERT_NE(bias, nullptr);
  CompileOptions o;
  o.arch = "sm_90";
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(ParseTestGraph(*bias), o));
  TF_ASSERT_OK_AND_ASSIGN(std::string glue,
                          GeneratePointwiseGlue(plan.fusion_plan().kernels[0].spec, "tf_test"));
  EXPECT_NE(glue.find("tf::load_vec<W>(a0, p.in0 + i);"), std::string::npos) << glue;
  // The bias repeats every 4096 elements, a constant of the kernel (the graph fixes it).
  EXPECT_NE(glue.find("__device__ constexpr long long kInner1 = 4096LL;"), std::string::npos) << glue;
  EXPECT_NE(glue.find("p.in1 + tf::mod_index(i, kInner1)"), std::string::npos) << glue;
  EXPECT_NE(glue.find("tf::relu_f("), std::string::npos) << glue;
  EXPECT_NE(glue.find("static constexpr int kVec = 8;"), std::string::npos) << glue;
  // Same spec, same bytes.
  TF_ASSERT_OK_AND_ASSIGN(std::string again,
                          GeneratePointwiseGlue(plan.fusion_plan().kernels[0].spec, "tf_test"));
  EXPECT_EQ(glue, again);

  // A symbolic extent stays the launch's; a strided operand's fixed ones become constants,
  // all but the leading dim, which may be symbolic.
  TF_ASSERT_OK_AND_ASSIGN(Graph sym, GraphFromJson(R"({"name": "sym_bias",
      "inputs": [{"name": "x", "shape": ["M", "N"], "dtype": "f32"}, {"name": "b", "shape": ["N"], "dtype": "f32"},
                 {"name": "t", "shape": ["M", 8, 64], "dtype": "f32"}, {"name": "c", "shape": [8, 1], "dtype": "f32"}],
      "nodes": [{"name": "y", "op": "add", "inputs": ["x", "b"]}, {"name": "u", "op": "mul", "inputs": ["t", "c"]}],
      "outputs": ["y", "u"]})"));
  TF_ASSERT_OK_AND_ASSIGN(Plan sym_plan, Compile(sym, o));
  ASSERT_EQ(sym_plan.fusion_plan().kernels.size(), 2u);
  std::string both;
  for (const KernelPlan& k : sym_plan.fusion_plan().kernels) {
    TF_ASSERT_OK_AND_ASSIGN(std::string g, GeneratePointwiseGlue(k.spec, "tf_sym"));
    both += g;
  }
  EXPECT_NE(both.find("tf::mod_index(i, p.inner"), std::string::npos) << both;
  EXPECT_EQ(both.find("kInner"), std::string::npos) << both;
  EXPECT_NE(both.find("constexpr long long kDims1[3] = {0LL, 8LL, 64LL};"), std::string::npos) << both;
  EXPECT_NE(both.find("constexpr long long kStrides1[3] = {0LL, 1LL, 0LL};"), std::string::npos) << both;
}

// The skinny GEMM reads an int8, int4 or e4m3 weight packed where its prologue is f32(q)
// times a scale of the operand's type (per tensor, row or group of 16k), through its hook
// otherwise (a zero point, an f32 scale), and says so in its glue.
TEST(Codegen, SkinnyGemmsReadPackedWeightsWhereTheDequantIsExact) {
  struct Want {
    const char* graph;
    int format, scale;
    int64_t group;
  };
  for (const Want& w : {Want{"weight_only_i8", 1, 2, 0}, Want{"weight_only_i4_groups", 0, 0, 0},
                        Want{"weight_only_f8_silu", 0, 0, 0}, Want{"weight_only_i8_odd", 0, 0, 0},
                        Want{"weight_only_i4_g128", 2, 3, 128}, Want{"weight_only_i8_f16_scalar", 1, 1, 0},
                        Want{"weight_only_i4_f16_groups", 2, 3, 64}, Want{"weight_only_f8_rows", 3, 2, 0},
                        Want{"weight_only_f8_f16_groups", 3, 3, 32}}) {
    SCOPED_TRACE(w.graph);
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(ParseTestGraph(NamedTestGraph(w.graph)), PlanOptions{}));
    ASSERT_EQ(plan.kernels.size(), 3u);  // the fused GEMM up to 128 rows, then dequant + GEMM
    KernelSpec spec = plan.kernels[0].spec;
    const std::vector<ShapeClass> classes = GemmShapeClasses(plan.kernels[0], kDefaultMClasses, 132);
    ASSERT_FALSE(classes.empty());
    spec.gemm = classes[0].gemm;
    ASSERT_TRUE(spec.gemm.skinny);
    const WeightRead r = WeightReadOf(spec);
    EXPECT_EQ(r.format, w.format);
    EXPECT_EQ(r.scale, w.scale);
    EXPECT_EQ(r.group, w.group);
    TF_ASSERT_OK_AND_ASSIGN(std::string glue, GenerateTileGlue(spec, "tf_test"));
    EXPECT_NE(glue.find(absl::StrCat("kWeightRead = ", w.format, ", kWeightScale = ", w.scale, ";")), std::string::npos)
        << glue;
    EXPECT_EQ(glue.find("w_ptr") != std::string::npos, w.format != 0);
    // The TMA form (sm_90, a packed read, x plain): its stages (2 of int4 weights, else 4)
    // in the launch's shared memory, the maps in the entry; none before sm_90.
    EXPECT_EQ(spec.gemm.stages, std::string(w.graph).find("_i4") != std::string::npos ? 2 : 4);
    spec.sm90 = false;
    EXPECT_FALSE(SkinnyWeightTma(spec));
    TF_ASSERT_OK_AND_ASSIGN(std::string ampere, GenerateTileGlue(spec, "tf_test"));
    EXPECT_NE(ampere.find("kWeightTma = false"), std::string::npos);
    spec.sm90 = true;
    EXPECT_EQ(SkinnyWeightTma(spec), w.format != 0 && spec.a_async >= 0);
    TF_ASSERT_OK_AND_ASSIGN(std::string hopper, GenerateTileGlue(spec, "tf_test"));
    EXPECT_EQ(hopper.find("const __grid_constant__ tf::TmaDesc tw") != std::string::npos, SkinnyWeightTma(spec));
    if (SkinnyWeightTma(spec)) {
      EXPECT_NE(hopper.find("kWeightTma = true; static constexpr int kWeightStages = "), std::string::npos);
      EXPECT_EQ(GemmLaunchOf(spec).smem, SkinnyTmaSmemBytes(spec.gemm, w.format == 2));
      const int x_bytes = (w.format == 2 ? 256 : 128) * 32;  // x's k of a stage, 16 rows of 2 bytes
      EXPECT_EQ(SkinnyTmaSmemBytes(spec.gemm, w.format == 2), 1024 + spec.gemm.stages * (64 * 128 + x_bytes + 16));
    }
    // Not skinny (a larger M class): no packed read.
    spec.gemm = GemmConfig{};
    EXPECT_EQ(WeightReadOf(spec).format, 0);
  }
  // Groups the lanes' 16 k would straddle, and a bf16 scale for f16 operands: the hook.
  for (const char* dequant : {R"("attrs": {"dtype": "bf16", "group": 8})", R"("attrs": {"dtype": "f16"})"}) {
    SCOPED_TRACE(dequant);
    const bool grouped = std::string(dequant).find("group") != std::string::npos;
    const std::string json = absl::StrCat(
        R"({"name": "g", "inputs": [{"name": "x", "shape": [4, 64], "dtype": ")", grouped ? "bf16" : "f16",
        R"("}, {"name": "q", "shape": [32, 64], "dtype": "i8"}, {"name": "s", "shape": [32, )", grouped ? 8 : 1,
        R"(], "dtype": "bf16"}], "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s"], )", dequant,
        R"(}, {"name": "t", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
            {"name": "y", "op": "matmul", "inputs": ["x", "t"]}], "outputs": ["y"]})");
    TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(json));
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, PlanOptions{}));
    ASSERT_EQ(plan.kernels.size(), 1u);
    ASSERT_TRUE(plan.kernels[0].spec.gemm.skinny);
    EXPECT_EQ(WeightReadOf(plan.kernels[0].spec).format, 0);
  }
}

// The skinny kernel's configs: 16 rows, 16 weight rows per warp, 128 to 512 bytes of a
// weight row per TMA stage, the stages (sized for int4, whose stages hold the most x) within
// 227 KiB; the ones gpu_plans_test forces among them.
TEST(Codegen, SkinnyConfigsKeepTheirStagesInSharedMemory) {
  const auto config = [](int warps, int bk, int stages, int split) {
    GemmConfig c{16, 16 * warps, bk, 1, warps, stages};
    c.skinny = true;
    c.split_k = split;
    return c;
  };
  for (const GemmConfig& c : {config(4, 128, 2, 1), config(8, 256, 4, 3), config(1, 512, 5, 8), config(2, 512, 2, 2),
                              config(4, 256, 3, 1), SkinnyGemmConfig(14336, 4096),
                              SkinnyGemmConfig(14336, 4096, 132, true)}) {
    SCOPED_TRACE(c.ToString());
    TF_EXPECT_OK(ValidateGemmConfig(c));
    EXPECT_LE(SkinnyTmaSmemBytes(c, true), 227 * 1024);
  }
  EXPECT_EQ(SkinnyGemmConfig(14336, 4096).ToString(), "skinny 16x64x128 w4 s4 split 2");
  EXPECT_EQ(SkinnyGemmConfig(14336, 4096, 132, true).ToString(), "skinny 16x64x128 w4 s2 split 2");
  EXPECT_TRUE(StatusIs(ValidateGemmConfig(config(8, 256, 5, 3)), absl::StatusCode::kInvalidArgument, "246864 bytes"));
  EXPECT_TRUE(StatusIs(ValidateGemmConfig(config(4, 64, 4, 1)), absl::StatusCode::kInvalidArgument, "128, 256 or 512"));
  EXPECT_TRUE(StatusIs(ValidateGemmConfig(config(4, 128, 1, 1)), absl::StatusCode::kInvalidArgument, "2 to 16 stages"));
  // Several boxes per stage compile (NVRTC, sm_90) for each packed read and for the hook,
  // each kernel holding both forms' loops.
  for (const char* name : {"weight_only_i8", "weight_only_i4_g128", "weight_only_f8_rows", "weight_only_i4_groups"}) {
    for (const GemmConfig& c : {config(4, 256, 3, 2), config(2, 512, 2, 1)}) {
      SCOPED_TRACE(absl::StrCat(name, " ", c.ToString()));
      CompileOptions o;
      o.arch = "sm_90";
      o.gemm_config = c;
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(ParseTestGraph(NamedTestGraph(name)), o));
      bool forced = false;
      for (const KernelPlan& k : plan.fusion_plan().kernels) {
        for (const ShapeClass& sc : k.classes) forced |= sc.gemm.ToString() == c.ToString();
        forced |= k.spec.gemm.ToString() == c.ToString();
      }
      EXPECT_TRUE(forced) << plan.Explain();
    }
  }
}

// Rows wider than a tile: with wide_row_epilogues on sm_90 the norm runs in the GEMM's store
// over column tiles of a CTA and a cluster, and that kernel compiles (NVRTC: the first
// built through ptxas, the others checked by its front end); by default, and on sm_80, the
// norm is a kernel of its own.
TEST(Codegen, WideRowEpiloguesCompileAsRowTilesAndClusters) {
  for (const char* name : {"hopper_rms_norm_1024", "hopper_layer_norm_600", "hopper_softmax_decomposed_1000",
                           "hopper_rms_norm_decomposed_2048"}) {
    SCOPED_TRACE(name);
    const Graph g = ParseTestGraph(NamedTestGraph(name));
    CompileOptions o;
    o.arch = "sm_90";
    o.wide_row_epilogues = true;
    o.check_only = std::string(name) != "hopper_rms_norm_1024";
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
    ASSERT_EQ(plan.num_kernels(), 1);
    EXPECT_GT(plan.fusion_plan().kernels[0].spec.gemm.row_cluster, 1);
    EXPECT_NE(plan.Explain().find("row_cluster"), std::string::npos) << plan.Explain();
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan apart, PlanFusion(g, PlanOptions{}));
    EXPECT_GE(apart.kernels.size(), 2u);
    PlanOptions sm80;
    sm80.arch = "sm_80";
    sm80.wide_row_epilogues = true;
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan old, PlanFusion(g, sm80));
    EXPECT_EQ(old.kernels.size(), apart.kernels.size());
  }
}

// Explain names each GEMM variant's config, and the skinny kernel's TMA form where the
// variant has one: sm_90 with a packed read; not sm_80, not the generic hook.
TEST(Codegen, ExplainSaysWhereTheSkinnyKernelReadsByTma) {
  for (const auto& [name, arch, tma] : std::vector<std::tuple<const char*, const char*, bool>>{
           {"weight_only_i8", "sm_90", true}, {"weight_only_i8", "sm_80", false}, {"weight_only_i4_groups", "sm_90", false}}) {
    SCOPED_TRACE(absl::StrCat(name, " ", arch));
    CompileOptions o;
    o.arch = arch;
    o.check_only = true;  // a plan's text: NVRTC's front end is enough
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(ParseTestGraph(NamedTestGraph(name)), o));
    const std::string explain = plan.Explain();
    EXPECT_NE(explain.find("class M <= 16: skinny 16x64x128 w4"), std::string::npos) << explain;
    EXPECT_EQ(explain.find("weight and x by TMA where aligned") != std::string::npos, tma) << explain;
  }
  // A static M: the one config.
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"inputs": [{"name": "x", "shape": [16, 64], "dtype": "bf16"},
                                                              {"name": "w", "shape": [64, 64], "dtype": "bf16"}],
      "nodes": [{"name": "t", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                {"name": "y", "op": "matmul", "inputs": ["x", "t"]}], "outputs": ["y"]})"));
  CompileOptions o;
  o.arch = "sm_90";
  o.check_only = true;
  TF_ASSERT_OK_AND_ASSIGN(Plan fixed, Compile(g, o));
  EXPECT_NE(fixed.Explain().find("    config: " + fixed.fusion_plan().kernels[0].spec.gemm.ToString() + "\n"),
            std::string::npos)
      << fixed.Explain();
}

TEST(Codegen, CompileErrorQuotesTheGeneratedLine) {
  const std::string source =
      "// ---- tilefuse generated glue ----\n"
      "extern \"C\" __global__ void k(float* p) {\n"
      "  p[0] = undeclared_thing + 1.0f;\n"
      "}\n";
  auto r = CompileToCubin(source, "tf_broken.cu", NvrtcOptions{});
  EXPECT_TRUE(StatusIs(r, absl::StatusCode::kInternal, "tf_broken.cu(3)"));
  EXPECT_TRUE(StatusIs(r, absl::StatusCode::kInternal, "> " "  p[0] = undeclared_thing + 1.0f;"));
}

// The front-end check (CompileOptions::check_only) rejects what a build would: an error
// in the body of a template, seen only when the kernel instantiates it.
TEST(Codegen, CheckOnlyRejectsErrorsInInstantiatedTemplates) {
  const std::string source =
      "template <int W> __device__ void store(float* p, const float (&v)[W]) { p[0] = v; }\n"
      "extern \"C\" __global__ void k(float* p) {\n"
      "  float v[4] = {};\n"
      "  store<4>(p, v);\n"
      "}\n";
  NvrtcOptions check;
  check.extra_options = {"-fdevice-syntax-only"};
  EXPECT_TRUE(StatusIs(CompileToCubin(source, "tf_template.cu", check), absl::StatusCode::kInternal,
                       "tf_template.cu(1)"));
  EXPECT_TRUE(StatusIs(CompileToCubin(source, "tf_template.cu", NvrtcOptions{}), absl::StatusCode::kInternal,
                       "tf_template.cu(1)"));
}

constexpr char kBase[] = R"({"name": "sig",
  "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"},
             {"name": "y", "shape": ["M", 64], "dtype": "bf16"}],
  "nodes": [{"name": "o", "op": "add", "inputs": ["x", "y"]}], "outputs": ["o"]})";

// A checked plan shares no cache entry with a built one (its NVRTC options are part of
// the signature) and refuses to load.
TEST(Codegen, CheckOnlyPlansAreNeverRunOrServedAsBuilt) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(kBase));
  KernelCache cache;
  CompileOptions o;
  o.arch = "sm_90";
  o.cache = &cache;
  o.check_only = true;
  TF_ASSERT_OK_AND_ASSIGN(Plan checked, Compile(g, o));
  o.check_only = false;
  TF_ASSERT_OK_AND_ASSIGN(Plan built, Compile(g, o));
  ASSERT_EQ(checked.reports().size(), 1u);
  ASSERT_EQ(built.reports().size(), 1u);
  EXPECT_NE(checked.reports()[0].entry_name, built.reports()[0].entry_name);
  EXPECT_FALSE(built.reports()[0].cache_hit);
  EXPECT_EQ(cache.stats().compiles, 2);
  EXPECT_TRUE(StatusIs(checked.Load(), absl::StatusCode::kFailedPrecondition, "check_only"));
}

// Replaces every occurrence of `from`.
std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

TEST(Signature, StableWithinAProcessAndChangesWithWhatMatters) {
  const std::vector<std::string> base = CompileNames(kBase);
  ASSERT_EQ(base.size(), 1u);
  EXPECT_EQ(CompileNames(kBase), base);
  // The graph's name and the node names are not part of the computation.
  EXPECT_EQ(CompileNames(Replace(Replace(kBase, "\"sig\"", "\"other\""), "\"o\"", "\"p\"")), base);
  EXPECT_NE(CompileNames(Replace(kBase, "\"add\"", "\"sub\"")), base);                    // op
  EXPECT_NE(CompileNames(Replace(kBase, "\"bf16\"}]", "\"f16\"}]")), base);               // dtype
  EXPECT_NE(CompileNames(Replace(kBase, "\"shape\": [\"M\", 64], \"dtype\": \"bf16\"}]",
                                 "\"shape\": [64], \"dtype\": \"bf16\"}]")), base);      // broadcast
  EXPECT_NE(CompileNames(kBase, "sm_80"), base);                                           // arch
}

TEST(Signature, SameAcrossProcesses) {
  const std::vector<std::string> here = CompileNames(kBase);
  ASSERT_EQ(here.size(), 1u);
  const std::string path = ::testing::TempDir() + "/sig_graph.json";
  std::ofstream(path) << kBase;
  const std::string cmd = std::string(TILEFUSE_CLI_PATH) + " compile --no-disk-cache --arch sm_90 " + path;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), pipe.get()) != nullptr) out += buf;
  EXPECT_NE(out.find(here[0]), std::string::npos) << "child process printed:\n" << out;
}

}  // namespace
}  // namespace tilefuse::internal
