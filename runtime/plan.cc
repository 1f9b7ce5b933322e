#include "runtime/plan.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "codegen/pointwise_codegen.h"
#include "codegen/tile_codegen.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/fusion/views.h"
#include "runtime/fusion/weight_read.h"
#include "runtime/cuda/driver.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

// A GEMM variant's config as Explain prints it, with the skinny kernel's TMA form where the
// variant has one (it runs where the operands are aligned).
std::string GemmConfigText(const KernelSpec& spec) {
  return absl::StrCat(spec.gemm.ToString(), SkinnyWeightTma(spec) ? ", weight and x by TMA where aligned" : "");
}

constexpr size_t kWorkspaceAlign = 256;

absl::Status CheckTensor(const Graph& g, int id, const TensorArg& t, absl::string_view role,
                         int position, int64_t* symbols) {
  const Node& n = g.node(id);
  const auto err = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(role, " ", position, " ('", n.name, "'): ", what));
  };
  if (t.dtype != n.dtype) {
    return err(absl::StrCat("dtype is ", DTypeName(t.dtype), " (expected ", DTypeName(n.dtype), ")"));
  }
  if (t.rank != static_cast<int>(n.shape.size())) {
    return err(absl::StrCat("rank is ", t.rank, " (expected ", n.shape.size(), ", shape ",
                            g.ShapeText(id), ")"));
  }
  int64_t numel = 1;
  for (int d = 0; d < t.rank; ++d) {
    if (t.shape[d] < 0 || __builtin_mul_overflow(numel, t.shape[d], &numel) ||
        numel > (int64_t{1} << kMaxNumelLog2)) {
      return err(absl::StrCat("dim ", d, " is ", t.shape[d], " (expected a size >= 0, at most 2^", kMaxNumelLog2,
                              " elements in all)"));
    }
  }
  for (int d = 0; d < t.rank; ++d) {
    const Dim& want = n.shape[d];
    int64_t expect = want.value;
    if (!want.is_static()) {
      if (symbols[want.symbol] < 0) symbols[want.symbol] = t.shape[d];
      expect = symbols[want.symbol];
    }
    if (t.shape[d] != expect) {
      return err(absl::StrCat("dim ", d, " is ", t.shape[d], " (expected ", expect,
                              want.is_static() ? "" : absl::StrCat(" = ", g.symbols()[want.symbol],
                                                                  " bound by an earlier tensor"),
                              ")"));
    }
  }
  const uintptr_t addr = reinterpret_cast<uintptr_t>(t.data);
  if (numel > 0 && t.data == nullptr) return err("data pointer is null");
  if (addr % DTypeSize(t.dtype) != 0) {
    return err(absl::StrCat("data pointer 0x", absl::Hex(addr), " is not aligned to ",
                            DTypeSize(t.dtype), " bytes"));
  }
  return absl::OkStatus();
}

// Whether `stream` is being captured into a CUDA graph: then nothing may load, allocate
// or synchronize.
absl::StatusOr<bool> Capturing(const Driver& cu, CUstream stream) {
  CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
  TF_RETURN_IF_ERROR(cu.Check(cu.cuStreamIsCapturing(stream, &capture), "cuStreamIsCapturing"));
  return capture != CU_STREAM_CAPTURE_STATUS_NONE;
}

}  // namespace

// Everything a run changes: scratch, caches of tensor maps and pointer checks.
struct Plan::RunState {
  static constexpr int kCheckedRanges = 16;
  CUcontext context = nullptr;  // where its memory lives
  CUdeviceptr workspace = 0;    // the plan's own scratch (runs given none)
  size_t workspace_bytes = 0;
  std::vector<size_t> slot_offsets;
  std::vector<std::pair<size_t, size_t>> split_offsets;  // per kernel, in a caller's workspace
  std::vector<CUdeviceptr> retired;  // outgrown scratch, freed with the state
  // A GEMM's last tensor maps (the Hopper kernel's A, B and a dual GEMM's second B; the
  // skinny kernel's x and weight): re-encoded only when an operand's address or sizes
  // change, which keeps cuTensorMapEncodeTiled off the steady path.
  struct TensorMapCache {
    uint64_t address = 0;
    int64_t depth = -1, outer = -1;   // elements per row, rows
    int box_inner = 0, box = 0;       // a box's elements per row and rows
    CUtensorMap map;
  };
  struct PerKernel {
    TensorMapCache maps[3];
    // A split-K GEMM's partials and per-tile arrival counters in the plan's own scratch,
    // sized for split_tiles tiles: zeroed when allocated, left zero by every launch.
    CUdeviceptr split_parts = 0, split_counts = 0;
    size_t split_parts_bytes = 0;
    int64_t split_tiles = 0;
  };
  std::vector<PerKernel> kernels;
  // Allocations on the plan's device that tensors were found in: [start, end) addresses.
  struct CheckedRange {
    uint64_t start = 0, end = 0;
  };
  CheckedRange checked[kCheckedRanges];
  int next_checked = 0;
  CUstream checked_stream = nullptr;  // the last stream found in the plan's context
  bool stream_checked = false;

  ~RunState() {
    std::vector<CUdeviceptr> all = retired;
    if (workspace != 0) all.push_back(workspace);
    for (const PerKernel& k : kernels) {
      if (k.split_parts != 0) all.push_back(k.split_parts);
      if (k.split_counts != 0) all.push_back(k.split_counts);
    }
    if (all.empty()) return;  // nothing on the device: no driver needed
    auto cu = Driver::Get();
    if (!cu.ok()) return;
    // Freed in the context they were allocated in (the caller's may be another device's).
    std::optional<absl::StatusOr<ScopedContext>> scope;
    if (context != nullptr) scope.emplace(ScopedContext::Enter(**cu, context));
    for (CUdeviceptr p : all) (*cu)->cuMemFree(p);
  }
};

