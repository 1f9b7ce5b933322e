// The public Plan, KernelCache and logging (include/tilefuse) over the internal runtime.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <dlpack/dlpack.h>

#include "absl/strings/str_cat.h"
#include "runtime/api/convert.h"
#include "runtime/cache/disk_cache.h"
#include "runtime/cache/kernel_cache.h"
#include "runtime/log.h"
#include "runtime/plan.h"
#include "tilefuse/log.h"
#include "tilefuse/plan.h"
#include "tilefuse/version.h"

namespace tilefuse {

struct KernelCache::Impl {
  internal::KernelCache cache;
};

KernelCache::KernelCache() : impl_(std::make_unique<Impl>()) {}
KernelCache::KernelCache(KernelCache&&) noexcept = default;
KernelCache& KernelCache::operator=(KernelCache&&) noexcept = default;
KernelCache::~KernelCache() = default;
size_t KernelCache::size() const { return impl_->cache.size(); }
size_t KernelCache::Clear() { return impl_->cache.Clear(); }

std::string DefaultCacheDir() { return internal::DefaultDiskCacheDir(); }

const char* Version() { return TILEFUSE_VERSION_STRING; }

void SetLogger(Logger logger, LogLevel level) {
  if (!logger) {
    internal::SetLogger(nullptr, static_cast<internal::LogLevel>(level));
    return;
  }
  internal::SetLogger(
      [logger = std::move(logger)](internal::LogLevel l, std::string_view m) { logger(static_cast<LogLevel>(l), m); },
      static_cast<internal::LogLevel>(level));
}

namespace {

// One DiskCache per folder for the process: plans compiled with the same cache_dir share
// its statistics and size accounting (several processes may use the folder too).
std::shared_ptr<internal::DiskCache> DiskCacheFor(const std::string& dir) {
  static std::mutex mu;
  static auto* caches = new std::map<std::string, std::shared_ptr<internal::DiskCache>>;
  std::lock_guard<std::mutex> lock(mu);
  std::shared_ptr<internal::DiskCache>& c = (*caches)[dir];
  if (c == nullptr) c = std::make_shared<internal::DiskCache>(internal::DiskCacheOptions{dir});
  return c;
}

Status CheckedTensors(TensorList list, const char* what, std::vector<internal::TensorArg>& out) {
  out.clear();
  out.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const Tensor& t = list.data()[i];
    if (t.rank < 0 || t.rank > Tensor::kMaxRank) {
      return Status(StatusCode::kInvalidArgument,
                    absl::StrCat(what, " ", i, " has rank ", t.rank, "; tensors have at most ", Tensor::kMaxRank,
                                 " dimensions"));
    }
    internal::TensorArg a;
    a.data = t.data;
    a.dtype = api::ToInternal(t.dtype);
    a.rank = t.rank;
    for (int d = 0; d < t.rank; ++d) a.shape[d] = t.shape[d];
    out.push_back(a);
  }
  return Status();
}

}  // namespace

struct Plan::Impl {
  internal::Plan plan;
  Graph graph;
  std::shared_ptr<internal::DiskCache> disk;  // what the plan was compiled against
  // The plain Run's tensors, kept between runs (no allocation once grown).
  std::vector<internal::TensorArg> in, out;
};

struct Plan::Context::Impl {
  internal::Plan::Context context;
  std::vector<internal::TensorArg> in, out;
};

Plan::Plan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;
Plan::~Plan() = default;
Plan::Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Plan::Context::Context(Context&&) noexcept = default;
Plan::Context& Plan::Context::operator=(Context&&) noexcept = default;
Plan::Context::~Context() = default;

