// bench_fusion: every catalog graph, fused against unfused, timed with CUDA events after an
// L2 flush, on fresh random inputs; plus the device's copy bandwidth and the launch floor (one
// tiny kernel timed the same way) in the same run.
//
//   bench_fusion [--benchmark_filter=...] [--benchmark_out=results.json] [--tuning=PATH]
//                [--jit_cache=DIR] [--sweep_configs [--sweep_m=M] [--sweep_only=TEXT]]
//
// jit/... benchmarks (bench/jit_benchmarks.h) measure the JIT's own costs; they run without
// a GPU too.
// GEMM tile configs are tuned on first use (on the plain GEMM) and recorded in PATH
// (default /tmp/tilefuse_bench_tuning.json); the cuBLAS column runs the GEMM through cuBLAS
// and the rest of the graph as separate tilefuse kernels.
//
// Counters: median_us (median of the samples), TBps (the graph's floor bytes, each input
// read once and each output written once, over the median time), frac_copy (TBps over the
// copy bandwidth measured first), kernels (launches per run).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/strings/str_cat.h"
#include "bench/catalog.h"
#include "bench/cublas_baseline.h"
#include "bench/gpu_timer.h"
#include "bench/jit_benchmarks.h"
#include "bench/sweep.h"
#include "bench/sweep_configs.h"
#include "benchmark/benchmark.h"
#include "runtime/fusion/planner.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "runtime/reference.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

struct Result {
  double median_us = 0;
  double tbps = 0;
  int kernels = 0;
  double tflops = 0;
};

GpuTimer* g_timer = nullptr;
std::string g_tuning = "/tmp/tilefuse_bench_tuning.json";  // --tuning=PATH
std::string g_jit_cache = "/tmp/tilefuse_bench_jit_cache";   // --jit_cache=DIR (emptied first)
double g_copy_tbps = 0;
std::map<std::string, Result> g_results;

// Three warm-up runs, then one event-timed sample per benchmark iteration (after an L2
// flush); returns the median in microseconds, or -1 after reporting an error.
double TimeSamples(benchmark::State& state, const std::function<absl::Status()>& run) {
  for (int w = 0; w < 3; ++w) {  // warm-up: module load, workspace, clocks
    auto ms = g_timer->Time(run);
    if (!ms.ok()) {
      state.SkipWithError(std::string(ms.status().message()).c_str());
      return -1;
    }
  }
  std::vector<double> samples;
  for (auto _ : state) {
    auto ms = g_timer->Time(run);
    if (!ms.ok()) {
      state.SkipWithError(std::string(ms.status().message()).c_str());
      return -1;
    }
    state.SetIterationTime(*ms / 1e3);
    samples.push_back(*ms * 1e3);
  }
  return Median(samples);
}

void BM_Copy(benchmark::State& state) {
  const size_t bytes = size_t{1} << 28;
  auto src = DeviceBuffer::Allocate(bytes);
  auto dst = DeviceBuffer::Allocate(bytes);
  if (!src.ok() || !dst.ok()) return state.SkipWithError("allocation failed");
  (void)src->Fill(0x3c);
  const Driver* cu = *Driver::Get();
  std::vector<double> samples;
  for (auto _ : state) {
    auto ms = g_timer->Time([&] {
      return cu->Check(cu->cuMemcpyDtoDAsync(dst->ptr(), src->ptr(), bytes, g_timer->stream()),
                       "cuMemcpyDtoDAsync");
    });
    if (!ms.ok()) return state.SkipWithError(std::string(ms.status().message()).c_str());
    state.SetIterationTime(*ms / 1e3);
    samples.push_back(*ms * 1e3);
  }
  const double us = Median(samples);
  g_copy_tbps = 2.0 * bytes / (us * 1e-6) / 1e12;  // bytes read plus bytes written
  state.counters["median_us"] = us;
  state.counters["TBps"] = g_copy_tbps;
  g_results["copy"] = Result{us, g_copy_tbps, 1, 0};
}

