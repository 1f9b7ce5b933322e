#include "runtime/autotune.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/l2_flush.h"
#include "runtime/plan.h"
#include "runtime/reference.h"
#include "runtime/status_macros.h"

namespace tilefuse {
namespace {

constexpr int kFormatVersion = 1;

nlohmann::json ConfigJson(const GemmConfig& c) {
  return {{"bm", c.bm}, {"bn", c.bn}, {"bk", c.bk}, {"warps_m", c.warps_m},
          {"warps_n", c.warps_n}, {"stages", c.stages}, {"wgmma", c.wgmma}, {"split_k", c.split_k}};
}

GemmConfig ConfigFromJson(const nlohmann::json& j) {
  GemmConfig c{j.at("bm").get<int>(), j.at("bn").get<int>(), j.at("bk").get<int>(),
               j.at("warps_m").get<int>(), j.at("warps_n").get<int>(), j.at("stages").get<int>()};
  c.wgmma = j.at("wgmma").get<bool>();
  c.split_k = j.value("split_k", 1);  // records written before split-K have none
  return c;
}

std::string DimKey(const Dim& d) { return d.is_static() ? absl::StrCat(d.value) : "dyn"; }

}  // namespace

absl::StatusOr<TuningRecords> TuningRecords::Load(const std::string& path) {
  TuningRecords r;
  std::ifstream f(path);
  if (!f) return r;
  std::stringstream ss;
  ss << f.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != kFormatVersion ||
      !j.contains("records")) {
    return absl::DataLossError(absl::StrCat("tuning records '", path, "' are not a version ",
                                            kFormatVersion, " tilefuse tuning file"));
  }
  for (const auto& [key, v] : j["records"].items()) {
    try {
      if (v.contains("row")) {
        const auto& w = v.at("row");
        r.records_[key] = TuningRecord{GemmConfig{}, v.at("us").get<double>(),
                                       RowConfig{w.at("threads").get<int>(), w.at("row_threads").get<int>(),
                                                 w.at("vecs").get<int>(), w.value("loop", 1)}};
      } else {
        r.records_[key] = TuningRecord{ConfigFromJson(v.at("config")), v.at("us").get<double>(), std::nullopt};
      }
    } catch (const nlohmann::json::exception& e) {
      return absl::DataLossError(absl::StrCat("tuning records '", path, "': entry '", key,
                                              "' is malformed (", e.what(), ")"));
    }
  }
  return r;
}

absl::Status TuningRecords::Save(const std::string& path) const {
  nlohmann::json j;
  j["version"] = kFormatVersion;
  j["records"] = nlohmann::json::object();
  for (const auto& [key, r] : records_) {
    if (r.row) {
      j["records"][key] = {{"row", {{"threads", r.row->threads}, {"row_threads", r.row->row_threads},
                                    {"vecs", r.row->vecs}, {"loop", r.row->loop}}},
                           {"us", r.us}};
    } else {
      j["records"][key] = {{"config", ConfigJson(r.config)}, {"us", r.us}};
    }
  }
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream f(tmp);
    f << j.dump(2) << "\n";
    if (!f) return absl::PermissionDeniedError(absl::StrCat("cannot write '", tmp, "'"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::PermissionDeniedError(absl::StrCat("cannot rename '", tmp, "' to '", path, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TuningTensors> RandomTuningTensors(const Graph& graph, int64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  TuningTensors t;
  const auto add = [&](int id, bool fill, std::vector<TensorArg>& list) -> absl::Status {
    const Node& n = graph.node(id);
    TensorArg a;
    a.dtype = n.dtype;
    a.rank = static_cast<int>(n.shape.size());
    std::vector<int64_t> shape;
    for (int d = 0; d < a.rank; ++d) shape.push_back(a.shape[d] = n.shape[d].is_static() ? n.shape[d].value : size);
    HostTensor h = HostTensor::Zeros(n.dtype, shape);
    if (fill) {
      for (int64_t i = 0; i < h.numel(); ++i) h.Set(i, ComputeKindOf(n.dtype) == ComputeKind::kFloat ? u(rng) : 1.0);
    }
    TF_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(std::max<size_t>(h.bytes.size(), 16)));
    if (fill) TF_RETURN_IF_ERROR(b.Upload(h.bytes.data(), h.bytes.size()));
    a.data = b.data();
    list.push_back(a);
    t.buffers.push_back(std::move(b));
    return absl::OkStatus();
  };
  for (int id : graph.inputs()) TF_RETURN_IF_ERROR(add(id, true, t.in));
  for (int id : graph.outputs()) TF_RETURN_IF_ERROR(add(id, false, t.out));
  return t;
}

absl::StatusOr<double> TimePlan(Plan& plan, const std::vector<TensorArg>& in,
                                const std::vector<TensorArg>& out, int samples) {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  CUevent start, stop;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&start, 0), "cuEventCreate"));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&stop, 0), "cuEventCreate"));
  std::vector<double> us;
  absl::Status s;
  for (int i = 0; i < samples + 3 && s.ok(); ++i) {
    // What the benchmarks do: L2 holds none of the inputs, as at an inference step whose
    // weights the previous layers evicted, and the GPU is busy while the launch is queued.
    s = FlushL2(nullptr);
    if (s.ok()) s = cu->Check(cu->cuEventRecord(start, nullptr), "cuEventRecord");
    if (s.ok()) s = plan.Run(nullptr, in, out);
    if (s.ok()) s = cu->Check(cu->cuEventRecord(stop, nullptr), "cuEventRecord");
    if (s.ok()) s = cu->Check(cu->cuEventSynchronize(stop), "cuEventSynchronize");
    float ms = 0;
    if (s.ok()) s = cu->Check(cu->cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
    if (s.ok() && i >= 3) us.push_back(ms * 1e3);
  }
  cu->cuEventDestroy(start);
  cu->cuEventDestroy(stop);
  TF_RETURN_IF_ERROR(s);
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  return us[us.size() / 2];
}