Plan::Plan() : load_mu_(std::make_unique<std::mutex>()) {}
Plan::Plan(Plan&& o) noexcept { *this = std::move(o); }

Plan& Plan::operator=(Plan&& o) noexcept {
  if (this == &o) return *this;
  own_.reset();
  graph_ = std::move(o.graph_);
  fusion_ = std::move(o.fusion_);
  kernels_ = std::move(o.kernels_);
  reports_ = std::move(o.reports_);
  own_cache_ = std::move(o.own_cache_);
  arch_ = std::move(o.arch_);
  device_ = o.device_;
  context_ = o.context_;
  loaded_ = o.loaded_;
  load_mu_ = std::move(o.load_mu_);
  sm_count_ = o.sm_count_;
  overlap_ = o.overlap_;
  check_only_ = o.check_only_;
  own_ = std::move(o.own_);
  o.loaded_ = false;
  return *this;
}

Plan::~Plan() = default;

Plan::Context::Context(std::unique_ptr<RunState> state) : state_(std::move(state)) {}
Plan::Context::Context(Context&&) noexcept = default;
Plan::Context& Plan::Context::operator=(Context&&) noexcept = default;
Plan::Context::~Context() = default;

std::unique_ptr<Plan::RunState> Plan::NewRunState() const {
  auto st = std::make_unique<RunState>();
  st->context = context_;
  st->kernels.resize(kernels_.size());
  st->slot_offsets.resize(fusion_.workspace.size());
  st->split_offsets.resize(kernels_.size());
  return st;
}

absl::StatusOr<Plan::Context> Plan::CreateContext() {
  TF_RETURN_IF_ERROR(Load());
  return Context(NewRunState());
}

const Plan::Variant* Plan::ClassFor(const Kernel& k, int64_t rows) {
  for (const Variant& v : k.classes) {  // ascending: the first whose bound holds M
    if (rows <= v.max_m) return &v;
  }
  return nullptr;
}

const CompiledKernel& Plan::compiled_kernel_for(int i, int64_t rows) const {
  const Variant* v = ClassFor(kernels_[i], rows);
  return v != nullptr ? *v->compiled : *kernels_[i].compiled;
}

const GemmConfig& Plan::gemm_config_for(int i, int64_t rows) const {
  const Variant* v = ClassFor(kernels_[i], rows);
  return v != nullptr ? v->spec.gemm : kernels_[i].plan.spec.gemm;
}

std::string Plan::Explain() const {
  std::string s = absl::StrCat("plan '", graph_.name(), "': ", kernels_.size(), " kernel",
                               kernels_.size() == 1 ? "" : "s", " for ", arch_,
                               overlap_ && kernels_.size() > 1 ? ", each after the first launched overlapped" : "",
                               "\n");
  for (size_t i = 0; i < kernels_.size(); ++i) {
    absl::StrAppend(&s, "  kernel ", i, ": ", kernels_[i].plan.summary, "\n");
    if (kernels_[i].classes.empty() && kernels_[i].plan.spec.tile == "matmul") {
      absl::StrAppend(&s, "    config: ", GemmConfigText(kernels_[i].plan.spec), "\n");
    }
    for (const Variant& v : kernels_[i].classes) {
      absl::StrAppend(&s, "    class M <= ", v.max_m, ": ", GemmConfigText(v.spec), " (", v.compiled->entry_name(), ")\n");
    }
    if (!kernels_[i].classes.empty()) {
      absl::StrAppend(&s, "    class M > ", kernels_[i].classes.back().max_m, ": ", GemmConfigText(kernels_[i].plan.spec),
                      " (", kernels_[i].compiled->entry_name(), ")\n");
    }
  }
  for (const std::string& d : fusion_.decisions) absl::StrAppend(&s, "  ", d, "\n");
  return s;
}

absl::Status Plan::Load() {
  std::lock_guard<std::mutex> lock(*load_mu_);
  if (loaded_) return absl::OkStatus();
  if (check_only_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plan of graph '", graph_.name(), "' was compiled with CompileOptions::check_only: it has no binaries to run"));
  }
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_ASSIGN_OR_RETURN(DeviceInfo info, GetDeviceInfo(device_));
  if (info.Arch() != arch_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plan was compiled for ", arch_, " but device ", device_, " is ", info.Arch(),
        " (compile with CompileOptions::arch empty or matching)"));
  }
  if (context_ == nullptr) {
    // The calling thread's context when it is one of the plan's device (an engine running
    // in a context of its own), else the device's primary context.
    CUcontext current = nullptr;
    TF_RETURN_IF_ERROR(cu->Check(cu->cuCtxGetCurrent(&current), "cuCtxGetCurrent"));
    auto on = current != nullptr ? ContextDevice(*cu, current) : absl::StatusOr<int>(-1);
    if (on.ok() && *on == device_) {
      context_ = current;
    } else {
      TF_ASSIGN_OR_RETURN(context_, PrimaryContext(device_));
    }
  } else {
    TF_ASSIGN_OR_RETURN(const int on, ContextDevice(*cu, context_));
    if (on != device_) {
      return absl::InvalidArgumentError(absl::StrCat("CompileOptions::context is a context of device ", on,
                                                     " but CompileOptions::device is ", device_));
    }
  }
  TF_ASSIGN_OR_RETURN(ScopedContext scope, ScopedContext::Enter(*cu, context_));
  sm_count_ = info.sm_count;
  // The entry function of one compiled form, with the shared memory a GEMM launches with.
  const auto load = [&](const KernelSpec& spec, const CompiledKernel& compiled, CUfunction& function) -> absl::Status {
    TF_ASSIGN_OR_RETURN(function, compiled.Function());
    if (spec.tile != "matmul") return absl::OkStatus();
    const int smem = GemmLaunchOf(spec).smem;
    if (smem > info.max_shared_per_block_optin) {
      return absl::FailedPreconditionError(absl::StrCat("GEMM config ", spec.gemm.ToString(), " needs ", smem,
                                                        " bytes of shared memory; ", info.name, " allows ",
                                                        info.max_shared_per_block_optin));
    }
    return cu->Check(cu->cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem),
                     "cuFuncSetAttribute(max dynamic shared memory)");
  };
  for (Kernel& k : kernels_) {
    TF_RETURN_IF_ERROR(load(k.plan.spec, *k.compiled, k.function));
    for (Variant& v : k.classes) TF_RETURN_IF_ERROR(load(v.spec, *v.compiled, v.function));
  }
  loaded_ = true;
  return absl::OkStatus();
}

