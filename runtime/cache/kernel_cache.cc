#include "runtime/cache/kernel_cache.h"

#include "absl/strings/str_cat.h"
#include "runtime/cuda/driver.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

CompiledKernel::~CompiledKernel() {
  auto cu = Driver::Get();
  if (!cu.ok()) return;
  std::unique_lock<std::mutex> lock(mu_);
  for (const Loaded& l : loaded_) (*cu)->cuModuleUnload(l.module);  // best effort at teardown
}

absl::StatusOr<CUfunction> CompiledKernel::Function() const {
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  CUcontext ctx = nullptr;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuCtxGetCurrent(&ctx), "cuCtxGetCurrent"));
  if (ctx == nullptr) {
    return absl::FailedPreconditionError("no CUDA context is current on this thread");
  }
  std::unique_lock<std::mutex> lock(mu_);
  for (const Loaded& l : loaded_) {
    if (l.context == ctx) return l.function;
  }
  Loaded l{ctx, nullptr, nullptr};
  TF_RETURN_IF_ERROR(cu->Check(cu->cuModuleLoadData(&l.module, cubin_.data()),
                               absl::StrCat("cuModuleLoadData(", entry_name_, ")")));
  const absl::Status s = cu->Check(cu->cuModuleGetFunction(&l.function, l.module, entry_name_.c_str()),
                                   absl::StrCat("cuModuleGetFunction(", entry_name_, ")"));
  if (!s.ok()) {
    cu->cuModuleUnload(l.module);
    return s;
  }
  loaded_.push_back(l);
  return l.function;
}

absl::StatusOr<std::shared_ptr<const CompiledKernel>> KernelCache::GetOrBuild(
    const std::string& signature_text, const Builder& build, bool* hit) {
  std::shared_ptr<Entry> entry;
  bool owner = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto& slot = entries_[signature_text];
    if (slot == nullptr) {
      slot = std::make_shared<Entry>();
      owner = true;
    }
    entry = slot;
  }
  if (!owner) {
    // Someone else builds (or built) it: wait for the outcome.
    std::unique_lock<std::mutex> lock(entry->mu);
    entry->built.wait(lock, [&] { return entry->done; });
    if (hit != nullptr) *hit = true;
    if (entry->status.ok()) hits_.fetch_add(1, std::memory_order_relaxed);
    if (!entry->status.ok()) return entry->status;
    return entry->kernel;
  }
  if (hit != nullptr) *hit = false;
  absl::StatusOr<Built> built = build();
  std::unique_lock<std::mutex> lock(entry->mu);
  entry->done = true;
  entry->built.notify_all();  // the waiters take the lock, and the outcome, once this scope ends
  if (!built.ok()) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    entry->status = built.status();
    // Nothing is kept from a failure: later requests build again (unless a Clear already
    // took it out, and another request put a new entry in its place).
    std::unique_lock<std::mutex> map_lock(mu_);
    if (auto it = entries_.find(signature_text); it != entries_.end() && it->second == entry) entries_.erase(it);
    return entry->status;
  }
  compiles_.fetch_add(1, std::memory_order_relaxed);
  entry->kernel = std::make_shared<const CompiledKernel>(
      signature_text, built->entry_name, std::move(built->cubin), built->compile_ms);
  return entry->kernel;
}

std::shared_ptr<const CompiledKernel> KernelCache::Find(const std::string& signature_text) const {
  std::shared_ptr<Entry> entry;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = entries_.find(signature_text);
    if (it == entries_.end()) return nullptr;
    entry = it->second;
  }
  std::unique_lock<std::mutex> lock(entry->mu);
  return entry->done ? entry->kernel : nullptr;
}

CacheStats KernelCache::stats() const {
  return CacheStats{hits_.load(), compiles_.load(), failures_.load()};
}

size_t KernelCache::Clear() {
  // Never an entry's lock under the map's (GetOrBuild's failure path nests them the other
  // way): look at the entries first, then drop those still in place and built.
  std::vector<std::pair<std::string, std::shared_ptr<Entry>>> all;
  {
    std::unique_lock<std::mutex> lock(mu_);
    all.assign(entries_.begin(), entries_.end());
  }
  std::vector<std::pair<std::string, std::shared_ptr<Entry>>> built;
  for (auto& [sig, entry] : all) {
    std::unique_lock<std::mutex> lock(entry->mu);
    if (entry->done) built.emplace_back(sig, entry);
  }
  size_t dropped = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (const auto& [sig, entry] : built) {
    if (auto it = entries_.find(sig); it != entries_.end() && it->second == entry) {
      entries_.erase(it);
      ++dropped;
    }
  }
  return dropped;
}

size_t KernelCache::size() const {
  std::unique_lock<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace tilefuse::internal
