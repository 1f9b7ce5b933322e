// The planner: kernel counts fused and unfused, decisions, and (interpreting plans on the
// host) that every plan computes what the reference computes.
#include <map>
#include <random>

#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/fusion/grouping.h"
#include "runtime/fusion/planner.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/json.h"
#include "runtime/reference.h"
#include "test/host_data.h"
#include "test/plan_interpreter.h"
#include "test/sanitizer.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {
namespace {

TEST(Planner, KernelCountsFusedAndUnfused) {
  for (const TestGraph& t : AllTestGraphs()) {
    SCOPED_TRACE(t.name);
    const Graph g = ParseTestGraph(t);
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan fused, PlanFusion(g, PlanOptions{true}));
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan unfused, PlanFusion(g, PlanOptions{false}));
    EXPECT_EQ(fused.kernels.size(), static_cast<size_t>(t.fused_kernels));
    EXPECT_EQ(unfused.kernels.size(), static_cast<size_t>(t.unfused_kernels));
  }
}

// Under a sanitizer every graph is planned but one in three (by name) evaluated (the CPU
// reference and the interpreter are the time there; the release pass evaluates all).
TEST(Planner, PlansComputeWhatTheReferenceComputes) {
  std::mt19937_64 rng(7);
  for (const TestGraph& t : AllTestGraphs()) {
    SCOPED_TRACE(t.name);
    const Graph g = ParseTestGraph(t);
    if (kUnderSanitizer && !InSample(t, 3, "reference")) {
      for (bool fuse : {true, false}) TF_EXPECT_OK(PlanFusion(g, PlanOptions{fuse}).status());
      continue;
    }
    const std::vector<int64_t> syms = BindSymbols(g, t.symbols);
    const std::vector<HostTensor> inputs = RandomInputs(g, syms, rng);
    TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> ref, EvaluateReference(g, inputs));
    for (bool fuse : {true, false}) {
      TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, PlanOptions{fuse}));
      TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> got, InterpretPlan(g, plan, inputs, syms));
      for (size_t k = 0; k < ref.size(); ++k) {
        EXPECT_TRUE(AllClose(got[k], ref[k], ToleranceFor(g))) << (fuse ? "fused" : "unfused")
                                                               << " output " << k;
      }
    }
  }
}

// A plan with a form per range of M (a weight-only GEMM with a symbolic M) computes the
// reference's values on both sides of the bound: each form's kernels alone run.
TEST(Planner, BothFormsOfAWeightOnlyPlanComputeTheReference) {
  std::mt19937_64 rng(11);
  for (const char* name : {"weight_only_i8", "weight_only_i4_groups", "weight_only_f8_rows", "f8_gemm_rows"}) {
    const Graph g = ParseTestGraph(NamedTestGraph(name));
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, PlanOptions{}));
    for (int64_t m : {1, 128, 129, 300}) {
      SCOPED_TRACE(absl::StrCat(name, " M = ", m));
      const std::vector<int64_t> syms = {m};
      const std::vector<HostTensor> inputs = RandomInputs(g, syms, rng);
      TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> ref, EvaluateReference(g, inputs));
      TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> got, InterpretPlan(g, plan, inputs, syms));
      for (size_t k = 0; k < ref.size(); ++k) EXPECT_TRUE(AllClose(got[k], ref[k], ToleranceFor(g))) << k;
    }
  }
}

// A GEMM of two dequantized fp8 values past 128 rows multiplies the codes on the Hopper
// kernel (read by TMA: A [M, K], B the K-major weight) and scales its value in the
// epilogue. The plan computes the reference's values within the bound f8_gemm.h states:
// where the dequant rounds to bf16 (which the reference does to each operand and the fp8
// path does not), a few parts in 2^8 of the products' magnitude; where it is exact (f32
// dequants, plain casts) only the order of the sums differs. Far tighter than the fp8
// tolerance of ToleranceFor. Off sm_90 the dequant stays out of the GEMM past 128 rows.
TEST(Planner, Fp8GemmsMultiplyCodesAndScaleInTheEpilogue) {
  std::mt19937_64 rng(13);
  for (const auto& [name, tol] : std::vector<std::pair<const char*, double>>{
           {"f8_gemm_rows", 1.0 / 8}, {"f8_gemm_mixed_rowsum", 1.0 / 65536}, {"f8_gemm_casts_odd_k", 1.0 / 2048}}) {
    SCOPED_TRACE(name);
    const TestGraph& t = NamedTestGraph(name);
    const Graph g = ParseTestGraph(t);
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, PlanOptions{}));
    int f8 = 0;
    for (const KernelPlan& k : plan.kernels) {
      if (!IsF8Gemm(k.spec)) continue;
      ++f8;
      EXPECT_TRUE(k.spec.gemm.wgmma);
      EXPECT_GE(k.spec.a_async, 0);
      EXPECT_GE(k.spec.b_async, 0);
      EXPECT_EQ(k.spec.b_layout, GemmBLayout::kColMajor);
      EXPECT_FALSE(k.range && k.range->min <= kMaxWeightOnlyRows);
      for (const OperandSpec& o : k.spec.operands) EXPECT_NE(o.site, kAccStartSite);
      EXPECT_THAT(k.summary, ::testing::HasSubstr("fp8 codes on wgmma"));
    }
    EXPECT_EQ(f8, 1);
    const std::vector<int64_t> syms = BindSymbols(g, t.symbols);
    const std::vector<HostTensor> inputs = RandomInputs(g, syms, rng);
    TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> ref, EvaluateReference(g, inputs));
    TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> got, InterpretPlan(g, plan, inputs, syms));
    for (size_t k = 0; k < ref.size(); ++k) EXPECT_TRUE(AllClose(got[k], ref[k], tol)) << k;
    // sm_80 has no fp8 MMA: the dequant runs in a kernel of its own past 128 rows.
    PlanOptions ampere;
    ampere.arch = "sm_80";
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan old, PlanFusion(g, ampere));
    for (const KernelPlan& k : old.kernels) EXPECT_FALSE(IsF8Gemm(k.spec));
  }
}