// The harness's floor: one tilefuse kernel that reads and writes 32 floats, timed as the
// graphs are (L2 and instruction caches flushed, events). Every graph row pays this much
// besides its own work: the launch, the flush's aftermath, cold code.
void BM_LaunchFloor(benchmark::State& state) {
  auto graph = GraphFromJson(R"({"name": "launch_floor", "inputs": [{"name": "x", "shape": [32], "dtype": "f32"}],
    "nodes": [{"name": "y", "op": "mul", "inputs": ["x", "x"]}], "outputs": ["y"]})");
  if (!graph.ok()) return state.SkipWithError(std::string(graph.status().message()).c_str());
  auto plan = Compile(*graph, CompileOptions());
  if (!plan.ok()) return state.SkipWithError(std::string(plan.status().message()).c_str());
  const CatalogEntry e{"launch_floor", *graph, {}};
  auto tensors = MakeTensors(e, 1234);
  if (!tensors.ok()) return state.SkipWithError(std::string(tensors.status().message()).c_str());
  const double us =
      TimeSamples(state, [&] { return plan->Run(g_timer->stream(), tensors->inputs, tensors->outputs); });
  if (us < 0) return;
  state.counters["median_us"] = us;
  g_results["launch_floor"] = Result{us, 0, 1, 0};
}

// How a graph is planned: the defaults fused or unfused; fused with no tile kernel taking
// another's work (no GEMM row epilogue or norm prologue: the kernels those fusions merge);
// fused with norm prologues, or with row epilogues over rows wider than a tile (both off
// by default).
enum class Variant { kFused, kUnfused, kApart, kNormPrologue, kWideRows };

void BM_Graph(benchmark::State& state, const CatalogEntry* e, Variant v) {
  CompileOptions options;
  options.fuse = v != Variant::kUnfused;
  if (v == Variant::kApart) options.gemm_row_epilogues = false;
  options.norm_prologues = v == Variant::kNormPrologue;
  options.wide_row_epilogues = v == Variant::kWideRows;
  // GEMMs use their tuned tile config (tuned here on first use, on the plain GEMM).
  options.autotune = true;
  options.tuning_path = g_tuning;
  if (e->sizes.count("M")) options.tune_m = e->sizes.at("M");
  auto plan = Compile(e->graph, options);
  if (!plan.ok()) return state.SkipWithError(std::string(plan.status().message()).c_str());
  // Tunings made by this run go to the log (recorded ones say "(recorded").
  for (const std::string& d : plan->fusion_plan().decisions) {
    if (d.rfind("tuned:", 0) == 0 && d.find("(recorded") == std::string::npos) {
      std::fprintf(stderr, "%s: %s\n", e->file.c_str(), d.c_str());
    }
  }
  auto tensors = MakeTensors(*e, 1234);
  if (!tensors.ok()) return state.SkipWithError(std::string(tensors.status().message()).c_str());
  const auto run = [&] { return plan->Run(g_timer->stream(), tensors->inputs, tensors->outputs); };
  const double us = TimeSamples(state, run);
  if (us < 0) return;
  const double tbps = e->FloorBytes() / (us * 1e-6) / 1e12;
  state.counters["median_us"] = us;
  state.counters["TBps"] = tbps;
  state.counters["frac_copy"] = g_copy_tbps > 0 ? tbps / g_copy_tbps : 0;
  const double tflops = e->Flops() / (us * 1e-6) / 1e12;
  state.counters["kernels"] = plan->num_kernels();
  if (tflops > 0) state.counters["TFLOPs"] = tflops;
  // The label names each tile kernel's launch config (tuned or default).
  std::string configs;
  for (const KernelPlan& k : plan->fusion_plan().kernels) {
    if (k.spec.tile == "matmul") absl::StrAppend(&configs, ", ", k.spec.gemm.ToString());
    if (k.spec.tile == "rms_norm" || k.spec.tile == "layer_norm" || k.spec.tile == "softmax" || k.spec.tile == "row") {
      absl::StrAppend(&configs, ", ", k.spec.tile, " ", k.spec.row.ToString());
    }
  }
  const char* variant = v == Variant::kApart         ? "apart"
                        : v == Variant::kNormPrologue ? "norm_prologue"
                        : v == Variant::kWideRows     ? "wide_rows"
                        : v == Variant::kFused        ? "fused"
                                                      : "unfused";
  state.SetLabel(absl::StrCat(variant, ", ", plan->num_kernels(), " kernels", configs));
  g_results[absl::StrCat(e->file, " ", variant)] = Result{us, tbps, plan->num_kernels(), tflops};
}