absl::Status Plan::BindShapes(absl::Span<const TensorArg> inputs,
                              absl::Span<const TensorArg> outputs, int64_t* symbols) const {
  if (inputs.size() != graph_.inputs().size() || outputs.size() != graph_.outputs().size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plan '", graph_.name(), "' takes ", graph_.inputs().size(), " inputs and ",
        graph_.outputs().size(), " outputs, got ", inputs.size(), " and ", outputs.size()));
  }
  for (int s = 0; s < kMaxSymbols; ++s) symbols[s] = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    TF_RETURN_IF_ERROR(CheckTensor(graph_, graph_.inputs()[i], inputs[i], "input", i, symbols));
  }
  // Every symbol a value depends on appears in some input's shape (reshape cannot invent
  // one), so a symbol still unbound here is used by nothing.
  for (size_t i = 0; i < outputs.size(); ++i) {
    TF_RETURN_IF_ERROR(CheckTensor(graph_, graph_.outputs()[i], outputs[i], "output", i, symbols));
  }
  return absl::OkStatus();
}

std::pair<size_t, int64_t> Plan::SplitNeed(const Kernel& k, const int64_t* symbols) const {
  const auto syms = absl::MakeConstSpan(symbols, kMaxSymbols);
  if (k.plan.spec.tile != "matmul" || k.numel.Eval(syms) == 0) return {0, 0};
  const int64_t rows = k.plan.rows.Eval(syms);
  const int64_t cols = (k.plan.cols.Eval(syms) + k.plan.cols_tile - 1) / k.plan.cols_tile;
  // The most any run of at most `rows` rows needs: each shape class at its largest M up
  // to `rows`, and the kernel itself (so that a smaller run never needs more).
  size_t parts = 0;
  int64_t tiles = 0;
  const auto add = [&](const KernelSpec& spec, int64_t r) {
    if (spec.gemm.split_k <= 1 || GemmClusterSplit(spec)) return;
    const int64_t tn = GemmTileCols(spec, spec.gemm);
    const int64_t t = ((r + spec.gemm.bm - 1) / spec.gemm.bm) * ((cols + tn - 1) / tn);
    parts = std::max(parts, static_cast<size_t>(t) * spec.gemm.split_k * spec.gemm.bm * spec.gemm.bn * sizeof(float));
    tiles = std::max(tiles, t);
  };
  for (const Variant& v : k.classes) add(v.spec, std::min(rows, v.max_m));
  add(k.plan.spec, rows);
  return {parts, tiles};
}

std::pair<size_t, size_t> Plan::ScratchLayout(const int64_t* symbols, std::vector<size_t>& slots,
                                              std::vector<std::pair<size_t, size_t>>& splits) const {
  const auto syms = absl::MakeConstSpan(symbols, kMaxSymbols);
  const auto aligned = [](size_t b) { return (b + kWorkspaceAlign - 1) / kWorkspaceAlign * kWorkspaceAlign; };
  size_t total = 0;
  if (slots.size() != fusion_.workspace.size()) slots.resize(fusion_.workspace.size());
  for (size_t i = 0; i < fusion_.workspace.size(); ++i) {
    const WorkspaceSlot& w = fusion_.workspace[i];
    slots[i] = total;
    total += aligned(static_cast<size_t>(StorageBytes(w.dtype, w.Elements(syms))));
  }
  const size_t slot_bytes = total;
  if (splits.size() != kernels_.size()) splits.resize(kernels_.size());
  for (size_t i = 0; i < kernels_.size(); ++i) {
    const auto [parts, tiles] = SplitNeed(kernels_[i], symbols);
    splits[i] = {0, 0};
    if (tiles == 0) continue;
    splits[i].first = total;
    total += aligned(parts);
    splits[i].second = total;
    total += aligned(static_cast<size_t>(tiles) * 4);
  }
  return {slot_bytes, total};
}

absl::StatusOr<size_t> Plan::WorkspaceBytes(const std::map<std::string, int64_t>& sizes) const {
  int64_t symbols[kMaxSymbols];
  for (int s = 0; s < kMaxSymbols; ++s) symbols[s] = -1;
  for (size_t s = 0; s < graph_.symbols().size(); ++s) {
    auto it = sizes.find(graph_.symbols()[s]);
    if (it == sizes.end() || it->second < 0) {
      return absl::InvalidArgumentError(absl::StrCat("plan '", graph_.name(), "': WorkspaceBytes needs a size >= 0 for '",
                                                     graph_.symbols()[s], "'"));
    }
    symbols[s] = it->second;
  }
  for (const auto& [name, value] : sizes) {
    if (graph_.FindSymbol(name) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("plan '", graph_.name(), "' has no symbol '", name, "'"));
    }
  }
  std::vector<size_t> slots;
  std::vector<std::pair<size_t, size_t>> splits;
  return ScratchLayout(symbols, slots, splits).second;
}

