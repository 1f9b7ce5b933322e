// An inference engine's use of tilefuse: build a Llama MLP block (SwiGLU, bf16 weights)
// through the API, compile it once for every batch size (M symbolic), and run it with the
// engine's own workspace, streams and execution contexts. Without a GPU it compiles (for
// --arch) and stops there.
//
//   engine [--arch sm_90] [--cache-dir DIR] [--hidden 4096] [--ffn 14336]
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <tilefuse/tilefuse.h>

namespace {

using tilefuse::DType;
using V = tilefuse::GraphBuilder::Value;

// y = x + down(silu(x @ gate.T) * (x @ up.T)), the MLP half of a decoder layer.
tilefuse::Result<tilefuse::Graph> MlpGraph(int64_t hidden, int64_t ffn) {
  tilefuse::GraphBuilder b("llama_mlp");
  const V x = b.Input("x", {"M", hidden}, DType::kBF16);
  const V gate = b.Input("w_gate", {ffn, hidden}, DType::kBF16);
  const V up = b.Input("w_up", {ffn, hidden}, DType::kBF16);
  const V down = b.Input("w_down", {hidden, ffn}, DType::kBF16);
  const tilefuse::Attrs t = {{"dim0", int64_t{0}}, {"dim1", int64_t{1}}};
  const tilefuse::Attrs bf16 = {{"dtype", std::string("bf16")}};
  const V g = b.Op("matmul", {x, b.Op("transpose", {gate}, t)}, {}, "g");
  const V u = b.Op("matmul", {x, b.Op("transpose", {up}, t)}, {}, "u");
  const V h = b.Op("cast", {b.Op("mul", {b.Op("silu", {g}), u})}, bf16, "h");
  const V d = b.Op("matmul", {h, b.Op("transpose", {down}, t)}, {}, "d");
  b.Output(b.Op("cast", {b.Op("add", {d, x})}, bf16, "y"));
  return b.Build();
}

int Fail(const tilefuse::Status& s) {
  std::fprintf(stderr, "engine: %s\n", s.ToString().c_str());
  return 1;
}

int CudaFail(cudaError_t e, const char* what) {
  std::fprintf(stderr, "engine: %s: %s\n", what, cudaGetErrorString(e));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  tilefuse::CompileOptions options;
  int64_t hidden = 4096, ffn = 14336;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--arch")) options.arch = argv[i + 1];
    else if (!std::strcmp(argv[i], "--cache-dir")) options.cache_dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--hidden")) hidden = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--ffn")) ffn = std::atoll(argv[i + 1]);
    else return std::fprintf(stderr, "engine: unknown flag %s\n", argv[i]), 2;
  }
  std::printf("tilefuse %s (headers %s)\n", tilefuse::Version(), TILEFUSE_VERSION_STRING);
  tilefuse::SetLogger([](tilefuse::LogLevel, std::string_view m) {
    std::fprintf(stderr, "[tilefuse] %.*s\n", static_cast<int>(m.size()), m.data());
  });

  auto graph = MlpGraph(hidden, ffn);
  if (!graph.ok()) return Fail(graph.status());
  // The engine's CUDA-graph batch sizes are its shape classes.
  options.m_classes = std::vector<int64_t>{16, 128, 1024};
  auto plan = tilefuse::Plan::Compile(*graph, options);
  if (!plan.ok()) return Fail(plan.status());
  std::printf("%s", plan->Explain().c_str());

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no GPU: compiled for %s, not run\n", plan->arch().c_str());
    return 0;
  }
  // One workspace for the largest batch serves every smaller one.
  constexpr int64_t kMaxM = 8192;
  auto bytes = plan->WorkspaceBytes({{"M", kMaxM}});
  if (!bytes.ok()) return Fail(bytes.status());
  void *x, *wg, *wu, *wd, *y, *ws;
  for (auto [p, n] : {std::pair{&x, kMaxM * hidden}, {&wg, ffn * hidden}, {&wu, ffn * hidden},
                      {&wd, hidden * ffn}, {&y, kMaxM * hidden}}) {
    if (cudaError_t e = cudaMalloc(p, n * 2); e != cudaSuccess) return CudaFail(e, "cudaMalloc");
    cudaMemset(*p, 0, n * 2);
  }
  if (cudaError_t e = cudaMalloc(&ws, *bytes); e != cudaSuccess) return CudaFail(e, "cudaMalloc");
  // Two streams, a context each: one plan serves both at once.
  cudaStream_t streams[2];
  std::vector<tilefuse::Plan::Context> contexts;
  for (cudaStream_t& s : streams) {
    cudaStreamCreate(&s);
    auto c = plan->CreateContext();
    if (!c.ok()) return Fail(c.status());
    contexts.push_back(std::move(*c));
  }
  for (int64_t m : {int64_t{1}, int64_t{16}, int64_t{4096}, kMaxM}) {
    for (int i = 0; i < 2; ++i) {
      // Each stream its own half of the workspace would be needed for concurrent runs;
      // here the second stream runs after the first on the same memory.
      cudaStreamSynchronize(streams[1 - i]);
      tilefuse::Status s = plan->Run(contexts[i], streams[i],
                                     {{x, DType::kBF16, {m, hidden}}, {wg, DType::kBF16, {ffn, hidden}},
                                      {wu, DType::kBF16, {ffn, hidden}}, {wd, DType::kBF16, {hidden, ffn}}},
                                     {{y, DType::kBF16, {m, hidden}}}, {ws, *bytes});
      if (!s.ok()) return Fail(s);
    }
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    cudaEventRecord(start, streams[0]);
    for (int r = 0; r < 10; ++r) {
      tilefuse::Status s = plan->Run(contexts[0], streams[0],
                                     {{x, DType::kBF16, {m, hidden}}, {wg, DType::kBF16, {ffn, hidden}},
                                      {wu, DType::kBF16, {ffn, hidden}}, {wd, DType::kBF16, {hidden, ffn}}},
                                     {{y, DType::kBF16, {m, hidden}}}, {ws, *bytes});
      if (!s.ok()) return Fail(s);
    }
    cudaEventRecord(stop, streams[0]);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    std::printf("M = %5lld: %8.1f us per MLP\n", static_cast<long long>(m), ms * 100);
  }
  return 0;
}
