// Pointwise plans on the GPU against the CPU reference: every test graph and 300 random
// graphs, fused and unfused, fresh random inputs, outputs poisoned, misaligned pointers.
#include <array>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/graph/json.h"
#include "runtime/autotune.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/plan.h"
#include "test/custom_kernel.h"
#include "test/gpu_harness.h"
#include "test/host_data.h"
#include "test/random_graphs.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {
namespace {

void CheckOnGpu(const Graph& g, const std::vector<int64_t>& syms, KernelCache& cache,
                std::mt19937_64& rng, bool fuse, size_t misalign) {
  CompileOptions o = GpuOptions();
  o.fuse = fuse;
  o.cache = &cache;
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
  EXPECT_TRUE(MatchesReference(plan, syms, rng, misalign)) << (fuse ? "fused" : "unfused") << ", misalign " << misalign;
}

// Every graph of `graphs`, fused and unfused, aligned and misaligned.
void CheckGraphsOnGpu(const std::vector<TestGraph>& graphs, uint64_t seed) {
  KernelCache cache;
  PrecompileGraphs(graphs, cache);
  std::mt19937_64 rng(seed);
  for (const TestGraph& t : graphs) {
    SCOPED_TRACE(t.name);
    const Graph g = ParseTestGraph(t);
    const auto syms = BindSymbols(g, t.symbols);
    for (bool fuse : {true, false}) {
      for (size_t misalign : {0, 4}) CheckOnGpu(g, syms, cache, rng, fuse, misalign);
    }
  }
}

TEST(GpuPointwise, TestGraphsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  CheckGraphsOnGpu(AllTestGraphs(), 11);
}

// The batched GEMMs alone (in AllTestGraphs too): a quick check, and memcheck's target.
TEST(GpuGemm, BatchedGraphsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  CheckGraphsOnGpu(BatchedTestGraphs(), 13);
}

// The low-precision graphs alone (they are in AllTestGraphs too): a quick check of the
// types, dequant in a GEMM's B load, quantize in a norm's store.
TEST(GpuQuant, QuantGraphsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  CheckGraphsOnGpu(QuantTestGraphs(), 21);
}

// Weight-only GEMMs at decode sizes run the skinny kernel (its class of M <= 16): M at 1,
// 8 (one MMA column tile), 9 and 16 (two), against the reference, and 129 and 300 (the
// plan's second form: the weight dequantized once, a TMA GEMM); then forced tiles, TMA
// stages and splits of K (1, 3: slices of unequal work, 8) at M = 13 and, misaligned, 5.
TEST(GpuQuant, SkinnyWeightOnlyGemmsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  KernelCache cache;
  std::mt19937_64 rng(23);
  int skinny = 0;
  for (const char* name : {"weight_only_i8", "weight_only_i4_groups", "weight_only_f8_silu", "weight_only_i8_odd",
                           "weight_only_i4_g128", "weight_only_i8_f16_scalar", "weight_only_i4_f16_groups",
                           "weight_only_f8_rows", "weight_only_f8_f16_groups"}) {
    const Graph g = ParseTestGraph(NamedTestGraph(name));
    CompileOptions o = GpuOptions();
    o.cache = &cache;
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
    for (const KernelPlan& k : plan.fusion_plan().kernels) {
      for (const ShapeClass& c : k.classes) skinny += c.gemm.skinny && c.max_m == 16;
    }
    for (int64_t m : {1, 8, 9, 16, 129, 300}) {  // past 128 rows: the plan's second form
      SCOPED_TRACE(absl::StrCat(name, " M = ", m));
      EXPECT_TRUE(MatchesReference(plan, {m}, rng));
      EXPECT_TRUE(MatchesReference(plan, {m}, rng, 4));
    }
    // (warps, bytes of a row per stage, stages, split): the TMA form's ring of 2 to 5
    // stages wrapping round, stages of 1 to 4 boxes (chunks past K's end, slices ending in
    // a chunk's middle), 1 to 8 warps; aligned (TMA where K allows) and misaligned (the
    // register form).
    for (const auto& [warps, bk, stages, split] :
         std::vector<std::array<int, 4>>{{4, 128, 2, 1}, {8, 256, 4, 3}, {1, 512, 5, 8}, {2, 512, 2, 2}, {4, 256, 3, 1}}) {
      GemmConfig c{16, 16 * warps, bk, 1, warps, stages};
      c.skinny = true;
      c.split_k = split;
      SCOPED_TRACE(absl::StrCat(name, " ", c.ToString()));
      CompileOptions forced = o;
      forced.gemm_config = c;
      TF_ASSERT_OK_AND_ASSIGN(Plan p, Compile(g, forced));
      EXPECT_TRUE(MatchesReference(p, {13}, rng));
      EXPECT_TRUE(MatchesReference(p, {5}, rng, 4));
    }
  }
  EXPECT_EQ(skinny, 9);
}

// fp8 GEMMs (f8_gemm.h) against the reference at the bounds of Planner.Fp8Gemms...: the
// codes by TMA (aligned) and through the element path (misaligned by 4 bytes, and K = 200
// in f8_gemm_casts_odd_k); the symbolic graph at each class of its fp8 form (M 129, 300,
// 1000) and at 100 (its first form: the dequant in the mma.sync kernel's loads).
TEST(GpuQuant, Fp8GemmsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  KernelCache cache;
  std::mt19937_64 rng(29);
  for (const auto& [name, tol] : std::vector<std::pair<const char*, double>>{
           {"f8_gemm_rows", 1.0 / 8}, {"f8_gemm_mixed_rowsum", 1.0 / 512}, {"f8_gemm_casts_odd_k", 1.0 / 512}}) {
    const TestGraph& t = NamedTestGraph(name);
    const Graph g = ParseTestGraph(t);
    CompileOptions o = GpuOptions();
    o.cache = &cache;
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
    const bool symbolic = !t.symbols.empty();
    for (int64_t m : symbolic ? std::vector<int64_t>{100, 129, 300, 1000} : std::vector<int64_t>{0}) {
      for (size_t misalign : {0, 4}) {
        SCOPED_TRACE(absl::StrCat(name, " M = ", m, " misaligned by ", misalign));
        EXPECT_TRUE(MatchesReference(plan, symbolic ? std::vector<int64_t>{m} : std::vector<int64_t>{}, rng,
                                     misalign, tol));
      }
    }
  }
  // Forced tiles: 64 x 64 (one consumer warpgroup), 128 x 256, the ping-pong kernel's
  // multicast pairs, and K split over a cluster of 2 and of 3 (K = 200 or 320 is two or three k-tiles of 128 codes: a split may have
  // none), through the element path (K = 200) and TMA (K = 320).
  const TestGraph& casts = NamedTestGraph("f8_gemm_casts_odd_k");
  const Graph odd = ParseTestGraph(casts);
  TF_ASSERT_OK_AND_ASSIGN(const Graph whole, GraphFromJson(absl::StrReplaceAll(casts.json, {{"200]", "320]"}})));
  // e5m2 x e5m2, the fourth mix (the graphs above: e4m3 x e4m3, e4m3 x e5m2, e5m2 x e4m3).
  TF_ASSERT_OK_AND_ASSIGN(const Graph e5m2, GraphFromJson(absl::StrReplaceAll(casts.json, {{"f8e4m3", "f8e5m2"}})));
  std::vector<GemmConfig> forced = {WgmmaGemmConfig(8, 64, 64), WgmmaGemmConfig(8, 64, 64), WgmmaGemmConfig(4, 128, 256),
                                    WgmmaGemmConfig(6), MulticastGemmConfig()};
  forced[1].split_k = 3;
  forced[3].split_k = 2;
  for (const Graph* g : {&odd, &whole, &e5m2}) {
    for (const GemmConfig& c : forced) {
      SCOPED_TRACE(absl::StrCat("forced ", c.ToString(), " K = ", g->node(g->inputs()[0]).shape[1].value));
      CompileOptions o = GpuOptions();
      o.cache = &cache;
      o.gemm_config = c;
      TF_ASSERT_OK_AND_ASSIGN(Plan p, Compile(*g, o));
      for (size_t misalign : {0, 4}) EXPECT_TRUE(MatchesReference(p, {}, rng, misalign, 1.0 / 512));
    }
  }
}

TEST(GpuPointwise, OneBinaryServesManySizes) {
  TF_SKIP_WITHOUT_GPU();
  KernelCache cache;
  std::mt19937_64 rng(5);
  const Graph g = ParseTestGraph(PointwiseTestGraphs()[1]);  // scale_add_gelu_cast over [N]
  for (int64_t n : {1, 7, 8, 9, 4096, 65537, 3000001}) {
    SCOPED_TRACE(n);
    CheckOnGpu(g, {n}, cache, rng, true, 0);
  }
  EXPECT_EQ(cache.stats().compiles, 1);
}

// `count` seeded graphs of `make`, fused and unfused (every third misaligned), until one
// fails.
void CheckRandomGraphsOnGpu(RandomGraph (*make)(uint64_t), int count, uint64_t rng_seed) {
  KernelCache cache;
  std::mt19937_64 rng(rng_seed);
  for (int seed = 0; seed < count; ++seed) {
    RandomGraph r = make(seed);
    SCOPED_TRACE(GraphToJson(r.graph));
    const auto syms = BindSymbols(r.graph, r.symbols);
    for (bool fuse : {true, false}) CheckOnGpu(r.graph, syms, cache, rng, fuse, seed % 3 == 0 ? 4 : 0);
    if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) break;
  }
}