// A decomposed norm whose output only feeds a GEMM's A: with norm prologues on, the row
// kernel stores r (one value per row) and the GEMM normalizes x in its A prologue; off (the
// default), the row kernel writes A.
// A row epilogue on sm_90 takes the Hopper tile that covers the row: 192 columns for 160,
// 256 for 200.
// Two matmuls of one A meeting in an epilogue are one kernel with two B operands (K-major
// buffers); its configs are those of a GEMM of 2N columns. A row-major B, another reader
// between the two, or products that never meet keep two kernels.
TEST(Planner, DualGemmsShareOneKernel) {
  const Graph g = ParseTestGraph(NamedTestGraph("wgmma_dual_swiglu"));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, PlanOptions{true}));
  ASSERT_EQ(plan.kernels.size(), 1u);
  const KernelPlan& k = plan.kernels[0];
  EXPECT_TRUE(k.spec.dual);
  EXPECT_EQ(k.spec.b_layout, GemmBLayout::kColMajor);
  EXPECT_GE(k.spec.b2_async, 0);
  EXPECT_EQ(k.spec.tile_inputs.size(), 3u);
  EXPECT_EQ(g.node(k.dual_node).name, "u");
  EXPECT_THAT(absl::StrJoin(plan.decisions, "\n"), testing::HasSubstr("dual GEMM: 'u' and 'g' multiply the same A 'x'"));
  EXPECT_TRUE(GemmWgmmaCapable(k.spec));
  EXPECT_EQ(GemmTileCols(k.spec, k.spec.gemm), k.spec.gemm.bn / 2);

  const auto count = [](const std::string& json) {
    auto g = GraphFromJson(json);
    EXPECT_TRUE(g.ok()) << g.status();
    auto plan = PlanFusion(*g, PlanOptions{true});
    EXPECT_TRUE(plan.ok()) << plan.status();
    int duals = 0;
    for (const KernelPlan& k : plan->kernels) duals += k.spec.dual ? 1 : 0;
    return std::make_pair(plan->kernels.size(), duals);
  };
  const std::string row_major = R"({"name": "rm", "inputs": [{"name": "x", "shape": [32, 64], "dtype": "bf16"},
      {"name": "wg", "shape": [64, 96], "dtype": "bf16"}, {"name": "wu", "shape": [64, 96], "dtype": "bf16"}],
    "nodes": [{"name": "g", "op": "matmul", "inputs": ["x", "wg"]}, {"name": "u", "op": "matmul", "inputs": ["x", "wu"]},
      {"name": "y", "op": "mul", "inputs": ["g", "u"]}], "outputs": ["y"]})";
  EXPECT_EQ(count(row_major), std::make_pair(size_t{2}, 0));
  const std::string never_meet = R"({"name": "nm", "inputs": [{"name": "x", "shape": [32, 64], "dtype": "bf16"},
      {"name": "wg", "shape": [96, 64], "dtype": "bf16"}, {"name": "wu", "shape": [96, 64], "dtype": "bf16"}],
    "nodes": [{"name": "a", "op": "transpose", "inputs": ["wg"], "attrs": {"dim0": 0, "dim1": 1}},
      {"name": "b", "op": "transpose", "inputs": ["wu"], "attrs": {"dim0": 0, "dim1": 1}},
      {"name": "g", "op": "matmul", "inputs": ["x", "a"]}, {"name": "u", "op": "matmul", "inputs": ["x", "b"]},
      {"name": "gs", "op": "relu", "inputs": ["g"]}], "outputs": ["gs", "u"]})";
  EXPECT_EQ(count(never_meet), std::make_pair(size_t{2}, 0));
  // Different A operands.
  std::string other_a = absl::StrReplaceAll(never_meet, {{R"("inputs": ["x", "b"])", R"("inputs": ["x2", "b"])"},
                                                         {R"({"name": "gs", "op": "relu", "inputs": ["g"]}], "outputs": ["gs", "u"])",
                                                          R"({"name": "y", "op": "mul", "inputs": ["g", "u"]}], "outputs": ["y"])"},
                                                         {R"("inputs": [{"name": "x", "shape": [32, 64], "dtype": "bf16"},)",
                                                          R"("inputs": [{"name": "x", "shape": [32, 64], "dtype": "bf16"}, {"name": "x2", "shape": [32, 64], "dtype": "bf16"},)"}});
  EXPECT_EQ(count(other_a), std::make_pair(size_t{2}, 0));
  std::string same_a = absl::StrReplaceAll(other_a, {{R"("inputs": ["x2", "b"])", R"("inputs": ["x", "b"])"}});
  EXPECT_EQ(count(same_a), std::make_pair(size_t{1}, 1));

  // One concatenated weight split by two slices: B halves are its row windows, [K, L] each.
  const Graph cat = ParseTestGraph(NamedTestGraph("dual_gate_up_cat_odd"));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan split, PlanFusion(cat, PlanOptions{true}));
  ASSERT_EQ(split.kernels.size(), 1u);
  const KernelPlan& s = split.kernels[0];
  EXPECT_TRUE(s.spec.dual && s.spec.dual_split);
  EXPECT_EQ(s.cols, (SizeExpr{99, {}}));
  ASSERT_GE(s.spec.b2_async, 0);
  EXPECT_EQ(s.operands[s.spec.b2_async].dims, (std::vector<SizeExpr>{SizeExpr{40, {}}, SizeExpr{99, {}}}));
  EXPECT_THAT(absl::StrJoin(split.decisions, "\n"), testing::HasSubstr("'y' is not stored"));
  // A third reader of the product (here the whole of it, an output) keeps two kernels.
  std::string also_y = absl::StrReplaceAll(NamedTestGraph("wgmma_dual_gate_up_cat").json,
                                           {{R"("outputs": ["o"])", R"("outputs": ["o", "y"])"}});
  EXPECT_EQ(count(also_y).second, 0);
}

