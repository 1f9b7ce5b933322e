// What one generated kernel computes, independent of where its tensors live: the input of
// codegen and of the signature. Bindings (which graph value sits behind each operand, and
// the sizes and strides to pass) live beside it in KernelPlan (fusion_plan.h).
//
// A kernel is either pointwise (no tile kernel: every output element is a function of
// operand elements at the same index) or a tile kernel with hooks:
//  - tile input j is computed by its prologue, an expression over operands read at "site"
//    j (the input's index space);
//  - outputs at the epilogue site (the tile output's index space) are expressions over
//    the tile's value (ExprKind::kTileValue) and operands read there;
//  - outputs at site j >= 0 are prologue values stored from the load hook of input j
//    (e.g. the new residual stream of `x + r -> rms_norm`);
//  - with a store-site reduction (`reduce`), the epilogue also yields the value reduced,
//    and outputs at kReducedSite (the reduced index space) are expressions over the
//    finished reduction (ExprKind::kTileValue there: index 0 the value or, for var,
//    the mean; index 1 the variance) and operands read there.
#ifndef TILEFUSE_RUNTIME_FUSION_KERNEL_SPEC_H_
#define TILEFUSE_RUNTIME_FUSION_KERNEL_SPEC_H_

#include <string>
#include <vector>

#include "runtime/fusion/expr.h"
#include "runtime/graph/custom_tile.h"