std::optional<TuningRecord> TuningRecords::Find(const std::string& key) const {
  auto it = records_.find(key);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

std::string GemmTuningKey(const Graph& g, int matmul_node, const KernelSpec& spec,
                          const std::string& arch) {
  const Node& t = g.node(matmul_node);
  const Dim& m = t.shape[0];
  const std::string m_class = !m.is_static() ? "any"
                              : m.value <= 16 ? "16" : m.value <= 64 ? "64" : m.value <= 256 ? "256" : "any";
  return absl::StrCat("matmul ", DTypeName(spec.tile_inputs[0].dtype), spec.gemm.wgmma ? " wgmma" : "",
                      " b=", static_cast<int>(spec.b_layout), " m=", m_class, " n=", DimKey(t.shape[1]),
                      " k=", DimKey(g.node(t.inputs[0]).shape[1]), " ", arch);
}

absl::StatusOr<std::vector<TuningTrial>> TuneGemm(const Graph& graph, int matmul_node,
                                                  const KernelSpec& spec, const std::string& arch,
                                                  int64_t m_size) {
  const Node& t = graph.node(matmul_node);
  const auto size = [&](const Dim& d) { return d.is_static() ? d.value : m_size; };
  const int64_t M = size(t.shape[0]), N = size(t.shape[1]), K = size(graph.node(t.inputs[0]).shape[1]);
  const DType dtype = spec.tile_inputs[0].dtype;
  // The plain GEMM: the same operand layouts, no prologue, no epilogue.
  Graph g("tune_gemm");
  TF_ASSIGN_OR_RETURN(int a, g.AddInput("a", {Dim::Static(M), Dim::Static(K)}, dtype));
  int b;
  if (spec.b_layout == GemmBLayout::kColMajor) {
    TF_ASSIGN_OR_RETURN(int w, g.AddInput("w", {Dim::Static(N), Dim::Static(K)}, dtype));
    TF_ASSIGN_OR_RETURN(b, g.AddView("wt", ViewOp::kTranspose, w, Attrs{.dim0 = 0, .dim1 = 1}));
  } else {
    TF_ASSIGN_OR_RETURN(b, g.AddInput("w", {Dim::Static(K), Dim::Static(N)}, dtype));
  }
  TF_ASSIGN_OR_RETURN(int y, g.AddTile("y", TileOp::kMatmul, {a, b}));
  TF_RETURN_IF_ERROR(g.AddOutput(y));

  TF_ASSIGN_OR_RETURN(TuningTensors tensors, RandomTuningTensors(g, M, 0x7f));

  const std::vector<GemmConfig> candidates =
      spec.gemm.wgmma ? std::vector<GemmConfig>{WgmmaGemmConfig(3), WgmmaGemmConfig(4), WgmmaGemmConfig(5)}
                      : GemmCandidates(t.shape[0]);
  std::vector<TuningTrial> trials;
  KernelCache cache;
  for (const GemmConfig& cand : candidates) {
    CompileOptions o;
    o.arch = arch;
    o.cache = &cache;
    o.gemm_config = cand;
    TF_ASSIGN_OR_RETURN(Plan plan, Compile(g, o));
    auto us = TimePlan(plan, tensors.in, tensors.out, 15);
    if (!us.ok()) continue;  // a config the device cannot run (shared memory) is skipped
    trials.push_back(TuningTrial{SpecText(plan.fusion_plan().kernels[0].spec), cand, *us});
  }
  if (trials.empty()) return absl::InternalError("no GEMM candidate config ran");
  std::sort(trials.begin(), trials.end(), [](const TuningTrial& x, const TuningTrial& y) { return x.us < y.us; });
  return trials;
}

}  // namespace tilefuse