TEST(GpuPointwise, RandomGraphsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  CheckRandomGraphsOnGpu(MakeRandomPointwiseGraph, 300, 99);
}

TEST(GpuRow, RandomRowProgramsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  CheckRandomGraphsOnGpu(MakeRandomRowGraph, 100, 41);
}

TEST(GpuTile, RegisteredKernelWithEpilogueMatchesItsReference) {
  TF_SKIP_WITHOUT_GPU();
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(CustomKernelGraphJson(), &TestRegistry()));
  KernelCache cache;
  std::mt19937_64 rng(8);
  for (bool fuse : {true, false}) {
    for (size_t misalign : {0, 4}) CheckOnGpu(g, BindSymbols(g, {{"M", 21}}), cache, rng, fuse, misalign);
  }
}

TEST(GpuTile, RunsAreBitIdentical) {
  TF_SKIP_WITHOUT_GPU();
  KernelCache cache;
  std::mt19937_64 rng(2);
  std::vector<TestGraph> graphs = TileTestGraphs();
  graphs.insert(graphs.end(), ReduceTestGraphs().begin(), ReduceTestGraphs().end());
  graphs.insert(graphs.end(), StoreReduceTestGraphs().begin(), StoreReduceTestGraphs().end());
  graphs.insert(graphs.end(), RowTestGraphs().begin(), RowTestGraphs().end());
  for (const TestGraph& t : graphs) {
    SCOPED_TRACE(t.name);
    const Graph g = ParseTestGraph(t);
    const auto syms = BindSymbols(g, t.symbols);
    CompileOptions o = GpuOptions();
    o.cache = &cache;
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
    const auto inputs = RandomInputs(g, syms, rng);
    TF_ASSERT_OK_AND_ASSIGN(auto a, RunOnGpu(plan, inputs, syms));
    TF_ASSERT_OK_AND_ASSIGN(auto b, RunOnGpu(plan, inputs, syms));
    for (size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k].bytes, b[k].bytes);
  }
}

// A GEMM's row epilogue over rows wider than a tile (CompileOptions::wide_row_epilogues):
// on sm_90 column tiles, two per CTA and over a cluster, that combine each row's
// reductions (GemmConfig::row_tiles, row_cluster). Each row-cluster graph at
// M of one row, one whole band, a band and one row, several bands with the last partial,
// against the reference, and run twice on the same inputs with the same bits.
TEST(GpuRow, RowClustersMatchTheReferenceAndRepeatTheirBits) {
  TF_SKIP_WITHOUT_GPU();
  KernelCache cache;
  std::mt19937_64 rng(23);
  for (const char* name : {"hopper_rms_norm_1024", "hopper_layer_norm_600", "hopper_softmax_decomposed_1000",
                           "hopper_rms_norm_decomposed_2048"}) {
    SCOPED_TRACE(name);
    const Graph g = ParseTestGraph(NamedTestGraph(name));
    CompileOptions o = GpuOptions();
    o.cache = &cache;
    o.wide_row_epilogues = true;
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
    ASSERT_EQ(plan.num_kernels(), 1);
    const std::string explain = plan.Explain();
    if (explain.find("for sm_90") != std::string::npos) EXPECT_NE(explain.find("row_cluster"), std::string::npos) << explain;
    for (int64_t m : {1, 128, 129, 300}) {
      SCOPED_TRACE(absl::StrCat("M ", m));
      const std::vector<int64_t> syms = {m};
      EXPECT_TRUE(MatchesReference(plan, syms, rng, 0));
      const auto inputs = RandomInputs(g, syms, rng);
      TF_ASSERT_OK_AND_ASSIGN(auto a, RunOnGpu(plan, inputs, syms));
      TF_ASSERT_OK_AND_ASSIGN(auto b, RunOnGpu(plan, inputs, syms));
      for (size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k].bytes, b[k].bytes);
    }
  }
}

