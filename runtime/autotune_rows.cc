// Row-wise kernel tuning (runtime/autotune.h): each candidate launch config of the fused
// kernel, timed on fresh random inputs.
#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "runtime/autotune.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/stable_hash.h"
#include "runtime/plan.h"
#include "runtime/reference.h"
#include "runtime/status_macros.h"

namespace tilefuse {

std::string RowTuningKey(const KernelSpec& planned, const std::string& arch) {
  return absl::StrCat("row ", planned.tile, " spec=", Hex64(StableHash(SpecText(planned))), " ", arch);
}

absl::StatusOr<std::vector<RowTrial>> TuneRowwise(const Graph& graph, int kernel_index, const KernelSpec& spec,
                                                  int64_t width, bool fuse, const std::string& arch, int64_t size) {
  // Fresh random tensors at the tuning sizes (never zeros: real data runs slower).
  std::mt19937_64 rng(0x5eed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<DeviceBuffer> buffers;
  std::vector<TensorArg> in, out;
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
    buffers.push_back(std::move(b));
    return absl::OkStatus();
  };
  for (int id : graph.inputs()) TF_RETURN_IF_ERROR(add(id, true, in));
  for (int id : graph.outputs()) TF_RETURN_IF_ERROR(add(id, false, out));

  std::vector<RowTrial> trials;
  KernelCache cache;
  for (const RowConfig& cand : RowCandidates(width, spec.Vec())) {
    CompileOptions o;
    o.arch = arch;
    o.cache = &cache;
    o.fuse = fuse;
    o.row_config = cand;
    TF_ASSIGN_OR_RETURN(Plan plan, Compile(graph, o));
    if (plan.fusion_plan().kernels[kernel_index].spec.row.row_threads != cand.row_threads) {
      return absl::InternalError("row tuning: the forced config was not applied");
    }
    auto us = TimePlan(plan, in, out, 10);
    if (!us.ok()) continue;  // a config the device cannot launch is skipped
    trials.push_back(RowTrial{cand, *us});
  }
  if (trials.empty()) return absl::InternalError("no row-wise candidate config ran");
  std::sort(trials.begin(), trials.end(), [](const RowTrial& a, const RowTrial& b) { return a.us < b.us; });
  return trials;
}

}  // namespace tilefuse
