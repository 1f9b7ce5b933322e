// Event timing for benchmarks: a stream, an L2 flush between samples, and medians.
#ifndef TILEFUSE_BENCH_GPU_TIMER_H_
#define TILEFUSE_BENCH_GPU_TIMER_H_

#include <cuda.h>

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda/driver.h"

namespace tilefuse::internal {

class GpuTimer {
 public:
  // Makes device 0 current and creates the stream and events.
  static absl::StatusOr<std::unique_ptr<GpuTimer>> Create();
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;
  ~GpuTimer();

  CUstream stream() const { return stream_; }
  const DeviceInfo& device() const { return info_; }

  // Flushes L2 (runtime/l2_flush.h, as the tuner does), then times `work` on the stream
  // with events. Returns milliseconds.
  absl::StatusOr<float> Time(const std::function<absl::Status()>& work);

 private:
  GpuTimer() = default;
  const Driver* cu_ = nullptr;
  DeviceInfo info_;
  CUstream stream_ = nullptr;
  CUevent start_ = nullptr, stop_ = nullptr;
};

double Median(std::vector<double> v);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_BENCH_GPU_TIMER_H_