namespace tilefuse::internal {

// The index space where the tile kernel's output is produced (and pointwise kernels run).
inline constexpr int kEpilogueSite = -1;
// The index space of a store-site reduction's result (the tile output less the axis).
inline constexpr int kReducedSite = -2;
// A GEMM operand that its accumulators start from (one value per output column, e.g. a
// bias), read by the load_acc hook before the main loop instead of in the epilogue.
inline constexpr int kAccStartSite = -3;

// Column window w of the epilogue site (KernelSpec::windows): the elements of columns
// [start, start + len) of the [rows, cols] output, indexed as a [rows, len] tensor.
inline constexpr int kWindowSite0 = -100;
inline constexpr int WindowSite(int w) { return kWindowSite0 - w; }
inline constexpr int WindowOfSite(int site) { return site <= kWindowSite0 ? kWindowSite0 - site : -1; }

struct ColumnWindow {
  int64_t start = 0;
  int64_t len = 0;
};

// How a kernel operand is indexed from the flat index i of its site's index space.
enum class Access {
  kFull,     // same shape, contiguous: element i
  kInner,    // broadcast over leading dims: element i % inner
  kScalar,   // one element, broadcast everywhere
  kStrided,  // anything else (transposed views, middle-dim broadcasts): per-dim strides
  kOuter,    // broadcast over trailing dims (a per-row value): element i / inner
  // One value per `group` elements along the last dim (a dequant's group scales): element
  // (i / inner) * groups + (i % inner) / group, inner the last dim (OperandSpec::group,
  // groups).
  kGroup,
};
absl::string_view AccessName(Access a);

struct OperandSpec {
  DType dtype = DType::kF32;
  Access access = Access::kFull;
  int site = kEpilogueSite;
  int rank = 1;  // rank of the site's index space (strided operands take that many strides)
  // An iota (Graph::AddIota): no buffer; the element at offset o is iota_start + iota_step *
  // o, o counted from address 0 (a view's offset arrives as its pointer).
  bool iota = false;
  int64_t iota_start = 0, iota_step = 1;
  // Read by a gather (ExprKind::kGather), not loaded at the site's index: kStrided, rank
  // one past the site's, the last dim and stride those of the gathered axis.
  bool gathered = false;
  // kGroup: elements per group and groups per row (both static).
  int64_t group = 0, groups = 0;
  // The binding's extents where the graph fixes them, baked into the kernel as constants
  // (divisions by constants; a unit or zero stride decided at compile time): kStrided's
  // dims (0 where symbolic) and strides (empty unless all are static); kInner, kOuter and
  // kGroup's inner extent (0: symbolic). Filled by the planner's last step (PlanFusion).
  std::vector<int64_t> static_dims, static_strides;
  int64_t static_inner = 0;
};

struct OutputSpec {
  DType dtype = DType::kF32;  // storage dtype
  Expr expr;                  // value stored, computed in the dtype's compute kind
  int site = kEpilogueSite;
};

struct TileInputSpec {
  DType dtype = DType::kF32;  // the logical input's dtype (what the prologue produces)
  Expr expr;                  // the prologue: a load of one operand when there is none
};

// Launch shape of row-wise tile kernels: a CTA of `threads` threads handles
// threads / row_threads rows at a time, `loop` times over (asking L2 for the next rows
// before reducing the current ones); each thread holds up to `vecs` vectors of a row.
// `chunked` (generated row kernels over rows wider than any config holds): the row is
// walked in chunks of row_threads * vecs vectors, one pass over it per reduction stage and
// one for the outputs, nothing held between passes.
struct RowConfig {
  int threads = 256;
  int row_threads = 256;
  int vecs = 2;
  int loop = 1;
  bool chunked = false;
  std::string ToString() const;  // "256x2", "128x4 loop 2", "1024x4 chunked"
};

// Tile config of the GEMM kernel (kernels/gemm.cuh).
struct GemmConfig {
  int bm = 128, bn = 128, bk = 32;
  int warps_m = 2, warps_n = 4;
  int stages = 4;
  // The Hopper kernel (kernels/gemm_sm90.cuh): TMA + wgmma, tiles of 64 or 128 rows and
  // columns by 64 of K, a consumer warpgroup per 64 rows (warps bm / 64 x 4), 3 to 16
  // stages (WgmmaGemmConfig).
  bool wgmma = false;
  // K is split over this many CTAs per tile (small M, whose few tiles would leave most SMs
  // idle). On sm_90 (and always in the Hopper kernel) a tile's splits are a thread-block
  // cluster that sums the partials through distributed shared memory (GemmClusterSplit);
  // elsewhere each writes an fp32 partial and the tile's last CTA sums them. Both add in
  // split order and run the epilogue (kernels/gemm.cuh).
  int split_k = 1;
  // The skinny decode kernel (kernels/gemm_skinny.cuh): B computed over [N, K]
  // (GemmBLayout::kHookNK), 16 rows of C, 16 weight rows per warp; bk and stages: the
  // bytes of each weight row per stage of its TMA form (SkinnyWeightTma) and their depth,
  // unused by its register form.
  bool skinny = false;
  // The Hopper kernel's 64-row tile at M <= 16 (a_rows 16): each stage holds A's first 16
  // rows only, so that the pipeline's memory goes to the weight's bytes in flight; the
  // wgmmas still multiply 64 rows, 48 of them whatever the neighbouring bytes hold, and the
  // epilogue stores none of those. 0: stages of bm rows.
  int a_rows = 0;
  int ARows() const { return a_rows > 0 ? a_rows : bm; }
  // A row epilogue over rows wider than one tile (the Hopper kernel): each CTA computes
  // row_tiles column tiles of its bm rows one after the other, keeping all in shared
  // memory, and the row_cluster CTAs of a band of rows are one thread-block cluster, which
  // combines each row's reductions through distributed shared memory
  // (codegen/row_codegen.cc). A row spans row_tiles x row_cluster x bn columns.
  int row_tiles = 1;
  int row_cluster = 1;
  // The ping-pong Hopper kernel in thread-block clusters of this many CTAs (1 or 2) whose
  // tiles share their columns: each CTA copies half of the B tile into both by TMA
  // multicast, so that B comes from L2 once per pair (kernels/gemm_sm90.cuh). Ignored
  // where the kernel is not the ping-pong one or B is not one K-major map (GemmLaunchOf).
  // Opt-in: on the H200 the cluster launch and the multicast copies each cost more than
  // the L2 traffic saved (docs/NOTES.md, session 22).
  int multicast = 1;
  // The Hopper kernel's tile walk: groups of this many rows of tiles walk the columns
  // together (sm90_tile_origin), so that the CTAs running at once share their A and B
  // tiles in L2. 0 (or 8): the default; 1 walks row by row. Which CTAs run on which SMs
  // changes the L2 traffic for the same tiles (docs/NOTES.md, session 22): a knob to time.
  int group = 0;
  int Group() const { return group > 0 ? group : 8; }
  // Dynamic shared memory of the mma.sync kernel and the one-tile-per-CTA Hopper kernel:
  // the pipeline stages, or the fp32 epilogue tile if larger (GemmLaunchOf has the rest).
  int SmemBytes() const;
  std::string ToString() const;  // "128x128x32 w2x4 s4", "16x32x128 w1x2 s6 split 4"
};

// How the GEMM reads B: through its hook (load_in1), or by cp.async from a contiguous
// buffer that is [K, N], or [N, K] read as its transpose (a weight used as w.T).
// kHookNK: B is the transpose of a prologue computed over [N, K] (kernels/gemm.cuh kBLayout 3).
enum class GemmBLayout { kHook = 0, kRowMajor = 1, kColMajor = 2, kHookNK = 3 };

// A reduction folded into a tile kernel's store site (kernels/hook_contract.cuh).
struct StoreReduce {
  int op = -1;         // -1: none; 0 sum, 1 amax, 2 amin, 3 mean, 5 var (kernels/reduce_ops.cuh)
  int axis = 1;        // of the output as [rows, cols]: 1 along a row, 0 down a column
  bool split = false;  // partials per tile to Params::part, combined by a second kernel
  Expr input;          // the epilogue-site value reduced
};

// One reduction of a generated row program (tile "row", or a GEMM's row epilogue): the
// row's values of `input` (an epilogue-site expression, which may read earlier stages'
// results) reduced to one value per row, ExprKind::kTileValue with index kStageValue0 +
// the stage's index at either site (index 0 stays the tile's own value, a GEMM's).
inline constexpr int kStageValue0 = 16;
struct RowStage {
  int op = 0;      // 0 sum, 1 amax, 2 amin, 3 mean, 5 var, 8 prod
  int about = -1;  // var: the stage holding the mean of the same input (two passes in registers)
  int correction = 1;  // var: divides by cols - correction
  Expr input;
};

struct KernelSpec {
  std::string tile;  // "" for a pointwise kernel; "rms_norm", "layer_norm", "softmax",
                     // "matmul", "reduce", "row" (a generated row kernel: `stages`), or
                     // the name of a registered kernel
  int reduce_op = -1;  // "reduce": 0 sum, 1 amax, 2 amin, 3 mean, 4 argmax, 5 var, 6 Welford
                       // merge of a split var's partials (kernels/reduce.cuh)
  int correction = 1;  // var (reduce_op or reduce.op 5): divides by n - correction
  std::shared_ptr<const CustomTileKernel> custom;  // set for a registered kernel
  double eps = 0;    // rms_norm, layer_norm
  RowConfig row;     // row-wise tile kernels
  GemmConfig gemm;   // matmul
  int a_async = -1;  // matmul: the operand A is copied from by cp.async, or -1 (hook)
  int b_async = -1;  // matmul: likewise for B, with b_layout
  GemmBLayout b_layout = GemmBLayout::kHook;
  // matmul: a dual GEMM (runtime/fusion/dual_gemm.h): tile input 2 is a second B, K-major
  // as the first, and ExprKind::kTileValue index 1 at the epilogue site its product with
  // the same A. A tile of bn columns holds bn / 2 columns of each product (GemmTileCols).
  bool dual = false;
  int b2_async = -1;  // the second B's operand (cp.async / TMA), or -1
  // A dual GEMM over two row windows of one weight (the matmul's node is then [M, 2N]):
  // codegen reads it as any dual GEMM; tuning times it as the matmul it is.
  bool dual_split = false;
  // matmul: a batched GEMM ([..., M, K] x [..., K, N], graph.h IsBatchedMatmul): grid y walks
  // the batches, and each hook offsets its flat index by the batch's [M, K], [K, N] or [M, N].
  bool batched = false;
  bool b_shared = false;  // a batched GEMM whose B is one buffer for every batch (no offset)
  StoreReduce reduce;  // tile kernels: a store-site reduction, when reduce.op >= 0
  std::vector<RowStage> stages;  // "row": its reductions, in the order they run
  std::vector<ColumnWindow> windows;  // matmul: column windows with outputs of their own
  bool sm90 = false;   // matmul: the target has thread-block clusters
  std::vector<OperandSpec> operands;
  std::vector<TileInputSpec> tile_inputs;
  std::vector<OutputSpec> outputs;