// The GEMM test graph that takes the TMA + wgmma kernel, with an epilogue.
const TestGraph* WgmmaBiasGelu() { return &NamedTestGraph("wgmma_bias_gelu"); }

// Plan::Run keeps the Hopper GEMM's tensor maps while the operands keep their address and
// sizes: runs at changing M (new maps) and repeated M (maybe reused maps) all match.
TEST(GpuGemm, TensorMapsFollowTheOperands) {
  TF_SKIP_WITHOUT_GPU();
  const TestGraph* t = WgmmaBiasGelu();
  ASSERT_NE(t, nullptr);
  const Graph g = ParseTestGraph(*t);
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, GpuOptions()));
  ASSERT_TRUE(plan.fusion_plan().kernels[0].spec.gemm.wgmma);
  std::mt19937_64 rng(17);
  for (int64_t m : {200, 328, 200, 200, 64}) {
    SCOPED_TRACE(m);
    EXPECT_TRUE(MatchesReference(plan, BindSymbols(g, {{"M", m}}), rng));
  }
}

// Every wgmma test graph under the other stage counts: three stages run two CTAs per SM
// (kernels/gemm_sm90.cuh), and a misaligned run loads through the hooks with the one
// producer warp that a kernel without an A prologue has.
TEST(GpuGemm, WgmmaStageCountsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(29);
  int checked = 0;
  for (const TestGraph& t : AllTestGraphs()) {
    if (t.name.rfind("wgmma_", 0) != 0) continue;
    const Graph g = ParseTestGraph(t);
    const auto syms = BindSymbols(g, t.symbols);
    for (int stages : {3, 4}) {
      SCOPED_TRACE(absl::StrCat(t.name, " stages ", stages));
      CompileOptions o = GpuOptions();
      o.gemm_config = WgmmaGemmConfig(stages);
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
      const KernelSpec& spec = plan.fusion_plan().kernels.back().spec;
      ASSERT_TRUE(spec.gemm.wgmma) << plan.Explain();
      ASSERT_EQ(spec.gemm.stages, stages);
      const GemmLaunch launch = GemmLaunchOf(spec);
      if (!launch.pingpong) {
        EXPECT_EQ(launch.min_blocks, stages == 3 && spec.a_async >= 0 ? 2 : 1);
      }
      for (size_t misalign : {0, 4}) {
        EXPECT_TRUE(MatchesReference(plan, syms, rng, misalign)) << "misalign " << misalign;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 8);
}

// `plan` at each M of `rows`: against the reference aligned and misaligned by 4 bytes, and
// run twice on the same inputs with the same bits in its last output.
void CheckRowsRepeatingBits(Plan& plan, const Graph& g, std::initializer_list<int64_t> rows, std::mt19937_64& rng) {
  for (int64_t m : rows) {
    const auto syms = BindSymbols(g, {{"M", m}});
    for (size_t misalign : {0, 4}) {
      EXPECT_TRUE(MatchesReference(plan, syms, rng, misalign)) << "M " << m << " misalign " << misalign;
    }
    const auto inputs = RandomInputs(g, syms, rng);
    TF_ASSERT_OK_AND_ASSIGN(auto a, RunOnGpu(plan, inputs, syms));
    TF_ASSERT_OK_AND_ASSIGN(auto b, RunOnGpu(plan, inputs, syms));
    EXPECT_EQ(a.back().bytes, b.back().bytes) << "M " << m;
  }
}

// The Hopper kernel with K split over a cluster and with tiles of 64 rows or columns, or of
// 192 or 256 columns (64-row ones: the store's threads past whole rows of chunks idle): every
// wgmma test graph (A prologues, N and K tails, f16), aligned and through the hooks, at M of
// one row, one tile and one past it; splits of 2, 3 (a tile's rows not divisible: rank 0
// stores) and 8 (slices past the k-tiles are empty); two runs of one input give the same
// bits.
TEST(GpuGemm, WgmmaSplitKMatchesTheReferenceAndRepeatsItsBits) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(31);
  int checked = 0;
  for (const TestGraph& t : AllTestGraphs()) {
    if (t.name.rfind("wgmma_", 0) != 0) continue;
    const Graph g = ParseTestGraph(t);
    for (const auto& [stages, bm, bn, split] : std::vector<std::array<int, 4>>{
             {3, 128, 128, 2}, {4, 128, 128, 3}, {3, 128, 128, 8}, {8, 64, 64, 1}, {12, 64, 64, 2},
             {8, 128, 64, 3}, {6, 64, 128, 1}, {5, 128, 192, 1}, {4, 128, 192, 2}, {4, 128, 256, 1},
             {5, 64, 192, 1}, {5, 64, 192, 4}, {4, 64, 256, 2}}) {
      CompileOptions o = GpuOptions();
      o.gemm_config = WgmmaGemmConfig(stages, bm, bn);
      o.gemm_config->split_k = split;
      SCOPED_TRACE(absl::StrCat(t.name, " ", o.gemm_config->ToString()));
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
      const KernelSpec& spec = plan.fusion_plan().kernels.back().spec;
      ASSERT_TRUE(spec.gemm.wgmma) << plan.Explain();
      ASSERT_EQ(spec.gemm.split_k, split);
      CheckRowsRepeatingBits(plan, g, {1, 128, 129}, rng);
      ++checked;
    }
  }
  EXPECT_GE(checked, 52);
}

// The ping-pong kernel in clusters of two sharing B tiles (GemmConfig::multicast): every
// wgmma test graph (bias, epilogues, odd N, K tails, f16; A prologues and dual GEMMs take
// the one-tile kernel or no multicast), on all SMs and on 4 (each cluster walks many
// pairs, the ping-pong turns and the stages wrap), at M of one row (an odd tile count: a
// pair's second tile past the last), one band, one past it, 3 bands (pairs of different
// columns) and 8, aligned (TMA, multicast) and misaligned (the hooks), bit for bit again.
TEST(GpuGemm, MulticastPairsMatchTheReferenceAndRepeatTheirBits) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(37);
  int multicast = 0;
  for (const TestGraph& t : AllTestGraphs()) {
    if (t.name.rfind("wgmma_", 0) != 0) continue;
    const Graph g = ParseTestGraph(t);
    for (int sms : {0, 4}) {
      CompileOptions o = GpuOptions();
      o.gemm_config = MulticastGemmConfig();
      o.sm_count = sms;
      SCOPED_TRACE(absl::StrCat(t.name, " on ", sms, " SMs"));
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
      const KernelSpec& spec = plan.fusion_plan().kernels.back().spec;
      const GemmLaunch launch = GemmLaunchOf(spec);
      if (spec.a_async >= 0 && !spec.dual) {
        ASSERT_TRUE(launch.pingpong && launch.multicast == 2) << plan.Explain();
        ++multicast;
      }
      CheckRowsRepeatingBits(plan, g, {1, 128, 129, 300, 1000}, rng);
    }
  }
  EXPECT_GE(multicast, 8);
}

