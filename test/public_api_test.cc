// The public API (include/tilefuse) as an engine uses it, linked against libtilefuse.so
// alone: building graphs, compiling, Explain, errors, the memory cache, logging; on a GPU,
// runs with the plan's scratch, a caller's workspace, contexts and DLPack tensors against
// values computed here.
#include <cuda_runtime.h>
#include <dlpack/dlpack.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tilefuse/tilefuse.h"

namespace {

using tilefuse::DType;
using V = tilefuse::GraphBuilder::Value;

tilefuse::Result<tilefuse::Graph> ScaleReluGraph() {
  tilefuse::GraphBuilder b("scale_relu");
  const V x = b.Input("x", {"N", 64}, DType::kF32);
  const V bias = b.Input("b", {64}, DType::kF32);
  b.Output(b.Op("relu", {b.Op("add", {b.Op("mul", {x, b.Scalar(0.5)}), bias})}, {}, "y"));
  return b.Build();
}

tilefuse::Result<tilefuse::Graph> MlpGraph() {
  tilefuse::GraphBuilder b("mlp");
  const V x = b.Input("x", {"M", 256}, DType::kBF16);
  const V w = b.Input("w", {512, 256}, DType::kBF16);
  const V y = b.Op("matmul", {x, b.Op("transpose", {w}, {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}})});
  b.Output(b.Op("cast", {b.Op("silu", {y})}, {{"dtype", std::string("bf16")}}, "out"));
  return b.Build();
}

tilefuse::CompileOptions CpuOptions() {
  tilefuse::CompileOptions o;
  o.arch = "sm_90";
  return o;
}

bool HaveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

TEST(PublicApi, VersionMatchesTheHeaders) {
  EXPECT_STREQ(tilefuse::Version(), TILEFUSE_VERSION_STRING);
  EXPECT_EQ(TILEFUSE_VERSION, TILEFUSE_VERSION_MAJOR * 10000 + TILEFUSE_VERSION_MINOR * 100 + TILEFUSE_VERSION_PATCH);
}

TEST(PublicApi, BuilderGraphsReadBackFromTheirJson) {
  auto g = ScaleReluGraph();
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->name(), "scale_relu");
  EXPECT_EQ(g->input_names(), (std::vector<std::string>{"x", "b"}));
  EXPECT_EQ(g->output_names(), (std::vector<std::string>{"y"}));
  EXPECT_EQ(g->symbols(), (std::vector<std::string>{"N"}));
  auto again = tilefuse::Graph::FromJson(g->ToJson());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->ToJson(), g->ToJson());
  tilefuse::Graph copy = *again;  // copies share the graph
  EXPECT_EQ(copy.ToJson(), g->ToJson());
}

TEST(PublicApi, ErrorsNameTheNodeAndTheValues) {
  tilefuse::GraphBuilder b("bad");
  const V x = b.Input("x", {4, 8}, DType::kF32);
  b.Output(b.Op("matmull", {x, x}, {}, "oops"));
  auto g = b.Build();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), tilefuse::StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("oops"), std::string::npos) << g.status().ToString();
  EXPECT_NE(g.status().message().find("matmull"), std::string::npos) << g.status().ToString();

  tilefuse::GraphBuilder s("shapes");
  const V a = s.Input("a", {4, 8}, DType::kF32);
  const V c = s.Input("c", {4, 9}, DType::kF32);
  s.Output(s.Op("add", {a, c}, {}, "sum"));
  auto bad = s.Build();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sum"), std::string::npos) << bad.status().ToString();

  auto json = tilefuse::Graph::FromJson("{\"inputs\": [}");
  ASSERT_FALSE(json.ok());
  EXPECT_NE(json.status().message().find("line 1, column 13"), std::string::npos) << json.status().ToString();

  auto missing = tilefuse::Graph::FromJsonFile("/no/such/graph.json");
  EXPECT_FALSE(missing.ok());

  tilefuse::GraphBuilder u("utf8");
  u.Output(u.Input("\xff\xfe", {4}, DType::kF32));  // not UTF-8: a status, not an exception
  auto bytes = u.Build();
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), tilefuse::StatusCode::kInvalidArgument);
}

TEST(PublicApi, CompilesWithClassesAndExplains) {
  auto g = MlpGraph();
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  tilefuse::KernelCache cache;
  tilefuse::CompileOptions o = CpuOptions();
  o.cache = &cache;
  o.m_classes = std::vector<int64_t>{16, 128};
  auto plan = tilefuse::Plan::Compile(*g, o);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->num_kernels(), 1);
  EXPECT_EQ(plan->arch(), "sm_90");
  EXPECT_EQ(plan->device(), 0);
  const std::string explain = plan->Explain();
  EXPECT_NE(explain.find("class M <= 16"), std::string::npos) << explain;
  EXPECT_NE(explain.find("class M > 128"), std::string::npos) << explain;
  EXPECT_EQ(plan->graph().name(), "mlp");
  const size_t kernels = cache.size();
  EXPECT_EQ(kernels, 3u);  // one binary per class and the kernel past them
  auto ws = plan->WorkspaceBytes({{"M", 8192}});
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  auto unbound = plan->WorkspaceBytes({});
  EXPECT_FALSE(unbound.ok());
  // A second plan of the same graph compiles nothing new.
  auto second = tilefuse::Plan::Compile(*g, o);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(cache.size(), kernels);
  EXPECT_EQ(cache.Clear(), kernels);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(PublicApi, TheLoggerHearsWhereKernelsCameFrom) {
  std::mutex mu;
  std::vector<std::string> heard;
  tilefuse::SetLogger(
      [&](tilefuse::LogLevel, std::string_view m) {
        std::lock_guard<std::mutex> lock(mu);
        heard.emplace_back(m);
      },
      tilefuse::LogLevel::kInfo);
  auto g = ScaleReluGraph();
  ASSERT_TRUE(g.ok());
  tilefuse::KernelCache cache;
  tilefuse::CompileOptions o = CpuOptions();
  o.cache = &cache;
  ASSERT_TRUE(tilefuse::Plan::Compile(*g, o).ok());
  ASSERT_TRUE(tilefuse::Plan::Compile(*g, o).ok());
  tilefuse::SetLogger(nullptr);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(heard.size(), 2u);
  EXPECT_NE(heard.front().find("NVRTC"), std::string::npos) << heard.front();
  EXPECT_NE(heard.back().find("memory"), std::string::npos) << heard.back();
}

