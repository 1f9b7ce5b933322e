// Compile(graph, options) -> Plan, and Plan::Run: the runtime's public entry points.
//
//   tilefuse::internal::KernelCache cache;                 // owned by the caller, shared by plans
//   tilefuse::internal::CompileOptions options;
//   options.cache = &cache;
//   TF_ASSIGN_OR_RETURN(tilefuse::internal::Plan plan, tilefuse::internal::Compile(graph, options));
//   std::cout << plan.Explain();
//   TF_RETURN_IF_ERROR(plan.Run(stream, {TensorArg::Make(x, DType::kBF16, {m, 4096})},
//                               {TensorArg::Make(y, DType::kBF16, {m, 4096})}));
//
// Compile plans, generates and compiles every kernel (NVRTC); it needs no GPU. Run binds
// symbolic dims from the inputs, checks every tensor, and launches. Run never compiles: on
// a stream under CUDA-graph capture it also refuses to load modules or grow the workspace,
// and says to warm up first (Load, or one Run outside the capture). A Plan is used by one
// thread at a time (Run keeps per-run scratch in the plan).
#ifndef TILEFUSE_RUNTIME_PLAN_H_
#define TILEFUSE_RUNTIME_PLAN_H_

#include <cuda.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "codegen/params.h"
#include "runtime/cache/disk_cache.h"
#include "runtime/cache/kernel_cache.h"
#include "runtime/fusion/fusion_plan.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/graph.h"
#include "runtime/tensor.h"

namespace tilefuse::internal {

class Driver;

struct CompileOptions {
  bool fuse = true;          // false: the unfused baseline (one kernel per op)
  std::string arch;          // "sm_90"; empty: the device's, or sm_90 without a GPU
  int sm_count = 0;          // SMs small-M GEMM configs are sized for; 0: the device's, or 132
  // A GEMM whose tile covers its output's rows (N <= 256) runs rms_norm, layer_norm,
  // softmax and row reductions broadcast back over its rows in its store: one kernel
  // where two would run (on the H200 at 4096 x 128 x 1024: 13.9 us against 15.2 for the
  // two, docs/NOTES.md). False keeps them apart.
  bool gemm_row_epilogues = true;
  // With gemm_row_epilogues, on sm_90 also rows of 257 to 2048 columns: the row spans
  // column tiles, each CTA's (GemmConfig::row_tiles) and a cluster's (row_cluster), which
  // combine each row's reductions through distributed shared memory. Off by default: on the
  // H200 at 4096 x 1024 x 1024 the one kernel took 30.1 us against 21.8 for the GEMM and
  // the norm apart (docs/NOTES.md).
  bool wide_row_epilogues = false;
  // A decomposed rms_norm / layer_norm whose output is only a GEMM's A runs as a row kernel
  // that stores its per-row values and the GEMM's A prologue that normalizes x as it loads
  // it (grouping.cc, SplitNormTailIntoPrologue): A is never written. Off by default: on the
  // H200 at 4096 x 4096 x 4096 the register-staged A prologue makes the GEMM 10x slower
  // than the norm kernel + the TMA GEMM (2175 us against 215, docs/NOTES.md).
  bool norm_prologues = false;
  // Each kernel of a run after its first is launched overlapped with the one before (sm_90
  // programmatic dependent launch): its launch is under way while that one finishes, and
  // its code waits for that one's results before it reads or writes anything
  // (kernels/pointwise.cuh grid_dependency_wait). About 1 us per block at M = 16 on the H200.
  bool overlap_launches = true;
  KernelCache* cache = nullptr;  // null: the plan gets a cache of its own
  // Binaries that outlive the process (runtime/cache/disk_cache.h): looked up before
  // NVRTC runs, written after. Null: memory only. GEMM tuning records then default to
  // tuning.json in its folder.
  DiskCache* disk_cache = nullptr;
  // Non-empty: each compiled graph is appended (once) to this manifest, which
  // `tilefuse warmup` compiles ahead of time (runtime/manifest.h).
  std::string manifest_path;
  // The device Load and Run use. Every tensor Run gets must be memory of this device (or
  // managed memory), and its stream a stream of the plan's context. Plans on several
  // devices can share one `cache` and `disk_cache`: each kernel is compiled once and
  // loaded once per context.
  int device = 0;
  // A context of the caller's, on `device`, to load into and run in. Null: the context
  // current on the thread that loads the plan (Load, or the first Run) if it is one of
  // `device`, else the device's primary context (the one the CUDA runtime API uses). The
  // plan keeps that context from then on, whatever thread runs it.
  CUcontext context = nullptr;
  // Non-empty (else $TILEFUSE_DUMP_DIR): every kernel of the plan, built now or found in a
  // cache, is written there as <entry>.cu, .ptx, .cubin and .sig (its signature), with a line of
  // index.txt naming the graph, the kernel and its shape class. The folder must be the
  // user's own (created 0700).
  std::string dump_dir;
  // GEMM tile configs (runtime/autotune.h): recorded winners are read from `tuning_path`
  // when set; with `autotune` and a GPU, missing ones are tuned (M = tune_m when
  // symbolic) and recorded. `gemm_config` forces one config on every GEMM (a Hopper
  // config only on those the Hopper kernel can run: sm_90, B a K-major 16-bit buffer).
  bool autotune = false;
  std::string tuning_path;
  int64_t tune_m = 4096;
  std::optional<GemmConfig> gemm_config;
  // Row-wise kernels (rms_norm, layer_norm, softmax) are tuned as fused, with the same
  // switches: `autotune` times RowCandidates on the GPU and records the winner;
  // `row_config` forces one config on each of them (it must cover the row width).
  std::optional<RowConfig> row_config;
  // Shape classes: a GEMM whose M is symbolic and whose config is the default (not forced,
  // recorded or tuned) is compiled once per class of M, each bound here the largest M of
  // its class (e.g. an engine's CUDA-graph batch sizes); `Run` picks the variant from the
  // bound M without compiling or allocating. The defaults: runtime/fusion/tile_config.h
  // (kDefaultMClasses, SmallMGemmConfig). Empty: one kernel for every M.
  std::vector<int64_t> m_classes{std::begin(kDefaultMClasses), std::end(kDefaultMClasses)};
  // NVRTC's front end only (-fdevice-syntax-only): every kernel's source is checked as C++
  // (names, types, each template instantiated) at about an eighth of a build's time, but
  // nothing reaches ptxas, so the inline PTX is not checked and the plan has no binary to
  // load or run. The disk cache, the manifest and dumps are not used. For the CPU suites,
  // whose time is NVRTC's (test/codegen_test.cc builds a sample through ptxas).
  bool check_only = false;
};

// What compiling one kernel cost, for reports and the command-line tool.
struct KernelReport {
  std::string entry_name;
  std::string summary;
  bool cache_hit = false;  // found in memory or on disk: no NVRTC
  bool disk_hit = false;   // loaded from the disk cache
  double compile_ms = 0;  // NVRTC time when built now, 0 on a hit
  size_t cubin_bytes = 0;
  // Built now but not written to the disk cache: why (empty when stored, or on a hit).
  std::string store_error;
  int kernel = 0;           // the kernel (launch order) this binary serves
  std::string shape_class;  // "M <= 16" for a class variant; empty for the kernel itself
};

class Plan {
 public:
  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;
  ~Plan();

