#include "runtime/l2_flush.h"

#include <map>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

constexpr int64_t kFlushRows = 65536, kFlushCols = 1024;

struct Flush {
  DeviceBuffer data, sums;
  std::unique_ptr<Plan> plan;
};

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
  return f.plan->Run(stream, in, out);
}

}  // namespace tilefuse::internal