  bool is_pointwise() const { return tile.empty(); }
  // Elements per vector step: 16 bytes of the narrowest vector-accessed tensor, at most 8.
  int Vec() const;
};

// The mma.sync GEMM's split-K on sm_90 (kernels/gemm.cuh split_k_cluster): partials summed
// within a thread-block cluster (no partial buffers, an entry with __cluster_dims__).
bool GemmClusterSplit(const KernelSpec& spec);

// Columns of C a GEMM tile of `c` stores: bn, or bn / 2 for a dual GEMM.
int GemmTileCols(const KernelSpec& spec, const GemmConfig& c);

// Whether the Hopper kernel can run a GEMM: an sm_90 target and B a 16-bit buffer that TMA
// reads, K-major (a weight used as w.T) or row-major [K, N] (GemmNMajorB).
bool GemmWgmmaCapable(const KernelSpec& spec);
// Whether the Hopper kernel reads B N-major: a row-major [K, N] B of a 16-bit type (cp.async
// or TMA), not a dual GEMM's.
bool GemmNMajorB(const KernelSpec& spec);

// Whether the Hopper kernel may hold 16 rows of A per stage (GemmConfig::a_rows; M <= 16):
// 16-bit operands, no store-site reduction or row epilogue.
bool GemmA16Capable(const KernelSpec& spec);

// Whether a GEMM multiplies fp8 codes (runtime/fusion/f8_gemm.h): the Hopper kernel's fp8
// path, its operands read by TMA in rows of 128 codes.
bool IsF8Gemm(const KernelSpec& spec);

// Whether a GEMM's operands are f32 and run on the bf16 MMA split into hi and lo parts
// (kernels/gemm.cuh kSplitF32): the mma.sync kernel, both operands through their hooks.
bool GemmSplitsF32(const KernelSpec& spec);

// How a GEMM kernel launches. The Hopper kernel (kernels/gemm_sm90.cuh) comes in two
// forms: ping-pong, persistent (one CTA per SM, each consumer warpgroup on its own tile,
// so that one's epilogue runs under the other's main loop), when A comes by TMA, no
// store-site reduction runs down the columns (a 32-row quarter holds whole rows, not
// whole columns) and the stages fit beside two staging buffers; else
// one CTA per tile, two per SM where three stages allow. Its producers are one warp, or a
// warpgroup when A has a prologue.
struct GemmLaunch {
  bool pingpong = false;
  int multicast = 1;  // the ping-pong kernel's cluster (GemmConfig::multicast), where it applies
  int threads = 0;
  int min_blocks = 1;  // CTAs per SM the kernel is compiled for (__launch_bounds__)
  int smem = 0;        // dynamic shared memory bytes
};
GemmLaunch GemmLaunchOf(const KernelSpec& spec);

// Canonical text of the spec: the part of a signature that describes the computation.
std::string SpecText(const KernelSpec& spec);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_KERNEL_SPEC_H_
