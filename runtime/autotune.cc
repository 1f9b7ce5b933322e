#include "runtime/autotune.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "runtime/fusion/grouping.h"
#include "runtime/graph/json_value.h"
#include "runtime/graph/read_file.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/l2_flush.h"
#include "runtime/plan.h"
#include "runtime/reference.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

constexpr int kFormatVersion = 1;

Json ConfigJson(const GemmConfig& c) {
  Json j = {{"bm", c.bm}, {"bn", c.bn}, {"bk", c.bk}, {"warps_m", c.warps_m},
            {"warps_n", c.warps_n}, {"stages", c.stages}, {"wgmma", c.wgmma}, {"split_k", c.split_k},
            {"a_rows", c.a_rows}};
  if (c.skinny) j["skinny"] = true;
  if (c.multicast > 1) j["multicast"] = c.multicast;
  if (c.Group() != 8) j["group"] = c.group;
  return j;
}

absl::StatusOr<int> ConfigInt(const Json& j, absl::string_view key, int fallback = -1) {
  const Json* v = JsonMember(j, key);
  if (v == nullptr) {
    if (fallback >= 0) return fallback;
    return absl::InvalidArgumentError(absl::StrCat("no '", key, "'"));
  }
  TF_ASSIGN_OR_RETURN(int64_t i, JsonInt(*v, 0, 1 << 20, absl::StrCat("'", key, "'")));
  return static_cast<int>(i);
}

absl::StatusOr<GemmConfig> ConfigFromJson(const Json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("'config' is not an object");
  GemmConfig c;
  TF_ASSIGN_OR_RETURN(c.bm, ConfigInt(j, "bm"));
  TF_ASSIGN_OR_RETURN(c.bn, ConfigInt(j, "bn"));
  TF_ASSIGN_OR_RETURN(c.bk, ConfigInt(j, "bk"));
  TF_ASSIGN_OR_RETURN(c.warps_m, ConfigInt(j, "warps_m"));
  TF_ASSIGN_OR_RETURN(c.warps_n, ConfigInt(j, "warps_n"));
  TF_ASSIGN_OR_RETURN(c.stages, ConfigInt(j, "stages"));
  TF_ASSIGN_OR_RETURN(c.split_k, ConfigInt(j, "split_k", 1));  // records written before split-K have none
  TF_ASSIGN_OR_RETURN(c.a_rows, ConfigInt(j, "a_rows", 0));
  TF_ASSIGN_OR_RETURN(c.multicast, ConfigInt(j, "multicast", 1));
  TF_ASSIGN_OR_RETURN(c.group, ConfigInt(j, "group", 0));
  const Json* wgmma = JsonMember(j, "wgmma");
  if (wgmma == nullptr) return absl::InvalidArgumentError("no 'wgmma'");
  TF_ASSIGN_OR_RETURN(c.wgmma, JsonBool(*wgmma, "'wgmma'"));
  if (const Json* skinny = JsonMember(j, "skinny")) {
    TF_ASSIGN_OR_RETURN(c.skinny, JsonBool(*skinny, "'skinny'"));
  }
  TF_RETURN_IF_ERROR(ValidateGemmConfig(c));
  return c;
}

absl::StatusOr<RowConfig> RowFromJson(const Json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("'row' is not an object");
  RowConfig c;
  TF_ASSIGN_OR_RETURN(c.threads, ConfigInt(j, "threads"));
  TF_ASSIGN_OR_RETURN(c.row_threads, ConfigInt(j, "row_threads"));
  TF_ASSIGN_OR_RETURN(c.vecs, ConfigInt(j, "vecs"));
  TF_ASSIGN_OR_RETURN(c.loop, ConfigInt(j, "loop", 1));
  if (const Json* chunked = JsonMember(j, "chunked")) {
    TF_ASSIGN_OR_RETURN(c.chunked, JsonBool(*chunked, "'chunked'"));
  }
  TF_RETURN_IF_ERROR(ValidateRowConfig(c));
  return c;
}

