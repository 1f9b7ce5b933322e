#include "codegen/tile_codegen.h"

#include "absl/strings/str_cat.h"
#include "codegen/emitter.h"
#include "codegen/expr_codegen.h"
#include "codegen/glue.h"
#include "codegen/row_codegen.h"
#include "codegen/source.h"
#include "runtime/fusion/weight_read.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

// The template function of each row-wise tile kernel.
absl::StatusOr<std::string> KernelFunction(const KernelSpec& spec) {
  if (spec.custom != nullptr) return spec.custom->function;
  const std::string& tile = spec.tile;
  if (tile == "rms_norm") return std::string("tf::rms_norm_kernel");
  if (tile == "layer_norm") return std::string("tf::layer_norm_kernel");
  if (tile == "softmax") return std::string("tf::softmax_kernel");
  if (tile == "matmul") {
    if (spec.gemm.skinny) return std::string("tf::gemm_skinny_kernel");
    if (!spec.gemm.wgmma) return std::string("tf::gemm_kernel");
    return std::string(GemmLaunchOf(spec).pingpong ? "tf::gemm_sm90_pingpong_kernel" : "tf::gemm_sm90_kernel");
  }
  if (tile == "reduce") return std::string("tf::reduce_kernel");
  return absl::InternalError(absl::StrCat("codegen has no tile kernel '", tile, "'"));
}

// The GEMM operand its accumulators start from (kAccStartSite), or -1.
int AccStartOperand(const KernelSpec& spec) {
  for (size_t k = 0; k < spec.operands.size(); ++k) {
    if (spec.operands[k].site == kAccStartSite) return static_cast<int>(k);
  }
  return -1;
}

// kAccInit, and with it load_acc: W values of the accumulators' start from column n on.
void EmitAccStartHook(Emitter& e, const KernelSpec& spec) {
  const int k = AccStartOperand(spec);
  e.Line(absl::StrCat("static constexpr bool kAccInit = ", k >= 0 ? "true" : "false", ";"));
  if (k < 0) return;
  e.Line("template <int W>");
  e.Open("static __device__ __forceinline__ void load_acc(const Params& p, long long n, float (&v)[W]) {");
  // Column n: a broadcast operand the planner folds holds one value per column (or one).
  if (spec.operands[k].access == Access::kScalar) {
    e.Line(absl::StrCat("tf::load_bcast<W>(v, p.in", k, ");"));
  } else {
    e.Line(absl::StrCat("tf::load_vec<W>(v, p.in", k, " + n);"));
  }
  e.Close();
}

// The skinny kernel's packed weight read (runtime/fusion/weight_read.h): its format, the scale's
// form, and the raw weight and scale (ws_ptr: the first operand where there is none).
void EmitWeightRead(Emitter& e, const KernelSpec& spec) {
  const WeightRead w = WeightReadOf(spec);
  e.Line(absl::StrCat("static constexpr int kWeightRead = ", w.format, ", kWeightScale = ", w.scale, ";"));
  e.Line(absl::StrCat("static constexpr long long kWeightGroup = ", w.group, ", kWeightGroups = ", w.groups, ";"));
  // The TMA form (SkinnyWeightTma): its stages, and the maps the entry passes.
  e.Line(absl::StrCat("static constexpr bool kWeightTma = ", SkinnyWeightTma(spec) ? "true" : "false",
                      "; static constexpr int kWeightStages = ", spec.gemm.stages, ";"));
  if (w.format == 0) return;
  e.Line(absl::StrCat("static __device__ __forceinline__ const unsigned char* w_ptr(const Params& p) { "
                      "return reinterpret_cast<const unsigned char*>(p.in", w.q, "); }"));
  e.Line(absl::StrCat("static __device__ __forceinline__ const unsigned short* ws_ptr(const Params& p) { "
                      "return reinterpret_cast<const unsigned short*>(p.in", std::max(w.s, 0), "); }"));
}

// A batched GEMM's offset (grid y walks the batches) into what tile input 0 or 1 or the
// output (2) holds per batch: [M, K], [K, N] or [M, N]; "" for any other kernel.
std::string BatchOffset(const KernelSpec& spec, int of) {
  if (!spec.batched || (of == 1 && spec.b_shared)) return "";
  static constexpr const char* kExtents[] = {"p.rows * p.depth", "p.depth * p.cols", "p.rows * p.cols"};
  return absl::StrCat(" + static_cast<long long>(blockIdx.y) * ", kExtents[of]);
}