// The graph with its GEMM through cuBLAS and the rest as separate tilefuse kernels.
void BM_Cublas(benchmark::State& state, const CatalogEntry* e) {
  auto base = CublasBaseline::Create(*e);
  if (!base.ok()) return state.SkipWithError(std::string(base.status().message()).c_str());
  auto tensors = MakeTensors(*e, 1234);
  if (!tensors.ok()) return state.SkipWithError(std::string(tensors.status().message()).c_str());
  const auto run = [&] { return (*base)->Run(g_timer->stream(), tensors->inputs, tensors->outputs); };
  const double us = TimeSamples(state, run);
  if (us < 0) return;
  const double tflops = e->Flops() / (us * 1e-6) / 1e12;
  state.counters["median_us"] = us;
  state.counters["TFLOPs"] = tflops;
  state.counters["kernels"] = 1 + (*base)->num_kernels();
  g_results[absl::StrCat(e->file, " cublas")] =
      Result{us, e->FloorBytes() / (us * 1e-6) / 1e12, 1 + (*base)->num_kernels(), tflops};
}

KernelCache g_sweep_cache;  // one compile per signature across the sweep's rows
std::map<std::string, double> g_sweep_us;  // "<point name>/<variant>" -> median us

// A sweep row through tilefuse, untuned (the default configs), M static or symbolic.
void BM_SweepTilefuse(benchmark::State& state, const SweepPoint* p, bool symbolic) {
  CompileOptions options;
  options.cache = &g_sweep_cache;
  auto plan = Compile(symbolic ? p->symbolic.graph : p->fixed.graph, options);
  if (!plan.ok()) return state.SkipWithError(std::string(plan.status().message()).c_str());
  std::vector<TensorArg> in, out;
  if (absl::Status s = SweepTensors(*p, in, out); !s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
  const double us = TimeSamples(state, [&] { return plan->Run(g_timer->stream(), in, out); });
  if (us < 0) return;
  state.counters["median_us"] = us;
  state.counters["TFLOPs"] = 2.0 * p->m * p->n * p->k / (us * 1e-6) / 1e12;
  // The config that runs at this M (its shape class's, where M is symbolic).
  std::string configs;
  for (int i = 0; i < plan->num_kernels(); ++i) {
    if (plan->fusion_plan().kernels[i].spec.tile == "matmul") {
      absl::StrAppend(&configs, plan->gemm_config_for(i, p->m).ToString());
    }
  }
  state.SetLabel(absl::StrCat(plan->num_kernels(), " kernels, ", configs));
  g_sweep_us[absl::StrCat(p->name, symbolic ? "/symbolic" : "/static")] = us;
}

// The same through cuBLAS, with the epilogue as a separate kernel.
void BM_SweepCublas(benchmark::State& state, const SweepPoint* p) {
  auto base = CublasBaseline::Create(p->fixed);
  if (!base.ok()) return state.SkipWithError(std::string(base.status().message()).c_str());
  std::vector<TensorArg> in, out;
  if (absl::Status s = SweepTensors(*p, in, out); !s.ok()) return state.SkipWithError(std::string(s.message()).c_str());
  const double us = TimeSamples(state, [&] { return (*base)->Run(g_timer->stream(), in, out); });
  if (us < 0) return;
  state.counters["median_us"] = us;
  state.counters["TFLOPs"] = 2.0 * p->m * p->n * p->k / (us * 1e-6) / 1e12;
  g_sweep_us[absl::StrCat(p->name, "/cublas")] = us;
}

void PrintSummary() {
  std::printf("\n%-44s %10s %8s %9s %8s %8s\n", "graph", "median_us", "TB/s", "frac_copy", "TFLOP/s", "kernels");
  for (const auto& [name, r] : g_results) {
    std::printf("%-44s %10.1f %8.3f %9.3f %8.1f %8d\n", name.c_str(), r.median_us, r.tbps,
                g_copy_tbps > 0 ? r.tbps / g_copy_tbps : 0.0, r.tflops, r.kernels);
  }
  for (const auto& [name, r] : g_results) {
    const std::string suffix = " fused";
    if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string base = name.substr(0, name.size() - suffix.size());
    auto un = g_results.find(base + " unfused");
    if (un != g_results.end()) {
      std::printf("speedup %-36s %.2fx fused over unfused\n", base.c_str(), un->second.median_us / r.median_us);
    }
    auto apart = g_results.find(base + " apart");
    if (apart != g_results.end()) {
      std::printf("tiles   %-36s %.2fx fused (%d kernels) over the tiles apart (%d kernels)\n", base.c_str(),
                  apart->second.median_us / r.median_us, r.kernels, apart->second.kernels);
    }
    auto wide = g_results.find(base + " wide_rows");
    if (wide != g_results.end()) {
      std::printf("wide    %-36s %.2fx the wide row epilogue (%d kernels) over fused (%d kernels)\n", base.c_str(),
                  r.median_us / wide->second.median_us, wide->second.kernels, r.kernels);
    }
    auto prologue = g_results.find(base + " norm_prologue");
    if (prologue != g_results.end()) {
      std::printf("prologue %-35s %.2fx with the norm in the GEMM's prologue over fused\n", base.c_str(),
                  r.median_us / prologue->second.median_us);
    }
    // Memory-bound graphs: time over the floor (every input read once, every output
    // written once, at the copy bandwidth of this run). GEMMs: cost over the plain GEMM.
    if (r.tflops == 0 && g_copy_tbps > 0) {
      std::printf("floor   %-36s %.3fx the floor time\n", base.c_str(), g_copy_tbps / r.tbps);
    }
    auto plain = g_results.find("gemm_plain.json fused");
    if (r.tflops > 0 && plain != g_results.end() && plain->first != name) {
      std::printf("vs plain GEMM %-30s %+.1f%% time over the plain tilefuse GEMM\n", base.c_str(),
                  100.0 * (r.median_us / plain->second.median_us - 1.0));
    }
    auto cb = g_results.find(base + " cublas");
    if (cb != g_results.end()) {
      std::printf("vs cuBLAS %-34s fused at %.1f%% of cuBLAS+epilogue speed\n", base.c_str(),
                  100.0 * cb->second.median_us / r.median_us);
    }
  }
}

}  // namespace
}  // namespace tilefuse::internal