absl::StatusOr<TuningRecord> RecordFromJson(const Json& v) {
  const Json* us = JsonMember(v, "us");
  if (us == nullptr || !us->is_number()) return absl::InvalidArgumentError("no 'us' number");
  if (const Json* row = JsonMember(v, "row")) {
    TF_ASSIGN_OR_RETURN(RowConfig c, RowFromJson(*row));
    return TuningRecord{GemmConfig{}, us->get<double>(), c};
  }
  const Json* config = JsonMember(v, "config");
  if (config == nullptr) return absl::InvalidArgumentError("neither 'config' nor 'row'");
  TF_ASSIGN_OR_RETURN(GemmConfig c, ConfigFromJson(*config));
  return TuningRecord{c, us->get<double>(), std::nullopt};
}

std::string DimKey(const Dim& d) { return d.is_static() ? absl::StrCat(d.value) : "dyn"; }

}  // namespace

absl::StatusOr<TuningRecords> TuningRecords::Load(const std::string& path) {
  TuningRecords r;
  absl::StatusOr<std::string> text = ReadTextFile(path, kMaxJsonBytes, "tuning records");
  if (absl::IsNotFound(text.status())) return r;
  if (!text.ok()) return text.status();
  absl::StatusOr<Json> j = ParseJson(*text, "tuning records");
  const Json* version = j.ok() ? JsonMember(*j, "version") : nullptr;
  const Json* records = j.ok() ? JsonMember(*j, "records") : nullptr;
  if (!j.ok() || version == nullptr || *version != kFormatVersion || records == nullptr || !records->is_object()) {
    r.problems_.push_back(absl::StrCat("tuning records '", path, "' are not a version ", kFormatVersion,
                                       " tilefuse tuning file", j.ok() ? "" : absl::StrCat(" (", j.status().message(), ")"),
                                       "; ignored"));
    return r;
  }
  for (const auto& [key, v] : records->items()) {
    absl::StatusOr<TuningRecord> record = RecordFromJson(v);
    if (record.ok()) {
      r.records_[key] = *record;
    } else {
      r.problems_.push_back(absl::StrCat("tuning records '", path, "': entry '", absl::CHexEscape(key),
                                         "' is malformed (", record.status().message(), "); ignored"));
    }
  }
  return r;
}