void EmitGemmConstants(Emitter& e, const KernelSpec& spec) {
  const GemmConfig& c = spec.gemm;
  EmitAccStartHook(e, spec);
  e.Line(absl::StrCat("static constexpr bool kRowEpilogue = ", spec.stages.empty() ? "false" : "true", ";"));
  if (c.wgmma) {
    e.Line(absl::StrCat("static constexpr bool kBatched = ", spec.batched ? "true" : "false",
                        ", kBShared = ", spec.b_shared ? "true" : "false", ";"));
    e.Line(absl::StrCat("static constexpr bool kNMajorB = ", GemmNMajorB(spec) ? "true" : "false",
                        ";  // B row-major [K, N] (TMA boxes of 64 columns)"));
  }
  e.Line(absl::StrCat("static constexpr bool kDual = ", spec.dual ? "true" : "false", ";"));
  if (c.wgmma) {
    e.Line(absl::StrCat("static constexpr int kBM = ", c.bm, ", kBN = ", c.bn, ", kStages = ", c.stages,
                        ", kSplitK = ", c.split_k, ";"));
    e.Line(absl::StrCat("static constexpr int kRowTiles = ", c.row_tiles, ", kRowCluster = ", c.row_cluster,
                        ";  // a row epilogue's tiles per CTA and CTAs per cluster"));
    e.Line(absl::StrCat("static constexpr int kARows = ", c.ARows(), ";  // A rows per stage (GemmConfig::a_rows)"));
    e.Line(absl::StrCat("static constexpr int kMulticast = ", GemmLaunchOf(spec).multicast,
                        ";  // ping-pong CTAs per cluster sharing B (GemmConfig::multicast)"));
    e.Line(absl::StrCat("static constexpr int kGroup = ", c.Group(),
                        ";  // rows of tiles walking the columns together (GemmConfig::group)"));
    e.Line(absl::StrCat("static constexpr int kSmemBytes = ", GemmLaunchOf(spec).smem, ";"));
    e.Line(absl::StrCat("static constexpr bool kF16 = ", spec.tile_inputs[0].dtype == DType::kF16 ? "true" : "false", ";"));
    // fp8 operands (runtime/fusion/f8_gemm.h): 1 e4m3, 2 e5m2.
    const auto f8 = [&](int j) {
      const DType t = spec.tile_inputs[j].dtype;
      return t == DType::kF8E4M3 ? 1 : t == DType::kF8E5M2 ? 2 : 0;
    };
    e.Line(absl::StrCat("static constexpr int kF8A = ", f8(0), ", kF8B = ", f8(1), ";"));
    e.Line("static constexpr bool kSplitF32 = false;");
    e.Line(absl::StrCat("static constexpr bool kAsyncA = ", spec.a_async >= 0 ? "true" : "false", ";"));
    return;
  }
  e.Line(absl::StrCat("static constexpr int kBM = ", c.bm, ", kBN = ", c.bn, ", kBK = ", c.bk, ";"));
  e.Line(absl::StrCat("static constexpr int kWarpsM = ", c.warps_m, ", kWarpsN = ", c.warps_n,
                      ", kStages = ", c.stages, ", kSplitK = ", c.split_k, ";"));
  e.Line(absl::StrCat("static constexpr int kSmemBytes = ", GemmLaunchOf(spec).smem, ";"));
  const bool f16 = spec.tile_inputs[0].dtype == DType::kF16;
  e.Line(absl::StrCat("static constexpr bool kF16 = ", f16 ? "true" : "false", ";"));
  e.Line(absl::StrCat("static constexpr bool kSplitF32 = ", GemmSplitsF32(spec) ? "true" : "false", ";"));
  e.Line(absl::StrCat("static constexpr bool kAsyncA = ", spec.a_async >= 0 ? "true" : "false", ";"));
  e.Line(absl::StrCat("static constexpr int kBLayout = ", static_cast<int>(spec.b_layout), ";"));
  e.Line(absl::StrCat("static constexpr bool kClusterSplit = ", GemmClusterSplit(spec) ? "true" : "false", ";"));
  // The raw operands cp.async reads (the first operand when there is none, never used),
  // from the batch's [M, K] and [K, N] in a batched GEMM.
  e.Line(absl::StrCat("static __device__ __forceinline__ const auto* a_ptr(const Params& p) { return p.in",
                      std::max(spec.a_async, 0), BatchOffset(spec, 0), "; }"));
  e.Line(absl::StrCat("static __device__ __forceinline__ const auto* b_ptr(const Params& p) { return p.in",
                      std::max(spec.b_async, 0), BatchOffset(spec, 1), "; }"));
  if (spec.dual) {
    e.Line(absl::StrCat("static __device__ __forceinline__ const auto* b2_ptr(const Params& p) { return p.in",
                        spec.b2_async, "; }"));
  }
  if (c.skinny) EmitWeightRead(e, spec);
}