int main(int argc, char** argv) {
  using namespace tilefuse::internal;
  // A crash on the device machine (no debugger there) still leaves a symbolized stack.
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler(absl::FailureSignalHandlerOptions());
  benchmark::Initialize(&argc, argv);
  bool sweep_configs = false;  // the config grid (bench/sweep_configs.h) instead
  int64_t sweep_m = 0;         // the grid's points of this M alone (0: all)
  std::string sweep_only;      // the grid's rows whose name holds this
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--tuning=", 0) == 0) g_tuning = a.substr(9);
    if (a.rfind("--jit_cache=", 0) == 0) g_jit_cache = a.substr(12);
    if (a == "--sweep_configs") sweep_configs = true;
    if (a.rfind("--sweep_m=", 0) == 0) sweep_m = std::atoll(a.c_str() + 10);
    if (a.rfind("--sweep_only=", 0) == 0) sweep_only = a.substr(13);
  }
  auto catalog = LoadCatalog();
  if (!catalog.ok()) {
    std::fprintf(stderr, "bench_fusion: %s\n", std::string(catalog.status().message()).c_str());
    return 1;
  }
  auto timer = GpuTimer::Create();
  RegisterJitBenchmarks(*catalog, timer.ok(), g_jit_cache);
  if (!timer.ok()) {
    // Without a GPU only the JIT's host costs can be measured.
    std::printf("bench_fusion: no GPU, kernel timings skipped (%s); JIT costs only\n",
                std::string(timer.status().message()).c_str());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  }
  g_timer = timer->get();
  std::printf("device: %s (%s, %d SMs)\n", (*timer)->device().name.c_str(),
              (*timer)->device().Arch().c_str(), (*timer)->device().sm_count);
  benchmark::RegisterBenchmark("copy/256MiB", BM_Copy)->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.3);
  benchmark::RegisterBenchmark("launch/floor", BM_LaunchFloor)->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.3);
  for (const CatalogEntry& e : *catalog) {
    for (bool fuse : {true, false}) {
      benchmark::RegisterBenchmark(absl::StrCat("graph/", e.file, fuse ? "/fused" : "/unfused").c_str(),
                                   BM_Graph, &e, fuse ? Variant::kFused : Variant::kUnfused)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.3);
    }
    // A GEMM beside a norm or a reduction: also the plan without row epilogues and norm
    // prologues, the kernels those fusions merge.
    const bool beside = std::any_of(e.graph.nodes().begin(), e.graph.nodes().end(), [](const Node& n) {
      return n.kind == NodeKind::kReduce || (n.kind == NodeKind::kTile && n.tile != TileOp::kMatmul);
    });
    if (e.Flops() > 0 && beside) {
      benchmark::RegisterBenchmark(absl::StrCat("graph/", e.file, "/apart").c_str(), BM_Graph, &e, Variant::kApart)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.3);
    }
    // A graph whose plan changes with norm prologues on: that plan too.
    PlanOptions with_prologues;
    with_prologues.norm_prologues = true;
    auto planned = PlanFusion(e.graph, with_prologues);
    if (planned.ok() && std::any_of(planned->decisions.begin(), planned->decisions.end(), [](const std::string& d) {
          return d.rfind("norm prologue:", 0) == 0;
        })) {
      benchmark::RegisterBenchmark(absl::StrCat("graph/", e.file, "/norm_prologue").c_str(), BM_Graph, &e,
                                   Variant::kNormPrologue)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.3);
    }
    // A GEMM whose norm fuses only with wide row epilogues (sm_90): that one kernel too.
    PlanOptions wide;
    wide.wide_row_epilogues = true;
    auto widened = PlanFusion(e.graph, wide);
    auto plain = PlanFusion(e.graph, PlanOptions{});
    if (widened.ok() && plain.ok() && widened->kernels.size() < plain->kernels.size()) {
      benchmark::RegisterBenchmark(absl::StrCat("graph/", e.file, "/wide_rows").c_str(), BM_Graph, &e,
                                   Variant::kWideRows)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.3);
    }
    if (e.Flops() > 0) {
      benchmark::RegisterBenchmark(absl::StrCat("graph/", e.file, "/cublas").c_str(), BM_Cublas, &e)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.3);
    }
  }
  auto sweep = SweepPoints();
  if (!sweep.ok()) {
    std::fprintf(stderr, "bench_fusion: sweep: %s\n", std::string(sweep.status().message()).c_str());
    return 1;
  }
  if (sweep_configs) {
    const absl::Status s = RunSweepConfigs(**timer, *sweep, sweep_m, &*catalog, sweep_only);
    if (!s.ok()) std::fprintf(stderr, "bench_fusion: sweep configs: %s\n", std::string(s.message()).c_str());
    return s.ok() ? 0 : 1;
  }
  // Fixed sample counts: a flushed median of 30 is steady, and 528 rows fit one device call.
  // Symbolic before static: a large GEMM's rows share one binary, and the first row of a
  // point has run slower at times (order, not code).
  for (const SweepPoint& p : *sweep) {
    for (const char* variant : {"symbolic", "static"}) {
      benchmark::RegisterBenchmark(absl::StrCat(p.name, "/", variant).c_str(), BM_SweepTilefuse, &p,
                                   std::string(variant) == "symbolic")
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->Iterations(30);
    }
    benchmark::RegisterBenchmark(absl::StrCat(p.name, "/cublas").c_str(), BM_SweepCublas, &p)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond)
        ->Iterations(30);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  PrintSummary();
  std::vector<SweepRow> rows;
  for (const SweepPoint& p : *sweep) {
    auto cb = g_sweep_us.find(p.name + "/cublas");
    for (const char* variant : {"static", "symbolic"}) {
      auto it = g_sweep_us.find(absl::StrCat(p.name, "/", variant));
      if (it != g_sweep_us.end()) rows.push_back(SweepRow{&p, variant, it->second, cb == g_sweep_us.end() ? 0 : cb->second});
    }
  }
  if (!rows.empty()) PrintSweepSummary(rows, g_copy_tbps);
  return 0;
}