// Other tile walks (GemmConfig::group): rows of tiles one at a time and three at a time (a
// last group of fewer rows at M = 1000: 8 bands) in the ping-pong kernel, on all SMs and on
// 4 (each CTA walks many tiles), and three in the one-tile 128 x 192 kernel; every wgmma
// test graph, aligned and misaligned, bit for bit again.
TEST(GpuGemm, TileWalkGroupsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(41);
  GemmConfig one = WgmmaGemmConfig(5), three = WgmmaGemmConfig(5), wide = WgmmaGemmConfig(5, 128, 192);
  one.group = 1;
  three.group = 3;
  wide.group = 3;
  int checked = 0;
  for (const TestGraph& t : AllTestGraphs()) {
    if (t.name.rfind("wgmma_", 0) != 0) continue;
    const Graph g = ParseTestGraph(t);
    for (const GemmConfig& c : {one, three, wide}) {
      for (int sms : {0, 4}) {
        CompileOptions o = GpuOptions();
        o.gemm_config = c;
        o.sm_count = sms;
        SCOPED_TRACE(absl::StrCat(t.name, " ", c.ToString(), " on ", sms, " SMs"));
        TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
        // (A GEMM that cannot run the config, e.g. a dual GEMM's, keeps its own.)
        checked += plan.fusion_plan().kernels.back().spec.gemm.ToString() == c.ToString();
        CheckRowsRepeatingBits(plan, g, {1, 300, 1000}, rng);
      }
    }
  }
  EXPECT_GE(checked, 24);
}

// 64-row Hopper tiles whose stages hold 16 rows of A (GemmConfig::a_rows; the wgmmas read
// the rest of a 64-row window from whatever follows, rows the epilogue never stores): every
// wgmma test graph (A prologues, the dual GEMM, f16, tails) with the class forced, at M 1,
// 7 and 16 (the class) and 17 (the planned config past it), aligned (TMA) and misaligned
// (the producers' hooks), repeated bit for bit.
TEST(GpuGemm, SixteenRowAStagesMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(47);
  int checked = 0;
  for (const TestGraph& t : AllTestGraphs()) {
    if (t.name.rfind("wgmma_", 0) != 0) continue;
    const Graph g = ParseTestGraph(t);
    for (const auto& [stages, bn, split] : std::vector<std::array<int, 3>>{{12, 128, 1}, {8, 128, 2}, {10, 64, 3}}) {
      CompileOptions o = GpuOptions();
      o.gemm_config = WgmmaGemmConfig(stages, 64, bn);
      o.gemm_config->split_k = split;
      o.gemm_config->a_rows = 16;
      SCOPED_TRACE(absl::StrCat(t.name, " ", o.gemm_config->ToString()));
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
      const KernelPlan& k = plan.fusion_plan().kernels.back();
      if (k.spec.tile != "matmul" || !GemmWgmmaCapable(k.spec) || IsF8Gemm(k.spec)) continue;
      ASSERT_EQ(k.classes.size(), 1u) << plan.Explain();
      ASSERT_EQ(k.classes[0].gemm.a_rows, 16);
      CheckRowsRepeatingBits(plan, g, {1, 7, 16, 17}, rng);
      ++checked;
    }
  }
  EXPECT_GE(checked, 12);
}

// A Llama-3-8B decode layer's shapes at their default configs, M symbolic: the down
// projection (14336 -> 4096, bf16: at M <= 16 the 64-row Hopper tile with 16-row A stages
// and K split), and the int8 and int4 (groups of 128) weight-only up projections (4096 ->
// 14336: the skinny kernel, its weights by TMA). M = 1 and 16 (the class's bounds).
TEST(GpuGemm, DecodeLayerShapesAtTheirDefaultsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(53);
  const std::string bf16 = R"({"inputs": [{"name": "x", "shape": ["M", 14336], "dtype": "bf16"},
                                          {"name": "w", "shape": [4096, 14336], "dtype": "bf16"}],
    "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
              {"name": "y", "op": "matmul", "inputs": ["x", "wt"]}], "outputs": ["y"]})";
  const auto weight_only = [](const char* q, int64_t scales, const char* group) {
    return absl::StrCat(R"({"inputs": [{"name": "x", "shape": ["M", 4096], "dtype": "bf16"},
                                       {"name": "q", "shape": [14336, 4096], "dtype": ")", q, R"("},
                                       {"name": "s", "shape": [14336, )", scales, R"(], "dtype": "bf16"}],
      "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s"], "attrs": {"dtype": "bf16")", group, R"(}},
                {"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                {"name": "y", "op": "matmul", "inputs": ["x", "wt"]}], "outputs": ["y"]})");
  };
  for (const std::string& json : {bf16, weight_only("i8", 1, ""), weight_only("i4", 32, R"(, "group": 128)")}) {
    TF_ASSERT_OK_AND_ASSIGN(const Graph g, GraphFromJson(json));
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, GpuOptions()));
    for (int64_t m : {1, 16}) {
      SCOPED_TRACE(absl::StrCat(g.node(g.inputs()[1]).name, " ", DTypeName(g.node(g.inputs()[1]).dtype), " M = ", m));
      EXPECT_TRUE(MatchesReference(plan, {m}, rng)) << plan.Explain();
    }
  }
}