// prefetch_in0: the operands load_in0 reads element for element, asked of L2 ahead of a
// row's loads (operands read by broadcast or strides are small or scattered: left out).
void EmitPrefetchHook(Emitter& e, const KernelSpec& spec) {
  e.Open("static __device__ __forceinline__ void prefetch_in0(const Params& p, long long i, long long n) {");
  e.Line("(void)p; (void)i; (void)n;");
  for (size_t k = 0; k < spec.operands.size(); ++k) {
    if (spec.operands[k].site != 0 || spec.operands[k].access != Access::kFull) continue;
    e.Line(absl::StrCat("tf::prefetch_l2(p.in", k, " + i, n);"));
  }
  e.Close();
}

// prefetch_tile: the epilogue's operands read element for element at the tile's (m, n),
// asked of L2 before the epilogue reads them (a decode GEMM's epilogue would otherwise
// wait on DRAM for its bias after the main loop). Lane `lane` of a warp takes rows lane,
// lane + 32, ... of a full operand; lane 0 the run of an inner (broadcast) operand.
void EmitTilePrefetchHook(Emitter& e, const KernelSpec& spec) {
  e.Open("static __device__ __forceinline__ void prefetch_tile(const Params& p, long long m0, long long n0, "
         "long long rows, long long cols, int lane) {");
  e.Line("(void)p; (void)m0; (void)n0; (void)rows; (void)cols; (void)lane;");
  for (size_t k = 0; k < spec.operands.size(); ++k) {
    const OperandSpec& o = spec.operands[k];
    if (o.site != kEpilogueSite) continue;
    if (o.access == Access::kFull) {
      e.Line(absl::StrCat("for (long long r = lane; r < rows; r += 32) tf::prefetch_l2(p.in", k,
                          " + (m0 + r) * p.cols + n0", BatchOffset(spec, 2), ", cols);"));
    } else if (o.access == Access::kInner) {
      e.Open("if (lane == 0) {");
      const std::string inner = InnerRef(spec, static_cast<int>(k));
      e.Line(absl::StrCat("const long long s = (m0 * p.cols + n0", BatchOffset(spec, 2), ") % ", inner, ";"));
      e.Line(absl::StrCat("tf::prefetch_l2(p.in", k, " + s, cols < ", inner, " - s ? cols : ", inner, " - s);"));
      e.Close();
    }
  }
  e.Close();
}

// Column window w's hook, window<w><W>: its outputs at element iw of the window, from the
// tile's values v and operands at element i of the epilogue site (the same element).
absl::Status EmitWindowHook(Emitter& e, const KernelSpec& spec, int w) {
  const int site = WindowSite(w);
  std::vector<Expr> exprs;
  for (const OutputSpec& o : spec.outputs) {
    if (o.site == site) exprs.push_back(StoredValue(o));
  }
  e.Line("template <int W>");
  e.Open(absl::StrCat("static __device__ __forceinline__ void window", w,
                      "(const Params& p, long long i, long long iw, const float (&v)[W]) {"));
  e.Line("(void)i;");
  for (size_t k = 0; k < spec.operands.size(); ++k) {
    const int s = spec.operands[k].site;
    bool read = s == site;
    if (s == kEpilogueSite) {
      for (const Expr& x : exprs) read |= ReadsOperand(x, static_cast<int>(k));
    }
    if (read) EmitOperandLoad(e, spec, static_cast<int>(k), s == site ? "iw" : "i");
  }
  TF_RETURN_IF_ERROR(EmitSiteStores(e, spec, site, "iw", "v[l]", {}));
  e.Close();
  return absl::OkStatus();
}

