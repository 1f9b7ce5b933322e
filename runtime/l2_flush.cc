#include "runtime/l2_flush.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

constexpr int64_t kFlushRows = 65536, kFlushCols = 1024;
// The instruction-cache flush: a chain of kCodeNodes pointwise ops (4 kernels of 1,024 nodes,
// ~46 KB of code each, all different) over 2 elements per thread of a wave of CTAs: 1 MiB
// read and written.
constexpr int64_t kCodeNodes = 4096, kCodeElements = 270336;

struct Flush {
  DeviceBuffer data, sums, code_in, code_out;
  std::unique_ptr<Plan> plan, code_plan;
};

// x -> x * c_i + 0.5 -> ..., c_i distinct so that no two kernels share a binary.
std::string CodeFlushJson() {
  std::string nodes;
  for (int64_t i = 0; i < kCodeNodes; ++i) {
    const std::string in = i == 0 ? "x" : absl::StrCat("n", i - 1);
    const std::string c = i % 2 == 0 ? absl::StrCat(0.999 - 1e-6 * static_cast<double>(i)) : "0.5";
    absl::StrAppend(&nodes, i == 0 ? "" : ",", R"({"name":"n)", i, R"(","op":")", i % 2 == 0 ? "mul" : "add",
                    R"(","inputs":[")", in, R"(",)", c, "]}");
  }
  return absl::StrCat(R"({"name":"code_flush","inputs":[{"name":"x","shape":[)", kCodeElements,
                      R"(],"dtype":"f32"}],"nodes":[)", nodes, R"(],"outputs":["n)", kCodeNodes - 1, R"("]})");
}

absl::StatusOr<std::unique_ptr<Flush>> MakeFlush(int device) {
  auto f = std::make_unique<Flush>();
  TF_ASSIGN_OR_RETURN(f->data, DeviceBuffer::Allocate(size_t{kFlushRows} * kFlushCols * 4));
  TF_ASSIGN_OR_RETURN(f->sums, DeviceBuffer::Allocate(size_t{kFlushRows} * 4));
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_RETURN_IF_ERROR(cu->Check(cu->cuMemsetD8(f->data.ptr(), 0, f->data.size()), "cuMemsetD8(flush)"));
  TF_ASSIGN_OR_RETURN(Graph g, GraphFromJson(absl::StrCat(
                                   R"({"name": "l2_flush", "inputs": [{"name": "f", "shape": [)", kFlushRows, ", ",
                                   kFlushCols, R"(], "dtype": "f32"}], "nodes": [{"name": "s", "op": "sum", )",
                                   R"("inputs": ["f"], "attrs": {"dim": 1}}], "outputs": ["s"]})")));
  CompileOptions o;
  o.device = device;
  TF_ASSIGN_OR_RETURN(Plan plan, Compile(g, o));
  f->plan = std::make_unique<Plan>(std::move(plan));
  TF_ASSIGN_OR_RETURN(f->code_in, DeviceBuffer::Allocate(size_t{kCodeElements} * 4));
  TF_ASSIGN_OR_RETURN(f->code_out, DeviceBuffer::Allocate(size_t{kCodeElements} * 4));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuMemsetD8(f->code_in.ptr(), 0, f->code_in.size()), "cuMemsetD8(code flush)"));
  TF_ASSIGN_OR_RETURN(Graph code, GraphFromJson(CodeFlushJson()));
  TF_ASSIGN_OR_RETURN(Plan code_plan, Compile(code, o));
  f->code_plan = std::make_unique<Plan>(std::move(code_plan));
  return f;
}

}  // namespace

absl::Status FlushL2(CUstream stream) {
  static std::mutex mu;
  static auto* flushes = new std::map<int, std::unique_ptr<Flush>>();  // by device; never destroyed
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  CUcontext ctx = nullptr;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuCtxGetCurrent(&ctx), "cuCtxGetCurrent"));
  if (ctx == nullptr) return absl::FailedPreconditionError("FlushL2: no CUDA context is current on this thread");
  TF_ASSIGN_OR_RETURN(const int device, ContextDevice(*cu, ctx));
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<Flush>& flush = (*flushes)[device];
  if (flush == nullptr) {
    TF_ASSIGN_OR_RETURN(flush, MakeFlush(device));
  }
  const Flush& f = *flush;
  const TensorArg in[] = {TensorArg::Make(f.data.data(), DType::kF32, {kFlushRows, kFlushCols})};
  const TensorArg out[] = {TensorArg::Make(f.sums.data(), DType::kF32, {kFlushRows})};
  TF_RETURN_IF_ERROR(f.plan->Run(stream, in, out));
  const TensorArg code_in[] = {TensorArg::Make(f.code_in.data(), DType::kF32, {kCodeElements})};
  const TensorArg code_out[] = {TensorArg::Make(f.code_out.data(), DType::kF32, {kCodeElements})};
  return f.code_plan->Run(stream, code_in, code_out);
}

}  // namespace tilefuse::internal
