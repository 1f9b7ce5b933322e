// The graph IR: a small DAG of nodes, each producing one value (a tensor with a dtype and a
// shape). The Graph owns its nodes in insertion order and names them by id; every Add*
// call checks its operands and infers the result, so a Graph is valid by construction.
//
// Example:
//   Graph g("gemm_bias");
//   int m = g.Symbol("M");
//   TF_ASSIGN_OR_RETURN(int x, g.AddInput("x", {Dim::Sym(m), Dim::Static(64)}, DType::kBF16));
//   TF_ASSIGN_OR_RETURN(int h, g.AddScalar(0.5));
//   TF_ASSIGN_OR_RETURN(int y, g.AddPointwise("y", PointwiseOp::kMul, {x, h}));
//   TF_RETURN_IF_ERROR(g.AddOutput(y));
#ifndef TILEFUSE_RUNTIME_GRAPH_GRAPH_H_
#define TILEFUSE_RUNTIME_GRAPH_GRAPH_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/graph/custom_tile.h"
#include "runtime/graph/dtype.h"
#include "runtime/graph/ops.h"
#include "runtime/graph/shape.h"

namespace tilefuse::internal {

// At most this many nodes in one graph (the JSON reader and every Add* check it): plans
// are linear in the node count, and a graph this large plans in about a second.
inline constexpr int kMaxGraphNodes = 1 << 20;
// At most this many symbols (named dims) in one graph: Plan::Run binds them in a fixed array.
inline constexpr int kMaxSymbols = 16;

// kIota: no operands, start + step * (index along `dim`) over `shape` (a leaf computed where
// it is read, never stored). kGather: torch.gather(input, dim, index), operands {input,
// index}.
enum class NodeKind { kInput, kConstant, kPointwise, kTile, kReduce, kView, kIota, kGather };
absl::string_view NodeKindName(NodeKind k);

// Attributes of the design's ops; each op reads the ones it documents.
struct Attrs {
  std::optional<DType> dtype;             // cast
  std::optional<std::string> approximate; // gelu: "none" (default) or "tanh"
  std::optional<double> min, max;         // clamp
  std::optional<double> negative_slope;   // leaky_relu (default 0.01)
  std::optional<double> alpha;            // elu (default 1)
  std::optional<double> beta, threshold;  // softplus (defaults 1 and 20)
  std::optional<double> eps;              // rms_norm, layer_norm
  std::optional<int> dim;                 // softmax, reductions (none: all axes)
  bool keepdim = false;                   // reductions
  std::optional<int> correction;          // var: divides by n - correction (default 1)
  std::vector<int> dims;                  // reductions over several axes (AddReduce lowers them),
                                          // permute's order, flip's axes
  std::optional<int> dim0, dim1;          // transpose
  std::optional<Shape> shape;             // reshape, expand
  // slice (start, end, step), narrow (start, length), select (index); permute and flip
  // take `dims`. Written as given; AddView normalizes negative positions. iota: start, step
  // (and shape, dim, dtype).
  std::optional<int64_t> start, end, step, length, index;
  std::optional<int64_t> group;           // dequant: one scale per `group` elements along the last dim
  std::optional<int64_t> repeats;         // repeat_interleave: copies of each element (>= 1)
  std::optional<int64_t> num_groups;      // group_norm: groups of channels (divides C)
  std::optional<double> p;                // normalize, vector_norm: the norm's order (default 2)
};

struct Node {
  int id = -1;
  std::string name;
  NodeKind kind = NodeKind::kInput;
  // The op, for the kind that has one.
  PointwiseOp pointwise{};
  TileOp tile{};
  std::shared_ptr<const CustomTileKernel> custom;  // a user's tile kernel, when set
  ReduceOp reduce{};
  ViewOp view{};
  std::vector<int> inputs;
  Attrs attrs;
  // The value this node produces.
  DType dtype = DType::kF32;
  Shape shape;
  // kConstant: the scalar, and whether it came from a number literal (a "wrapped number"
  // in PyTorch's promotion, which yields to tensors of the same category).
  double constant = 0;
  bool is_literal = false;