TEST(Planner, WideHopperTilesCarryRowEpilogues) {
  for (const auto& [name, config] : std::vector<std::pair<std::string, std::string>>{
           {"hopper_layer_norm_160", "wgmma 128x192x64 w2x4 s4"},
           {"hopper_rms_norm_200", "wgmma 128x256x64 w2x4 s4"},
           {"hopper_layer_norm_600", "wgmma 64x192x64 w1x4 s3 row_tiles 2 row_cluster 2"},
           {"hopper_softmax_decomposed_1000", "wgmma 64x256x64 w1x4 s3 row_tiles 2 row_cluster 2"},
           {"hopper_rms_norm_1024", "wgmma 64x256x64 w1x4 s3 row_tiles 2 row_cluster 2"},
           {"hopper_rms_norm_decomposed_2048", "wgmma 128x256x64 w2x4 s4 row_cluster 8"}}) {
    const Graph g = ParseTestGraph(NamedTestGraph(name));
    PlanOptions wide;  // sm_90
    wide.wide_row_epilogues = true;
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, wide));
    ASSERT_EQ(plan.kernels.size(), 1u) << name;
    EXPECT_EQ(plan.kernels[0].spec.gemm.ToString(), config) << name;
    TF_EXPECT_OK(ValidateGemmConfig(plan.kernels[0].spec.gemm)) << name;
  }
}

