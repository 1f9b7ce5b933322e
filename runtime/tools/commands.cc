#include "runtime/tools/commands.h"

#include <cstdio>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "runtime/autotune.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/fusion/planner.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "runtime/status_macros.h"
#include "runtime/tools/flags.h"
#include "runtime/tools/npy.h"

namespace tilefuse::internal {
namespace {

nlohmann::json PlanJson(const Graph& g, const FusionPlan& plan, bool fused) {
  nlohmann::json j;
  j["graph"] = g.name();
  j["fusion"] = fused;
  j["num_kernels"] = plan.kernels.size();
  j["kernels"] = nlohmann::json::array();
  for (const KernelPlan& k : plan.kernels) {
    nlohmann::json nodes = nlohmann::json::array(), stores = nlohmann::json::array();
    for (int id : k.nodes) nodes.push_back({{"name", g.node(id).name}, {"op", g.node(id).OpString()}});
    for (const OutputBinding& o : k.outputs) stores.push_back(g.node(o.value).name);
    // A GEMM with a symbolic M: the classes Compile builds by default (untuned).
    nlohmann::json classes = nlohmann::json::array();
    for (const ShapeClass& c : GemmShapeClasses(k, kDefaultMClasses)) {
      classes.push_back({{"max_m", c.max_m}, {"config", c.gemm.ToString()}});
    }
    if (!classes.empty()) classes.push_back({{"max_m", nullptr}, {"config", k.spec.gemm.ToString()}});
    // A kernel of one form of the plan: the rows (M) it runs at, max null for no bound.
    nlohmann::json rows = nullptr;
    if (k.range) {
      rows = {{"min", k.range->min}, {"max", k.range->max < 0 ? nlohmann::json(nullptr) : nlohmann::json(k.range->max)}};
    }
    j["kernels"].push_back({{"tile_kernel", k.spec.tile.empty() ? nlohmann::json(nullptr) : nlohmann::json(k.spec.tile)},
                            {"fused", nodes},
                            {"stores", stores},
                            {"summary", k.summary},
                            {"classes", classes},
                            {"runs_at_rows", rows}});
  }
  j["decisions"] = plan.decisions;
  return j;
}

absl::Status WithPath(const std::string& path, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
}

// Every NAME of --input/--output NAME=FILE, which must name a graph input (or output).
absl::StatusOr<std::map<std::string, std::string>> NamedFiles(const std::vector<std::string>& flags, const Graph& g,
                                                             absl::Span<const int> ids, absl::string_view role) {
  std::map<std::string, std::string> files;
  for (const std::string& kv : flags) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--", role, " '", kv, "' is not NAME=FILE"));
    }
    const std::string name = kv.substr(0, eq);
    std::string names;
    bool known = false;
    for (int id : ids) {
      known |= g.node(id).name == name;
      absl::StrAppend(&names, names.empty() ? "" : ", ", g.node(id).name);
    }
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("--", role, " '", name, "' is not an ", role, " of graph '",
                                                     g.name(), "' (", role, "s: ", names, ")"));
    }
    files[name] = kv.substr(eq + 1);
  }
  return files;
}

// --gemm-config JSON: every GEMM the config can run takes it (CompileOptions::gemm_config).
absl::Status ApplyGemmConfigFlag(const Flags& flags, CompileOptions& options) {
  auto it = flags.values.find("gemm-config");
  if (it == flags.values.end()) return absl::OkStatus();
  TF_ASSIGN_OR_RETURN(GemmConfig c, GemmConfigFromJsonText(it->second.back()));
  options.gemm_config = c;
  return absl::OkStatus();
}

}  // namespace

int PlanCommand(const std::vector<std::string>& args) {
  auto flags = ParseFlags(args, {}, WithFusionSwitches({"json"}));
  if (!flags.ok()) return Fail(flags.status());
  if (flags->positional.size() != 1) return Fail(absl::InvalidArgumentError("plan takes one GRAPH"));
  auto g = GraphFromJsonFile(flags->positional[0]);
  if (!g.ok()) return Fail(g.status());
  PlanOptions options;
  ApplyFusionSwitches(FusionSwitchesOf(*flags), options);
  const bool fuse = options.fuse;
  auto plan = PlanFusion(*g, options);
  if (!plan.ok()) return Fail(WithPath(flags->positional[0], plan.status()));
  if (flags->switches["json"]) {
    std::printf("%s\n", PlanJson(*g, *plan, fuse).dump(2).c_str());
    return 0;
  }
  std::printf("plan '%s' (%s): %zu kernel%s\n", g->name().c_str(), fuse ? "fused" : "unfused",
              plan->kernels.size(), plan->kernels.size() == 1 ? "" : "s");
  for (size_t i = 0; i < plan->kernels.size(); ++i) {
    std::printf("  kernel %zu: %s\n", i, plan->kernels[i].summary.c_str());
  }
  for (const std::string& d : plan->decisions) std::printf("  %s\n", d.c_str());
  return 0;
}

