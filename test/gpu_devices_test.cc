// Plans on every GPU of the host (skipped with fewer than two): one kernel cache and one
// disk cache serve them all, each kernel compiled once and loaded per device; plans run
// concurrently from a thread per device; tensors and streams of another device are refused.
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/plan.h"
#include "test/gpu_harness.h"
#include "test/host_data.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {
namespace {

int DeviceCount() {
  auto cu = Driver::Get();
  int count = 0;
  if (!cu.ok() || (*cu)->cuDeviceGetCount(&count) != CUDA_SUCCESS) return 0;
  return count;
}

#define TF_SKIP_WITHOUT_TWO_GPUS() \
  if (DeviceCount() < 2) GTEST_SKIP() << DeviceCount() << " CUDA devices (this test needs 2)"

// A GEMM with its epilogue, a norm, a reduction and a pointwise graph.
std::vector<std::string> SomeGraphs() {
  return {GemmTestGraphs()[0].name, TileTestGraphs()[0].name, ReduceTestGraphs()[0].name,
          PointwiseTestGraphs()[1].name, RowTestGraphs()[0].name};
}

TEST(GpuDevices, PlansOnEveryDeviceShareOneCacheAndRunConcurrently) {
  TF_SKIP_WITHOUT_TWO_GPUS();
  const int devices = DeviceCount();
  const std::string dir = absl::StrCat(::testing::TempDir(), "/tf_devices_", ::getpid());
  std::filesystem::remove_all(dir);
  DiskCache disk(DiskCacheOptions{dir});
  KernelCache cache;
  // plans[d][g]: graph g on device d.
  std::vector<std::vector<Plan>> plans(devices);
  int built = 0;
  for (int d = 0; d < devices; ++d) {
    for (const std::string& name : SomeGraphs()) {
      CompileOptions o;
      o.device = d;
      o.cache = &cache;
      o.disk_cache = &disk;
      TF_ASSERT_OK_AND_ASSIGN(Plan p, Compile(ParseTestGraph(NamedTestGraph(name)), o));
      for (const KernelReport& r : p.reports()) {
        if (d > 0) {
          EXPECT_TRUE(r.cache_hit) << name << " on device " << d << ": " << r.entry_name << " built again";
        }
        built += r.cache_hit ? 0 : 1;
      }
      plans[d].push_back(std::move(p));
    }
  }
  EXPECT_EQ(cache.stats().compiles, built);
  EXPECT_EQ(disk.stats().writes, built);
  // A thread per device runs every plan of its device against the reference, all at once.
  std::vector<std::string> failures(devices);
  std::vector<std::thread> threads;
  for (int d = 0; d < devices; ++d) {
    threads.emplace_back([&, d] {
      if (!UseDevice(d).ok()) {
        failures[d] = "UseDevice failed";
        return;
      }
      std::mt19937_64 rng(100 + d);
      for (size_t i = 0; i < plans[d].size(); ++i) {
        const TestGraph& t = NamedTestGraph(SomeGraphs()[i]);
        for (int rep = 0; rep < 3; ++rep) {
          ::testing::AssertionResult r = MatchesReference(plans[d][i], BindSymbols(plans[d][i].graph(), t.symbols), rng);
          if (!r) absl::StrAppend(&failures[d], t.name, ": ", r.message(), "\n");
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int d = 0; d < devices; ++d) EXPECT_EQ(failures[d], "") << "device " << d;
  std::filesystem::remove_all(dir);
}

// A plan on device 1 run from a thread whose current context is device 0's: it runs in its
// own context and leaves device 0's current; device 0's tensors and streams are refused.
TEST(GpuDevices, PlanKeepsToItsDeviceAndLeavesTheCallersContext) {
  TF_SKIP_WITHOUT_TWO_GPUS();
  TF_ASSERT_OK_AND_ASSIGN(const Driver* cu, Driver::Get());
  const Graph g = ParseTestGraph(NamedTestGraph("single_add"));  // z = x + y over [M, 37] bf16
  CompileOptions o;
  o.device = 1;
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
  const int64_t m = 1024, bytes = m * 37 * 2;
  const auto t = [&](const DeviceBuffer& b) { return TensorArg::Make(b.data(), DType::kBF16, {m, 37}); };
  TF_ASSERT_OK(UseDevice(1));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer x1, DeviceBuffer::Allocate(bytes));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer y1, DeviceBuffer::Allocate(bytes));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer z1, DeviceBuffer::Allocate(bytes));
  std::vector<uint16_t> ones(m * 37, 0x3F80), twos(m * 37, 0x4000), got(m * 37, 0);  // bf16 1.0, 2.0
  TF_ASSERT_OK(x1.Upload(ones.data(), bytes));
  TF_ASSERT_OK(y1.Upload(twos.data(), bytes));
  TF_ASSERT_OK(UseDevice(0));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer x0, DeviceBuffer::Allocate(bytes));
  CUcontext before = nullptr, after = nullptr;
  TF_ASSERT_OK(cu->Check(cu->cuCtxGetCurrent(&before), "cuCtxGetCurrent"));

  TF_ASSERT_OK(plan.Run(nullptr, {t(x1), t(y1)}, {t(z1)}));
  TF_ASSERT_OK(cu->Check(cu->cuCtxGetCurrent(&after), "cuCtxGetCurrent"));
  EXPECT_EQ(before, after) << "Run left the plan's context current";
  {
    TF_ASSERT_OK(UseDevice(1));
    TF_ASSERT_OK(cu->Check(cu->cuCtxSynchronize(), "cuCtxSynchronize"));
    TF_ASSERT_OK(z1.Download(got.data(), bytes));
    TF_ASSERT_OK(UseDevice(0));
  }
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], 0x4040) << "element " << i << " is not 3.0";

  EXPECT_TRUE(StatusIs(plan.Run(nullptr, {t(x0), t(y1)}, {t(z1)}), absl::StatusCode::kInvalidArgument,
                       "input 0 ('x') at 0x"));
  EXPECT_TRUE(StatusIs(plan.Run(nullptr, {t(x0), t(y1)}, {t(z1)}), absl::StatusCode::kInvalidArgument,
                       "memory of device 0 but plan 'single_add' runs on device 1"));
  CUstream stream0 = nullptr;
  TF_ASSERT_OK(cu->Check(cu->cuStreamCreate(&stream0, CU_STREAM_NON_BLOCKING), "cuStreamCreate"));
  EXPECT_TRUE(StatusIs(plan.Run(stream0, {t(x1), t(y1)}, {t(z1)}), absl::StatusCode::kInvalidArgument,
                       "its stream belongs to a context of device 0"));
  cu->cuStreamDestroy(stream0);
  // A context of another device given as the plan's is refused at Load.
  CompileOptions wrong;
  wrong.device = 1;
  wrong.context = before;
  TF_ASSERT_OK_AND_ASSIGN(Plan mismatched, Compile(g, wrong));
  EXPECT_TRUE(StatusIs(mismatched.Load(), absl::StatusCode::kInvalidArgument,
                       "CompileOptions::context is a context of device 0 but CompileOptions::device is 1"));
}

}  // namespace
}  // namespace tilefuse::internal