// Rows wider than a tile need the Hopper kernel's row clusters and the option: on sm_80,
// with B read as [K, N], past 2048 columns, or by default, the norm runs as a kernel of its
// own.
TEST(Planner, RowClustersNeedTheHopperKernel) {
  const auto graph = [](int n, bool transposed) {
    return absl::StrCat(R"({"name": "g", "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"},)",
                        transposed ? absl::StrCat(R"({"name": "w", "shape": [)", n, R"(, 64], "dtype": "bf16"},)")
                                   : absl::StrCat(R"({"name": "w", "shape": [64, )", n, R"(], "dtype": "bf16"},)"),
                        R"({"name": "g", "shape": [)", n, R"(], "dtype": "bf16"}], "nodes": [)",
                        transposed ? R"({"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                                       {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},)"
                                   : R"({"name": "y", "op": "matmul", "inputs": ["x", "w"]},)",
                        R"({"name": "out", "op": "rms_norm", "inputs": ["y", "g"], "attrs": {"eps": 1e-6}}],
                           "outputs": ["out"]})");
  };
  PlanOptions sm90, sm80;
  sm90.wide_row_epilogues = sm80.wide_row_epilogues = true;
  sm80.arch = "sm_80";
  struct Case {
    int n;
    bool transposed;
    const PlanOptions options;
    size_t kernels;
  };
  for (const Case& c : {Case{1024, true, sm90, 1}, Case{1024, true, sm80, 2}, Case{1024, false, sm90, 2},
                        Case{2048, true, sm90, 1}, Case{2056, true, sm90, 2}, Case{256, false, sm80, 1},
                        Case{300, true, sm90, 1}, Case{1024, true, PlanOptions{}, 2}}) {
    SCOPED_TRACE(absl::StrCat("N ", c.n, c.transposed ? " w.T " : " w ", c.options.arch));
    TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(graph(c.n, c.transposed)));
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, c.options));
    EXPECT_EQ(plan.kernels.size(), c.kernels);
    // Where only the option keeps the norm apart, Explain's decisions say so.
    bool noted = false;
    for (const std::string& d : plan.decisions) noted |= d.find("wide_row_epilogues runs it") != std::string::npos;
    EXPECT_EQ(noted, !c.options.wide_row_epilogues && c.transposed && c.n > 256 && c.n <= 2048) << c.n;
    const GemmConfig& gemm = plan.kernels[0].spec.gemm;
    if (c.kernels == 1) {  // the row epilogue's tiles cover the row, with less than a tile to spare
      const int64_t covered = int64_t{gemm.bn} * gemm.row_tiles * gemm.row_cluster;
      EXPECT_GE(covered, c.n) << gemm.ToString();
      EXPECT_LT(covered - c.n, gemm.bn) << gemm.ToString();
    }
  }
}

TEST(Planner, NormTailRunsInTheGemmPrologue) {
  for (const char* name : {"rms_norm_decomposed_matmul", "layer_norm_decomposed_matmul"}) {
    SCOPED_TRACE(name);
    const Graph g = ParseTestGraph(NamedTestGraph(name));
    PlanOptions on, off;
    on.norm_prologues = true;
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan split, PlanFusion(g, on));
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan apart, PlanFusion(g, off));
    ASSERT_EQ(split.kernels.size(), 2u);
    ASSERT_EQ(apart.kernels.size(), 2u);
    const KernelPlan& stats = split.kernels[0];
    const KernelPlan& gemm = split.kernels[1];
    ASSERT_EQ(gemm.spec.tile, "matmul");
    for (const OutputBinding& o : stats.outputs) {
      EXPECT_TRUE(g.node(o.value).shape.back().is_one()) << g.node(o.value).name << " is not a per-row value";
    }
    EXPECT_NE(gemm.spec.tile_inputs[0].expr->kind, ExprKind::kLoad);
    EXPECT_EQ(gemm.spec.a_async, -1);
    bool said = false;
    for (const std::string& d : split.decisions) said |= d.rfind("norm prologue:", 0) == 0;
    EXPECT_TRUE(said);
    // Off: the row kernel writes the normalized A, which the GEMM loads as it is.
    EXPECT_EQ(g.node(apart.kernels[0].outputs[0].value).name, "h");
    EXPECT_EQ(apart.kernels[1].spec.tile_inputs[0].expr->kind, ExprKind::kLoad);
  }
}

// A GEMM's row epilogue fuses a norm of its output (one kernel); off, the norm is a kernel
// of its own, and the plan still computes what the reference does.
TEST(Planner, GemmRowEpiloguesCanBeTurnedOff) {
  const Graph g = ParseTestGraph(NamedTestGraph("gemm_rms_norm"));
  PlanOptions on, off;
  off.gemm_row_epilogues = false;
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan fused, PlanFusion(g, on));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan apart, PlanFusion(g, off));
  ASSERT_EQ(fused.kernels.size(), 1u);
  EXPECT_FALSE(fused.kernels[0].spec.stages.empty());
  ASSERT_EQ(apart.kernels.size(), 2u);
  EXPECT_EQ(apart.kernels[1].spec.tile, "rms_norm");
  std::mt19937_64 rng(3);
  const std::vector<int64_t> syms = BindSymbols(g, {{"M", 9}});
  const std::vector<HostTensor> inputs = RandomInputs(g, syms, rng);
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> ref, EvaluateReference(g, inputs));
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> got, InterpretPlan(g, apart, inputs, syms));
  EXPECT_TRUE(AllClose(got[0], ref[0], ToleranceFor(g)));
}