absl::Status Plan::PrepareWorkspace(RunState& st, CUstream stream, const int64_t* symbols) const {
  const size_t total = ScratchLayout(symbols, st.slot_offsets, st.split_offsets).first;
  if (total <= st.workspace_bytes) return absl::OkStatus();
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_ASSIGN_OR_RETURN(const bool capturing, Capturing(*cu, stream));
  if (capturing) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plan '", graph_.name(), "' needs ", total, " workspace bytes (has ", st.workspace_bytes,
        ") while the stream is being captured; run it once with the largest shapes before "
        "capturing, or give Run a workspace"));
  }
  // Kernels of earlier runs, and graphs captured from them, may still use the old buffer:
  // it is kept until the state goes.
  if (st.workspace != 0) st.retired.push_back(st.workspace);
  st.workspace = 0;
  st.workspace_bytes = 0;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuMemAlloc(&st.workspace, total), "cuMemAlloc(workspace)"));
  st.workspace_bytes = total;
  return absl::OkStatus();
}

absl::Status Plan::PrepareSplitK(RunState& st, size_t kernel, CUstream stream, const GemmConfig& c,
                                 int64_t tiles) const {
  RunState::PerKernel& k = st.kernels[kernel];
  const size_t parts = static_cast<size_t>(tiles) * c.split_k * c.bm * c.bn * sizeof(float);
  if (tiles <= k.split_tiles && parts <= k.split_parts_bytes) return absl::OkStatus();
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_ASSIGN_OR_RETURN(const bool capturing, Capturing(*cu, stream));
  if (capturing) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plan '", graph_.name(), "': the split-K GEMM '", graph_.node(kernels_[kernel].plan.tile_node).name,
        "' needs room for ", tiles, " tiles (has ", k.split_tiles,
        ") while the stream is being captured; run it once with the largest shapes before capturing, or give Run a "
        "workspace"));
  }
  // Shape classes share the buffers: sized for the largest need seen so far. Kernels of
  // earlier runs, and graphs captured from them, may still use the old ones: kept until
  // the state goes.
  tiles = std::max(tiles, k.split_tiles);
  const size_t parts_bytes = std::max(parts, k.split_parts_bytes);
  if (k.split_parts != 0) st.retired.push_back(k.split_parts);
  if (k.split_counts != 0) st.retired.push_back(k.split_counts);
  k.split_parts = k.split_counts = 0;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuMemAlloc(&k.split_parts, parts_bytes), "cuMemAlloc(split-K partials)"));
  k.split_parts_bytes = parts_bytes;
  TF_RETURN_IF_ERROR(cu->Check(cu->cuMemAlloc(&k.split_counts, static_cast<size_t>(tiles) * 4), "cuMemAlloc(split-K counters)"));
  TF_RETURN_IF_ERROR(cu->Check(cu->cuMemsetD8(k.split_counts, 0, static_cast<size_t>(tiles) * 4), "cuMemsetD8"));
  k.split_tiles = tiles;
  return absl::OkStatus();
}

absl::Status Plan::CheckStream(RunState& st, const Driver& cu, CUstream stream) const {
  // The legacy and per-thread default streams are the current context's: the plan's.
  if (stream == nullptr || stream == CU_STREAM_LEGACY || stream == CU_STREAM_PER_THREAD) return absl::OkStatus();
  if (st.stream_checked && stream == st.checked_stream) return absl::OkStatus();
  CUcontext ctx = nullptr;
  TF_RETURN_IF_ERROR(cu.Check(cu.cuStreamGetCtx(stream, &ctx), "cuStreamGetCtx"));
  if (ctx != context_) {
    auto on = ContextDevice(cu, ctx);
    return absl::InvalidArgumentError(absl::StrCat(
        "plan '", graph_.name(), "' runs on device ", device_, " but its stream belongs to ",
        on.ok() ? absl::StrCat("a context of device ", *on) : std::string("another context"),
        on.ok() && *on == device_ ? " other than the plan's (CompileOptions::context)" : ""));
  }
  st.checked_stream = stream;
  st.stream_checked = true;
  return absl::OkStatus();
}

