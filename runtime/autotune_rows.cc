// Row-wise kernel tuning (runtime/autotune.h): each candidate launch config of the fused
// kernel, timed on fresh random inputs.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/autotune.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/stable_hash.h"
#include "runtime/plan.h"
#include "runtime/status_macros.h"

namespace tilefuse {

std::string RowTuningKey(const KernelSpec& planned, const std::string& arch) {
  return absl::StrCat("row ", planned.tile, " spec=", Hex64(StableHash(SpecText(planned))), " ", arch);
}

absl::StatusOr<std::vector<RowTrial>> TuneRowwise(const Graph& graph, int kernel_index, const KernelSpec& spec,
                                                  int64_t width, bool fuse, const std::string& arch, int64_t size) {
  TF_ASSIGN_OR_RETURN(TuningTensors t, RandomTuningTensors(graph, size, 0x5eed));
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
    auto us = TimePlan(plan, t.in, t.out, 10);
    if (!us.ok()) continue;  // a config the device cannot launch is skipped
    trials.push_back(RowTrial{cand, *us});
  }
  if (trials.empty()) return absl::InternalError("no row-wise candidate config ran");
  std::sort(trials.begin(), trials.end(), [](const RowTrial& a, const RowTrial& b) { return a.us < b.us; });
  return trials;
}

}  // namespace tilefuse