// A bias over the columns starts a GEMM's accumulators: the store hook's expressions no
// longer read it. Where the GEMM's own value is stored too, it stays in the epilogue.
TEST(Planner, ColumnBiasStartsTheAccumulators) {
  for (const char* name : {"wgmma_bias_gelu", "wgmma_bias_odd_n", "gemm_decode_bias_silu"}) {
    SCOPED_TRACE(name);
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(ParseTestGraph(NamedTestGraph(name)), {}));
    const KernelSpec& spec = plan.kernels[0].spec;
    int folded = -1;
    for (size_t o = 0; o < spec.operands.size(); ++o) {
      if (spec.operands[o].site == kAccStartSite) folded = static_cast<int>(o);
    }
    ASSERT_GE(folded, 0);
    for (const OutputSpec& out : spec.outputs) EXPECT_FALSE(ReadsOperand(out.expr, folded));
    EXPECT_THAT(absl::StrJoin(plan.decisions, "\n"), testing::HasSubstr("accumulator start: 'b' added to 'y'"));
  }
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan both, PlanFusion(ParseTestGraph(NamedTestGraph("gemm_y_and_bias")), {}));
  for (const OperandSpec& o : both.kernels[0].spec.operands) EXPECT_NE(o.site, kAccStartSite);
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan residual, PlanFusion(ParseTestGraph(NamedTestGraph("gemm_scale_residual_f32")), {}));
  for (const OperandSpec& o : residual.kernels[0].spec.operands) EXPECT_NE(o.site, kAccStartSite);
}

TEST(Planner, BroadcastOperandsGetTheirAccessClass) {
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan bias, PlanFusion(ParseTestGraph(NamedTestGraph("bias_relu")), {}));
  ASSERT_EQ(bias.kernels[0].spec.operands.size(), 2u);
  EXPECT_EQ(bias.kernels[0].spec.operands[0].access, Access::kFull);
  EXPECT_EQ(bias.kernels[0].spec.operands[1].access, Access::kInner);
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan mid, PlanFusion(ParseTestGraph(NamedTestGraph("middle_broadcast")), {}));
  EXPECT_EQ(mid.kernels[0].spec.operands[1].access, Access::kStrided);
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan tr, PlanFusion(ParseTestGraph(NamedTestGraph("transpose_input")), {}));
  EXPECT_EQ(tr.kernels[0].spec.operands[0].access, Access::kStrided);
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan zd, PlanFusion(ParseTestGraph(NamedTestGraph("zero_dim_scale")), {}));
  EXPECT_EQ(zd.kernels[0].spec.operands[1].access, Access::kScalar);
}

TEST(Planner, IntermediateNeededElsewhereIsStoredNotRefused) {
  const Graph g = ParseTestGraph(NamedTestGraph("intermediate_output"));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, {}));
  ASSERT_EQ(plan.kernels.size(), 1u);
  EXPECT_EQ(plan.kernels[0].outputs.size(), 2u);
  ASSERT_FALSE(plan.decisions.empty());
  EXPECT_NE(plan.decisions[0].find("also stores 'h'"), std::string::npos) << plan.decisions[0];
}

// Slices of a GEMM's value returned as they are (q, k, v = qkv.split(...), and as heads)
// are stored by the GEMM through its column windows: no copy kernels, and the whole value
// is stored only where another kernel reads it.
TEST(Planner, OutputSlicesOfAGemmAreStoredThroughItsWindows) {
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan split, PlanFusion(ParseTestGraph(NamedTestGraph("qkv_split_outputs")), {}));
  ASSERT_EQ(split.kernels.size(), 1u);
  EXPECT_EQ(split.kernels[0].spec.windows.size(), 3u);
  EXPECT_EQ(split.kernels[0].outputs.size(), 4u);  // q, k (twice), v
  EXPECT_TRUE(split.workspace.empty());             // the GEMM's [M, 200] is not stored
  EXPECT_THAT(absl::StrJoin(split.decisions, "\n"),
              ::testing::HasSubstr("output: 'k' (slice) stored by the epilogue of 'y' over its columns 128..164"));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan heads, PlanFusion(ParseTestGraph(NamedTestGraph("qkv_heads_outputs")), {}));
  ASSERT_FALSE(heads.kernels.empty());
  ASSERT_EQ(heads.kernels[0].spec.windows.size(), 1u);
  EXPECT_EQ(heads.kernels[0].spec.windows[0].start, 64);
  EXPECT_EQ(heads.kernels[0].spec.windows[0].len, 32);
  for (const std::string& d : heads.decisions) EXPECT_EQ(d.find("copy: output 'v'"), std::string::npos) << d;
}

TEST(Planner, RefusalsAndCopiesAreExplained) {
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan two, PlanFusion(ParseTestGraph(NamedTestGraph("two_index_spaces")), {}));
  ASSERT_EQ(two.kernels.size(), 1u);
  ASSERT_FALSE(two.decisions.empty());
  EXPECT_THAT(two.decisions[0], ::testing::HasSubstr("broadcast: 's' ([4]) is computed again per element in the "
                                                     "kernel of 'o' ([3, 4]), its only reader"));
  // The same producer also an output: stored once by a kernel of its own, not recomputed.
  TF_ASSERT_OK_AND_ASSIGN(Graph stored, GraphFromJson(absl::StrReplaceAll(NamedTestGraph("two_index_spaces").json,
                                                                          {{R"("outputs": ["o"])", R"("outputs": ["o", "s"])"}})));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan apart, PlanFusion(stored, {}));
  EXPECT_EQ(apart.kernels.size(), 2u);
  ASSERT_FALSE(apart.decisions.empty());
  EXPECT_THAT(apart.decisions[0], ::testing::HasSubstr("index spaces differ ([3, 4] vs [4])"));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan copy, PlanFusion(ParseTestGraph(NamedTestGraph("output_is_input")), {}));
  EXPECT_NE(copy.decisions.back().find("output 'x' is not computed by a kernel"), std::string::npos);
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan dead, PlanFusion(ParseTestGraph(NamedTestGraph("dead_node")), {}));
  EXPECT_NE(dead.decisions[0].find("dropped: 'unused'"), std::string::npos);
}