int CompileCommand(const std::vector<std::string>& args) {
  auto flags = ParseFlags(args, {"arch", "dump", "cache-dir", "gemm-config"}, WithFusionSwitches({"no-disk-cache"}));
  if (!flags.ok()) return Fail(flags.status());
  if (flags->positional.empty()) return Fail(absl::InvalidArgumentError("compile takes GRAPH..."));
  KernelCache cache;
  std::unique_ptr<DiskCache> disk = DiskCacheFromFlags(*flags);
  CompileOptions options;
  options.cache = &cache;
  options.disk_cache = disk.get();
  ApplyFusionSwitches(FusionSwitchesOf(*flags), options);
  if (flags->values.count("arch")) options.arch = flags->values["arch"].back();
  if (flags->values.count("dump")) options.dump_dir = flags->values["dump"].back();
  if (absl::Status s = ApplyGemmConfigFlag(*flags, options); !s.ok()) return Fail(s);
  int failed = 0, kernels = 0, hits = 0, disk_hits = 0;
  double total_ms = 0;
  for (const std::string& path : flags->positional) {
    auto g = GraphFromJsonFile(path);
    if (!g.ok()) {
      ++failed;
      Fail(g.status());
      continue;
    }
    auto plan = Compile(*g, options);
    if (!plan.ok()) {
      ++failed;
      Fail(WithPath(path, plan.status()));
      continue;
    }
    std::printf("%s", plan->Explain().c_str());
    for (const KernelReport& r : plan->reports()) {
      std::printf("    %s  %-5s %8.1f ms  %6zu bytes\n", r.entry_name.c_str(),
                  r.disk_hit ? "disk" : r.cache_hit ? "hit" : "nvrtc", r.compile_ms, r.cubin_bytes);
      ++kernels;
      hits += r.cache_hit;
      disk_hits += r.disk_hit;
      total_ms += r.compile_ms;
    }
  }
  std::printf("compiled %d kernels (%d cache hits, %d from disk) for %zu graphs in %.1f ms of NVRTC; %d failed\n",
              kernels, hits, disk_hits, flags->positional.size(), total_ms, failed);
  return failed == 0 ? 0 : 1;
}

