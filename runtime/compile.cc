// Compile: plan -> specs -> source -> NVRTC -> cache, one stage after another.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/generate.h"
#include "codegen/params.h"
#include "codegen/signature.h"
#include "codegen/source.h"
#include "runtime/autotune.h"
#include "runtime/cuda/driver.h"
#include "runtime/cuda/nvrtc.h"
#include "runtime/fusion/planner.h"
#include "runtime/fusion/reduction.h"
#include "runtime/fusion/tile_config.h"
#include "runtime/graph/read_file.h"
#include "runtime/log.h"
#include "runtime/manifest.h"
#include "runtime/plan.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

// The default dump folder: one per user under $TMPDIR (or /tmp), which OpenPrivateDir
// creates 0700 and refuses when another user made it first.
std::string DumpDir(const CompileOptions& o) {
  if (!o.dump_dir.empty()) return o.dump_dir;
  const char* tmp = std::getenv("TMPDIR");
  return absl::StrCat(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp", "/tilefuse-dump-", ::geteuid());
}

// Writes `text` to dir/name: the folder must be this user's own, and the file is created
// anew (O_EXCL | O_NOFOLLOW after removing an earlier dump), so that a link planted there
// cannot redirect the write. Returns the path, or a note on why it could not.
std::string WriteDump(const std::string& dir, const std::string& name, const std::string& text) {
  absl::StatusOr<ScopedFd> dir_fd = OpenPrivateDir(dir, /*follow_links=*/false, "dump folder");
  if (!dir_fd.ok()) return absl::StrCat("(not written: ", dir_fd.status().message(), ")");
  ::unlinkat(dir_fd->get(), name.c_str(), 0);
  const ScopedFd fd(::openat(dir_fd->get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  const std::string path = absl::StrCat(dir, "/", name);
  if (fd.get() < 0) return absl::StrCat("(could not create ", path, ": ", std::strerror(errno), ")");
  return WriteAll(fd.get(), text) ? path : absl::StrCat("(could not write ", path, ")");
}

// Where every kernel is dumped: CompileOptions::dump_dir, else $TILEFUSE_DUMP_DIR; empty
// for none.
std::string RequestedDumpDir(const CompileOptions& o) {
  if (!o.dump_dir.empty()) return o.dump_dir;
  const char* env = std::getenv("TILEFUSE_DUMP_DIR");
  return env != nullptr ? env : "";
}

// Appends `line` to dir/index.txt (this user's folder, no links followed); lines of
// concurrent compiles never interleave (one write each, O_APPEND).
void AppendDumpIndex(const std::string& dir, const std::string& line) {
  absl::StatusOr<ScopedFd> dir_fd = OpenPrivateDir(dir, /*follow_links=*/false, "dump folder");
  if (!dir_fd.ok()) return;
  const ScopedFd fd(::openat(dir_fd->get(), "index.txt", O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() >= 0) WriteAll(fd.get(), line);
}

// A kernel's dump, written whether NVRTC built it now or a cache held it: its source, its
// PTX (NVRTC runs again for it: a debugging path), its cubin, its signature, and a line of
// index.txt naming the graph, the kernel and its class.
void DumpKernel(const std::string& dir, const KernelSpec& spec, const Signature& sig, const CompiledKernel& k,
                const NvrtcOptions& nvrtc, const std::string& graph, int kernel, const std::string& shape_class,
                const std::string& summary) {
  const std::string& entry = k.entry_name();
  auto source = GenerateSource(spec, entry);
  if (source.ok()) {
    WriteDump(dir, entry + ".cu", *source);
    auto ptx = CompileToPtx(*source, entry + ".cu", nvrtc);
    if (ptx.ok()) {
      WriteDump(dir, entry + ".ptx", *ptx);
    } else {
      Log(LogLevel::kWarning, absl::StrCat("no PTX dumped for ", entry, ": ", ptx.status().message()));
    }
  }
  WriteDump(dir, entry + ".cubin", k.cubin());
  WriteDump(dir, entry + ".sig", sig.text);
  AppendDumpIndex(dir, absl::StrCat(entry, "\tgraph '", graph, "' kernel ", kernel,
                                    shape_class.empty() ? "" : absl::StrCat(" class ", shape_class), "\t", summary,
                                    "\n"));
}

absl::StatusOr<KernelCache::Built> BuildKernel(const KernelSpec& spec, const Signature& sig,
                                              const NvrtcOptions& nvrtc,
                                              const CompileOptions& options) {
  const std::string entry = sig.EntryName();
  TF_ASSIGN_OR_RETURN(std::string source, GenerateSource(spec, entry));
  auto cubin = CompileToCubin(source, entry + ".cu", nvrtc);
  if (cubin.ok() && !cubin->log.empty()) {
    Log(LogLevel::kWarning, absl::StrCat("NVRTC's log for ", entry, ":\n", cubin->log));
  }
  if (!cubin.ok()) {
    const std::string path = WriteDump(DumpDir(options), entry + ".cu", source);
    return absl::Status(cubin.status().code(),
                        absl::StrCat(cubin.status().message(), "\nsource written to ", path));
  }
  return KernelCache::Built{std::move(cubin->cubin), entry, cubin->compile_ms};
}

// wgmma and setmaxnreg exist only for the arch-specific target (sm_90a).
NvrtcOptions NvrtcFor(const KernelSpec& spec, NvrtcOptions base) {
  if (spec.gemm.wgmma && spec.tile == "matmul") base.arch += "a";
  return base;
}

// Tuning records live beside the disk cache's binaries unless a path is given.
std::string TuningPathOf(const CompileOptions& o) {
  if (!o.tuning_path.empty() || o.disk_cache == nullptr || !o.disk_cache->enabled()) return o.tuning_path;
  return absl::StrCat(o.disk_cache->dir(), "/tuning.json");
}

// The tuning records of one Compile: read at first use, written once if anything was tuned.
class TuningFile {
 public:
  explicit TuningFile(std::string path) : path_(std::move(path)) {}
  bool enabled() const { return !path_.empty(); }
  // `decisions` receives what was wrong with the file (once).
  absl::StatusOr<TuningRecords*> Records(std::vector<std::string>& decisions) {
    if (!records_) {
      TF_ASSIGN_OR_RETURN(records_, TuningRecords::Load(path_));
      for (const std::string& p : records_->problems()) decisions.push_back(absl::StrCat("tuning: ", p));
    }
    return &*records_;
  }
  void Put(const std::string& key, const TuningRecord& r) {
    records_->Put(key, r);
    dirty_ = true;
  }
  absl::Status Save() const { return dirty_ ? records_->Save(path_) : absl::OkStatus(); }

 private:
  const std::string path_;
  std::optional<TuningRecords> records_;
  bool dirty_ = false;
};

// 90 for "sm_90" or "sm_90a", 100 for "sm_100"; 0 for anything else.
int ArchVersion(const std::string& arch) {
  int version = 0;
  if (!absl::StartsWith(arch, "sm_")) return 0;
  for (size_t i = 3; i < arch.size() && absl::ascii_isdigit(arch[i]); ++i) version = version * 10 + (arch[i] - '0');
  return version;
}

// The tuner's candidates for a GEMM at M <= max_m (GemmClassCandidates), less 16-row A
// stages where the GEMM cannot take them.
std::vector<GemmConfig> ClassCandidates(const KernelSpec& spec, int64_t max_m, int64_t n, int64_t depth, int sms) {
  std::vector<GemmConfig> c = GemmClassCandidates(max_m, n, depth, GemmWgmmaCapable(spec), sms);
  if (!GemmA16Capable(spec)) {
    c.erase(std::remove_if(c.begin(), c.end(), [](const GemmConfig& g) { return g.a_rows > 0; }), c.end());
  }
  return c;
}

// The config recorded under `key`, else one tuned now (with `autotune` and a device: every
// candidate timed on the plain GEMM at M = m_size), else nullopt. `what` names the kernel
// or class in the decisions.
absl::StatusOr<std::optional<GemmConfig>> RecordedOrTuned(const Graph& graph, const CompileOptions& options,
                                                          const std::string& arch, const KernelPlan& k,
                                                          const std::string& key, int64_t m_size,
                                                          absl::Span<const GemmConfig> candidates,
                                                          const std::string& what, FusionPlan& plan,
                                                          TuningFile& tuning) {
  TF_ASSIGN_OR_RETURN(TuningRecords* records, tuning.Records(plan.decisions));
  // (a record of 16-row A stages serves only a GEMM that may take them, at M <= 16)
  const Dim& m = graph.node(k.tile_node).shape[0];
  const int64_t rows = m.is_static() ? m.value : m_size;
  if (auto r = records->Find(key); r && (!r->config.wgmma || GemmWgmmaCapable(k.spec)) &&
                                   (r->config.a_rows == 0 || (GemmA16Capable(k.spec) && rows <= r->config.a_rows))) {
    plan.decisions.push_back(
        absl::StrCat("tuned: ", what, " uses ", r->config.ToString(), " (recorded, ", r->us, " us)"));
    return r->config;
  }
  if (!options.autotune || !GetDeviceInfo(options.device).ok()) return std::nullopt;
  TF_ASSIGN_OR_RETURN(std::vector<TuningTrial> trials,
                      TuneGemm(graph, k.tile_node, k.spec, arch, options.device, m_size, candidates));
  tuning.Put(key, TuningRecord{trials[0].config, trials[0].us});
  std::string next;  // every runner-up, so that a log shows how close the choice was
  for (size_t i = 1; i < trials.size(); ++i) {
    absl::StrAppend(&next, i == 1 ? "; then " : ", ", trials[i].config.ToString(), " ", trials[i].us, " us");
  }
  plan.decisions.push_back(absl::StrCat("tuned: ", what, " uses ", trials[0].config.ToString(), " (", trials[0].us,
                                        " us, best of ", trials.size(), " on the plain GEMM at M = ", m_size, next,
                                        ")"));
  return trials[0].config;
}

// Sets each GEMM's tile config: forced, recorded, tuned now, or the default (kept); then
// the shape classes of a symbolic M, each recorded or tuned on its own where tuning is on.
absl::Status ChooseGemmConfigs(const Graph& graph, const CompileOptions& options, const std::string& arch,
                               int sms, FusionPlan& plan, TuningFile& tuning) {
  std::vector<KernelPlan*> classed;  // GEMMs not forced: shape classes where M is symbolic
  for (KernelPlan& k : plan.kernels) {
    if (k.spec.tile != "matmul") continue;
    // A persistent store-site reduction needs a tile that covers its axis: such a GEMM
    // keeps the planned config.
    if (k.spec.reduce.op >= 0 && !k.spec.reduce.split) continue;
    if (!k.spec.stages.empty()) continue;  // a row epilogue: likewise, its tile covers the rows
    if (k.spec.batched) continue;          // the planner's mma.sync config (BatchedGemmConfig)
    if (options.gemm_config) {
      TF_RETURN_IF_ERROR(ValidateGemmConfig(*options.gemm_config));
      // The mma.sync kernel runs any GEMM; the Hopper kernel those whose B TMA can read.
      const GemmConfig& c = *options.gemm_config;
      if (c.skinny) {
        // The skinny kernel computes 16 rows: it serves M <= 16 (a class of its own when M
        // is symbolic) of a B computed over [N, K].
        const Dim& m = graph.node(k.tile_node).shape[0];
        if (k.spec.b_layout != GemmBLayout::kHookNK || k.spec.reduce.op >= 0 || !k.spec.stages.empty()) continue;
        if (m.is_static() && m.value <= 16) k.spec.gemm = c;
        if (!m.is_static()) k.classes = {ShapeClass{16, c}};
      } else if (c.a_rows > 0) {
        // A stages of 16 rows (the Hopper kernel at M <= 16): likewise M <= 16 only.
        const Dim& m = graph.node(k.tile_node).shape[0];
        if (!GemmA16Capable(k.spec)) continue;
        if (m.is_static() && m.value <= 16) k.spec.gemm = c;
        if (!m.is_static()) k.classes = {ShapeClass{16, c}};
      } else if (!c.wgmma || GemmWgmmaCapable(k.spec)) {
        k.spec.gemm = c;
      }
      continue;
    }
    classed.push_back(&k);
    if (!tuning.enabled() || !GemmTunable(k.spec)) continue;
    // A static M within the class bounds is tuned among its class's candidates.
    const Dim& m = graph.node(k.tile_node).shape[0];
    const int64_t n = k.cols.is_static() ? k.cols.constant * (k.spec.dual ? 2 : 1) : 0;
    const int64_t depth = k.depth.is_static() ? k.depth.constant : 0;
    std::vector<GemmConfig> candidates;
    if (m.is_static() && m.value <= kDefaultMClasses[std::size(kDefaultMClasses) - 1]) {
      candidates = ClassCandidates(k.spec, m.value, n, depth, sms);
    }
    TF_ASSIGN_OR_RETURN(std::optional<GemmConfig> tuned,
                        RecordedOrTuned(graph, options, arch, k, GemmTuningKey(graph, k.tile_node, k.spec, arch),
                                        options.tune_m, candidates,
                                        absl::StrCat("'", graph.node(k.tile_node).name, "'"), plan, tuning));
    if (tuned) k.spec.gemm = *tuned;
  }
  // Split-K is kept to GEMMs without a store-site reduction (whose tile must see the
  // finished values), the combinations the GPU tests cover.
  for (KernelPlan& k : plan.kernels) {
    if (k.spec.tile == "matmul" && (k.spec.reduce.op >= 0 || !k.spec.stages.empty())) k.spec.gemm.split_k = 1;
  }
  for (KernelPlan* k : classed) {
    k->classes = GemmShapeClasses(*k, options.m_classes, sms);
    if (k->classes.empty()) continue;
    const std::string name = graph.node(k->tile_node).name;
    if (tuning.enabled() && GemmTunable(k->spec)) {
      const int64_t n = k->cols.is_static() ? k->cols.constant * (k->spec.dual ? 2 : 1) : 0;
      const int64_t depth = k->depth.is_static() ? k->depth.constant : 0;
      for (ShapeClass& c : k->classes) {
        TF_ASSIGN_OR_RETURN(
            std::optional<GemmConfig> tuned,
            RecordedOrTuned(graph, options, arch, *k, GemmTuningKey(graph, k->tile_node, k->spec, arch, c.max_m),
                            c.max_m, ClassCandidates(k->spec, c.max_m, n, depth, sms),
                            absl::StrCat("'", name, "' class M <= ", c.max_m), plan, tuning));
        if (tuned) c.gemm = *tuned;
      }
      // Neighbours that came out the same share a binary; the last ones may be the kernel's.
      std::vector<ShapeClass> merged;
      for (const ShapeClass& c : k->classes) {
        if (!merged.empty() && merged.back().gemm.ToString() == c.gemm.ToString()) {
          merged.back().max_m = c.max_m;
        } else {
          merged.push_back(c);
        }
      }
      while (!merged.empty() && merged.back().gemm.ToString() == k->spec.gemm.ToString()) merged.pop_back();
      k->classes = std::move(merged);
      if (k->classes.empty()) continue;
    }
    std::string text;
    for (const ShapeClass& c : k->classes) absl::StrAppend(&text, "M <= ", c.max_m, ": ", c.gemm.ToString(), "; ");
    plan.decisions.push_back(absl::StrCat("classes: '", name, "' ", text, "larger M: ", k->spec.gemm.ToString()));
  }
  return absl::OkStatus();
}

// Built-in row tiles and generated row kernels: tuned over the same row configs.
bool IsBuiltinRowwise(const KernelSpec& s) {
  return s.custom == nullptr &&
         (s.tile == "rms_norm" || s.tile == "layer_norm" || s.tile == "softmax" || s.tile == "row");
}

// Whether kernel `spec` can take config `c`'s form: only generated row kernels walk rows in
// chunks (the built-in tiles hold theirs).
bool RowFormFits(const RowConfig& c, const KernelSpec& spec) { return !c.chunked || spec.tile == "row"; }

// Sets each row-wise kernel's launch config: forced, recorded, tuned now (when it is the
// graph's only row-wise kernel and its width is static), or the planner's (kept).
absl::Status ChooseRowConfigs(const Graph& graph, const CompileOptions& options, const std::string& arch,
                              FusionPlan& plan, TuningFile& tuning) {
  const int rowwise = static_cast<int>(std::count_if(plan.kernels.begin(), plan.kernels.end(),
                                                     [](const KernelPlan& k) { return IsBuiltinRowwise(k.spec); }));
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    KernelPlan& k = plan.kernels[i];
    if (!IsBuiltinRowwise(k.spec)) continue;
    const std::string name = graph.node(k.tile_node >= 0 ? k.tile_node : k.nodes.back()).name;
    if (options.row_config) {
      const RowConfig& c = *options.row_config;
      const int64_t width = k.cols.is_static() ? k.cols.constant : kMaxRowWidth;
      if (c.row_threads < 32 || c.threads % c.row_threads != 0 || c.loop < 1 || !RowCovers(c, k.spec.Vec(), width)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "row config ", c.ToString(), " cannot run '", name, "': it covers ", RowCapacity(c, k.spec.Vec()),
            " columns of ", width, " (and needs at least 32 threads per row and a loop of at least 1)"));
      }
      if (!RowFormFits(c, k.spec)) {
        return absl::InvalidArgumentError(absl::StrCat("row config ", c.ToString(), " cannot run '", name,
                                                       "': only generated row kernels walk rows in chunks, not ",
                                                       k.spec.tile));
      }
      k.spec.row = c;
      continue;
    }
    if (!tuning.enabled()) continue;
    TF_ASSIGN_OR_RETURN(TuningRecords* records, tuning.Records(plan.decisions));
    const std::string key = RowTuningKey(k.spec, arch);
    const int64_t width = k.cols.is_static() ? k.cols.constant : kMaxRowWidth;
    if (auto r = records->Find(key);
        r && r->row && RowCovers(*r->row, k.spec.Vec(), width) && RowFormFits(*r->row, k.spec)) {
      k.spec.row = *r->row;
      plan.decisions.push_back(absl::StrCat("tuned: '", name, "' uses row config ", r->row->ToString(),
                                            " (recorded, ", r->us, " us)"));
      continue;
    }
    if (!options.autotune || rowwise != 1 || !k.cols.is_static() || !GetDeviceInfo(options.device).ok()) continue;
    TF_ASSIGN_OR_RETURN(std::vector<RowTrial> trials,
                        TuneRowwise(graph, static_cast<int>(i), k.spec, k.cols.constant, options, arch, options.device,
                                    options.tune_m));
    tuning.Put(key, TuningRecord{GemmConfig{}, trials[0].us, trials[0].config});
    k.spec.row = trials[0].config;
    plan.decisions.push_back(absl::StrCat("tuned: '", name, "' uses row config ", trials[0].config.ToString(), " (",
                                          trials[0].us, " us, best of ", trials.size(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Plan> Compile(const Graph& graph, const CompileOptions& options) {
  if (graph.symbols().size() > static_cast<size_t>(kMaxSymbols)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph '", graph.name(), "' has ", graph.symbols().size(), " symbols (at most ", kMaxSymbols, ")"));
  }
  Plan plan;
  plan.graph_ = graph;
  plan.device_ = options.device;
  plan.context_ = options.context;
  plan.arch_ = options.arch;
  if (plan.arch_.empty()) {
    auto arch = DeviceArch(options.device);
    plan.arch_ = arch.ok() ? *arch : "sm_90";
  }
  // Overlapped launches need the kernels' grid_dependency_wait, which sm_90 on compiles.
  plan.overlap_ = options.overlap_launches && ArchVersion(plan.arch_) >= 90;
  plan.check_only_ = options.check_only;
  int sms = options.sm_count;
  if (sms <= 0) {
    auto device_sms = DeviceSmCount(options.device);
    sms = device_sms.ok() && *device_sms > 0 ? *device_sms : kDefaultSmCount;
  }
  TF_ASSIGN_OR_RETURN(plan.fusion_, PlanFusion(graph, PlanOptions{options.fuse, plan.arch_, sms, options.gemm_row_epilogues,
                                                                         options.norm_prologues, options.wide_row_epilogues}));
  TuningFile tuning(TuningPathOf(options));
  TF_RETURN_IF_ERROR(ChooseGemmConfigs(graph, options, plan.arch_, sms, plan.fusion_, tuning));
  TF_RETURN_IF_ERROR(ChooseRowConfigs(graph, options, plan.arch_, plan.fusion_, tuning));
  TF_RETURN_IF_ERROR(tuning.Save());
  for (const std::string& d : plan.fusion_.decisions) {  // what was tuned now, for the engine's log
    if (d.rfind("tuned:", 0) == 0 && d.find("(recorded") == std::string::npos) {
      Log(LogLevel::kInfo, absl::StrCat("graph '", graph.name(), "': ", d));
    }
  }
  BindSplitReductions(plan.fusion_);
  KernelCache* cache = options.cache;
  if (cache == nullptr) {
    plan.own_cache_ = std::make_unique<KernelCache>();
    cache = plan.own_cache_.get();
  }
  NvrtcOptions nvrtc;
  nvrtc.arch = plan.arch_;
  // $TILEFUSE_LINEINFO (set, not "0"): source lines in the binaries for profilers and
  // compute-sanitizer; a signature of its own, so such binaries never mix with the others.
  if (const char* li = std::getenv("TILEFUSE_LINEINFO"); li != nullptr && *li != '\0' && std::string(li) != "0") {
    nvrtc.extra_options.push_back("-lineinfo");
  }
  // Part of each signature, so that a check's stub never serves a real plan from a cache.
  if (options.check_only) nvrtc.extra_options.push_back("-fdevice-syntax-only");
  // What NVRTC builds: each kernel, and each shape class of a GEMM (a spec with the class's
  // config). Each signature covers the template files its spec is built from.
  struct Job {
    size_t kernel;
    int cls;  // -1: the kernel itself
    KernelSpec spec;
    SignatureContext context;
  };
  std::vector<Job> jobs;
  std::map<std::vector<std::string>, uint64_t> template_hashes;
  for (size_t i = 0; i < plan.fusion_.kernels.size(); ++i) {
    const KernelPlan& k = plan.fusion_.kernels[i];
    if (const size_t words = ParamLayout(k.spec).size(); words > static_cast<size_t>(kMaxParamWords)) {
      const bool cut = k.summary.size() > 160;
      return absl::InvalidArgumentError(absl::StrCat(
          "kernel ", i, " (", absl::string_view(k.summary).substr(0, 160), cut ? "..." : "", "): its parameters take ",
          words, " 8-byte fields (at most ", kMaxParamWords, ", the 4 KiB a CUDA launch passes); it reads ",
          k.spec.operands.size(), " tensors: split the graph"));
    }
    for (int c = -1; c < static_cast<int>(k.classes.size()); ++c) {
      KernelSpec spec = k.spec;
      if (c >= 0) spec.gemm = k.classes[c].gemm;
      TF_ASSIGN_OR_RETURN(std::vector<std::string> files, TemplateFilesFor(spec));
      if (!template_hashes.count(files)) {
        TF_ASSIGN_OR_RETURN(std::string text, TemplateText(files));
        template_hashes[files] = StableHash(text);
      }
      SignatureContext context{plan.arch_, NvrtcVersionString(), NvrtcCommandLine(NvrtcFor(spec, nvrtc)),
                               template_hashes[files]};
      jobs.push_back(Job{i, c, std::move(spec), std::move(context)});
    }
  }

  const size_t n = jobs.size();
  const std::string dump_dir = options.check_only ? "" : RequestedDumpDir(options);
  plan.kernels_.resize(plan.fusion_.kernels.size());
  for (size_t i = 0; i < plan.kernels_.size(); ++i) plan.kernels_[i].classes.resize(plan.fusion_.kernels[i].classes.size());
  plan.reports_.resize(n);
  std::vector<absl::Status> status(n);
  const auto compile_one = [&](size_t j) {
    const Job& job = jobs[j];
    const KernelPlan& k = plan.fusion_.kernels[job.kernel];
    const KernelSpec& spec = job.spec;
    const Signature sig = MakeSignature(SpecText(spec), job.context);
    bool hit = false, disk_hit = false;
    std::string store_error;
    auto compiled = cache->GetOrBuild(sig.text, [&]() -> absl::StatusOr<KernelCache::Built> {
      if (options.disk_cache == nullptr || options.check_only) return BuildKernel(spec, sig, NvrtcFor(spec, nvrtc), options);
      DiskCache& disk = *options.disk_cache;
      const DiskCacheKey key{sig.text, sig.hash, job.context.arch, job.context.nvrtc_version,
                             absl::StrJoin(job.context.options, " "), job.context.template_hash};
      const auto load = [&]() -> std::optional<KernelCache::Built> {
        auto h = disk.Load(key);
        if (!h) return std::nullopt;
        disk_hit = true;
        return KernelCache::Built{std::move(h->cubin), std::move(h->entry_name), 0.0};
      };
      if (auto b = load()) return *std::move(b);
      // Another process compiling the same kernel holds the lock: wait, then load its entry.
      const DiskCache::EntryLock lock = disk.Lock(sig.hash);
      if (lock.held()) {
        if (auto b = load()) return *std::move(b);
      }
      auto built = BuildKernel(spec, sig, NvrtcFor(spec, nvrtc), options);
      // The kernel serves from memory either way; the report says that it was not stored.
      if (built.ok()) {
        const absl::Status stored = disk.Store(key, built->entry_name, built->cubin);
        if (!stored.ok()) store_error = std::string(stored.message());
      }
      return built;
    }, &hit);
    const std::string shape_class = job.cls < 0 ? "" : absl::StrCat("M <= ", k.classes[job.cls].max_m);
    if (!compiled.ok()) {
      status[j] = absl::Status(compiled.status().code(),
                               absl::StrCat("kernel ", job.kernel, shape_class.empty() ? "" : " class ", shape_class,
                                            " (", k.summary, "): ", compiled.status().message()));
      return;
    }
    if (CurrentLogLevel() >= LogLevel::kInfo) {
      Log(LogLevel::kInfo, absl::StrCat("graph '", graph.name(), "' kernel ", job.kernel,
                                        shape_class.empty() ? "" : absl::StrCat(" class ", shape_class), ": ",
                                        (*compiled)->entry_name(),
                                        disk_hit ? " from the disk cache"
                                        : hit    ? " from memory"
                                                 : absl::StrCat(" compiled by NVRTC in ", (*compiled)->compile_ms(), " ms"),
                                        " (", k.summary, ")"));
    }
    if (!dump_dir.empty()) {
      DumpKernel(dump_dir, spec, sig, **compiled, nvrtc, graph.name(), static_cast<int>(job.kernel), shape_class,
                 k.summary);
    }
    Plan::Kernel& pk = plan.kernels_[job.kernel];
    if (job.cls < 0) {
      pk.plan = k;
      pk.compiled = *compiled;
      pk.layout = ParamLayout(spec);
      pk.numel = Numel(k.index_space);
    } else {
      pk.classes[job.cls] = Plan::Variant{k.classes[job.cls].max_m, spec, *compiled, ParamLayout(spec), nullptr};
    }
    plan.reports_[j] = KernelReport{(*compiled)->entry_name(), k.summary, hit || disk_hit, disk_hit,
                                    hit || disk_hit ? 0.0 : (*compiled)->compile_ms(),
                                    (*compiled)->cubin().size(), store_error, static_cast<int>(job.kernel),
                                    shape_class};
  };
  // Kernels and classes compile concurrently; the cache keeps equal signatures single-flight.
  const size_t workers = std::min<size_t>(n, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  std::atomic<size_t> next{0};
  for (size_t w = 0; w + 1 < workers; ++w) {
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) compile_one(i);
    });
  }
  for (size_t i; (i = next.fetch_add(1)) < n;) compile_one(i);
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : status) TF_RETURN_IF_ERROR(s);
  if (!options.manifest_path.empty() && !options.check_only) {
    ManifestEntry entry{graph, options.fuse, plan.arch_, TuningPathOf(options)};
    if (!std::equal(options.m_classes.begin(), options.m_classes.end(), std::begin(kDefaultMClasses),
                    std::end(kDefaultMClasses))) {
      entry.m_classes = options.m_classes;
    }
    entry.sm_count = sms;
    entry.gemm_row_epilogues = options.gemm_row_epilogues;
    entry.norm_prologues = options.norm_prologues;
    entry.wide_row_epilogues = options.wide_row_epilogues;
    TF_RETURN_IF_ERROR(AppendToManifest(options.manifest_path, entry));
  }
  return plan;
}

}  // namespace tilefuse::internal
