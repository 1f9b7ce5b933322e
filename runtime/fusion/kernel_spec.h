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
//    (e.g. the new residual stream of `x + r -> rms_norm`).
#ifndef TILEFUSE_RUNTIME_FUSION_KERNEL_SPEC_H_
#define TILEFUSE_RUNTIME_FUSION_KERNEL_SPEC_H_

#include <string>
#include <vector>

#include "runtime/fusion/expr.h"
#include "runtime/graph/custom_tile.h"

namespace tilefuse {

// The index space where the tile kernel's output is produced (and pointwise kernels run).
inline constexpr int kEpilogueSite = -1;

// How a kernel operand is indexed from the flat index i of its site's index space.
enum class Access {
  kFull,     // same shape, contiguous: element i
  kInner,    // broadcast over leading dims: element i % inner
  kScalar,   // one element, broadcast everywhere
  kStrided,  // anything else (transposed views, middle-dim broadcasts): per-dim strides
};
absl::string_view AccessName(Access a);

struct OperandSpec {
  DType dtype = DType::kF32;
  Access access = Access::kFull;
  int site = kEpilogueSite;
  int rank = 1;  // rank of the site's index space (strided operands take that many strides)
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
// threads / row_threads rows; each thread holds up to `vecs` vectors of a row.
struct RowConfig {
  int threads = 256;
  int row_threads = 256;
  int vecs = 2;
};

struct KernelSpec {
  std::string tile;  // "" for a pointwise kernel; "rms_norm", "layer_norm", "softmax", or
                     // the name of a registered kernel
  std::shared_ptr<const CustomTileKernel> custom;  // set for a registered kernel
  double eps = 0;    // rms_norm, layer_norm
  RowConfig row;     // row-wise tile kernels
  std::vector<OperandSpec> operands;
  std::vector<TileInputSpec> tile_inputs;
  std::vector<OutputSpec> outputs;

  bool is_pointwise() const { return tile.empty(); }
  // Elements per vector step: 16 bytes of the narrowest vector-accessed tensor, at most 8.
  int Vec() const;
};

// Canonical text of the spec: the part of a signature that describes the computation.
std::string SpecText(const KernelSpec& spec);

}  // namespace tilefuse

#endif  // TILEFUSE_RUNTIME_FUSION_KERNEL_SPEC_H_