TEST(Planner, NoFusionThroughACycle) {
  // b reads a and t (a transpose of a); fusing b into a's kernel would need t, which needs a.
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "cycle",
    "inputs": [{"name": "x", "shape": [8, 8], "dtype": "f32"}],
    "nodes": [{"name": "a", "op": "exp", "inputs": ["x"]},
              {"name": "t", "op": "transpose", "inputs": ["a"], "attrs": {"dim0": 0, "dim1": 1}},
              {"name": "b", "op": "add", "inputs": ["a", "t"]}],
    "outputs": ["b"]})"));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, {}));
  EXPECT_EQ(plan.kernels.size(), 2u);
  bool explained = false;
  for (const std::string& d : plan.decisions) explained |= d.find("(a cycle)") != std::string::npos;
  EXPECT_TRUE(explained);
  std::mt19937_64 rng(3);
  const auto inputs = RandomInputs(g, {}, rng);
  TF_ASSERT_OK_AND_ASSIGN(auto ref, EvaluateReference(g, inputs));
  TF_ASSERT_OK_AND_ASSIGN(auto got, InterpretPlan(g, plan, inputs, {}));
  EXPECT_TRUE(AllClose(got[0], ref[0], ToleranceFor(g)));
}

TEST(Planner, ResidualStreamIsStoredFromThePrologue) {
  const Graph g = ParseTestGraph(*[] {
    for (const TestGraph& t : TileTestGraphs()) {
      if (t.name == "residual_stream") return &t;
    }
    return static_cast<const TestGraph*>(nullptr);
  }());
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, {}));
  ASSERT_EQ(plan.kernels.size(), 1u);
  const KernelSpec& spec = plan.kernels[0].spec;
  EXPECT_EQ(spec.tile, "rms_norm");
  ASSERT_EQ(spec.outputs.size(), 2u);
  EXPECT_EQ(spec.outputs[0].site, 0);              // h, from the load hook of input 0
  EXPECT_EQ(spec.outputs[1].site, kEpilogueSite);  // relu(y), from the store hook
  // x and r are read by the prologue, w by input 1's load; nothing at the epilogue.
  for (const OperandSpec& o : spec.operands) EXPECT_NE(o.site, kEpilogueSite);
}

TEST(Planner, ReductionsAreKernelsWithHookSites) {
  for (const TestGraph& t : ReduceTestGraphs()) {
    SCOPED_TRACE(t.name);
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(ParseTestGraph(t), {}));
    const KernelSpec& last = plan.kernels.back().spec;
    EXPECT_EQ(last.tile, "reduce");
    if (t.name == "mean_with_prologue_and_epilogue") {
      EXPECT_EQ(plan.kernels.size(), 1u);  // x * y in the load, relu in the store
      EXPECT_EQ(last.tile_inputs[0].expr->kind, ExprKind::kOp);
    }
  }
}