// Dual GEMMs (two B operands, both products in one tile) against the reference: every dual
// test graph at the default shape classes' bounds and past them (mma.sync, the Hopper
// kernel, ping-pong), and forced mma.sync tiles with K split 1 and 3; aligned (cp.async,
// TMA) and misaligned by 4 bytes (the hooks). WgmmaSplitK... above forces every Hopper tile
// on wgmma_dual_swiglu.
TEST(GpuGemm, DualGemmsMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(41);
  KernelCache cache;
  GemmConfig narrow = DefaultGemmConfig(Dim::Static(16));
  GemmConfig split = narrow;
  split.split_k = 3;
  GemmConfig mma;  // 128 x 128 by 32 of K, the mma.sync kernel's own default
  for (const TestGraph& t : DualTestGraphs()) {
    const Graph g = ParseTestGraph(t);
    for (int forced = -1; forced < 3; ++forced) {
      CompileOptions o = GpuOptions();
      o.cache = &cache;
      if (forced >= 0) o.gemm_config = forced == 0 ? narrow : forced == 1 ? split : mma;
      SCOPED_TRACE(absl::StrCat(t.name, forced >= 0 ? absl::StrCat(" forced ", o.gemm_config->ToString()) : ""));
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
      bool dual = false;
      for (const KernelPlan& k : plan.fusion_plan().kernels) dual |= k.spec.dual;
      ASSERT_TRUE(dual) << plan.Explain();
      for (int64_t m : {1, 16, 17, 64, 65, 129, 300}) {
        if (forced >= 0 && m > 65) continue;
        const auto syms = BindSymbols(g, {{"M", m}});
        for (size_t misalign : {0, 4}) {
          EXPECT_TRUE(MatchesReference(plan, syms, rng, misalign)) << "M " << m << " misalign " << misalign;
        }
      }
    }
  }
}

// Overlapped launches (CompileOptions::overlap_launches): each kernel after a run's first
// starts while the one before finishes and waits in its code for that one's results. The
// same plans run serially give the same bits, on fresh inputs each time (so that a kernel
// reading its predecessor's output early would read the last run's values); unfused plans
// chain a kernel per op, and the MLP block's GEMMs prefetch their weights before the wait.
TEST(GpuPlan, OverlappedLaunchesMatchSerialOnes) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(43);
  KernelCache cache;
  std::vector<TestGraph> graphs = DualTestGraphs();
  graphs.insert(graphs.end(), TileTestGraphs().begin(), TileTestGraphs().end());
  int chains = 0;
  for (const TestGraph& t : graphs) {
    const Graph g = ParseTestGraph(t);
    for (bool fuse : {true, false}) {
      SCOPED_TRACE(absl::StrCat(t.name, fuse ? " fused" : " unfused"));
      CompileOptions o = GpuOptions();
      o.cache = &cache;
      o.fuse = fuse;
      TF_ASSERT_OK_AND_ASSIGN(Plan overlapped, Compile(g, o));
      o.overlap_launches = false;
      TF_ASSERT_OK_AND_ASSIGN(Plan serial, Compile(g, o));
      chains += overlapped.fusion_plan().kernels.size() > 1;
      std::map<std::string, int64_t> sizes = t.symbols;
      for (int64_t m : {1, 16, 200}) {
        if (sizes.count("M") != 0) sizes["M"] = m;
        const auto syms = BindSymbols(g, sizes);
        const auto inputs = RandomInputs(g, syms, rng);
        TF_ASSERT_OK_AND_ASSIGN(auto a, RunOnGpu(overlapped, inputs, syms));
        TF_ASSERT_OK_AND_ASSIGN(auto b, RunOnGpu(serial, inputs, syms));
        ASSERT_EQ(a.size(), b.size());
        for (size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k].bytes, b[k].bytes) << "output " << k << ", M " << m;
      }
    }
  }
  EXPECT_GT(chains, 10);
}

// Shape classes past 256 rows take 128 x 192 or 128 x 256 tiles where they leave less work
// in the busiest SM than the ping-pong kernel's 128 x 128 (here on 8 SMs, so that a small
// GEMM has several waves): the bias + gelu GEMM at each class bound and one past it,
// aligned and through the hooks, against the reference.
TEST(GpuGemm, WideTileClassesMatchAtTheirBounds) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(37);
  const Graph g = ParseTestGraph(NamedTestGraph("wgmma_bias_gelu"));
  CompileOptions o = GpuOptions();
  o.sm_count = 8;
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
  const std::string explain = plan.Explain();
  ASSERT_NE(explain.find("class M <= 512: wgmma 128x192x64"), std::string::npos) << explain;
  for (int64_t m : {int64_t{256}, int64_t{257}, int64_t{512}, int64_t{513}, int64_t{1024}, int64_t{1025}}) {
    const auto syms = BindSymbols(g, {{"M", m}});
    for (size_t misalign : {0, 4}) {
      EXPECT_TRUE(MatchesReference(plan, syms, rng, misalign)) << "M " << m << " misalign " << misalign << "\n"
                                                               << explain;
    }
  }
}