// In a store hook (W values from flat index i, within one row): the calls of the column
// windows that the elements fall in. A vector inside a window whose bounds are whole
// vectors stores as one; anything else element by element.
void EmitWindowCalls(Emitter& e, const KernelSpec& spec) {
  for (size_t w = 0; w < spec.windows.size(); ++w) {
    const ColumnWindow& c = spec.windows[w];
    const int64_t end = c.start + c.len;
    e.Open("{");
    e.Line("const long long col = i % p.cols, row = i / p.cols;");
    e.Open(absl::StrCat("if (col + W > ", c.start, " && col < ", end, ") {"));
    const bool whole = c.start % 8 == 0 && c.len % 8 == 0;
    e.Open(absl::StrCat("if (W == 1 || (", whole ? "true" : "false", " && col >= ", c.start, " && col + W <= ", end,
                        ")) {"));
    e.Line(absl::StrCat("window", w, "<W>(p, i, row * ", c.len, " + col - ", c.start, ", v);"));
    e.Reopen("} else {");
    e.Open("for (int l0 = 0; l0 < W; ++l0) {");
    e.Line(absl::StrCat("if (col + l0 < ", c.start, " || col + l0 >= ", end, ") continue;"));
    e.Line("const float one[1] = {v[l0]};");
    e.Line(absl::StrCat("window", w, "<1>(p, i + l0, row * ", c.len, " + col + l0 - ", c.start, ", one);"));
    e.Close();
    e.Close();
    e.Close();
    e.Close();
  }
}

// The stores of `site` for one output element i with values v (and var_v, a variance; not
// v<digits>, the names of expression values).
absl::Status EmitPairStores(Emitter& e, const KernelSpec& spec, int site, const std::string& value) {
  e.Line("constexpr int W = 1;");
  e.Line(absl::StrCat("const float v[1] = {", value, "};"));
  e.Line("const float var_v[1] = {acc2};");
  e.Line("(void)v;");
  e.Line("(void)var_v;");
  return EmitSiteLoadsAndStores(e, spec, site, "i", "v[l]", {});
}

// The store-site reduction's constants and hooks (kernels/hook_contract.cuh).
absl::Status EmitReduceHooks(Emitter& e, const KernelSpec& spec) {
  const StoreReduce& r = spec.reduce;
  e.Line(absl::StrCat("static constexpr int kReduceOp = ", r.op, ", kReduceAxis = ", r.axis,
                      ", kCorrection = ", spec.correction, ";"));
  e.Line(absl::StrCat("static constexpr bool kReduceSplit = ", r.split ? "true" : "false", ";"));
  if (r.op < 0) return absl::OkStatus();
  e.Line("template <int W>");
  e.Open("static __device__ __forceinline__ void store_reduce(const Params& p, long long i, "
         "const float (&v)[W], float (&red)[W]) {");
  TF_RETURN_IF_ERROR(EmitSiteLoadsAndStores(e, spec, kEpilogueSite, "i", "v[l]", {{"red", r.input}}));
  EmitWindowCalls(e, spec);
  e.Close();
  e.Open("static __device__ __forceinline__ void store_reduced(const Params& p, long long i, float acc, float acc2) {");
  if (r.split) {
    e.Line("(void)p; (void)i; (void)acc; (void)acc2;  // the combine kernel finishes a split reduction");
  } else {
    TF_RETURN_IF_ERROR(EmitPairStores(e, spec, kReducedSite, r.op == 3 ? "acc / static_cast<float>(p.red_n)" : "acc"));
  }
  e.Close();
  return absl::OkStatus();
}

}  // namespace

int ThreadsOf(const KernelSpec& spec) {
  if (spec.tile == "reduce") return kReduceThreads;
  return spec.tile == "matmul" ? GemmLaunchOf(spec).threads : spec.row.threads;
}

