// The in-memory kernel cache: compiled binaries by signature, owned by the caller (pass
// the same cache to several Compile calls to share kernels between plans).
//
// Concurrent requests for one signature compile once (single flight); requests for
// different signatures compile concurrently (a lock per entry, never one lock held across
// a compile). A failed compile is not cached: the next request tries again.
//
//   KernelCache cache;
//   CompileOptions o; o.cache = &cache;
#ifndef TILEFUSE_RUNTIME_CACHE_KERNEL_CACHE_H_
#define TILEFUSE_RUNTIME_CACHE_KERNEL_CACHE_H_

#include <cuda.h>

#include <atomic>
#include <functional>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace tilefuse::internal {

// A compiled kernel and, lazily, its module in each context that used it.
class CompiledKernel {
 public:
  CompiledKernel(std::string signature_text, std::string entry_name, std::string cubin,
                 double compile_ms)
      : signature_text_(std::move(signature_text)),
        entry_name_(std::move(entry_name)),
        cubin_(std::move(cubin)),
        compile_ms_(compile_ms) {}
  ~CompiledKernel();
  CompiledKernel(const CompiledKernel&) = delete;
  CompiledKernel& operator=(const CompiledKernel&) = delete;

  const std::string& signature_text() const { return signature_text_; }
  const std::string& entry_name() const { return entry_name_; }
  const std::string& cubin() const { return cubin_; }
  double compile_ms() const { return compile_ms_; }

  // The entry function in the current context, loading the module on first use there.
  absl::StatusOr<CUfunction> Function() const;

 private:
  struct Loaded {
    CUcontext context;
    CUmodule module;
    CUfunction function;
  };
  const std::string signature_text_;
  const std::string entry_name_;
  const std::string cubin_;
  const double compile_ms_;
  mutable std::mutex mu_;
  mutable std::vector<Loaded> loaded_ ABSL_GUARDED_BY(mu_);
};

struct CacheStats {
  int64_t hits = 0;
  int64_t compiles = 0;
  int64_t failures = 0;
};

class KernelCache {
 public:
  struct Built {
    std::string cubin;
    std::string entry_name;
    double compile_ms = 0;
  };
  using Builder = std::function<absl::StatusOr<Built>()>;

  // The kernel for `signature_text`, running `build` if no one has yet. `hit` (optional)
  // says whether the kernel was already there or being built by another caller.
  absl::StatusOr<std::shared_ptr<const CompiledKernel>> GetOrBuild(
      const std::string& signature_text, const Builder& build, bool* hit = nullptr);

  // The kernel if present and built; never builds or waits.
  std::shared_ptr<const CompiledKernel> Find(const std::string& signature_text) const;

  CacheStats stats() const;
  size_t size() const;
  // Drops every built kernel (plans keep the ones they hold); kernels being built stay.
  // Returns how many were dropped. Thread-safe.
  size_t Clear();

 private:
  struct Entry {
    std::mutex mu;
    std::condition_variable built;  // signalled when done
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::Status status ABSL_GUARDED_BY(mu);
    std::shared_ptr<const CompiledKernel> kernel ABSL_GUARDED_BY(mu);
  };
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> hits_{0}, compiles_{0}, failures_{0};
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_CACHE_KERNEL_CACHE_H_
