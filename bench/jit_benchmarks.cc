#include "bench/jit_benchmarks.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "bench/gpu_timer.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/fusion/planner.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"

namespace tilefuse::internal {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The catalog graph compiled for sm_90 into `memory` (and `disk`, if any).
absl::StatusOr<Plan> CompileInto(const CatalogEntry& e, KernelCache* memory, DiskCache* disk = nullptr) {
  CompileOptions o;
  o.cache = memory;
  o.disk_cache = disk;
  o.arch = "sm_90";
  return Compile(e.graph, o);
}

// NVRTC from nothing: a fresh memory cache and no disk cache every iteration. A binary is
// a kernel or one of a GEMM's shape classes; they compile in parallel, so the plan's wall
// time is reported beside NVRTC's time per binary.
void BM_ColdCompile(benchmark::State& state, const CatalogEntry* e) {
  std::vector<double> per_kernel, wall;
  int kernels = 0;
  for (auto _ : state) {
    KernelCache memory;
    const auto t0 = Clock::now();
    auto plan = CompileInto(*e, &memory);
    if (!plan.ok()) return state.SkipWithError(std::string(plan.status().message()).c_str());
    wall.push_back(Ms(Clock::now() - t0));
    double ms = 0;
    for (const KernelReport& r : plan->reports()) ms += r.compile_ms;
    kernels = static_cast<int>(plan->reports().size());
    per_kernel.push_back(ms / kernels);
  }
  state.counters["plan_wall_ms"] = Median(wall);
  // The first compile of a source may cost more than a repeat of it in the same process
  // (seen on the H100 machine's NVRTC): report both, the first as the cold figure.
  state.counters["nvrtc_ms_per_kernel"] = per_kernel.front();
  state.counters["nvrtc_ms_repeat_median"] =
      Median(std::vector<double>(per_kernel.begin() + 1, per_kernel.end()));
  state.counters["kernels"] = kernels;
}

// A restart: empty memory, every kernel on disk. With a GPU the modules are loaded too.
void BM_DiskWarmStart(benchmark::State& state, const CatalogEntry* e, bool gpu, std::string dir) {
  {
    KernelCache memory;
    DiskCache disk(DiskCacheOptions{dir});
    if (auto p = CompileInto(*e, &memory, &disk); !p.ok()) {
      return state.SkipWithError(std::string(p.status().message()).c_str());
    }
  }
  std::vector<double> per_kernel;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    KernelCache memory;
    DiskCache disk(DiskCacheOptions{dir});
    auto plan = CompileInto(*e, &memory, &disk);
    if (!plan.ok()) return state.SkipWithError(std::string(plan.status().message()).c_str());
    if (gpu) {
      if (absl::Status s = plan->Load(); !s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
    }
    const double ms = Ms(Clock::now() - t0);
    for (const KernelReport& r : plan->reports()) {
      if (!r.disk_hit) return state.SkipWithError("a kernel missed the warm disk cache");
    }
    per_kernel.push_back(ms / static_cast<double>(plan->reports().size()));  // per binary loaded
  }
  state.counters["ms_per_kernel"] = Median(per_kernel);
}

// A lookup of a compiled kernel by its signature text.
void BM_MemoryHit(benchmark::State& state, const CatalogEntry* e) {
  KernelCache memory;
  auto plan = CompileInto(*e, &memory);
  if (!plan.ok()) return state.SkipWithError(std::string(plan.status().message()).c_str());
  const std::string sig = plan->compiled_kernel(0).signature_text();
  const KernelCache::Builder never = []() -> absl::StatusOr<KernelCache::Built> {
    return absl::InternalError("a hit must not build");
  };
  int64_t n = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    auto k = memory.GetOrBuild(sig, never);
    benchmark::DoNotOptimize(k);
    ++n;
  }
  state.counters["ns_per_hit"] = Ms(Clock::now() - t0) * 1e6 / static_cast<double>(n);
}