// Split-K GEMMs against the reference: decode shapes, a single row of odd width, K slices
// that are empty (K = 100 in one k-tile), a weight read as w.T with N and K tails (and
// misaligned, through the hooks), M growing between runs; two runs of one input give the
// same bits (partials are added in split order). On sm_90 the splits of a tile are a
// cluster summing through distributed shared memory.
TEST(GpuGemm, SplitKMatchesTheReferenceAndRepeatsItsBits) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(23);
  for (const char* name : {"gemm_decode_bias_silu", "gemm_single_row_odd_n", "gemm_k_not_multiple_of_8",
                           "gemm_decode_weight_t_tails"}) {
    const TestGraph* t = &NamedTestGraph(name);
    ASSERT_NE(t, nullptr) << name;
    const Graph g = ParseTestGraph(*t);
    for (const GemmConfig& c : GemmCandidates(Dim::Static(16))) {
      if (c.split_k == 1) continue;
      SCOPED_TRACE(absl::StrCat(name, " ", c.ToString()));
      CompileOptions o = GpuOptions();
      o.gemm_config = c;
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
      const KernelSpec& spec = plan.fusion_plan().kernels[0].spec;
      ASSERT_EQ(spec.gemm.split_k, c.split_k) << plan.Explain();
      EXPECT_EQ(GemmClusterSplit(spec), c.split_k > 1);  // the H100 is sm_90
      if (std::string(name) == "gemm_decode_weight_t_tails") {
        EXPECT_TRUE(MatchesReference(plan, BindSymbols(g, t->symbols), rng, 4));  // misaligned: hook loads
      }
      for (int64_t m : {int64_t{50}, int64_t{200}}) {
        const auto syms = t->symbols.empty() ? BindSymbols(g, t->symbols) : BindSymbols(g, {{"M", m}});
        const auto inputs = RandomInputs(g, syms, rng);
        TF_ASSERT_OK_AND_ASSIGN(auto ref, EvaluateReference(g, inputs));
        TF_ASSERT_OK_AND_ASSIGN(auto a, RunOnGpu(plan, inputs, syms));
        TF_ASSERT_OK_AND_ASSIGN(auto b, RunOnGpu(plan, inputs, syms));
        EXPECT_TRUE(AllClose(a[0], ref[0], ToleranceFor(g)));
        EXPECT_EQ(a[0].bytes, b[0].bytes);
        if (t->symbols.empty()) break;
      }
    }
  }
}

TEST(GpuGemm, AutotuneTimesThePlainGemmAndKeepsTheFusion) {
  TF_SKIP_WITHOUT_GPU();
  const TestGraph* t = WgmmaBiasGelu();
  ASSERT_NE(t, nullptr);
  const Graph g = ParseTestGraph(*t);
  const std::string path = ::testing::TempDir() + "/gpu_tuning.json";
  std::remove(path.c_str());
  CompileOptions o = GpuOptions();
  o.autotune = true;
  o.tuning_path = path;
  o.tune_m = 512;
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
  EXPECT_NE(plan.Explain().find("on the plain GEMM"), std::string::npos) << plan.Explain();
  const KernelPlan& k = plan.fusion_plan().kernels[0];
  EXPECT_NE(SpecText(k.spec).find("gelu"), std::string::npos);  // the final kernel is fused
  // What was timed: plain GEMMs, no epilogue.
  TF_ASSERT_OK_AND_ASSIGN(auto trials, TuneGemm(g, k.tile_node, k.spec, plan.arch(), TestDevice(), 512));
  for (const TuningTrial& trial : trials) {
    EXPECT_EQ(trial.spec_text.find("gelu"), std::string::npos);
    EXPECT_EQ(trial.spec_text.find("add"), std::string::npos);
  }
  TF_ASSERT_OK_AND_ASSIGN(TuningRecords records, TuningRecords::Load(path));
  ASSERT_TRUE(records.Find(GemmTuningKey(g, k.tile_node, k.spec, plan.arch())).has_value());
  // M is symbolic: each default shape class (16 and 32 rows here; K = 256 is too short to
  // split past them) was tuned at its bound and recorded under its own key.
  for (int64_t bound : {16, 32}) {
    EXPECT_TRUE(records.Find(GemmTuningKey(g, k.tile_node, k.spec, plan.arch(), bound)).has_value()) << bound;
    EXPECT_NE(plan.Explain().find(absl::StrCat("class M <= ", bound, " uses")), std::string::npos) << plan.Explain();
  }
  // The tuned plan computes the same function, in every class.
  KernelCache cache;
  std::mt19937_64 rng(3);
  EXPECT_TRUE(MatchesReference(plan, BindSymbols(g, t->symbols), rng));
  for (int64_t m : {1, 16, 17, 32, 33}) EXPECT_TRUE(MatchesReference(plan, BindSymbols(g, {{"M", m}}), rng)) << m;
}

TEST(GpuPointwise, RunDuringCaptureNeverLoadsOrCompiles) {
  TF_SKIP_WITHOUT_GPU();
  const TestGraph& t = PointwiseTestGraphs()[0];
  const Graph g = ParseTestGraph(t);
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, GpuOptions()));
  TF_ASSERT_OK_AND_ASSIGN(const Driver* cu, Driver::Get());
  TF_ASSERT_OK(UseDevice(TestDevice()));
  CUstream stream;
  TF_ASSERT_OK(cu->Check(cu->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate"));
  std::mt19937_64 rng(1);
  const auto syms = BindSymbols(g, t.symbols);
  const auto inputs = RandomInputs(g, syms, rng);
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer x, DeviceBuffer::Allocate(inputs[0].bytes.size()));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer y, DeviceBuffer::Allocate(inputs[0].bytes.size()));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer z, DeviceBuffer::Allocate(inputs[0].bytes.size()));
  const int64_t m = syms[0];
  const std::vector<TensorArg> in = {TensorArg::Make(x.data(), DType::kBF16, {m, 37}),
                                     TensorArg::Make(y.data(), DType::kBF16, {m, 37})};
  const std::vector<TensorArg> out = {TensorArg::Make(z.data(), DType::kBF16, {m, 37})};
  TF_ASSERT_OK(cu->Check(cu->cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_RELAXED),
                         "cuStreamBeginCapture"));
  const absl::Status during = plan.Run(stream, in, out);
  CUgraph graph = nullptr;
  TF_ASSERT_OK(cu->Check(cu->cuStreamEndCapture(stream, &graph), "cuStreamEndCapture"));
  if (graph != nullptr) cu->cuGraphDestroy(graph);
  EXPECT_TRUE(StatusIs(during, absl::StatusCode::kFailedPrecondition, "being captured"));
  // After a warm-up the same call is capturable.
  TF_ASSERT_OK(plan.Run(stream, in, out));
  TF_ASSERT_OK(cu->Check(cu->cuStreamSynchronize(stream), "cuStreamSynchronize"));
  TF_ASSERT_OK(cu->Check(cu->cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_RELAXED),
                         "cuStreamBeginCapture"));
  const absl::Status warm = plan.Run(stream, in, out);
  TF_ASSERT_OK(cu->Check(cu->cuStreamEndCapture(stream, &graph), "cuStreamEndCapture"));
  if (graph != nullptr) cu->cuGraphDestroy(graph);
  TF_EXPECT_OK(warm);
  cu->cuStreamDestroy(stream);
}

