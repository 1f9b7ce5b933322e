#include "bench/gpu_timer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/l2_flush.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

absl::StatusOr<std::unique_ptr<GpuTimer>> GpuTimer::Create() {
  std::unique_ptr<GpuTimer> owned(new GpuTimer());
  GpuTimer& t = *owned;
  TF_ASSIGN_OR_RETURN(t.cu_, Driver::Get());
  TF_ASSIGN_OR_RETURN(t.info_, UseDevice(0));
  const Driver* cu = t.cu_;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuStreamCreate(&t.stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate"));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&t.start_, CU_EVENT_DEFAULT), "cuEventCreate"));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&t.stop_, CU_EVENT_DEFAULT), "cuEventCreate"));
  return owned;
}

GpuTimer::~GpuTimer() {
  if (cu_ == nullptr) return;
  if (start_) cu_->cuEventDestroy(start_);
  if (stop_) cu_->cuEventDestroy(stop_);
  if (stream_) cu_->cuStreamDestroy(stream_);
}

absl::StatusOr<float> GpuTimer::Time(const std::function<absl::Status()>& work) {
  TF_RETURN_IF_ERROR(FlushL2(stream_));
  TF_RETURN_IF_ERROR(cu_->Check(cu_->cuEventRecord(start_, stream_), "cuEventRecord"));
  TF_RETURN_IF_ERROR(work());
  TF_RETURN_IF_ERROR(cu_->Check(cu_->cuEventRecord(stop_, stream_), "cuEventRecord"));
  TF_RETURN_IF_ERROR(cu_->Check(cu_->cuEventSynchronize(stop_), "cuEventSynchronize"));
  float ms = 0;
  TF_RETURN_IF_ERROR(cu_->Check(cu_->cuEventElapsedTime(&ms, start_, stop_), "cuEventElapsedTime"));
  return ms;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace tilefuse::internal