// Host time per launch: Plan::Run of a one-kernel plan against cuLaunchKernel of the same
// function with the same parameter block, in batches that never fill the launch queue.
void BM_RunOverhead(benchmark::State& state) {
  auto g = GraphFromJson(R"({"name": "overhead", "inputs": [{"name": "x", "shape": [4096], "dtype": "f32"}],
    "nodes": [{"name": "y", "op": "mul", "inputs": ["x", 2.0]}], "outputs": ["y"]})");
  if (!g.ok()) return state.SkipWithError(std::string(g.status().message()).c_str());
  auto plan = Compile(*g, CompileOptions{});
  auto x = DeviceBuffer::Allocate(4096 * 4), y = DeviceBuffer::Allocate(4096 * 4);
  if (!plan.ok() || !x.ok() || !y.ok()) return state.SkipWithError("setup failed");
  const Driver* cu = *Driver::Get();
  const TensorArg in[] = {TensorArg::Make(x->data(), DType::kF32, {4096})};
  const TensorArg out[] = {TensorArg::Make(y->data(), DType::kF32, {4096})};
  if (!plan->Run(nullptr, in, out).ok()) return state.SkipWithError("Run failed");
  auto fn = plan->compiled_kernel(0).Function();
  if (!fn.ok()) return state.SkipWithError("no function");
  uint64_t words[8] = {};
  size_t w = 0;
  for (const ParamField& f : ParamLayout(plan->fusion_plan().kernels[0].spec)) {
    words[w++] = f.kind == ParamField::kOperandPtr ? x->ptr()
                 : f.kind == ParamField::kOutputPtr ? y->ptr()
                 : f.kind == ParamField::kNumel     ? 4096
                                                    : 1;
  }
  void* params[] = {words};
  constexpr int kBatch = 256;
  std::vector<double> run_us, bare_us;
  for (auto _ : state) {
    auto t0 = Clock::now();
    for (int i = 0; i < kBatch; ++i) (void)plan->Run(nullptr, in, out);
    run_us.push_back(Ms(Clock::now() - t0) * 1e3 / kBatch);
    cu->cuCtxSynchronize();
    t0 = Clock::now();
    for (int i = 0; i < kBatch; ++i) cu->cuLaunchKernel(*fn, 4, 1, 1, 256, 1, 1, 0, nullptr, params, nullptr);
    bare_us.push_back(Ms(Clock::now() - t0) * 1e3 / kBatch);
    cu->cuCtxSynchronize();
  }
  state.counters["run_us"] = Median(run_us);
  state.counters["bare_launch_us"] = Median(bare_us);
  state.counters["overhead_us_per_kernel"] = Median(run_us) - Median(bare_us);

  // A GEMM with a symbolic M, run in two of its shape classes (the decode tile with K split
  // at M = 16, the Hopper kernel split over a cluster at M = 200): Run picks the class,
  // binds the shapes and launches. Its overhead is counted against the pointwise kernel's
  // bare launch (a GEMM's parameter block is longer; the figure errs high).
  auto gg = GraphFromJson(R"({"name": "overhead_gemm", "inputs": [{"name": "x", "shape": ["M", 4096], "dtype": "bf16"},
      {"name": "w", "shape": [1024, 4096], "dtype": "bf16"}],
    "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
              {"name": "y", "op": "matmul", "inputs": ["x", "wt"]}], "outputs": ["y"]})");
  if (!gg.ok()) return state.SkipWithError(std::string(gg.status().message()).c_str());
  auto gemm = Compile(*gg, CompileOptions{});
  auto gx = DeviceBuffer::Allocate(200 * 4096 * 2), gw = DeviceBuffer::Allocate(1024 * 4096 * 2),
       gy = DeviceBuffer::Allocate(200 * 1024 * 2);
  if (!gemm.ok() || !gx.ok() || !gw.ok() || !gy.ok()) return state.SkipWithError("GEMM setup failed");
  for (int64_t m : {int64_t{16}, int64_t{200}}) {
    const TensorArg gin[] = {TensorArg::Make(gx->data(), DType::kBF16, {m, 4096}),
                             TensorArg::Make(gw->data(), DType::kBF16, {1024, 4096})};
    const TensorArg gout[] = {TensorArg::Make(gy->data(), DType::kBF16, {m, 1024})};
    if (!gemm->Run(nullptr, gin, gout).ok()) return state.SkipWithError("GEMM Run failed");
    cu->cuCtxSynchronize();
    std::vector<double> gemm_us;
    for (int rep = 0; rep < 20; ++rep) {
      // Few enough launches that the queue never fills (a full queue blocks the host).
      constexpr int kGemmBatch = 32;
      const auto t0 = Clock::now();
      for (int i = 0; i < kGemmBatch; ++i) (void)gemm->Run(nullptr, gin, gout);
      gemm_us.push_back(Ms(Clock::now() - t0) * 1e3 / kGemmBatch);
      cu->cuCtxSynchronize();
    }
    state.counters[absl::StrCat("gemm_run_us_m", m)] = Median(gemm_us);
    state.counters[absl::StrCat("gemm_overhead_us_m", m)] = Median(gemm_us) - Median(bare_us);
  }
  std::string classes;
  for (const KernelReport& r : gemm->reports()) absl::StrAppend(&classes, r.shape_class, " ");
  state.SetLabel(absl::StrCat("GEMM classes: ", classes));
}