  // "add", "matmul", "input", ... for messages.
  std::string OpString() const;
};

// A built-in matmul over batch dims: [..., M, K] x [..., K, N] -> [..., M, N], the leading
// dims equal on all three (one GEMM per batch index, all in one launch).
inline bool IsBatchedMatmul(const Node& n) {
  return n.kind == NodeKind::kTile && n.custom == nullptr && n.tile == TileOp::kMatmul && n.shape.size() > 2;
}

class Graph {
 public:
  explicit Graph(std::string name = "graph") : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  absl::Span<const Node> nodes() const { return nodes_; }
  const Node& node(int id) const { return nodes_[id]; }
  absl::Span<const int> outputs() const { return outputs_; }
  absl::Span<const int> inputs() const { return inputs_; }
  const std::vector<std::string>& symbols() const { return symbols_; }
  // -1 when no node has that name.
  int FindNode(absl::string_view name) const;
  // -1 when no symbol has that name.
  int FindSymbol(absl::string_view name) const;

  // Returns the id of the symbol, creating it on first use.
  int Symbol(absl::string_view name);

  absl::StatusOr<int> AddInput(std::string name, Shape shape, DType dtype);
  // A scalar constant; dtype f32 for a float literal, i32 for an integer, bool for true/false.
  absl::StatusOr<int> AddScalar(double value, DType dtype = DType::kF32, std::string name = "");
  absl::StatusOr<int> AddPointwise(std::string name, PointwiseOp op, std::vector<int> inputs,
                                   Attrs attrs = {});
  absl::StatusOr<int> AddTile(std::string name, TileOp op, std::vector<int> inputs,
                              Attrs attrs = {});
  // A registered row-wise tile kernel: inputs x [..., N] then its parameters [N].
  absl::StatusOr<int> AddCustomTile(std::string name, std::shared_ptr<const CustomTileKernel> kernel,
                                    std::vector<int> inputs, Attrs attrs = {});
  // `attrs.dims` with several axes lowers to one single-axis reduction per axis; logsumexp
  // lowers to amax, exp, sum and log (AddLogsumexp).
  absl::StatusOr<int> AddReduce(std::string name, ReduceOp op, int input, Attrs attrs = {});
  // Views (ops.h lists them and their attributes); positions are static (a symbolic axis is
  // sliced only whole), the result reads the same buffer with other strides and an offset.
  absl::StatusOr<int> AddView(std::string name, ViewOp op, int input, Attrs attrs = {});
  // start + step * i along axis `dim` of `shape`, broadcast over the other axes, in `dtype`
  // (jax.lax.iota, a broadcast torch.arange). `shape` may hold symbols.
  absl::StatusOr<int> AddIota(std::string name, Shape shape, int dim, int64_t start, int64_t step,
                              DType dtype);
  // torch.arange(start, end, step): a 1-D iota of ceil((end - start) / step) elements.
  absl::StatusOr<int> AddArange(std::string name, int64_t start, int64_t end, int64_t step, DType dtype);
  // torch.gather(input, dim, index): out[..., i_dim, ...] = input[..., index[...], ...], the
  // shape of index (i32, the rank of input, no larger than it on the other axes). Indices
  // outside [0, input.size(dim)) are clamped into it (PyTorch raises instead).
  absl::StatusOr<int> AddGather(std::string name, int input, int dim, int index);
  // torch.cat(inputs, dim): the inputs (same rank, equal sizes but along `dim`, static
  // there; dtypes promoted) one after another along `dim`. Lowered to gathers of each input
  // at its part of an iota along dim (clamped elsewhere) and wheres that pick the part,
  // named NAME.*, so that it fuses wherever gathers do; parts that all slice one tensor
  // along dim (through unary ops: rotate_half) are one gather of it at a picked position.
  absl::StatusOr<int> AddCat(std::string name, std::vector<int> inputs, int dim);
  // torch.stack(inputs, dim): equal shapes, a new dim of inputs.size() at `dim`. Lowered to
  // wheres over an iota along the new dim, each input read through a size-1 reshape that
  // broadcasts along it: no gathers, so computed inputs fuse with it.
  absl::StatusOr<int> AddStack(std::string name, std::vector<int> inputs, int dim);
  static constexpr int kMaxStackRecompute = 32;
  // dequant(q, scale[, zero]) = (f32(q) - zero) * scale, rounded to attrs.dtype (default f32;
  // f16 or bf16). With attrs.group = G, scale and zero hold one value per G elements along
  // q's last dim ([..., ceil(K / G)], the last group possibly short); without, they broadcast
  // against q (one value, or one per row as [N, 1]). Lowered to cast, sub, mul (and iota,
  // gather) nodes named NAME.*.
  absl::StatusOr<int> AddDequant(std::string name, std::vector<int> inputs, Attrs attrs);
  // quantize(x, scale) to attrs.dtype (f8e4m3, f8e5m2, i8): x / scale in f32, saturated at the
  // type's range (integers rounded half to even first), then cast. Lowered like dequant.
  absl::StatusOr<int> AddQuantize(std::string name, std::vector<int> inputs, Attrs attrs);
  // Any value may be an output, the same one several times, an input too.
  absl::Status AddOutput(int id);