// Which reductions fold into the store and in which form; the refused ones say why.
TEST(Planner, StoreSiteReductionsTakeTheirForm) {
  struct Want {
    std::string decision;  // a decision of the plan says this
    int op;                // the first kernel's store-site reduction (-1: none)
    bool split;
  };
  const std::map<std::string, Want> expect = {
      {"rms_norm_then_sum", {"persistent", 0, false}},
      {"layer_norm_amax_keepdim", {"persistent", 1, false}},
      {"softmax_chain_amin", {"persistent", 2, false}},
      {"rms_norm_relu_mean_also_output", {"persistent", 3, false}},
      {"gemm_rowsum_persistent", {"persistent", 0, false}},
      {"gemm_colmean_persistent_keepdim", {"persistent", 3, false}},
      {"gemm_bias_gelu_rowsum_split", {"split", 0, true}},
      {"gemm_colmax_split_then_scale", {"split", 1, true}},
      {"gemm_linear_rowsum_also_output", {"split", 0, true}},
      {"rms_norm_var_only", {"persistent", 5, false}},
      {"softmax_mean_var_pair", {"share one Welford pass", 5, false}},
      {"gemm_row_mean_var_split", {"share one Welford pass", 5, true}},
      {"gemm_col_var_persistent", {"persistent", 5, false}},
      {"two_reductions_one_refused", {"one per kernel", 0, false}},
      {"rms_norm_then_amax_two_axes", {"already reduces 'a.dim1'", 1, false}},
      {"rms_norm_then_argmax", {"argmax carries an index", -1, false}},
      {"rms_norm_then_full_amax", {"reduces over every axis", -1, false}},
      {"rms_norm_then_sum_over_rows", {"spread that axis over CTAs", -1, false}},
      {"sum_then_rescale_refused", {"an un-reduced value of that kernel", 0, false}},
  };
  for (const TestGraph& t : StoreReduceTestGraphs()) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(expect.count(t.name));
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(ParseTestGraph(t), {}));
    const Want& want = expect.at(t.name);
    bool said = false;
    for (const std::string& d : plan.decisions) said |= d.find(want.decision) != std::string::npos;
    EXPECT_TRUE(said) << "no decision mentions '" << want.decision << "'";
    const KernelSpec& first = plan.kernels[0].spec;
    EXPECT_EQ(first.reduce.op, want.op);
    EXPECT_EQ(first.reduce.split, want.split);
    if (want.split) {
      EXPECT_EQ(plan.kernels[1].spec.tile, "reduce");  // the combine kernel
      EXPECT_EQ(plan.kernels[1].partial_of, 0);
      EXPECT_EQ(plan.kernels[1].spec.reduce_op, want.op == 5 ? 6 : want.op);
    }
  }
  // The un-reduced value is stored only where something else needs it.
  for (const TestGraph& t : StoreReduceTestGraphs()) {
    if (t.name != "gemm_linear_rowsum_also_output" && t.name != "rms_norm_then_sum") continue;
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(ParseTestGraph(t), {}));
    ASSERT_EQ(plan.kernels[0].spec.outputs.size(), 1u);
    EXPECT_EQ(plan.kernels[0].spec.outputs[0].site, t.name == "rms_norm_then_sum" ? kReducedSite : kEpilogueSite);
  }
}

TEST(Planner, GemmOperandsTakeTheAsyncPathWhenTheyCan) {
  const auto plan_of = [](const std::string& name) {
    for (const TestGraph& t : GemmTestGraphs()) {
      if (t.name == name) return *PlanFusion(ParseTestGraph(t), {});
    }
    return FusionPlan{};
  };
  const KernelSpec plain = plan_of("gemm_plain_1000").kernels[0].spec;
  EXPECT_GE(plain.a_async, 0);
  EXPECT_EQ(plain.b_layout, GemmBLayout::kRowMajor);
  const KernelSpec wt = plan_of("gemm_weight_transposed").kernels[0].spec;
  EXPECT_EQ(wt.b_layout, GemmBLayout::kColMajor);
  EXPECT_TRUE(wt.gemm.wgmma);  // sm_90 and a K-major B: the TMA + wgmma kernel
  EXPECT_TRUE(plain.gemm.wgmma);  // a row-major 16-bit B too, N-major in its stages
  EXPECT_TRUE(GemmNMajorB(plain));
  EXPECT_FALSE(GemmNMajorB(wt));
  EXPECT_FALSE(plan_of("gemm_decode_bias_silu").kernels[0].spec.gemm.wgmma);
  const KernelSpec at = plan_of("gemm_a_transposed").kernels[0].spec;
  EXPECT_EQ(at.a_async, -1);  // a strided A goes through its hook
  const KernelSpec relu = plan_of("gemm_relu_prologue").kernels[0].spec;
  EXPECT_EQ(relu.a_async, -1);  // a prologue stages A through registers...
  EXPECT_EQ(relu.b_layout, GemmBLayout::kColMajor);  // ...while B keeps the async copy path
  const KernelSpec both = plan_of("gemm_scale_prologue_row_major_b").kernels[0].spec;
  EXPECT_EQ(both.a_async, -1);
  EXPECT_EQ(both.b_layout, GemmBLayout::kHook);
  bool widening = false;
  for (const std::string& d : plan_of("gemm_f32_cast_prologue").decisions) {
    widening |= d.find("wider than the bf16 operand") != std::string::npos;
  }
  EXPECT_TRUE(widening);
  const FusionPlan refused = plan_of("gemm_long_prologue_refused");
  bool said = false;
  for (const std::string& d : refused.decisions) said |= d.find("exceed the budget") != std::string::npos;
  EXPECT_TRUE(said);
}

