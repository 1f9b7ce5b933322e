#include "bench/gpu_timer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/graph/json.h"
#include "runtime/status_macros.h"

namespace tilefuse {
namespace {
constexpr int64_t kFlushRows = 65536, kFlushCols = 1024;
}  // namespace

absl::StatusOr<std::unique_ptr<GpuTimer>> GpuTimer::Create() {
  std::unique_ptr<GpuTimer> owned(new GpuTimer());
  GpuTimer& t = *owned;
  TF_ASSIGN_OR_RETURN(t.cu_, Driver::Get());
  TF_ASSIGN_OR_RETURN(t.info_, UseDevice(0));
  const Driver* cu = t.cu_;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuStreamCreate(&t.stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate"));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&t.start_, CU_EVENT_DEFAULT), "cuEventCreate"));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuEventCreate(&t.stop_, CU_EVENT_DEFAULT), "cuEventCreate"));
  // 256 MiB (> 50 MB of L2) as rows whose sums spread the read over every SM.
  TF_ASSIGN_OR_RETURN(t.flush_, DeviceBuffer::Allocate(size_t{kFlushRows} * kFlushCols * 4));
  TF_ASSIGN_OR_RETURN(t.flush_sum_, DeviceBuffer::Allocate(size_t{kFlushRows} * 4));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuMemsetD8(t.flush_.ptr(), 0, t.flush_.size()), "cuMemsetD8(flush)"));
  TF_ASSIGN_OR_RETURN(Graph g, GraphFromJson(absl::StrCat(
                                   R"({"name": "l2_flush", "inputs": [{"name": "f", "shape": [)", kFlushRows, ", ", kFlushCols,
                                   R"(], "dtype": "f32"}], "nodes": [{"name": "s", "op": "sum", "inputs": ["f"], "attrs": {"dim": 1}}],)",
                                   R"( "outputs": ["s"]})")));
  TF_ASSIGN_OR_RETURN(Plan plan, Compile(g));
  t.flush_plan_ = std::make_unique<Plan>(std::move(plan));
  return owned;
}

GpuTimer::~GpuTimer() {
  if (cu_ == nullptr) return;
  if (start_) cu_->cuEventDestroy(start_);
  if (stop_) cu_->cuEventDestroy(stop_);
  if (stream_) cu_->cuStreamDestroy(stream_);
}

absl::StatusOr<float> GpuTimer::Time(const std::function<absl::Status()>& work) {
  const TensorArg in[] = {TensorArg::Make(flush_.data(), DType::kF32, {kFlushRows, kFlushCols})};
  const TensorArg out[] = {TensorArg::Make(flush_sum_.data(), DType::kF32, {kFlushRows})};
  TF_RETURN_IF_ERROR(flush_plan_->Run(stream_, in, out));
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

}  // namespace tilefuse