  int num_kernels() const { return static_cast<int>(kernels_.size()); }
  // What fused, what was refused and why, kernel by kernel.
  std::string Explain() const;
  const std::vector<KernelReport>& reports() const { return reports_; }
  const FusionPlan& fusion_plan() const { return fusion_; }
  const Graph& graph() const { return graph_; }
  const std::string& arch() const { return arch_; }
  // The binary of kernel `i` (launch order; for a GEMM with shape classes, the one past the
  // last class), for tools and benchmarks.
  const CompiledKernel& compiled_kernel(int i) const { return *kernels_[i].compiled; }
  // The binary Run launches for kernel `i` when its output has `rows` rows (M): its shape
  // class's, or compiled_kernel(i).
  const CompiledKernel& compiled_kernel_for(int i, int64_t rows) const;
  // The GEMM tile config kernel `i` runs with at `rows` rows (M), chosen as above.
  const GemmConfig& gemm_config_for(int i, int64_t rows) const;

  int device() const { return device_; }

  // Loads every module in the plan's context (CompileOptions::device and ::context).
  // Idempotent. The context that was current on the calling thread stays current; a thread
  // with none is left in the plan's.
  absl::Status Load();

  // Launches the plan on `stream`. `inputs` follow the graph's inputs, `outputs` its
  // outputs, in order; outputs are written, inputs only read. Runs in the plan's context,
  // whichever is current on the calling thread (as Load leaves it). Every tensor is
  // checked to lie inside an allocation on the plan's device; each allocation is asked
  // about once, then remembered (kCheckedRanges of them). The plan's own Run is for one
  // thread at a time; contexts (CreateContext) run concurrently.
  absl::Status Run(CUstream stream, absl::Span<const TensorArg> inputs,
                   absl::Span<const TensorArg> outputs);
  // Scratch a run needs at `sizes` (every symbol its inputs bind, by name): workspace slots
  // for intermediates, split-K partials and counters, for any run whose sizes are at most
  // these (a small-M shape class may split K where a larger M does not: counted too).
  absl::StatusOr<size_t> WorkspaceBytes(const std::map<std::string, int64_t>& sizes) const;
  // Device memory of the caller's for a run's scratch (at least WorkspaceBytes).
  struct Workspace {
    CUdeviceptr ptr = 0;
    size_t bytes = 0;
  };
  // Run on the caller's scratch: no allocation, free or synchronization at any size, so
  // that it captures into a CUDA graph at any size once loaded (the split-K counters are
  // zeroed by a memset on `stream`). Without it, Run uses scratch of the plan's own, grown
  // as sizes grow; buffers it outgrows are kept until the plan is destroyed, since a graph
  // captured earlier may still use them.
  absl::Status Run(CUstream stream, absl::Span<const TensorArg> inputs, absl::Span<const TensorArg> outputs,
                   const Workspace& workspace);
  // The same with DLPack tensors (at most 64 of each).
  absl::Status RunDLPack(CUstream stream, absl::Span<const DLTensor* const> inputs,
                         absl::Span<const DLTensor* const> outputs);