// Run refuses tensors that are not memory of the plan's device, or that run past their
// allocation, and a device that does not exist; the message names the tensor and why.
TEST(GpuPlan, RunChecksWhereEachTensorLives) {
  TF_SKIP_WITHOUT_GPU();
  const Graph g = ParseTestGraph(NamedTestGraph("single_add"));  // z = x + y over [M, 37] bf16
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, GpuOptions()));
  const int64_t m = 4096, bytes = m * 37 * 2;
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer x, DeviceBuffer::Allocate(bytes));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer y, DeviceBuffer::Allocate(bytes));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer z, DeviceBuffer::Allocate(bytes));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer small, DeviceBuffer::Allocate(bytes / 8));
  const auto t = [&](void* p) { return TensorArg::Make(p, DType::kBF16, {m, 37}); };
  TF_ASSERT_OK(plan.Run(nullptr, {t(x.data()), t(y.data())}, {t(z.data())}));
  std::vector<uint16_t> host(m * 37);
  EXPECT_TRUE(StatusIs(plan.Run(nullptr, {t(x.data()), t(host.data())}, {t(z.data())}),
                       absl::StatusCode::kInvalidArgument, "input 1 ('y')"));
  EXPECT_TRUE(StatusIs(plan.Run(nullptr, {t(x.data()), t(y.data())}, {t(host.data())}),
                       absl::StatusCode::kInvalidArgument, "not CUDA memory"));
  EXPECT_TRUE(StatusIs(plan.Run(nullptr, {t(x.data()), t(y.data())}, {t(small.data())}),
                       absl::StatusCode::kInvalidArgument, "run past the end of its allocation"));
  TF_ASSERT_OK_AND_ASSIGN(const Driver* cu, Driver::Get());
  int count = 0;
  TF_ASSERT_OK(cu->Check(cu->cuDeviceGetCount(&count), "cuDeviceGetCount"));
  CompileOptions o = GpuOptions();
  o.device = count;
  TF_ASSERT_OK_AND_ASSIGN(Plan nowhere, Compile(g, o));
  EXPECT_TRUE(StatusIs(nowhere.Load(), absl::StatusCode::kFailedPrecondition,
                       absl::StrCat("device ", count, " does not exist")));
  // DLPack says where a tensor lives: another ordinal is refused before any pointer is read.
  int64_t shape[2] = {m, 37};
  DLTensor dl[3];
  void* data[3] = {x.data(), y.data(), z.data()};
  for (int i = 0; i < 3; ++i) {
    dl[i] = DLTensor{};
    dl[i].data = data[i];
    dl[i].device = {kDLCUDA, plan.device() + 1};
    dl[i].ndim = 2;
    dl[i].dtype = {kDLBfloat, 16, 1};
    dl[i].shape = shape;
  }
  const DLTensor* ins[2] = {&dl[0], &dl[1]};
  const DLTensor* outs[1] = {&dl[2]};
  EXPECT_TRUE(StatusIs(plan.RunDLPack(nullptr, ins, outs), absl::StatusCode::kInvalidArgument,
                       absl::StrCat("input 0 is on cuda:", plan.device() + 1)));
}

// Norm prologues (off by default): the GEMM normalizes x in its A prologue from the row
// kernel's per-row values, at odd M, aligned and not.
TEST(GpuGemm, NormProloguesMatchTheReference) {
  TF_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(17);
  for (const char* name : {"rms_norm_decomposed_matmul", "layer_norm_decomposed_matmul"}) {
    SCOPED_TRACE(name);
    const Graph g = ParseTestGraph(NamedTestGraph(name));
    CompileOptions o = GpuOptions();
    o.norm_prologues = true;
    TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
    ASSERT_NE(plan.Explain().find("norm prologue:"), std::string::npos) << plan.Explain();
    for (int64_t m : {1, 67, 300}) {
      for (size_t misalign : {0, 4}) {
        EXPECT_TRUE(MatchesReference(plan, BindSymbols(g, {{"M", m}}), rng, misalign)) << m << " " << misalign;
      }
    }
  }
}

// Device inputs of graph `g` at M = `m` (fresh random values), output buffers, and the CPU
// reference of those inputs.
struct GpuCase {
  std::vector<DeviceBuffer> buffers;
  std::vector<TensorArg> in, out;
  std::vector<HostTensor> ref;
};

absl::StatusOr<GpuCase> MakeCase(const Graph& g, int64_t m, std::mt19937_64& rng) {
  GpuCase c;
  const std::vector<int64_t> syms = BindSymbols(g, {{"M", m}});
  const std::vector<HostTensor> inputs = RandomInputs(g, syms, rng);
  TF_ASSIGN_OR_RETURN(c.ref, EvaluateReference(g, inputs));
  const auto arg = [](const DeviceBuffer& b, const HostTensor& t) {
    TensorArg a;
    a.data = b.data();
    a.dtype = t.dtype;
    a.rank = static_cast<int>(t.shape.size());
    for (int d = 0; d < a.rank; ++d) a.shape[d] = t.shape[d];
    return a;
  };
  for (const std::vector<HostTensor>* list : {&inputs, static_cast<const std::vector<HostTensor>*>(&c.ref)}) {
    for (const HostTensor& t : *list) {
      TF_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(t.bytes.size()));
      if (list == &inputs) TF_RETURN_IF_ERROR(b.Upload(t.bytes.data(), t.bytes.size()));
      (list == &inputs ? c.in : c.out).push_back(arg(b, t));
      c.buffers.push_back(std::move(b));
    }
  }
  return c;
}

