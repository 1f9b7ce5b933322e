#include "test/gpu_harness.h"

#include <atomic>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/status_macros.h"
#include "test/host_data.h"

namespace tilefuse::internal {

int TestDevice() {
  const char* v = std::getenv("TILEFUSE_TEST_DEVICE");
  return v != nullptr && *v != '\0' ? std::atoi(v) : 0;
}

bool GpuAvailable() { return UseDevice(TestDevice()).ok(); }

CompileOptions GpuOptions() {
  CompileOptions o;
  o.device = TestDevice();
  return o;
}

void PrecompileGraphs(const std::vector<TestGraph>& graphs, KernelCache& cache) {
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < graphs.size();) {
      const Graph g = ParseTestGraph(graphs[i]);
      for (bool fuse : {true, false}) {
        CompileOptions o = GpuOptions();
        o.fuse = fuse;
        o.cache = &cache;
        (void)Compile(g, o);
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned w = 1; w < std::max(1u, std::thread::hardware_concurrency()); ++w) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
}

absl::StatusOr<std::vector<HostTensor>> RunOnGpu(Plan& plan, const std::vector<HostTensor>& inputs,
                                                 const std::vector<int64_t>& symbols,
                                                 size_t misalign) {
  const Graph& g = plan.graph();
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  std::vector<DeviceBuffer> buffers;
  std::vector<TensorArg> ins, outs;
  const auto arg = [&](const DeviceBuffer& b, DType t, const std::vector<int64_t>& shape) {
    TensorArg a;
    a.data = static_cast<char*>(b.data()) + misalign;
    a.dtype = t;
    a.rank = static_cast<int>(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) a.shape[d] = shape[d];
    return a;
  };
  for (const HostTensor& t : inputs) {
    TF_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(t.bytes.size() + misalign));
    TF_RETURN_IF_ERROR(b.Upload(t.bytes.data(), t.bytes.size(), misalign));
    ins.push_back(arg(b, t.dtype, t.shape));
    buffers.push_back(std::move(b));
  }
  std::vector<HostTensor> results;
  for (int o : g.outputs()) {
    HostTensor t = HostTensor::Zeros(g.node(o).dtype, ConcreteShape(g.node(o).shape, symbols));
    TF_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::Allocate(t.bytes.size() + misalign));
    TF_RETURN_IF_ERROR(b.Fill(0xFF));
    outs.push_back(arg(b, t.dtype, t.shape));
    buffers.push_back(std::move(b));
    results.push_back(std::move(t));
  }
  TF_RETURN_IF_ERROR(plan.Run(nullptr, ins, outs));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuCtxSynchronize(), "cuCtxSynchronize"));
  for (size_t k = 0; k < results.size(); ++k) {
    HostTensor& t = results[k];
    TF_RETURN_IF_ERROR(buffers[inputs.size() + k].Download(t.bytes.data(), t.bytes.size(), misalign));
    if (t.dtype != DType::kBool) continue;
    for (size_t i = 0; i < t.bytes.size(); ++i) {
      if (t.bytes[i] > 1) {
        return absl::InternalError(absl::StrCat("output ", k, " element ", i, " was not written"));
      }
    }
  }
  return results;
}

::testing::AssertionResult MatchesReference(Plan& plan, const std::vector<int64_t>& symbols, std::mt19937_64& rng,
                                            size_t misalign_bytes, double tolerance) {
  const Graph& g = plan.graph();
  const auto inputs = RandomInputs(g, symbols, rng);
  auto ref = EvaluateReference(g, inputs);
  if (!ref.ok()) return ::testing::AssertionFailure() << "reference: " << ref.status();
  auto got = RunOnGpu(plan, inputs, symbols, misalign_bytes);
  if (!got.ok()) return ::testing::AssertionFailure() << "run: " << got.status();
  for (size_t k = 0; k < ref->size(); ++k) {
    ::testing::AssertionResult close = AllClose((*got)[k], (*ref)[k], tolerance > 0 ? tolerance : ToleranceFor(g));
    if (!close) return ::testing::AssertionFailure() << "output " << k << ": " << close.message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace tilefuse::internal