absl::StatusOr<std::vector<std::string>> TileTemplateFiles(const KernelSpec& spec) {
  if (spec.tile != "row") TF_RETURN_IF_ERROR(KernelFunction(spec).status());
  std::vector<std::string> files = {"tf_math.cuh", "pointwise.cuh", "hook_contract.cuh", "reduce_ops.cuh"};
  if (spec.tile == "reduce") {
    files.push_back("reduce.cuh");
  } else if (spec.tile == "matmul") {
    files.push_back("async_copy.cuh");
    if (!spec.stages.empty()) files.push_back("rowwise.cuh");  // row_combine
    files.push_back("gemm.cuh");
    if (spec.gemm.wgmma) files.push_back("gemm_sm90.cuh");
    if (spec.gemm.skinny) {
      files.push_back("packed_weights.cuh");
      files.push_back("gemm_skinny.cuh");
    }
  } else {
    files.push_back("rowwise.cuh");
  }
  return files;
}

absl::StatusOr<std::string> GenerateTileGlue(const KernelSpec& spec, const std::string& entry_name) {
  if (spec.tile == "row") return GenerateRowGlue(spec, entry_name);
  TF_ASSIGN_OR_RETURN(std::string function, KernelFunction(spec));
  Emitter e;
  EmitHooksPreamble(e, spec, entry_name);
  if (spec.tile == "matmul") {
    EmitGemmConstants(e, spec);
  } else if (spec.tile == "reduce") {
    e.Line(absl::StrCat("static constexpr int kOp = ", spec.reduce_op, ", kThreads = ", kReduceThreads, ";"));
    e.Line(absl::StrCat("static constexpr long long kWideCols = ", kReduceWideCols, ";"));
  } else {
    e.Line(absl::StrCat("static constexpr int kThreads = ", spec.row.threads, ";"));
    e.Line(absl::StrCat("static constexpr int kRowThreads = ", spec.row.row_threads, ";"));
    e.Line(absl::StrCat("static constexpr int kLoop = ", spec.row.loop, ";"));
    e.Line(absl::StrCat("static constexpr int kVecs = ", spec.row.vecs, ";"));
  }
  for (size_t j = 0; j < spec.tile_inputs.size(); ++j) {
    e.Line("template <int W>");
    e.Open(absl::StrCat("static __device__ __forceinline__ void load_in", j,
                        "(const Params& p, long long i, float (&v)[W]) {"));
    if (const std::string offset = BatchOffset(spec, static_cast<int>(j)); !offset.empty()) {
      e.Line(absl::StrCat("i = i", offset, ";"));
    }
    // A GEMM rounds its operands to their 16-bit type as it stages them: a prologue's last
    // cast to that type is left to it (the same rounding, done once).
    Expr value = spec.tile_inputs[j].expr;
    const DType t = spec.tile_inputs[j].dtype;
    if (spec.tile == "matmul" && (t == DType::kBF16 || t == DType::kF16) && value->kind == ExprKind::kOp &&
        value->op == PointwiseOp::kCast && value->dtype == t && ComputeKindOf(value->args[0]->dtype) == ComputeKind::kFloat) {
      value = value->args[0];
    }
    TF_RETURN_IF_ERROR(EmitSiteLoadsAndStores(e, spec, static_cast<int>(j), "i", "", {{"v", value}}));
    e.Close();
  }
  if (spec.tile != "matmul" && spec.tile != "reduce") EmitPrefetchHook(e, spec);
  if (spec.tile == "matmul" && !spec.gemm.wgmma) EmitTilePrefetchHook(e, spec);  // its one caller
  if (spec.tile == "matmul" && !spec.stages.empty()) TF_RETURN_IF_ERROR(EmitGemmRowEpilogue(e, spec));
  for (size_t w = 0; w < spec.windows.size(); ++w) TF_RETURN_IF_ERROR(EmitWindowHook(e, spec, static_cast<int>(w)));
  if (spec.tile != "reduce") {  // the reduce kernel stores through store_pair (below)
    e.Line("template <int W>");
    // A dual GEMM's second product is the tile value of index 1, named var_v as a
    // reduction's second result is (EmitSiteStores).
    e.Open(absl::StrCat("static __device__ __forceinline__ void store(const Params& p, long long i, const float (&v)[W]",
                        spec.dual ? ", const float (&var_v)[W]" : "", ") {"));
    if (spec.batched) e.Line(absl::StrCat("i = i", BatchOffset(spec, 2), ";"));
    TF_RETURN_IF_ERROR(EmitSiteLoadsAndStores(e, spec, kEpilogueSite, "i", "v[l]", {}));
    EmitWindowCalls(e, spec);
    e.Close();
  }
  TF_RETURN_IF_ERROR(EmitReduceHooks(e, spec));
  if (spec.tile == "reduce") {
    // The reduce kernel's results: the value, and the variance of a Welford op.
    e.Open("static __device__ __forceinline__ void store_pair(const Params& p, long long i, float acc, float acc2) {");
    TF_RETURN_IF_ERROR(EmitPairStores(e, spec, kEpilogueSite, "acc"));
    e.Close();
  }
  e.Close("};");
  // A split-K tile's CTAs form one cluster (kernels/gemm.cuh split_k_cluster), as do the
  // column tiles of a row band under a row epilogue (GemmConfig::row_cluster).
  // So are the ping-pong kernel's CTAs that share B tiles (GemmConfig::multicast).
  const bool hopper = spec.tile == "matmul" && spec.gemm.wgmma;
  const int multicast = hopper ? GemmLaunchOf(spec).multicast : 1;
  const int cluster = GemmClusterSplit(spec) ? spec.gemm.split_k
                      : multicast > 1        ? multicast
                      : hopper               ? spec.gemm.row_cluster
                                             : 1;
  const std::string attrs = cluster > 1 ? absl::StrCat("__cluster_dims__(", cluster, ", 1, 1) ") : "";
  if (spec.tile == "matmul" && spec.gemm.wgmma) {
    // The tensor maps travel as __grid_constant__ parameters, which TMA reads in place.
    // A dual GEMM's second B has a map of its own (the others pass tb in its place).
    EmitEntry(e, entry_name, absl::StrCat(ThreadsOf(spec), ", ", GemmLaunchOf(spec).min_blocks),
              absl::StrCat(function, "<", entry_name, "_ns::Hooks>(p, ta, tb, ", spec.dual ? "tb2" : "tb", ");"), attrs,
              absl::StrCat("const __grid_constant__ ", entry_name, "_ns::Params p, const __grid_constant__ tf::TmaDesc ta, ",
                           "const __grid_constant__ tf::TmaDesc tb",
                           spec.dual ? ", const __grid_constant__ tf::TmaDesc tb2" : ""));
    return e.Finish();
  }
  // The skinny kernel: four CTAs per SM (at most 128 registers), for the loads in flight;
  // its TMA form takes the maps of x and of the raw weight.
  if (SkinnyWeightTma(spec)) {
    EmitEntry(e, entry_name, absl::StrCat(ThreadsOf(spec), ", 4"),
              absl::StrCat(function, "<", entry_name, "_ns::Hooks>(p, &tx, &tw);"), attrs,
              absl::StrCat("const __grid_constant__ ", entry_name, "_ns::Params p, ",
                           "const __grid_constant__ tf::TmaDesc tx, const __grid_constant__ tf::TmaDesc tw"));
    return e.Finish();
  }
  EmitEntry(e, entry_name, absl::StrCat(ThreadsOf(spec), spec.tile == "matmul" && spec.gemm.skinny ? ", 4" : ""),
            absl::StrCat(function, "<", entry_name, "_ns::Hooks>(p);"),
            attrs);
  return e.Finish();
}

absl::StatusOr<std::string> GenerateTileSource(const KernelSpec& spec, const std::string& entry_name) {
  TF_ASSIGN_OR_RETURN(std::vector<std::string> files, TileTemplateFiles(spec));
  TF_ASSIGN_OR_RETURN(std::string templates, TemplateText(files));
  TF_ASSIGN_OR_RETURN(std::string glue, GenerateTileGlue(spec, entry_name));
  if (spec.custom != nullptr) {
    absl::StrAppend(&templates, "// ---- registered tile kernel '", spec.custom->name, "' ----\n",
                    spec.custom->source, "\n");
  }
  return absl::StrCat(templates, glue);
}

}  // namespace tilefuse::internal