absl::Status TuningRecords::Save(const std::string& path) const {
  Json j;
  j["version"] = kFormatVersion;
  j["records"] = Json::object();
  for (const auto& [key, r] : records_) {
    if (r.row) {
      Json row = {{"threads", r.row->threads}, {"row_threads", r.row->row_threads}, {"vecs", r.row->vecs},
                  {"loop", r.row->loop}};
      if (r.row->chunked) row["chunked"] = true;
      j["records"][key] = {{"row", std::move(row)}, {"us", r.us}};
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
                          const std::string& arch, int64_t class_max_m) {
  const Node& t = g.node(matmul_node);
  const Dim& m = t.shape[0];
  std::string m_class = "any";
  if (class_max_m > 0) {
    m_class = absl::StrCat(class_max_m);
  } else if (m.is_static()) {
    for (int64_t bound : kDefaultMClasses) {
      if (m.value <= bound) {
        m_class = absl::StrCat(bound);
        break;
      }
    }
  }
  return absl::StrCat("matmul ", DTypeName(spec.tile_inputs[0].dtype), GemmWgmmaCapable(spec) ? " wgmma" : "",
                      " b=", static_cast<int>(spec.b_layout), " m=", m_class, " n=", DimKey(t.shape[1]),
                      spec.dual ? (spec.dual_split ? " dual split" : " dual") : "",
                      " k=", DimKey(g.node(t.inputs[0]).shape[1]), " ", arch);
}

absl::StatusOr<std::vector<TuningTrial>> TuneGemm(const Graph& graph, int matmul_node,
                                                  const KernelSpec& spec, const std::string& arch, int device,
                                                  int64_t m_size, absl::Span<const GemmConfig> given) {
  const Node& t = graph.node(matmul_node);
  const auto size = [&](const Dim& d) { return d.is_static() ? d.value : m_size; };
  const bool f8 = IsF8Gemm(spec);
  // An fp8 GEMM runs past kMaxWeightOnlyRows rows only (its plan's form for them).
  const int64_t M = std::max<int64_t>(size(t.shape[0]), f8 ? 2 * kMaxWeightOnlyRows : 1);
  // A dual GEMM is timed as the GEMM of both products' columns, 2N (its tiles and its work).
  const int64_t N = size(t.shape[1]) * (spec.dual && !spec.dual_split ? 2 : 1);
  const int64_t K = size(graph.node(t.inputs[0]).shape[1]);
  const DType dtype = spec.tile_inputs[0].dtype;
  // The plain GEMM: the same operand layouts, no prologue, no epilogue (fp8: the codes cast
  // to bf16, which plans as the fp8 GEMM without scales).
  Graph g("tune_gemm");
  TF_ASSIGN_OR_RETURN(int a, g.AddInput("a", {Dim::Static(M), Dim::Static(K)}, dtype));
  if (f8) {
    TF_ASSIGN_OR_RETURN(a, g.AddPointwise("a16", PointwiseOp::kCast, {a}, Attrs{.dtype = DType::kBF16}));
  }
  int b;
  if (spec.b_layout == GemmBLayout::kColMajor) {
    TF_ASSIGN_OR_RETURN(int w, g.AddInput("w", {Dim::Static(N), Dim::Static(K)}, f8 ? spec.tile_inputs[1].dtype : dtype));
    if (f8) {
      TF_ASSIGN_OR_RETURN(w, g.AddPointwise("w16", PointwiseOp::kCast, {w}, Attrs{.dtype = DType::kBF16}));
    }
    TF_ASSIGN_OR_RETURN(b, g.AddView("wt", ViewOp::kTranspose, w, Attrs{.dim0 = 0, .dim1 = 1}));
  } else {
    TF_ASSIGN_OR_RETURN(b, g.AddInput("w", {Dim::Static(K), Dim::Static(N)}, dtype));
  }
  TF_ASSIGN_OR_RETURN(int y, g.AddTile("y", TileOp::kMatmul, {a, b}));
  TF_RETURN_IF_ERROR(g.AddOutput(y));

  // Tensors and plans on `device`, the caller's context put back after.
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_ASSIGN_OR_RETURN(CUcontext ctx, PrimaryContext(device));
  TF_ASSIGN_OR_RETURN(ScopedContext scope, ScopedContext::Enter(*cu, ctx));
  TF_ASSIGN_OR_RETURN(TuningTensors tensors, RandomTuningTensors(g, M, 0x7f));

  const std::vector<GemmConfig> candidates =
      !given.empty()    ? std::vector<GemmConfig>(given.begin(), given.end())
      : spec.gemm.wgmma ? std::vector<GemmConfig>{WgmmaGemmConfig(3), WgmmaGemmConfig(4), WgmmaGemmConfig(5),
                                                  WgmmaGemmConfig(4, 128, 192), WgmmaGemmConfig(4, 128, 256)}
                        : GemmCandidates(t.shape[0]);
  std::vector<TuningTrial> trials;
  KernelCache cache;
  absl::Status last;  // why the last candidate that failed did
  for (const GemmConfig& cand : candidates) {
    CompileOptions o;
    o.device = device;
    o.arch = arch;
    o.cache = &cache;
    o.gemm_config = cand;
    TF_ASSIGN_OR_RETURN(Plan plan, Compile(g, o));
    auto us = TimePlan(plan, tensors.in, tensors.out, 15);
    if (!us.ok()) {  // a config the device cannot run (shared memory) is skipped
      last = us.status();
      continue;
    }
    trials.push_back(TuningTrial{SpecText(plan.fusion_plan().kernels[0].spec), cand, *us});
  }
  if (trials.empty()) return absl::InternalError(absl::StrCat("no GEMM candidate config ran; the last: ", last.message()));
  std::sort(trials.begin(), trials.end(), [](const TuningTrial& x, const TuningTrial& y) { return x.us < y.us; });
  return trials;
}

absl::StatusOr<GemmConfig> GemmConfigFromJsonText(absl::string_view text) {
  TF_ASSIGN_OR_RETURN(Json j, ParseJson(text, "GEMM config"));
  absl::StatusOr<GemmConfig> c = ConfigFromJson(j);
  if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat("GEMM config ", text, ": ", c.status().message()));
  return c;
}

}  // namespace tilefuse::internal