// A weight-only GEMM (x @ dequant(q, s).T): one kernel whose B prologue runs over the
// weight's own [N, K] (kHookNK), group scales read by group, the skinny kernel for the
// class M <= 16 and a static M of 16, mma.sync (no TMA can read a computed B) past it, up
// to 128 rows; a symbolic M past them runs the plan's second form (the weight dequantized
// once, a TMA GEMM), its classes from 256 rows on.
TEST(Planner, WeightOnlyGemmsDequantizeInTheirBLoad) {
  for (const char* name : {"weight_only_i8", "weight_only_i4_groups", "weight_only_f8_silu"}) {
    SCOPED_TRACE(name);
    const Graph g = ParseTestGraph(NamedTestGraph(name));
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, PlanOptions{}));
    ASSERT_EQ(plan.kernels.size(), 3u);
    const KernelPlan& k = plan.kernels[0];
    const std::vector<int64_t> m100 = {100}, m129 = {129};
    EXPECT_TRUE(k.RunsAt(m100));
    EXPECT_FALSE(k.RunsAt(m129));
    for (int i : {1, 2}) {
      EXPECT_FALSE(plan.kernels[i].RunsAt(m100));
      EXPECT_TRUE(plan.kernels[i].RunsAt(m129));
    }
    EXPECT_EQ(plan.kernels[2].spec.b_layout, GemmBLayout::kColMajor);
    const std::vector<ShapeClass> large = GemmShapeClasses(plan.kernels[2], kDefaultMClasses, 132);
    for (const ShapeClass& c : large) EXPECT_GT(c.max_m, 128);
    EXPECT_EQ(k.spec.b_layout, GemmBLayout::kHookNK);
    EXPECT_FALSE(k.spec.gemm.wgmma);
    EXPECT_EQ(k.spec.b_async, -1);
    bool group = false;
    for (const OperandSpec& o : k.spec.operands) group |= o.access == Access::kGroup;
    EXPECT_EQ(group, std::string(name) == "weight_only_i4_groups");
    const std::vector<ShapeClass> classes = GemmShapeClasses(k, kDefaultMClasses, 132);
    ASSERT_FALSE(classes.empty());
    EXPECT_TRUE(classes[0].gemm.skinny);
    EXPECT_EQ(classes[0].max_m, 16);
    EXPECT_LE(classes.back().max_m, 128);  // none past the form's range
    for (size_t c = 1; c < classes.size(); ++c) EXPECT_FALSE(classes[c].gemm.skinny) << classes[c].max_m;
    bool said = false;
    for (const std::string& d : plan.decisions) said |= d.find("dequantized in the load") != std::string::npos;
    EXPECT_TRUE(said);
  }
  // A static decode M: the skinny kernel, K split while the CTAs stay within 4 per SM.
  const Graph g = *GraphFromJson(R"({"name": "d", "inputs": [{"name": "x", "shape": [4, 4096], "dtype": "bf16"},
      {"name": "q", "shape": [14336, 4096], "dtype": "i8"}, {"name": "s", "shape": [14336, 1], "dtype": "f32"}],
      "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s"], "attrs": {"dtype": "bf16"}},
                {"name": "t", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                {"name": "y", "op": "matmul", "inputs": ["x", "t"]}], "outputs": ["y"]})");
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, PlanOptions{}));
  ASSERT_EQ(plan.kernels.size(), 1u);
  EXPECT_EQ(plan.kernels[0].spec.gemm.ToString(), "skinny 16x64x128 w4 s4 split 2");
  // A static M past one row tile: the weight dequantized once by a kernel of its own, the
  // GEMM reading it by TMA, and the refusal says why.
  const Graph prefill = *GraphFromJson(R"({"name": "p", "inputs": [{"name": "x", "shape": [4096, 256], "dtype": "bf16"},
      {"name": "q", "shape": [512, 256], "dtype": "i8"}, {"name": "s", "shape": [512, 1], "dtype": "bf16"}],
      "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s"], "attrs": {"dtype": "bf16"}},
                {"name": "t", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                {"name": "y", "op": "matmul", "inputs": ["x", "t"]}], "outputs": ["y"]})");
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan large, PlanFusion(prefill, PlanOptions{}));
  ASSERT_EQ(large.kernels.size(), 2u);
  EXPECT_EQ(large.kernels.back().spec.b_layout, GemmBLayout::kColMajor);
  bool refused = false;
  for (const std::string& d : large.decisions) refused |= d.find("M = 4096 rows would dequantize each weight 32 times") != std::string::npos;
  EXPECT_TRUE(refused);
  // Read by something else too, the dequantized weight is stored and read by TMA.
  const Graph both = *GraphFromJson(R"({"name": "b", "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"},
      {"name": "q", "shape": [64, 64], "dtype": "i8"}, {"name": "s", "shape": [64, 1], "dtype": "f32"}],
      "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s"], "attrs": {"dtype": "bf16"}},
                {"name": "t", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                {"name": "y", "op": "matmul", "inputs": ["x", "t"]}], "outputs": ["y", "w"]})");
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan stored, PlanFusion(both, PlanOptions{}));
  EXPECT_EQ(stored.kernels.size(), 2u);
  EXPECT_EQ(stored.kernels.back().spec.b_layout, GemmBLayout::kColMajor);
}

}  // namespace
}  // namespace tilefuse::internal