absl::Status Plan::CheckMemory(RunState& st, const Driver& cu, absl::Span<const TensorArg> inputs,
                               absl::Span<const TensorArg> outputs) const {
  for (size_t t = 0; t < inputs.size() + outputs.size(); ++t) {
    const bool input = t < inputs.size();
    const TensorArg& a = input ? inputs[t] : outputs[t - inputs.size()];
    const size_t position = input ? t : t - inputs.size();
    const uint64_t start = reinterpret_cast<uint64_t>(a.data);
    const uint64_t bytes = static_cast<uint64_t>(StorageBytes(a.dtype, a.numel()));
    if (bytes == 0) continue;
    const uint64_t end = start + bytes;
    bool known = false;
    for (const RunState::CheckedRange& r : st.checked) known |= r.start <= start && end <= r.end;
    if (known) continue;
    unsigned int type = 0, managed = 0;
    int ordinal = -1;
    CUdeviceptr range_start = 0;
    size_t range_size = 0;
    CUpointer_attribute attrs[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_IS_MANAGED,
                                   CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR,
                                   CU_POINTER_ATTRIBUTE_RANGE_SIZE};
    void* values[] = {&type, &managed, &ordinal, &range_start, &range_size};
    // Not CUDA memory at all leaves every value at its default (and CUDA_SUCCESS).
    TF_RETURN_IF_ERROR(cu.Check(cu.cuPointerGetAttributes(5, attrs, values, static_cast<CUdeviceptr>(start)),
                                "cuPointerGetAttributes"));
    const Node& n = graph_.node(input ? graph_.inputs()[position] : graph_.outputs()[position]);
    const auto err = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(input ? "input " : "output ", position, " ('", n.name,
                                                     "') at 0x", absl::Hex(start), ": ", what));
    };
    if (managed == 0) {
      if (type == 0) return err(absl::StrCat("not CUDA memory (plan '", graph_.name(), "' runs on device ", device_, ")"));
      if (type == CU_MEMORYTYPE_HOST) {
        return err(absl::StrCat("host memory (plan '", graph_.name(), "' runs on device ", device_, ")"));
      }
      if (ordinal != device_) {
        return err(absl::StrCat("memory of device ", ordinal, " but plan '", graph_.name(), "' runs on device ",
                                device_));
      }
    }
    const uint64_t range_end = static_cast<uint64_t>(range_start) + range_size;
    if (range_size > 0 && end > range_end) {
      return err(absl::StrCat(bytes, " bytes from there run past the end of its allocation (0x",
                              absl::Hex(static_cast<uint64_t>(range_start)), " + ", range_size, " bytes)"));
    }
    if (range_size == 0) continue;  // nothing to remember
    st.checked[st.next_checked] = RunState::CheckedRange{static_cast<uint64_t>(range_start), range_end};
    st.next_checked = (st.next_checked + 1) % RunState::kCheckedRanges;
  }
  return absl::OkStatus();
}

absl::Status Plan::Run(CUstream stream, absl::Span<const TensorArg> inputs,
                       absl::Span<const TensorArg> outputs) {
  return Run(stream, inputs, outputs, nullptr);
}

absl::Status Plan::Run(CUstream stream, absl::Span<const TensorArg> inputs, absl::Span<const TensorArg> outputs,
                       const Workspace& workspace) {
  return Run(stream, inputs, outputs, &workspace);
}

absl::Status Plan::Run(Context& context, CUstream stream, absl::Span<const TensorArg> inputs,
                       absl::Span<const TensorArg> outputs) {
  return RunWith(*context.state_, stream, inputs, outputs, nullptr);
}

absl::Status Plan::Run(Context& context, CUstream stream, absl::Span<const TensorArg> inputs,
                       absl::Span<const TensorArg> outputs, const Workspace& workspace) {
  return RunWith(*context.state_, stream, inputs, outputs, &workspace);
}

absl::Status Plan::Run(CUstream stream, absl::Span<const TensorArg> inputs, absl::Span<const TensorArg> outputs,
                       const Workspace* workspace) {
  // The plain Run loads the plan on first use (contexts come from a loaded plan).
  if (!loaded_) {
    int64_t symbols[kMaxSymbols];
    TF_RETURN_IF_ERROR(BindShapes(inputs, outputs, symbols));  // bad tensors first, as ever
    TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
    TF_ASSIGN_OR_RETURN(const bool capturing, Capturing(*cu, stream));
    if (capturing) {
      return absl::FailedPreconditionError(absl::StrCat(
          "plan '", graph_.name(), "' is not loaded and the stream is being captured; call "
          "Plan::Load() or run once before capturing"));
    }
    TF_RETURN_IF_ERROR(Load());
  }
  if (own_ == nullptr) own_ = NewRunState();
  return RunWith(*own_, stream, inputs, outputs, workspace);
}

