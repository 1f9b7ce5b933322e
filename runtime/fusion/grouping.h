// First planner pass: which nodes share a kernel. Pure graph reasoning, no specs.
#ifndef TILEFUSE_RUNTIME_FUSION_GROUPING_H_
#define TILEFUSE_RUNTIME_FUSION_GROUPING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/fusion/views.h"
#include "runtime/graph/graph.h"

namespace tilefuse::internal {

// Columns [start, start + len) of a GEMM's output, read through a slice (a fused QKV
// projection's q, k and v): members over `shape` compute there, in the GEMM's epilogue.
struct ColumnWindowInfo {
  int64_t start = 0;
  int64_t len = 0;
  Shape shape;  // the slice's shape: the GEMM's, with len columns
};

struct Group {
  std::vector<int> nodes;  // ascending ids, which is a topological order
  Shape shape;             // the index space of the kernel's output (epilogue site)
  int tile = -1;           // the tile kernel node, or -1 for a pointwise kernel
  int reduce = -1;         // a reduction fused into the tile kernel's store site, or -1
  int reduce2 = -1;        // its mean/var partner, computed by the same Welford pass, or -1
  std::vector<int> reduced;  // the reduction and the members after it (its index space)
  // A generated row kernel (tile -1): `shape` is its rows' space [..., C]; `stages` the
  // reductions over C it runs (ascending ids); `reduced` those and the members computed
  // from them alone, one value per row.
  bool row = false;
  std::vector<int> stages;
  std::vector<int> served_views;  // views of its own values it reads (row values, slices)
  std::vector<ColumnWindowInfo> windows;
  std::vector<std::pair<int, int>> window_members;  // (node, index into windows)
  // Nodes of other groups this kernel computes again where it reads them (a norm prologue's
  // work before the reduction), never stored by it.
  std::vector<int> recomputed;
  // A dual GEMM (dual_gemm.h): the second matmul of the same A this kernel computes, whose
  // value is the tile's second product, or -1.
  int dual = -1;
  // A dual GEMM over one weight's two row windows (a concatenated gate/up weight, its
  // product split by two column slices): the windows' first rows (their first columns of
  // the matmul's output), and each slice view with the product it reads (0 or 1). `shape`
  // is then one window's [M, L].
  int64_t split_rows[2] = {-1, -1};
  std::vector<std::pair<int, int>> split_views;
};

struct Grouping {
  std::vector<Group> groups;        // in launch order
  std::vector<int> group_of;        // per node; -1 for inputs, constants and views
  std::vector<std::string> decisions;
  // A matmul with a symbolic M whose B load dequantizes a weight (a weight-only GEMM), or
  // -1: the plan takes another form past a number of rows (PlanFusion).
  int ranged_tile = -1;
};

// A weight-only GEMM dequantizes in its B load while M is at most this many rows (one row
// tile, so each weight is dequantized once); past it the weight is dequantized by a kernel
// of its own and read by TMA (grouping.cc, before GemmPrologueRefusal).
inline constexpr int64_t kMaxWeightOnlyRows = 128;

struct GroupingOptions {
  bool fuse = true;
  bool gemm_row_epilogues = true;  // row programs may run in a GEMM's store
  bool norm_prologues = false;     // a norm's tail may run in the load of a GEMM's A
  // Treat a symbolic M as at least this many rows (the form of a plan for the larger M).
  int64_t symbolic_min_rows = 0;
  // The target is sm_90: it runs fp8 GEMMs (f8_gemm.h), so a GEMM of two dequantized fp8
  // operands keeps its weight's dequant in its load at any M; and the Hopper kernel's
  // row clusters, so a GEMM's row epilogue covers rows of up to 2048 columns.
  bool sm90 = false;
  bool wide_row_epilogues = false;  // CompileOptions::wide_row_epilogues (with sm90)
};

// Groups the compute nodes of `graph` (fusing when options.fuse) and orders the groups so
// that every group runs after the groups it reads from.
absl::StatusOr<Grouping> GroupNodes(const Graph& graph, const std::vector<ViewInfo>& views,
                                    const GroupingOptions& options);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_GROUPING_H_