TEST(PublicApi, RunChecksItsTensorsWithOrWithoutAGpu) {
  auto g = ScaleReluGraph();
  ASSERT_TRUE(g.ok());
  auto plan = tilefuse::Plan::Compile(*g, CpuOptions());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  tilefuse::Tensor deep(nullptr, DType::kF32, {1, 1, 1, 1, 1, 1, 1, 1, 1});  // rank 9
  EXPECT_EQ(deep.rank, 9);
  tilefuse::Status s = plan->Run(nullptr, {deep, {nullptr, DType::kF32, {64}}}, {{nullptr, DType::kF32, {3, 64}}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), tilefuse::StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("rank 9"), std::string::npos) << s.ToString();
  EXPECT_FALSE(plan->RunDLPack(nullptr, {nullptr}, {}).ok());
}

// On a GPU: y = relu(0.5 x + b) at two sizes, through the plan's scratch, a caller's
// workspace, a context and DLPack, against values computed here.
TEST(PublicApi, RunsMatchOnTheGpu) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device";
  auto g = ScaleReluGraph();
  ASSERT_TRUE(g.ok());
  auto plan = tilefuse::Plan::Compile(*g);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  constexpr int64_t kMaxN = 300;
  std::vector<float> x(kMaxN * 64), b(64), y(kMaxN * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i)) * 3;
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(static_cast<float>(i));
  void *dx, *db, *dy, *ws;
  ASSERT_EQ(cudaMalloc(&dx, x.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&db, b.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dy, y.size() * 4), cudaSuccess);
  cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(db, b.data(), b.size() * 4, cudaMemcpyHostToDevice);
  auto bytes = plan->WorkspaceBytes({{"N", kMaxN}});
  ASSERT_TRUE(bytes.ok());
  ASSERT_EQ(cudaMalloc(&ws, *bytes + 256), cudaSuccess);
  cudaStream_t stream;
  cudaStreamCreate(&stream);
  auto context = plan->CreateContext();
  ASSERT_TRUE(context.ok()) << context.status().ToString();
  const auto check = [&](int64_t n, const char* how) {
    cudaStreamSynchronize(stream);
    cudaMemcpy(y.data(), dy, n * 64 * 4, cudaMemcpyDeviceToHost);
    for (int64_t i = 0; i < n * 64; ++i) {
      const float want = std::max(0.f, x[i] * 0.5f + b[i % 64]);
      ASSERT_NEAR(y[i], want, 1e-6f) << how << " n " << n << " at " << i;
    }
    cudaMemset(dy, 0, y.size() * 4);
  };
  for (int64_t n : {int64_t{7}, kMaxN}) {
    const std::vector<tilefuse::Tensor> in = {{dx, DType::kF32, {n, 64}}, {db, DType::kF32, {64}}};
    const std::vector<tilefuse::Tensor> out = {{dy, DType::kF32, {n, 64}}};
    ASSERT_TRUE(plan->Run(stream, in, out).ok());
    check(n, "plan's scratch");
    ASSERT_TRUE(plan->Run(stream, in, out, {ws, *bytes}).ok());
    check(n, "workspace");
    ASSERT_TRUE(plan->Run(*context, stream, in, out).ok());
    check(n, "context");
    DLManagedTensor mx{}, mb{}, my{};
    int64_t sx[2] = {n, 64}, sb[1] = {64}, sy[2] = {n, 64};
    for (auto [m, data, shape, rank] : {std::tuple{&mx, dx, sx, 2}, {&mb, db, sb, 1}, {&my, dy, sy, 2}}) {
      m->dl_tensor.data = data;
      m->dl_tensor.device = {kDLCUDA, 0};
      m->dl_tensor.ndim = rank;
      m->dl_tensor.dtype = {kDLFloat, 32, 1};
      m->dl_tensor.shape = shape;
    }
    ASSERT_TRUE(plan->RunDLPack(stream, {&mx, &mb}, {&my}).ok());
    check(n, "DLPack");
  }
  // A pointer the plan's device does not own is refused before anything runs.
  std::vector<float> host(64 * 7);
  tilefuse::Status bad = plan->Run(stream, {{host.data(), DType::kF32, {7, 64}}, {db, DType::kF32, {64}}},
                                   {{dy, DType::kF32, {7, 64}}});
  EXPECT_FALSE(bad.ok());
  cudaStreamDestroy(stream);
  for (void* p : {dx, db, dy, ws}) cudaFree(p);
}

}  // namespace
