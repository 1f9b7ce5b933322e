#include "runtime/fusion/kernel_spec.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/fusion/weight_read.h"
#include "runtime/graph/stable_hash.h"

namespace tilefuse::internal {

absl::string_view AccessName(Access a) {
  switch (a) {
    case Access::kFull: return "full";
    case Access::kInner: return "inner";
    case Access::kOuter: return "outer";
    case Access::kScalar: return "scalar";
    case Access::kStrided: return "strided";
    case Access::kGroup: return "group";
  }
  return "?";
}

namespace {

// Floats after each row of the fp32 epilogue staging tile (kernels/gemm.cuh kStagingLd).
constexpr int kStagingPad = 8;

// The A and B stages of a GEMM's pipeline, in bytes.
// Stages of A (ARows rows) and B, and past the last A stage the rest of a bm-row window
// that the wgmmas read.
int PipelineBytes(const GemmConfig& c) {
  return c.stages * (c.ARows() * c.bk + c.bk * c.bn) * 2 + (c.bm - c.ARows()) * c.bk * 2;
}

}  // namespace

int GemmConfig::SmemBytes() const {
  // The skinny kernel: two chunks of x (16 rows of 256 k, rows padded by 64 bytes;
  // kernels/gemm_skinny.cuh Skinny), then the epilogue tile.
  if (skinny) return std::max(2 * 16 * (256 * 2 + 64), bm * (bn + kStagingPad) * 4);
  const int pipeline = PipelineBytes(*this);
  const int epilogue = bm * (bn + kStagingPad) * 4;
  // The Hopper kernel aligns its stages to 1024 bytes and keeps two mbarriers per stage,
  // then the fp32 tiles of a row epilogue's column tiles but the last (row_tiles).
  if (wgmma) return 1024 + std::max(pipeline + 16 * stages + (row_tiles - 1) * epilogue, epilogue);
  return std::max(pipeline, epilogue);
}

bool GemmClusterSplit(const KernelSpec& spec) {
  return spec.tile == "matmul" && (spec.sm90 || spec.gemm.wgmma) && spec.gemm.split_k > 1;
}

int GemmTileCols(const KernelSpec& spec, const GemmConfig& c) { return spec.dual ? c.bn / 2 : c.bn; }

bool GemmNMajorB(const KernelSpec& spec) {
  if (spec.tile != "matmul" || spec.b_layout != GemmBLayout::kRowMajor || spec.dual || spec.tile_inputs.size() < 2) {
    return false;
  }
  const DType t = spec.tile_inputs[1].dtype;
  return t == DType::kBF16 || t == DType::kF16;
}

bool GemmWgmmaCapable(const KernelSpec& spec) {
  return spec.tile == "matmul" && spec.custom == nullptr && spec.sm90 &&
         ((spec.b_layout == GemmBLayout::kColMajor && (!spec.dual || spec.b2_async >= 0)) || GemmNMajorB(spec));
}

bool GemmA16Capable(const KernelSpec& spec) {
  return GemmWgmmaCapable(spec) && !IsF8Gemm(spec) && spec.reduce.op < 0 && spec.stages.empty();
}

bool IsF8Gemm(const KernelSpec& spec) {
  if (spec.tile != "matmul" || spec.custom != nullptr || spec.tile_inputs.empty()) return false;
  const DType t = spec.tile_inputs[0].dtype;
  return t == DType::kF8E4M3 || t == DType::kF8E5M2;
}

bool GemmSplitsF32(const KernelSpec& spec) {
  return spec.tile == "matmul" && spec.custom == nullptr && !spec.tile_inputs.empty() &&
         spec.tile_inputs[0].dtype == DType::kF32;
}

GemmLaunch GemmLaunchOf(const KernelSpec& spec) {
  const GemmConfig& c = spec.gemm;
  GemmLaunch l;
  l.smem = c.SmemBytes();
  if (const WeightRead w = SkinnyTmaWeightRead(spec); w.format != 0) {
    l.smem = std::max(l.smem, SkinnyTmaSmemBytes(c, w.format == 2));
  }
  if (!c.wgmma) {
    l.threads = 32 * c.warps_m * c.warps_n;
    return l;
  }
  // Hopper: 227 KiB of shared memory for a CTA, 228 KiB per SM, 1 KiB reserved per CTA.
  constexpr int kSmemPerCta = 227 * 1024, kSmemPerSm = 228 * 1024, kReservedPerCta = 1024;
  constexpr int kStagingBytes = 2 * 32 * (128 + kStagingPad) * 4;  // a 32-row fp32 quarter tile per warpgroup
  const bool a_prologue = spec.a_async < 0;
  l.threads = 128 * (c.bm / 64) + (a_prologue ? 128 : 32);
  const int pingpong_smem = 1024 + PipelineBytes(c) + 16 * c.stages + kStagingBytes + 16;
  const bool column_reduce = spec.reduce.op >= 0 && spec.reduce.axis != 1;
  // (A batched GEMM's batches are grid y, which the persistent kernel does not walk.)
  if (!a_prologue && !column_reduce && !spec.batched && c.split_k == 1 && c.row_cluster == 1 && c.row_tiles == 1 &&
      c.bm == 128 && c.bn == 128 && pingpong_smem <= kSmemPerCta) {
    l.pingpong = true;
    l.smem = pingpong_smem;
    l.multicast = c.multicast > 1 && !spec.dual && !GemmNMajorB(spec) ? c.multicast : 1;
    return l;
  }
  l.min_blocks = !a_prologue && 2 * (l.smem + kReservedPerCta) <= kSmemPerSm ? 2 : 1;
  return l;
}

std::string RowConfig::ToString() const {
  return absl::StrCat(row_threads, "x", vecs, threads != std::max(row_threads, 256) ? absl::StrCat(" cta ", threads) : "",
                      loop > 1 ? absl::StrCat(" loop ", loop) : "", chunked ? " chunked" : "");
}

std::string GemmConfig::ToString() const {
  if (skinny) {
    return absl::StrCat("skinny ", bm, "x", bn, "x", bk, " w", warps_n, " s", stages,
                        split_k > 1 ? absl::StrCat(" split ", split_k) : "");
  }
  return absl::StrCat(wgmma ? "wgmma " : "", bm, "x", bn, "x", bk, " w", warps_m, "x", warps_n,
                      " s", stages, split_k > 1 ? absl::StrCat(" split ", split_k) : "",
                      a_rows > 0 ? absl::StrCat(" a", a_rows) : "",
                      row_tiles > 1 ? absl::StrCat(" row_tiles ", row_tiles) : "",
                      row_cluster > 1 ? absl::StrCat(" row_cluster ", row_cluster) : "",
                      multicast > 1 ? absl::StrCat(" multicast ", multicast) : "",
                      Group() != 8 ? absl::StrCat(" group ", group) : "");
}

int KernelSpec::Vec() const {
  int min_size = 4;
  // A row kernel reads and writes its reduced site one value at a time.
  const auto vectored = [&](int site) { return tile != "row" || site != kReducedSite; };
  for (const OperandSpec& o : operands) {
    if (vectored(o.site) && (o.access == Access::kFull || o.access == Access::kInner)) {
      min_size = std::min(min_size, DTypeSize(o.dtype));
    }
  }
  for (const OutputSpec& o : outputs) {
    if (vectored(o.site)) min_size = std::min(min_size, DTypeSize(o.dtype));
  }
  return std::min(8, 16 / min_size);
}

std::string SpecText(const KernelSpec& spec) {
  std::string s = spec.is_pointwise()
                      ? absl::StrCat("pointwise vec=", spec.Vec(), "\n")
                      : absl::StrCat("tile ", spec.tile, " vec=", spec.Vec(), " eps=",
                                     HexFloat(spec.eps), " threads=", spec.row.threads,
                                     " row_threads=", spec.row.row_threads,
                                     " vecs=", spec.row.vecs, " loop=", spec.row.loop,
                                     spec.row.chunked ? " chunked" : "", "\n");
  if (spec.tile == "matmul") {
    absl::StrAppend(&s, "gemm ", spec.gemm.ToString(), " a_async=", spec.a_async, " b_async=",
                    spec.b_async, " b_layout=", static_cast<int>(spec.b_layout),
                    spec.dual ? absl::StrCat(" dual b2_async=", spec.b2_async) : "", spec.batched ? " batched" : "", spec.b_shared ? " b_shared" : "",
                    GemmClusterSplit(spec) ? " cluster_split" : "", "\n");
  }
  if (spec.tile == "reduce") absl::StrAppend(&s, "reduce op=", spec.reduce_op, "\n");
  for (size_t w = 0; w < spec.windows.size(); ++w) {
    absl::StrAppend(&s, "window", w, " start=", spec.windows[w].start, " len=", spec.windows[w].len, "\n");
  }
  if (spec.reduce_op == 5 || spec.reduce_op == 6 || spec.reduce.op == 5) {
    absl::StrAppend(&s, "correction=", spec.correction, "\n");
  }
  if (spec.custom != nullptr) {
    // The user's source is part of what the binary is built from.
    absl::StrAppend(&s, "custom ", spec.custom->function, " source=",
                    Hex64(StableHash(spec.custom->source)), "\n");
  }
  for (size_t i = 0; i < spec.operands.size(); ++i) {
    const OperandSpec& o = spec.operands[i];
    absl::StrAppend(&s, "in", i, " ", DTypeName(o.dtype), " ", AccessName(o.access),
                    " site=", o.site, " rank=", o.rank,
                    o.iota ? absl::StrCat(" iota=", o.iota_start, ",", o.iota_step) : "", o.gathered ? " gathered" : "",
                    o.access == Access::kGroup ? absl::StrCat(" group=", o.group, "x", o.groups) : "",
                    o.static_dims.empty() ? "" : absl::StrCat(" dims=", absl::StrJoin(o.static_dims, ",")),
                    o.static_strides.empty() ? "" : absl::StrCat(" strides=", absl::StrJoin(o.static_strides, ",")),
                    o.static_inner > 0 ? absl::StrCat(" inner=", o.static_inner) : "", "\n");
  }
  std::vector<std::string> lines;
  std::vector<std::pair<const ExprNode*, std::string>> names;
  std::vector<std::string> roots;
  for (const TileInputSpec& t : spec.tile_inputs) roots.push_back(ExprText(t.expr, lines, names));
  for (const OutputSpec& o : spec.outputs) roots.push_back(ExprText(o.expr, lines, names));
  if (spec.reduce.op >= 0) roots.push_back(ExprText(spec.reduce.input, lines, names));
  for (const RowStage& st : spec.stages) roots.push_back(ExprText(st.input, lines, names));
  for (const std::string& l : lines) absl::StrAppend(&s, l, "\n");
  size_t r = 0;
  for (size_t j = 0; j < spec.tile_inputs.size(); ++j, ++r) {
    absl::StrAppend(&s, "tile_in", j, " ", DTypeName(spec.tile_inputs[j].dtype), " = ", roots[r], "\n");
  }
  for (size_t j = 0; j < spec.outputs.size(); ++j, ++r) {
    absl::StrAppend(&s, "out", j, " ", DTypeName(spec.outputs[j].dtype), " site=",
                    spec.outputs[j].site, " = ", roots[r], "\n");
  }
  if (spec.reduce.op >= 0) {
    absl::StrAppend(&s, "store_reduce op=", spec.reduce.op, " axis=", spec.reduce.axis,
                    " split=", spec.reduce.split ? 1 : 0, " = ", roots[r], "\n");
    ++r;
  }
  for (size_t j = 0; j < spec.stages.size(); ++j, ++r) {
    const RowStage& st = spec.stages[j];
    absl::StrAppend(&s, "stage", j, " op=", st.op, " about=", st.about, " correction=", st.correction, " = ",
                    roots[r], "\n");
  }
  return s;
}

}  // namespace tilefuse::internal