Result<Plan> Plan::Compile(const Graph& graph, const CompileOptions& options) {
  internal::CompileOptions o;
  o.fuse = options.fuse;
  o.arch = options.arch;
  o.device = options.device;
  o.context = options.context;
  o.sm_count = options.sm_count;
  o.cache = options.cache != nullptr ? &options.cache->impl().cache : nullptr;
  std::shared_ptr<internal::DiskCache> disk;
  if (!options.cache_dir.empty()) {
    disk = DiskCacheFor(options.cache_dir);
    o.disk_cache = disk.get();
  }
  o.dump_dir = options.dump_dir;
  o.manifest_path = options.manifest_path;
  o.autotune = options.autotune;
  o.tuning_path = options.tuning_path;
  o.tune_m = options.tune_m;
  if (options.m_classes) o.m_classes = *options.m_classes;
  o.gemm_row_epilogues = options.gemm_row_epilogues;
  o.wide_row_epilogues = options.wide_row_epilogues;
  o.norm_prologues = options.norm_prologues;
  o.overlap_launches = options.overlap_launches;
  auto plan = internal::Compile(graph.impl().graph, o);
  if (!plan.ok()) return api::FromAbsl(plan.status());
  return Plan(std::unique_ptr<Impl>(new Impl{*std::move(plan), graph, std::move(disk), {}, {}}));
}

int Plan::num_kernels() const { return impl_->plan.num_kernels(); }
std::string Plan::Explain() const { return impl_->plan.Explain(); }
const Graph& Plan::graph() const { return impl_->graph; }
std::string Plan::arch() const { return impl_->plan.arch(); }
int Plan::device() const { return impl_->plan.device(); }
Status Plan::Load() { return api::FromAbsl(impl_->plan.Load()); }

Result<size_t> Plan::WorkspaceBytes(const std::map<std::string, int64_t>& sizes) const {
  auto b = impl_->plan.WorkspaceBytes(sizes);
  if (!b.ok()) return api::FromAbsl(b.status());
  return *b;
}

namespace {

// Converts a run's tensors into `in` and `out` (kept between runs: no allocation once
// grown), then runs `run` on them.
template <class RunFn>
Status RunOn(TensorList inputs, TensorList outputs, std::vector<internal::TensorArg>& in,
             std::vector<internal::TensorArg>& out, RunFn run) {
  TILEFUSE_RETURN_IF_ERROR(CheckedTensors(inputs, "input", in));
  TILEFUSE_RETURN_IF_ERROR(CheckedTensors(outputs, "output", out));
  return api::FromAbsl(run());
}

internal::Plan::Workspace ToInternal(const Workspace& w) {
  return {reinterpret_cast<CUdeviceptr>(w.ptr), w.bytes};
}

}  // namespace

Status Plan::Run(CUstream_st* stream, TensorList inputs, TensorList outputs) {
  Impl& p = *impl_;
  return RunOn(inputs, outputs, p.in, p.out, [&] { return p.plan.Run(stream, p.in, p.out); });
}

Status Plan::Run(CUstream_st* stream, TensorList inputs, TensorList outputs, const Workspace& workspace) {
  Impl& p = *impl_;
  return RunOn(inputs, outputs, p.in, p.out, [&] { return p.plan.Run(stream, p.in, p.out, ToInternal(workspace)); });
}

Status Plan::RunDLPack(CUstream_st* stream, const std::vector<const DLManagedTensor*>& inputs,
                       const std::vector<const DLManagedTensor*>& outputs) {
  // A null tensor goes through as null: the plan refuses it by name with the others.
  const auto tensors = [](const std::vector<const DLManagedTensor*>& v) {
    std::vector<const DLTensor*> out;
    for (const DLManagedTensor* m : v) out.push_back(m == nullptr ? nullptr : &m->dl_tensor);
    return out;
  };
  return api::FromAbsl(impl_->plan.RunDLPack(stream, tensors(inputs), tensors(outputs)));
}

Result<Plan::Context> Plan::CreateContext() {
  auto c = impl_->plan.CreateContext();
  if (!c.ok()) return api::FromAbsl(c.status());
  return Context(std::unique_ptr<Context::Impl>(new Context::Impl{*std::move(c), {}, {}}));
}

Status Plan::Run(Context& context, CUstream_st* stream, TensorList inputs, TensorList outputs) {
  Context::Impl& c = *context.impl_;
  return RunOn(inputs, outputs, c.in, c.out, [&] { return impl_->plan.Run(c.context, stream, c.in, c.out); });
}

Status Plan::Run(Context& context, CUstream_st* stream, TensorList inputs, TensorList outputs,
                 const Workspace& workspace) {
  Context::Impl& c = *context.impl_;
  return RunOn(inputs, outputs, c.in, c.out,
               [&] { return impl_->plan.Run(c.context, stream, c.in, c.out, ToInternal(workspace)); });
}

}  // namespace tilefuse