  std::string ShapeText(int id) const { return ShapeString(nodes_[id].shape, symbols_); }

 private:
  absl::StatusOr<int> AddMultiAxisReduce(std::string name, ReduceOp op, int input, Attrs attrs);
  absl::StatusOr<int> AddLogsumexp(std::string name, int input, Attrs attrs);
  // logsumexp in f32 under node names NAME.max, NAME.sum, ..., its last node `result_name`.
  // rms_norm or layer_norm with fewer parameters than the tile's, written op by op in f32.
  absl::StatusOr<int> AddNormOpByOp(std::string name, TileOp op, std::vector<int> inputs, Attrs attrs);
  // rms_norm or layer_norm whose parameters span x's last k dims (F.layer_norm(x, (H, W),
  // w, b)): over those dims merged into one (static), the result reshaped back.
  absl::StatusOr<int> AddNormOverTrailingDims(std::string name, TileOp op, std::vector<int> inputs, Attrs attrs);
  absl::StatusOr<int> LogsumexpF32(const std::string& name, int input, const Attrs& attrs, std::string result_name);
  absl::StatusOr<int> AddLogSoftmax(std::string name, int input, Attrs attrs);
  // Dequant's parameter `param` read per group of q's last dim: a gather at floor(k / group).
  absl::StatusOr<int> GroupRead(const std::string& name, int param, int q, int64_t group);
  // gather(input, dim, index) with unary pointwise ops above stored values applied after the
  // gather instead (gather(-x) = -gather(x)): a gather's input is stored first, so the
  // computed value would take a kernel of its own. `read` >= 0: that gather, made already,
  // stands for the one under the unary ops.
  absl::StatusOr<int> GatherThrough(const std::string& name, int input, int dim, int index, int read = -1);
  // Whether v is a unary pointwise op over a value of its shape (what GatherThrough moves).
  bool IsUnaryOver(int v) const;
  // v with a size-1 dim inserted before its last `trailing` dims: through the pointwise ops
  // above it down to the values they read (at most `budget` ops rebuilt), so that a stack
  // of computed values is computed in the stack's kernel (as broadcast producers) rather
  // than read through a view of each. `memo` maps the nodes done.
  absl::StatusOr<int> UnsqueezeThrough(const std::string& name, int v, int trailing, std::map<int, int>& memo,
                                       int& budget);
  absl::StatusOr<Shape> ViewShape(const std::string& name, ViewOp op, const Node& x, Attrs& attrs) const;
  absl::Status CheckNewNode(const std::string& name, absl::Span<const int> inputs) const;
  int Append(Node n);

  std::string name_;
  std::vector<Node> nodes_;
  std::vector<int> inputs_;
  std::vector<int> outputs_;
  std::vector<std::string> symbols_;
  absl::flat_hash_map<std::string, int> by_name_;  // node ids by name
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_GRAPH_H_