// Parse and plan (fused) a chain of `n` pointwise ops listed in reverse order, the order
// that made graph loading quadratic: both steps are linear now (issue 16 asks under 2 s
// for 100,000 nodes).
void BM_PlanChain(benchmark::State& state, int n) {
  std::string nodes;
  for (int i = n - 1; i >= 0; --i) {
    const std::string in = i == 0 ? "x" : absl::StrCat("n", i - 1);
    absl::StrAppend(&nodes, i == n - 1 ? "" : ",", R"({"name":"n)", i, R"(","op":"mul","inputs":[")", in, R"(",1.5]})");
  }
  const std::string json = absl::StrCat(R"({"name":"chain","inputs":[{"name":"x","shape":["M",64],"dtype":"f32"}],)",
                                        R"("nodes":[)", nodes, R"(],"outputs":["n)", n - 1, R"("]})");
  int kernels = 0;
  for (auto _ : state) {
    auto g = GraphFromJson(json);
    if (!g.ok()) return state.SkipWithError(std::string(g.status().message()).c_str());
    auto plan = PlanFusion(*g, PlanOptions{true, "sm_90"});
    if (!plan.ok()) return state.SkipWithError(std::string(plan.status().message()).c_str());
    kernels = static_cast<int>(plan->kernels.size());
  }
  state.counters["nodes"] = n;
  state.counters["kernels"] = kernels;
}

}  // namespace

void RegisterJitBenchmarks(const std::vector<CatalogEntry>& catalog, bool gpu, const std::string& cache_dir) {
  std::filesystem::remove_all(cache_dir);
  for (const CatalogEntry& e : catalog) {
    benchmark::RegisterBenchmark(absl::StrCat("jit/cold_compile/", e.file).c_str(), BM_ColdCompile, &e)
        ->Iterations(3)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(absl::StrCat("jit/disk_warm_start/", e.file).c_str(), BM_DiskWarmStart, &e,
                                 gpu, cache_dir)
        ->Iterations(20)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("jit/memory_hit", BM_MemoryHit, &catalog.front())->Unit(benchmark::kNanosecond);
  benchmark::RegisterBenchmark("jit/plan_chain/100000", BM_PlanChain, 100000)
      ->Iterations(3)
      ->Unit(benchmark::kMillisecond);
  if (gpu) benchmark::RegisterBenchmark("jit/run_overhead", BM_RunOverhead)->Iterations(50);
}

}  // namespace tilefuse::internal
