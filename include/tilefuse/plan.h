// Compile a graph into a Plan; run it on a CUDA stream.
//
//   tilefuse::CompileOptions options;
//   options.cache_dir = tilefuse::DefaultCacheDir();      // binaries kept across processes
//   tilefuse::Result<tilefuse::Plan> plan = tilefuse::Plan::Compile(graph, options);
//   if (!plan.ok()) return plan.status();
//   size_t bytes = *plan->WorkspaceBytes({{"M", 8192}});   // the engine's largest batch
//   tilefuse::Status s = plan->Run(stream, {{x, DType::kBF16, {m, 4096}}},
//                                  {{y, DType::kBF16, {m, 14336}}}, {workspace, bytes});
//
// Compile plans, generates and compiles every kernel (NVRTC); it needs no GPU. Run binds
// the symbolic sizes from the inputs, checks every tensor, and launches; it never compiles.
//
// Threads: Compile may run on many threads at once (sharing a KernelCache). A Plan's
// const methods and Run(Context&, ...) are safe from any number of threads, each with a
// context of its own; Run without a context uses the plan's own and serves one thread at a
// time. A Context serves one thread at a time and must not outlive its plan.
//
// Devices: a plan is bound to CompileOptions::device. It runs in the CUDA context that was
// current on the thread that first loads it (Load, CreateContext or the first Run) when
// that context is of its device, else in the device's primary context (the one the CUDA
// runtime API uses), or in CompileOptions::context when given; the caller's current
// context is put back after each call. Every tensor must be memory of that device, and the
// stream a stream of that context.
#ifndef TILEFUSE_PLAN_H_
#define TILEFUSE_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tilefuse/export.h"
#include "tilefuse/graph.h"
#include "tilefuse/status.h"

// The CUDA driver's handles (cudaStream_t and CUstream are both CUstream_st*), declared
// here so that this header needs no CUDA header; DLPack's managed tensor likewise.
struct CUstream_st;
struct CUctx_st;
struct DLManagedTensor;

namespace tilefuse {

// Compiled kernels in memory, shared by the plans compiled with it (e.g. one per device of
// a tensor-parallel engine). Thread-safe. It must outlive the compiles that use it; plans
// keep the kernels they hold.
class TILEFUSE_API KernelCache {
 public:
  KernelCache();
  KernelCache(KernelCache&&) noexcept;
  KernelCache& operator=(KernelCache&&) noexcept;
  ~KernelCache();
  size_t size() const;
  // Drops every kernel (plans keep the ones they hold); returns how many.
  size_t Clear();

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// The disk cache folder the command-line tool uses: $TILEFUSE_CACHE_DIR, else
// $XDG_CACHE_HOME/tilefuse, else ~/.cache/tilefuse.
TILEFUSE_API std::string DefaultCacheDir();

struct CompileOptions {
  bool fuse = true;   // false: the unfused baseline (one kernel per op)
  std::string arch;   // "sm_90"; empty: the device's, or sm_90 without a GPU
  int device = 0;     // the CUDA device the plan runs on
  CUctx_st* context = nullptr;  // a context of the caller's on `device` (see above)
  int sm_count = 0;   // SMs the GEMM configs are sized for; 0: the device's, or 132
  KernelCache* cache = nullptr;  // null: the plan's own
  // A folder for binaries that outlive the process (a cache hit skips NVRTC); empty: none.
  // Size-bounded (2 GiB, least recently used first); safe for several processes at once.
  std::string cache_dir;
  // Non-empty (else $TILEFUSE_DUMP_DIR): every kernel of the plan is written there as
  // source, PTX, cubin, signature and a line of index.txt, on cache hits too.
  std::string dump_dir;
  // Non-empty: the graph is appended (once) to this manifest for `tilefuse warmup`, with
  // the options that choose its kernels (m_classes, sm_count, the fusion switches).
  std::string manifest_path;
  // Tuning: recorded configs are read from `tuning_path` (default: tuning.json in
  // cache_dir); with `autotune` and a GPU, missing ones are timed and recorded.
  bool autotune = false;
  std::string tuning_path;
  int64_t tune_m = 4096;  // the M a symbolic GEMM without shape classes is tuned at
  // Shape classes of a symbolic M: each GEMM is compiled once per class, each bound the
  // largest M of its class (e.g. the engine's CUDA-graph batch sizes); Run picks the
  // variant by the bound M. Unset: 16, 32, 64, 128, 256, 512, 1024. Empty: one kernel.
  std::optional<std::vector<int64_t>> m_classes;
  // A GEMM whose tile covers its rows runs a row-wise epilogue (rms_norm, softmax, ...).
  bool gemm_row_epilogues = true;
  // On sm_90, also over rows wider than a tile (to 2048 columns: column tiles over a
  // thread-block cluster). Measured slower on the H200 than the GEMM and the norm apart at
  // 4096 x 1024 x 1024 (docs/NOTES.md): off.
  bool wide_row_epilogues = false;
  // A norm whose output only feeds a GEMM's A normalizes in the GEMM's loads (measured
  // slower on the H200: off).
  bool norm_prologues = false;
  // A run's kernels after its first are launched while the one before finishes (sm_90 and
  // later, programmatic dependent launch; in CUDA graphs too); each waits for its
  // predecessors' results before it reads or writes anything. False: each kernel is
  // launched once the one before has ended.
  bool overlap_launches = true;
};

// A tensor as Run takes it: device memory, row-major and contiguous.
struct Tensor {
  static constexpr int kMaxRank = 8;
  void* data = nullptr;
  DType dtype = DType::kF32;
  int rank = 0;
  int64_t shape[kMaxRank] = {};

