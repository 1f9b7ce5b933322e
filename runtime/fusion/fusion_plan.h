// The planner's output: kernels in launch order, each a spec plus the bindings that tie its
// operands and outputs to buffers, and the record of what fused and what was refused.
#ifndef TILEFUSE_RUNTIME_FUSION_FUSION_PLAN_H_
#define TILEFUSE_RUNTIME_FUSION_FUSION_PLAN_H_

#include <optional>
#include <string>
#include <vector>

#include "runtime/fusion/kernel_spec.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

// Where a tensor lives while a plan runs.
struct BufferRef {
  enum Kind { kInput, kOutput, kWorkspace, kNone };  // kNone: an iota, computed where read
  Kind kind = kInput;
  int index = 0;  // graph input position, graph output position, or workspace slot
};

struct OperandBinding {
  int value = -1;  // the graph node read (a view node when reading through a view)
  BufferRef buffer;
  SizeExpr inner;                 // kInner: elements before the pattern repeats
  std::vector<SizeExpr> dims;     // kStrided: the site's index space
  std::vector<SizeExpr> strides;  // kStrided: element stride per index-space dim (0: broadcast)
  std::vector<SizeExpr> offset;   // elements from the buffer's start to the first read (a sum;
                                  // a view's slice start or selected index): Run adds it
};

struct OutputBinding {
  int value = -1;
  BufferRef buffer;
};

// One variant of a GEMM kernel whose M is symbolic: the config used when the bound M is
// at most max_m (-1: any M past the smaller classes).
struct ShapeClass {
  int64_t max_m = -1;
  GemmConfig gemm;
};

// The M a kernel runs at, where a plan has a form per range of a symbolic M (PlanFusion:
// a weight-only GEMM): rows (the GEMM's M) between min and max, max -1 for no bound.
struct RowRange {
  SizeExpr rows;
  int64_t min = 0, max = -1;
};

struct KernelPlan {
  KernelSpec spec;
  Shape index_space;                     // of the epilogue site (the kernel's output)
  int tile_node = -1;                    // the tile kernel's node, or -1
  int dual_node = -1;                    // a dual GEMM's second matmul (dual_gemm.h), or -1
  SizeExpr rows, cols;                   // tile kernels: the output as [rows, cols]
  SizeExpr depth;                        // matmul: K; reduce: the elements after the axis
  SizeExpr batches{1, {}};               // a batched matmul: its batches (grid y)
  int64_t cols_tile = 1;                 // cols counts in tiles of this many: ceil(cols / it)
  SizeExpr red_count;                    // reductions: what a mean divides by
  BufferRef partial;                     // split store-site reduction: its partials
  int partial_of = -1;                   // combine kernel: the kernel whose partials it reads
  std::vector<OperandBinding> operands;  // parallel to spec.operands
  std::vector<OutputBinding> outputs;    // parallel to spec.outputs
  std::vector<int> nodes;                // graph nodes computed by this kernel
  std::string summary;                   // one line for Plan::Explain()
  // A GEMM with a symbolic M: its bounded classes, ascending (GemmShapeClasses); M past the
  // last bound runs `spec` itself. Empty: one kernel for every M.
  std::vector<ShapeClass> classes;
  // Set: the kernel runs only at the M of its plan form (RunsAt).
  std::optional<RowRange> range;
  bool RunsAt(absl::Span<const int64_t> symbols) const {
    if (!range) return true;
    const int64_t m = range->rows.Eval(symbols);
    return m >= range->min && (range->max < 0 || m <= range->max);
  }
};

struct WorkspaceSlot {
  int value = -1;      // the graph value held, or -1 for the partials of a reduction
  SizeExpr elements;   // times ceil(tiled / tile) when tile > 0
  DType dtype = DType::kF32;
  SizeExpr tiled;
  int64_t tile = 0;
  int64_t Elements(absl::Span<const int64_t> symbols) const {
    const int64_t n = elements.Eval(symbols);
    return tile > 0 ? n * ((tiled.Eval(symbols) + tile - 1) / tile) : n;
  }
};

struct FusionPlan {
  std::vector<KernelPlan> kernels;        // launch order
  std::vector<WorkspaceSlot> workspace;   // intermediates no caller buffer holds
  std::vector<std::string> decisions;     // what fused, what was refused, and why
};

struct PlanOptions {
  bool fuse = true;         // false: the unfused baseline, one kernel per op
  std::string arch = "sm_90";  // the target: sm_90 enables the TMA + wgmma GEMM
  int sm_count = 132;          // the target's SMs, which small-M GEMM configs are sized for
  bool gemm_row_epilogues = true;  // CompileOptions::gemm_row_epilogues
  bool norm_prologues = false;     // CompileOptions::norm_prologues
  bool wide_row_epilogues = false;  // CompileOptions::wide_row_epilogues
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_FUSION_PLAN_H_