int RunCommand(const std::vector<std::string>& args) {
  auto flags =
      ParseFlags(args, {"input", "output", "repeat", "cache-dir", "gemm-config"}, WithFusionSwitches({"no-disk-cache", "flush"}));
  if (!flags.ok()) return Fail(flags.status());
  if (flags->positional.size() != 1) return Fail(absl::InvalidArgumentError("run takes one GRAPH"));
  auto g = GraphFromJsonFile(flags->positional[0]);
  if (!g.ok()) return Fail(g.status());
  auto in_files = NamedFiles(flags->values["input"], *g, g->inputs(), "input");
  if (!in_files.ok()) return Fail(in_files.status());
  auto out_files = NamedFiles(flags->values["output"], *g, g->outputs(), "output");
  if (!out_files.ok()) return Fail(out_files.status());
  int repeat = 1;
  if (flags->values.count("repeat") && (!absl::SimpleAtoi(flags->values["repeat"].back(), &repeat) || repeat < 1)) {
    return Fail(absl::InvalidArgumentError("--repeat takes a positive integer"));
  }
  // Every input file is read and checked before anything is compiled or a GPU is needed.
  std::vector<HostTensor> host_ins;
  std::map<std::string, int64_t> bound;
  for (int id : g->inputs()) {
    const Node& n = g->node(id);
    if (!in_files->count(n.name)) return Fail(absl::InvalidArgumentError(absl::StrCat("no --input for '", n.name, "'")));
    auto t = ReadNpy(in_files->at(n.name), n.dtype);
    if (!t.ok()) return Fail(t.status());
    if (t->shape.size() != n.shape.size()) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("input '", n.name, "': ", in_files->at(n.name), " has ",
                                                          t->shape.size(), " dims (expected ", g->ShapeText(id), ")")));
    }
    for (size_t d = 0; d < t->shape.size(); ++d) {
      if (!n.shape[d].is_static()) bound[g->symbols()[n.shape[d].symbol]] = t->shape[d];
    }
    host_ins.push_back(*std::move(t));
  }
  std::unique_ptr<DiskCache> disk = DiskCacheFromFlags(*flags);
  CompileOptions options;
  ApplyFusionSwitches(FusionSwitchesOf(*flags), options);
  options.disk_cache = disk.get();
  if (absl::Status s = ApplyGemmConfigFlag(*flags, options); !s.ok()) return Fail(s);
  auto plan = Compile(*g, options);
  if (!plan.ok()) return Fail(WithPath(flags->positional[0], plan.status()));
  std::printf("%s", plan->Explain().c_str());
  absl::Status s = [&]() -> absl::Status {
    TF_RETURN_IF_ERROR(plan->Load());
    std::vector<DeviceBuffer> buffers;
    std::vector<TensorArg> ins, outs;
    for (size_t k = 0; k < host_ins.size(); ++k) {
      const HostTensor& t = host_ins[k];
      TF_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(t.bytes.size()));
      TF_RETURN_IF_ERROR(b.Upload(t.bytes.data(), t.bytes.size()));
      TensorArg a{b.data(), t.dtype, static_cast<int>(t.shape.size())};
      for (size_t d = 0; d < t.shape.size(); ++d) a.shape[d] = t.shape[d];
      ins.push_back(a);
      buffers.push_back(std::move(b));
    }
    std::vector<HostTensor> host_outs;
    for (int id : g->outputs()) {
      const Node& n = g->node(id);
      std::vector<int64_t> shape;
      for (const Dim& d : n.shape) shape.push_back(d.is_static() ? d.value : bound[g->symbols()[d.symbol]]);
      HostTensor t = HostTensor::Zeros(n.dtype, shape);
      TF_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(t.bytes.size()));
      TensorArg a{b.data(), n.dtype, static_cast<int>(shape.size())};
      for (size_t d = 0; d < shape.size(); ++d) a.shape[d] = shape[d];
      outs.push_back(a);
      buffers.push_back(std::move(b));
      host_outs.push_back(std::move(t));
    }
    TF_RETURN_IF_ERROR(plan->Run(nullptr, ins, outs));  // warm-up: loads, sizes the workspace
    if (flags->switches.count("flush")) {
      // Each run alone after an L2 flush, as the tuner and bench_fusion time (TimePlan): the
      // median, which back-to-back runs (below) hide behind their mean.
      TF_ASSIGN_OR_RETURN(const double us, TimePlan(*plan, ins, outs, repeat));
      std::printf("ran %d time%s, L2 flushed before each: median %.2f us (%d kernels)\n", repeat,
                  repeat == 1 ? "" : "s", us, plan->num_kernels());
    } else {
      TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
      CUevent start, stop;
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&start, 0), "cuEventCreate"));
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&stop, 0), "cuEventCreate"));
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventRecord(start, nullptr), "cuEventRecord"));
      for (int r = 0; r < repeat; ++r) TF_RETURN_IF_ERROR(plan->Run(nullptr, ins, outs));
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventRecord(stop, nullptr), "cuEventRecord"));
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventSynchronize(stop), "cuEventSynchronize"));
      float ms = 0;
      TF_RETURN_IF_ERROR(cu->Check(cu->cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime"));
      cu->cuEventDestroy(start);
      cu->cuEventDestroy(stop);
      std::printf("ran %d time%s: %.2f us per run (%d kernels)\n", repeat, repeat == 1 ? "" : "s",
                  1000.0 * ms / repeat, plan->num_kernels());
    }
    for (size_t k = 0; k < host_outs.size(); ++k) {
      const Node& n = g->node(g->outputs()[k]);
      TF_RETURN_IF_ERROR(buffers[ins.size() + k].Download(host_outs[k].bytes.data(), host_outs[k].bytes.size()));
      if (out_files->count(n.name)) TF_RETURN_IF_ERROR(WriteNpy(out_files->at(n.name), host_outs[k]));
    }
    return absl::OkStatus();
  }();
  return s.ok() ? 0 : Fail(s);
}

}  // namespace tilefuse::internal