  Tensor() = default;
  Tensor(void* data, DType dtype, std::initializer_list<int64_t> dims) : data(data), dtype(dtype) {
    for (int64_t d : dims) {
      if (rank < kMaxRank) shape[rank] = d;
      ++rank;  // past kMaxRank: Run says so
    }
  }
};

// A list of tensors for Run: a braced list, a std::vector or a pointer and a count. It
// refers to the caller's tensors, so it lives no longer than the call.
class TensorList {
 public:
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"  // a braced list lives through the call
  TensorList(std::initializer_list<Tensor> l) : data_(l.begin()), size_(l.size()) {}
#pragma GCC diagnostic pop
  TensorList(const std::vector<Tensor>& v) : data_(v.data()), size_(v.size()) {}
  TensorList(const Tensor* data, size_t size) : data_(data), size_(size) {}
  const Tensor* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const Tensor* data_;
  size_t size_;
};

// Device memory of the caller's for a run's scratch: at least WorkspaceBytes of the run's
// sizes (or larger ones), aligned to 256 bytes.
struct Workspace {
  void* ptr = nullptr;
  size_t bytes = 0;
};

class TILEFUSE_API Plan {
 public:
  // Plans the graph, then generates and compiles every kernel (in parallel).
  static Result<Plan> Compile(const Graph& graph, const CompileOptions& options = {});

  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;
  ~Plan();

  int num_kernels() const;  // launches per run
  // What fused, what was refused and why, kernel by kernel, with each shape class.
  std::string Explain() const;
  const Graph& graph() const;
  std::string arch() const;
  int device() const;

  // Loads every kernel onto the device (done by the first Run otherwise). Idempotent.
  Status Load();
  // Scratch a run needs at `sizes` (each symbol by name), good for any run whose sizes are
  // at most these.
  Result<size_t> WorkspaceBytes(const std::map<std::string, int64_t>& sizes) const;

  // Launches the plan on `stream`: `inputs` and `outputs` in the graph's order. Without a
  // workspace the plan's own scratch is used, grown as sizes grow (what it outgrows is
  // kept until the plan goes, since a captured CUDA graph may still use it). With one, Run
  // allocates, frees and synchronizes nothing at any size, so it captures into a CUDA
  // graph.
  Status Run(CUstream_st* stream, TensorList inputs, TensorList outputs);
  Status Run(CUstream_st* stream, TensorList inputs, TensorList outputs, const Workspace& workspace);
  // The same with DLPack tensors (CUDA memory of the plan's device, compact strides), as
  // frameworks hand them out (torch.utils.dlpack.to_dlpack); they stay the caller's.
  Status RunDLPack(CUstream_st* stream, const std::vector<const DLManagedTensor*>& inputs,
                   const std::vector<const DLManagedTensor*>& outputs);

  // What one thread needs to run the plan (scratch, caches). Contexts of one plan run
  // concurrently, each on one thread at a time.
  class TILEFUSE_API Context {
   public:
    Context(Context&&) noexcept;
    Context& operator=(Context&&) noexcept;
    ~Context();
    struct Impl;

   private:
    friend class Plan;
    explicit Context(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
  };
  // Loads the plan (if not yet) and makes a context for it.
  Result<Context> CreateContext();
  Status Run(Context& context, CUstream_st* stream, TensorList inputs, TensorList outputs);
  Status Run(Context& context, CUstream_st* stream, TensorList inputs, TensorList outputs,
             const Workspace& workspace);

  struct Impl;

 private:
  explicit Plan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The library's version ("0.1.0"); TILEFUSE_VERSION_STRING is the headers'.
TILEFUSE_API const char* Version();

}  // namespace tilefuse

#endif  // TILEFUSE_PLAN_H_
