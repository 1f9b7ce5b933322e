// Running plans on a real GPU in tests: availability, upload, poisoned outputs, download.
#ifndef TILEFUSE_TEST_GPU_HARNESS_H_
#define TILEFUSE_TEST_GPU_HARNESS_H_

#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "runtime/plan.h"
#include "runtime/reference.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {

// The device GPU tests run on: $TILEFUSE_TEST_DEVICE, else 0 (scripts/gpu_check.sh runs
// the suite once per device).
int TestDevice();

// True when a driver loads and the test device exists; makes its primary context current.
bool GpuAvailable();

// CompileOptions for the test device.
CompileOptions GpuOptions();

#define TF_SKIP_WITHOUT_GPU() \
  if (!::tilefuse::internal::GpuAvailable()) GTEST_SKIP() << "no CUDA driver or device"

// Runs `plan` on device copies of `inputs`. Every tensor pointer is offset by
// `misalign_bytes` from its allocation (4 forces the scalar path), and outputs are filled
// with 0xFF bytes first (NaN, -1, or an invalid bool), so unwritten elements show.
// Fails if a bool output holds a byte other than 0 or 1.
absl::StatusOr<std::vector<HostTensor>> RunOnGpu(Plan& plan, const std::vector<HostTensor>& inputs,
                                                 const std::vector<int64_t>& symbols,
                                                 size_t misalign_bytes = 0);

// Runs `plan` as RunOnGpu does, on fresh random inputs drawn from `rng`, and compares
// every output with the CPU reference of its graph at `tolerance` (0: ToleranceFor).
::testing::AssertionResult MatchesReference(Plan& plan, const std::vector<int64_t>& symbols, std::mt19937_64& rng,
                                            size_t misalign_bytes = 0, double tolerance = 0);

// Compiles every graph of `graphs`, fused and unfused, into `cache` on all cores and
// drops the plans: NVRTC is most of a GPU suite's time, and a check compiling the same
// graph afterwards hits the cache. Failures are left to that check to report.
void PrecompileGraphs(const std::vector<TestGraph>& graphs, KernelCache& cache);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_TEST_GPU_HARNESS_H_