// Whether the case's outputs (after `stream`) match its reference.
::testing::AssertionResult CaseMatches(const Graph& g, const GpuCase& c, CUstream stream) {
  auto cu = Driver::Get();
  if (!cu.ok() || (*cu)->cuStreamSynchronize(stream) != CUDA_SUCCESS) return ::testing::AssertionFailure() << "sync";
  for (size_t k = 0; k < c.ref.size(); ++k) {
    HostTensor got = HostTensor::Zeros(c.ref[k].dtype, c.ref[k].shape);
    if (!c.buffers[c.in.size() + k].Download(got.bytes.data(), got.bytes.size()).ok()) {
      return ::testing::AssertionFailure() << "download";
    }
    ::testing::AssertionResult close = AllClose(got, c.ref[k], ToleranceFor(g));
    if (!close) return ::testing::AssertionFailure() << "output " << k << ": " << close.message();
  }
  return ::testing::AssertionSuccess();
}

// A caller's workspace (Plan::WorkspaceBytes at the largest M) serves runs at every M; a run
// captured at M = 16 allocates nothing, and its graph replays correctly after a run at a
// larger M has used the same workspace.
TEST(GpuPlan, CallerWorkspaceRunsAndCapturesAtAnySize) {
  TF_SKIP_WITHOUT_GPU();
  const Graph g = ParseTestGraph(NamedTestGraph("layer_norm_gemm_rms_norm"));  // h lives in the workspace
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, GpuOptions()));
  TF_ASSERT_OK(plan.Load());
  TF_ASSERT_OK_AND_ASSIGN(const Driver* cu, Driver::Get());
  const int64_t max_m = 8192;
  TF_ASSERT_OK_AND_ASSIGN(const size_t bytes, plan.WorkspaceBytes({{"M", max_m}}));
  ASSERT_GT(bytes, 0u);
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer scratch, DeviceBuffer::Allocate(bytes));
  const Plan::Workspace ws{scratch.ptr(), bytes};
  std::mt19937_64 rng(23);
  // Runs at every size on one workspace: no allocation, free or synchronization among
  // them (the driver's entry points counted), each result right.
  std::vector<GpuCase> cases;
  for (int64_t m : {int64_t{1}, int64_t{16}, int64_t{4096}, max_m}) {
    TF_ASSERT_OK_AND_ASSIGN(GpuCase c, MakeCase(g, m, rng));
    cases.push_back(std::move(c));
  }
  TF_ASSERT_OK_AND_ASSIGN(DriverCallCounts* counts, CountDriverCalls());
  const int64_t allocs = counts->allocs, frees = counts->frees, syncs = counts->syncs;
  for (GpuCase& c : cases) TF_ASSERT_OK(plan.Run(nullptr, c.in, c.out, ws));
  EXPECT_EQ(counts->allocs - allocs, 0);
  EXPECT_EQ(counts->frees - frees, 0);
  EXPECT_EQ(counts->syncs - syncs, 0);
  for (GpuCase& c : cases) EXPECT_TRUE(CaseMatches(g, c, nullptr)) << "M = " << c.in[0].shape[0];
  TF_ASSERT_OK_AND_ASSIGN(GpuCase large, MakeCase(g, max_m, rng));
  EXPECT_TRUE(StatusIs(plan.Run(nullptr, large.in, large.out, Plan::Workspace{scratch.ptr(), 16}),
                       absl::StatusCode::kInvalidArgument, "(Plan::WorkspaceBytes)"));
  // Capture at M = 16, run at M = 8192 on the same workspace, then replay the graph.
  CUstream stream;
  TF_ASSERT_OK(cu->Check(cu->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate"));
  TF_ASSERT_OK_AND_ASSIGN(GpuCase small, MakeCase(g, 16, rng));
  TF_ASSERT_OK(cu->Check(cu->cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_RELAXED), "cuStreamBeginCapture"));
  const absl::Status captured = plan.Run(stream, small.in, small.out, ws);
  CUgraph graph = nullptr;
  TF_ASSERT_OK(cu->Check(cu->cuStreamEndCapture(stream, &graph), "cuStreamEndCapture"));
  TF_ASSERT_OK(captured);
  CUgraphExec exec = nullptr;
  TF_ASSERT_OK(cu->Check(cu->cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiateWithFlags"));
  TF_ASSERT_OK(plan.Run(stream, large.in, large.out, ws));
  EXPECT_TRUE(CaseMatches(g, large, stream)) << "M = 8192 between capture and replay";
  TF_ASSERT_OK(cu->Check(cu->cuGraphLaunch(exec, stream), "cuGraphLaunch"));
  EXPECT_TRUE(CaseMatches(g, small, stream)) << "replay at M = 16";
  cu->cuGraphExecDestroy(exec);
  cu->cuGraphDestroy(graph);
  cu->cuStreamDestroy(stream);
}

// One compiled plan, 8 contexts on 8 threads and 8 streams, each at its own M, 1,000 runs
// each: every checked result matches.
TEST(GpuPlan, ContextsRunConcurrentlyOnManyStreams) {
  TF_SKIP_WITHOUT_GPU();
  const Graph g = ParseTestGraph(NamedTestGraph("layer_norm_gemm_rms_norm"));
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, GpuOptions()));
  constexpr int kThreads = 8, kRuns = 1000;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const auto fail = [&](const std::string& why) { failures[t] = why; };
      if (!UseDevice(TestDevice()).ok()) return fail("UseDevice");
      auto context = plan.CreateContext();
      if (!context.ok()) return fail(std::string(context.status().message()));
      std::mt19937_64 rng(300 + t);
      auto c = MakeCase(g, 40 + 37 * t, rng);
      if (!c.ok()) return fail(std::string(c.status().message()));
      auto cu = Driver::Get();
      CUstream stream;
      if ((*cu)->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS) return fail("cuStreamCreate");
      for (int r = 0; r < kRuns && failures[t].empty(); ++r) {
        if (absl::Status s = plan.Run(*context, stream, c->in, c->out); !s.ok()) fail(std::string(s.message()));
        if (r % 250 == 249) {
          ::testing::AssertionResult ok = CaseMatches(g, *c, stream);
          if (!ok) fail(absl::StrCat("run ", r, ": ", ok.message()));
        }
      }
      (*cu)->cuStreamDestroy(stream);
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

}  // namespace
}  // namespace tilefuse::internal
