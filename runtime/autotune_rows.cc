// Row-wise kernel tuning (runtime/autotune.h): each candidate launch config of the fused
// kernel, timed on fresh random inputs.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/autotune.h"
#include "runtime/cuda/driver.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/stable_hash.h"
#include "runtime/plan.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

std::string RowTuningKey(const KernelSpec& planned, const std::string& arch) {
  return absl::StrCat("row ", planned.tile, " spec=", Hex64(StableHash(SpecText(planned))), " ", arch);
}

absl::StatusOr<std::vector<RowTrial>> TuneRowwise(const Graph& graph, int kernel_index, const KernelSpec& spec,
                                                  int64_t width, const CompileOptions& base,
                                                  const std::string& arch, int device, int64_t size) {
  // Tensors and plans on `device`, the caller's context put back after.
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_ASSIGN_OR_RETURN(CUcontext ctx, PrimaryContext(device));
  TF_ASSIGN_OR_RETURN(ScopedContext scope, ScopedContext::Enter(*cu, ctx));
  TF_ASSIGN_OR_RETURN(TuningTensors t, RandomTuningTensors(graph, size, 0x5eed));
  std::vector<RowTrial> trials;
  KernelCache cache;
  absl::Status last;  // why the last candidate that failed did
  for (const RowConfig& cand : RowCandidates(width, spec.Vec())) {
    CompileOptions o;
    o.device = device;
    o.arch = arch;
    o.cache = &cache;
    o.fuse = base.fuse;
    o.gemm_row_epilogues = base.gemm_row_epilogues;
    o.wide_row_epilogues = base.wide_row_epilogues;
    o.norm_prologues = base.norm_prologues;
    o.row_config = cand;
    TF_ASSIGN_OR_RETURN(Plan plan, Compile(graph, o));
    if (plan.fusion_plan().kernels[kernel_index].spec.row.row_threads != cand.row_threads) {
      return absl::InternalError("row tuning: the forced config was not applied");
    }
    auto us = TimePlan(plan, t.in, t.out, 10);
    if (!us.ok()) {  // a config the device cannot launch is skipped
      last = us.status();
      continue;
    }
    trials.push_back(RowTrial{cand, *us});
  }
  if (trials.empty()) {
    return absl::InternalError(absl::StrCat("no row-wise candidate config ran; the last: ", last.message()));
  }
  std::sort(trials.begin(), trials.end(), [](const RowTrial& a, const RowTrial& b) { return a.us < b.us; });
  return trials;
}

}  // namespace tilefuse::internal