absl::Status Plan::RunWith(RunState& st, CUstream stream, absl::Span<const TensorArg> inputs,
                           absl::Span<const TensorArg> outputs, const Workspace* caller) const {
  int64_t symbols[kMaxSymbols];
  TF_RETURN_IF_ERROR(BindShapes(inputs, outputs, symbols));
  TF_ASSIGN_OR_RETURN(const Driver* cu, Driver::Get());
  TF_ASSIGN_OR_RETURN(ScopedContext scope, ScopedContext::Enter(*cu, context_));
  TF_RETURN_IF_ERROR(CheckStream(st, *cu, stream));
  TF_RETURN_IF_ERROR(CheckMemory(st, *cu, inputs, outputs));
  if (caller == nullptr) {
    TF_RETURN_IF_ERROR(PrepareWorkspace(st, stream, symbols));
  } else {
    const size_t need = ScratchLayout(symbols, st.slot_offsets, st.split_offsets).second;
    if (caller->bytes < need || (need > 0 && caller->ptr == 0)) {
      return absl::InvalidArgumentError(absl::StrCat("plan '", graph_.name(), "': the workspace holds ", caller->bytes,
                                                     " bytes at 0x", absl::Hex(caller->ptr), "; this run needs ", need,
                                                     " (Plan::WorkspaceBytes)"));
    }
  }
  const CUdeviceptr scratch = caller != nullptr ? caller->ptr : st.workspace;
  const auto syms = absl::MakeConstSpan(symbols, kMaxSymbols);
  const auto address = [&](const BufferRef& b) -> uint64_t {
    switch (b.kind) {
      case BufferRef::kInput: return reinterpret_cast<uint64_t>(inputs[b.index].data);
      case BufferRef::kOutput: return reinterpret_cast<uint64_t>(outputs[b.index].data);
      case BufferRef::kWorkspace: return scratch + st.slot_offsets[b.index];
      case BufferRef::kNone: return 0;  // an iota: its "pointer" is its view's offset
    }
    return 0;
  };
  // An operand read through a view starts `offset` elements into its buffer.
  const auto operand_address = [&](const Kernel& k, size_t i) -> uint64_t {
    const OperandBinding& b = k.plan.operands[i];
    const uint64_t base = address(b.buffer);
    if (b.offset.empty()) return base;
    return base + static_cast<uint64_t>(OffsetValue(b.offset, syms) * DTypeSize(k.plan.spec.operands[i].dtype));
  };
  uint64_t words[kMaxParamWords];
  bool launched_before = false;
  for (size_t ki = 0; ki < kernels_.size(); ++ki) {
    const Kernel& k = kernels_[ki];
    RunState::PerKernel& ks = st.kernels[ki];
    const int64_t n = k.numel.Eval(syms);
    if (n == 0 || !k.plan.RunsAt(syms)) continue;  // empty, or another form's kernel
    const int64_t rows = k.plan.spec.is_pointwise() ? 0 : k.plan.rows.Eval(syms);
    const Variant* cls = ClassFor(k, rows);
    const KernelSpec& spec = cls != nullptr ? cls->spec : k.plan.spec;
    const std::vector<ParamField>& layout = cls != nullptr ? cls->layout : k.layout;
    const int vec = spec.Vec();
    const bool gemm = spec.tile == "matmul";
    const bool reduce = spec.tile == "reduce";
    const bool f8 = gemm && IsF8Gemm(spec);  // fp8 codes: 1-byte TMA rows (f8_gemm.h)
    const int64_t cols = spec.is_pointwise() ? 0 : (k.plan.cols.Eval(syms) + k.plan.cols_tile - 1) / k.plan.cols_tile;
    const int64_t depth = gemm || reduce ? k.plan.depth.Eval(syms) : 0;
    const int64_t tile_cols = gemm ? GemmTileCols(spec, spec.gemm) : 1;
    const int64_t gemm_tiles =
        gemm ? ((rows + spec.gemm.bm - 1) / spec.gemm.bm) *
                   ((cols + tile_cols * spec.gemm.row_tiles - 1) / (tile_cols * spec.gemm.row_tiles))
             : 0;  // a CTA's row_tiles tiles of a row epilogue as one
    if (gemm && spec.gemm.a_rows > 0 && rows > spec.gemm.a_rows) {  // its classes and the planner keep it so
      return absl::InternalError(absl::StrCat("GEMM config ", spec.gemm.ToString(), " takes at most ", spec.gemm.a_rows,
                                              " rows; this run has ", rows));
    }
    if (reduce && rows * std::max<int64_t>(cols, 1) == 0) continue;
    // A batched GEMM's batches are grid y, at most 65535 (CUDA's limit).
    const int64_t batches = gemm ? k.plan.batches.Eval(syms) : 1;
    const int64_t b_batches = spec.b_shared ? 1 : batches;  // the batches B's map spans
    if (batches > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("matmul '", graph_.node(k.plan.tile_node).name, "': ", batches,
                                                     " batches exceed the 65535 one launch takes"));
    }
    if (!spec.is_pointwise() && !gemm && !reduce && !RowCovers(spec.row, vec, cols)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tile kernel '", graph_.node(k.plan.tile_node >= 0 ? k.plan.tile_node : k.plan.nodes.back()).name,
          "': rows of ", cols,
          " elements exceed the ", RowCapacity(spec.row, vec), " it was compiled for"));
    }
    // The vector path needs 16-byte aligned full/inner operands and outputs, inner sizes
    // (and rows of tile kernels) that are whole vectors; anything else takes the scalar path.
    bool vector_ok = spec.is_pointwise() || cols % vec == 0;
    if (gemm) {
      // 16-byte chunks along K (A, and B read as [N, K]) and along N (B, C).
      // fp8 operands: rows of whole 16-byte chunks for TMA.
      vector_ok &= depth % (f8 ? 16 : 8) == 0 && cols % 8 == 0;
      // A batched GEMM's N-major B map runs on into the next batch's rows of k: a k-tile
      // past K would read them, so a K of part tiles takes the hooks (which stop at K).
      if (spec.batched && !spec.b_shared && spec.gemm.wgmma && GemmNMajorB(spec)) vector_ok &= depth % 64 == 0;
      for (int op : {spec.a_async, spec.b_async, spec.b2_async}) {
        if (op >= 0) vector_ok &= operand_address(k, op) % 16 == 0;
      }
    }
    for (size_t i = 0; i < k.plan.operands.size(); ++i) {
      const Access a = spec.operands[i].access;
      if (a != Access::kFull && a != Access::kInner) continue;
      vector_ok &= operand_address(k, i) % 16 == 0;
      if (a == Access::kInner) vector_ok &= k.plan.operands[i].inner.Eval(syms) % vec == 0;
    }
    for (const OutputBinding& o : k.plan.outputs) vector_ok &= address(o.buffer) % 16 == 0;
    if (layout.size() > static_cast<size_t>(kMaxParamWords)) {
      return absl::InternalError("kernel parameter block too large (Compile checks it)");
    }
    CUdeviceptr split_parts = 0, split_counts = 0;
    if (gemm && spec.gemm.split_k > 1 && !GemmClusterSplit(spec)) {
      if (caller == nullptr) {
        TF_RETURN_IF_ERROR(PrepareSplitK(st, ki, stream, spec.gemm, gemm_tiles));
        split_parts = ks.split_parts;
        split_counts = ks.split_counts;
      } else {
        // The caller's memory holds anything between runs: the counters start at zero.
        split_parts = scratch + st.split_offsets[ki].first;
        split_counts = scratch + st.split_offsets[ki].second;
        TF_RETURN_IF_ERROR(cu->Check(cu->cuMemsetD8Async(split_counts, 0, static_cast<size_t>(gemm_tiles) * 4, stream),
                                     "cuMemsetD8Async(split-K counters)"));
      }
    }
    size_t w = 0;
    for (const ParamField& f : layout) {
      uint64_t v = 0;
      switch (f.kind) {
        case ParamField::kOperandPtr: v = operand_address(k, f.index); break;
        case ParamField::kOutputPtr: v = address(k.plan.outputs[f.index].buffer); break;
        case ParamField::kNumel: v = static_cast<uint64_t>(n); break;
        case ParamField::kVectorOk: v = vector_ok ? 1 : 0; break;
        case ParamField::kInner: v = k.plan.operands[f.index].inner.Eval(syms); break;
        case ParamField::kDim: v = k.plan.operands[f.index].dims[f.dim].Eval(syms); break;
        case ParamField::kStride: v = k.plan.operands[f.index].strides[f.dim].Eval(syms); break;
        case ParamField::kRows: v = static_cast<uint64_t>(rows); break;
        case ParamField::kCols: v = static_cast<uint64_t>(cols); break;
        case ParamField::kEps: std::memcpy(&v, &spec.eps, sizeof(double)); break;
        case ParamField::kDepth: v = static_cast<uint64_t>(depth); break;
        case ParamField::kRedCount: v = static_cast<uint64_t>(k.plan.red_count.Eval(syms)); break;
        case ParamField::kPartial: v = address(k.plan.partial); break;
        case ParamField::kSplitK: v = split_parts; break;
        case ParamField::kSplitCount: v = split_counts; break;
      }
      words[w++] = v;
    }
    // The Hopper GEMM reads A and B through tensor maps: boxes of 128 bytes of K (64
    // elements, 128 of fp8) by the tile's rows (A) or columns (B), K-major, 128-byte
    // swizzled (kernels/gemm_sm90.cuh). The skinny kernel's TMA form reads x in boxes of 64
    // k by 16 rows and the raw weight in boxes of 128 bytes by its tile's columns
    // (kernels/gemm_skinny.cuh SkinnyTma). Unused maps stay zero; the kernels take their
    // hook or register paths whenever vector_ok is unset.
    // (the GEMM's launch form: its B map's box and its grid)
    const GemmLaunch launch = gemm ? GemmLaunchOf(spec) : GemmLaunch{};
    CUtensorMap maps[3];
    std::memset(maps, 0, sizeof(maps));
    const auto encode = [&](RunState::TensorMapCache& cached, CUtensorMap* map, CUtensorMapDataType type,
                            int elem_bytes, uint64_t address, int64_t inner, int64_t outer, int box_inner,
                            int box_rows) -> absl::Status {
      if (cached.address == address && cached.depth == inner && cached.outer == outer &&
          cached.box_inner == box_inner && cached.box == box_rows) {
        *map = cached.map;
        return absl::OkStatus();
      }
      cached.address = 0;  // invalid until the encode succeeds
      const cuuint64_t dims[2] = {static_cast<cuuint64_t>(inner), static_cast<cuuint64_t>(outer)};
      const cuuint64_t strides[1] = {static_cast<cuuint64_t>(inner) * elem_bytes};
      const cuuint32_t box[2] = {static_cast<cuuint32_t>(box_inner), static_cast<cuuint32_t>(box_rows)};
      const cuuint32_t element_strides[2] = {1, 1};
      TF_RETURN_IF_ERROR(cu->Check(cu->cuTensorMapEncodeTiled(
                           map, type, 2, reinterpret_cast<void*>(address), dims, strides, box,
                           element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
                       "cuTensorMapEncodeTiled"));
      cached = RunState::TensorMapCache{address, inner, outer, box_inner, box_rows, *map};
      return absl::OkStatus();
    };
    const CUtensorMapDataType half_type = !gemm || spec.tile_inputs[0].dtype != DType::kF16
                                              ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                              : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
    if (gemm && spec.gemm.wgmma && vector_ok) {
      const int elem_bytes = f8 ? 1 : 2;
      const CUtensorMapDataType type = f8 ? CU_TENSOR_MAP_DATA_TYPE_UINT8 : half_type;
      if (spec.a_async >= 0) {
        // A batched GEMM's maps span every batch's rows ([batches * M, K], [batches * N, K]).
        TF_RETURN_IF_ERROR(encode(ks.maps[0], &maps[0], type, elem_bytes, operand_address(k, spec.a_async), depth,
                                  rows * batches, 128 / elem_bytes, spec.gemm.ARows()));
      }
      // A dual GEMM's tile takes bn / 2 rows of each B.
      if (GemmNMajorB(spec)) {
        // A row-major [K, N] B (every batch's K rows): boxes of 64 columns by a k-tile's rows.
        TF_RETURN_IF_ERROR(encode(ks.maps[1], &maps[1], type, elem_bytes, operand_address(k, spec.b_async), cols,
                                  depth * b_batches, 64, 64));
      } else {
        // Ping-pong CTAs sharing B tiles copy half a tile each (GemmConfig::multicast).
        TF_RETURN_IF_ERROR(encode(ks.maps[1], &maps[1], type, elem_bytes, operand_address(k, spec.b_async), depth,
                                  cols * b_batches, 128 / elem_bytes,
                                  static_cast<int>(tile_cols / launch.multicast)));
      }
      if (spec.dual) {
        TF_RETURN_IF_ERROR(encode(ks.maps[2], &maps[2], type, elem_bytes, operand_address(k, spec.b2_async), depth,
                                  cols, 128 / elem_bytes, static_cast<int>(tile_cols)));
      }
    } else if (gemm && vector_ok && spec.gemm.skinny) {
      // The TMA form, where the kernel's own test of its weight rows holds (gemm_skinny.cuh
      // gemm_skinny_kernel).
      const WeightRead w = SkinnyTmaWeightRead(spec);
      if (w.format != 0 && depth % (w.format == 2 ? 32 : 16) == 0) {
        TF_RETURN_IF_ERROR(
            encode(ks.maps[0], &maps[0], half_type, 2, operand_address(k, spec.a_async), depth, rows, 64, 16));
        TF_RETURN_IF_ERROR(encode(ks.maps[1], &maps[1], CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, operand_address(k, w.q),
                                  w.format == 2 ? depth / 2 : depth, cols, 128, spec.gemm.bn));
      }
    }
    unsigned blocks, threads, smem = 0;
    if (reduce) {
      threads = kReduceThreads;
      const bool wide = depth == 1 && cols >= kReduceWideCols;  // a CTA per output (reduce.cuh)
      blocks = static_cast<unsigned>(wide ? rows : (rows + kReduceThreads / 32 - 1) / (kReduceThreads / 32));
    } else if (gemm) {
      threads = launch.threads;
      // The ping-pong kernel is persistent: a CTA per SM walks the tiles (or a cluster of
      // launch.multicast CTAs per that many SMs, pairs of tiles).
      const int64_t mc = launch.multicast;
      blocks = static_cast<unsigned>(
          launch.pingpong ? mc * std::max<int64_t>(1, std::min<int64_t>((gemm_tiles + mc - 1) / mc, sm_count_ / mc))
                          : gemm_tiles * spec.gemm.split_k);
      smem = launch.smem;
    } else if (spec.is_pointwise()) {
      const int64_t items = vector_ok ? (n + vec - 1) / vec : n;
      const int64_t max_blocks = static_cast<int64_t>(sm_count_) * 32;
      threads = kPointwiseThreads;
      blocks = static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((items + threads - 1) / threads, max_blocks)));
    } else {
      const int64_t rows_per_cta = int64_t{spec.row.threads / spec.row.row_threads} * spec.row.loop;
      threads = spec.row.threads;
      blocks = static_cast<unsigned>((rows + rows_per_cta - 1) / rows_per_cta);
    }
    void* params[] = {words, &maps[0], &maps[1], &maps[2]};  // pointwise and row kernels take the first
    // After the run's first kernel, overlapped (CompileOptions::overlap_launches): a kernel
    // is launched while the one before finishes, and waits in its code for its results. The
    // first waits for the caller's work as any launch does.
    CUlaunchAttribute overlap;
    overlap.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    overlap.value.programmaticStreamSerializationAllowed = 1;
    CUlaunchConfig config{};
    config.gridDimX = blocks;
    config.gridDimY = static_cast<unsigned>(batches);
    config.gridDimZ = 1;
    config.blockDimX = threads;
    config.blockDimY = config.blockDimZ = 1;
    config.sharedMemBytes = smem;
    config.hStream = stream;
    config.attrs = &overlap;
    config.numAttrs = overlap_ && launched_before ? 1 : 0;
    launched_before = true;
    // The message is built only on failure: Run allocates nothing on its steady path.
    const CUresult launched = cu->cuLaunchKernelEx(&config, cls != nullptr ? cls->function : k.function, params, nullptr);
    if (launched != CUDA_SUCCESS) {
      return cu->Check(launched, absl::StrCat("cuLaunchKernelEx(", (cls != nullptr ? cls->compiled : k.compiled)->entry_name(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status Plan::RunDLPack(CUstream stream, absl::Span<const DLTensor* const> inputs,
                             absl::Span<const DLTensor* const> outputs) {
  constexpr size_t kMax = 64;
  if (inputs.size() > kMax || outputs.size() > kMax) {
    return absl::InvalidArgumentError(absl::StrCat("RunDLPack takes at most ", kMax,
                                                   " inputs and outputs"));
  }
  TensorArg in[kMax], out[kMax];
  // Each refusal names the tensor: its place and the graph's name for it.
  const auto convert = [&](const DLTensor* t, bool input, size_t i, TensorArg& arg) -> absl::Status {
    const absl::Span<const int> ids = input ? graph_.inputs() : graph_.outputs();
    const std::string what = absl::StrCat(input ? "input " : "output ", i,
                                          i < ids.size() ? absl::StrCat(" ('", graph_.node(ids[i]).name, "')") : "");
    if (t == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is null"));
    auto a = FromDLTensor(*t);
    if (!a.ok()) return absl::Status(a.status().code(), absl::StrCat(what, ": ", a.status().message()));
    arg = *a;
    return absl::OkStatus();
  };
  for (size_t i = 0; i < inputs.size(); ++i) TF_RETURN_IF_ERROR(convert(inputs[i], true, i, in[i]));
  for (size_t i = 0; i < outputs.size(); ++i) TF_RETURN_IF_ERROR(convert(outputs[i], false, i, out[i]));
  for (size_t i = 0; i < inputs.size() + outputs.size(); ++i) {
    const DLTensor& t = i < inputs.size() ? *inputs[i] : *outputs[i - inputs.size()];
    if (t.device.device_type == kDLCUDA && t.device.device_id != device_) {
      return absl::InvalidArgumentError(absl::StrCat(
          i < inputs.size() ? "input " : "output ", i < inputs.size() ? i : i - inputs.size(), " is on cuda:",
          t.device.device_id, " but plan '", graph_.name(), "' runs on device ", device_));
    }
  }
  return Run(stream, absl::MakeConstSpan(in, inputs.size()), absl::MakeConstSpan(out, outputs.size()));
}

}  // namespace tilefuse::internal