  struct RunState;
  // What one thread needs to run the plan: scratch of its own (when Run is given no
  // workspace), tensor-map and pointer-check caches. Contexts of one plan run concurrently
  // from several threads on several streams; one context serves one thread at a time. A
  // context must not outlive its plan.
  class Context {
   public:
    Context(Context&&) noexcept;
    Context& operator=(Context&&) noexcept;
    ~Context();

   private:
    friend class Plan;
    explicit Context(std::unique_ptr<RunState> state);
    std::unique_ptr<RunState> state_;
  };
  // Loads the plan (if not yet) and makes a context for it.
  absl::StatusOr<Context> CreateContext();
  absl::Status Run(Context& context, CUstream stream, absl::Span<const TensorArg> inputs,
                   absl::Span<const TensorArg> outputs);
  absl::Status Run(Context& context, CUstream stream, absl::Span<const TensorArg> inputs,
                   absl::Span<const TensorArg> outputs, const Workspace& workspace);

 private:
  friend absl::StatusOr<Plan> Compile(const Graph& graph, const CompileOptions& options);
  // A compiled form of a kernel: the kernel itself, or one of its shape classes.
  struct Variant {
    int64_t max_m = -1;  // classes: the largest M it serves
    KernelSpec spec;
    std::shared_ptr<const CompiledKernel> compiled;
    std::vector<ParamField> layout;
    CUfunction function = nullptr;
  };
  // What a run reads of a kernel: fixed once the plan is loaded.
  struct Kernel {
    KernelPlan plan;
    std::shared_ptr<const CompiledKernel> compiled;
    std::vector<ParamField> layout;
    CUfunction function = nullptr;
    std::vector<Variant> classes;  // plan.classes compiled, ascending; past them the kernel itself
    SizeExpr numel;  // of the epilogue index space, kept so that Run allocates nothing
  };
  Plan();
  // The shape class of `k` that serves `rows` rows, or null (the kernel itself).
  static const Variant* ClassFor(const Kernel& k, int64_t rows);
  absl::Status BindShapes(absl::Span<const TensorArg> inputs,
                          absl::Span<const TensorArg> outputs, int64_t* symbols) const;
  std::unique_ptr<RunState> NewRunState() const;
  absl::Status PrepareWorkspace(RunState& st, CUstream stream, const int64_t* symbols) const;
  // The run's scratch layout at bound `symbols`: each workspace slot's offset into `slots`,
  // each split-K kernel's partials and counters (0, 0 for none) into `splits` (bytes from
  // the start, slots first); returns {bytes of the slots, bytes in all}.
  std::pair<size_t, size_t> ScratchLayout(const int64_t* symbols, std::vector<size_t>& slots,
                                          std::vector<std::pair<size_t, size_t>>& splits) const;
  // Kernel k's split-K scratch for runs up to these sizes: partial bytes and tiles (0, 0
  // for none), the most over its shape classes.
  std::pair<size_t, int64_t> SplitNeed(const Kernel& k, const int64_t* symbols) const;
  absl::Status Run(CUstream stream, absl::Span<const TensorArg> inputs, absl::Span<const TensorArg> outputs,
                   const Workspace* workspace);
  absl::Status RunWith(RunState& st, CUstream stream, absl::Span<const TensorArg> inputs,
                       absl::Span<const TensorArg> outputs, const Workspace* caller) const;
  // The stream belongs to the plan's context; every tensor lies in memory of its device.
  absl::Status CheckStream(RunState& st, const Driver& cu, CUstream stream) const;
  absl::Status CheckMemory(RunState& st, const Driver& cu, absl::Span<const TensorArg> inputs,
                           absl::Span<const TensorArg> outputs) const;
  absl::Status PrepareSplitK(RunState& st, size_t kernel, CUstream stream, const GemmConfig& c, int64_t tiles) const;

  Graph graph_;
  FusionPlan fusion_;
  std::vector<Kernel> kernels_;
  std::vector<KernelReport> reports_;
  std::unique_ptr<KernelCache> own_cache_;
  std::string arch_;
  int device_ = 0;
  CUcontext context_ = nullptr;  // set by Load when not given
  bool loaded_ = false;
  std::unique_ptr<std::mutex> load_mu_;  // Load, from CreateContext on several threads
  int sm_count_ = 0;
  bool overlap_ = false;  // CompileOptions::overlap_launches, where the arch has it
  bool check_only_ = false;  // CompileOptions::check_only: no binaries
  std::unique_ptr<RunState> own_;  // the plain Run's context, made at its first run
};

absl::StatusOr<Plan> Compile(const Graph& graph, const CompileOptions& options = {});

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_PLAN_H_
