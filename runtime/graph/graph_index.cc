// Index ops: iota / arange (values from positions), gather (reads at computed positions),
// and cat (lowered to gathers).
#include <map>

#include "absl/strings/str_cat.h"
#include "runtime/graph/graph.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

absl::Status IndexError(absl::string_view name, absl::string_view op, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("node '", name, "' (", op, "): ", what));
}

}  // namespace

absl::StatusOr<int> Graph::AddIota(std::string name, Shape shape, int dim, int64_t start, int64_t step,
                                   DType dtype) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, {}));
  const auto err = [&](absl::string_view what) { return IndexError(name, "iota", what); };
  if (shape.empty() || shape.size() > kMaxRank) {
    return err(absl::StrCat("rank ", shape.size(), " (expected 1 to ", kMaxRank, ")"));
  }
  auto axis = NormalizeAxis(dim, static_cast<int>(shape.size()));
  if (!axis.ok()) return err(axis.status().message());
  for (const Dim& d : shape) {
    if (d.is_static() && d.value < 0) return err(absl::StrCat("shape ", ShapeString(shape, symbols_), " has a negative size"));
  }
  if (dtype == DType::kBool) return err("dtype bool (expected a number type)");
  // Every value must be exact in the dtype: the last one is bounded by the static sizes
  // (a symbolic axis by 2^31), and i32 must hold it.
  const Dim& len = shape[*axis];
  const double last = static_cast<double>(start) + static_cast<double>(step) *
                                                        static_cast<double>(len.is_static() ? len.value : INT32_MAX);
  if (dtype == DType::kI32 && (start < INT32_MIN || start > INT32_MAX || last < INT32_MIN || last > INT32_MAX)) {
    return err(absl::StrCat("start ", start, ", step ", step, " over ", ShapeString({len}, symbols_),
                            " elements leave i32"));
  }
  Node n;
  n.name = std::move(name);
  n.kind = NodeKind::kIota;
  n.shape = std::move(shape);
  n.dtype = dtype;
  n.attrs.dim = *axis;
  n.attrs.start = start;
  n.attrs.step = step;
  n.attrs.dtype = dtype;
  return Append(std::move(n));
}

absl::StatusOr<int> Graph::AddArange(std::string name, int64_t start, int64_t end, int64_t step, DType dtype) {
  if (step == 0) return IndexError(name, "arange", "step 0");
  const int64_t span = end - start;
  const int64_t count = (span > 0) == (step > 0) && span != 0 ? (span + step - (step > 0 ? 1 : -1)) / step : 0;
  return AddIota(std::move(name), {Dim::Static(count)}, 0, start, step, dtype);
}

absl::StatusOr<int> Graph::AddGather(std::string name, int input, int dim, int index) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, {input, index}));
  const auto err = [&](absl::string_view what) { return IndexError(name, "gather", what); };
  const Node& x = nodes_[input];
  const Node& idx = nodes_[index];
  if (x.kind == NodeKind::kConstant || idx.kind == NodeKind::kConstant) {
    return err("operands must be tensors, not constants");
  }
  if (idx.dtype != DType::kI32) {
    return err(absl::StrCat("index '", idx.name, "' is ", DTypeName(idx.dtype), " (expected i32)"));
  }
  const int rank = static_cast<int>(x.shape.size());
  if (rank == 0 || static_cast<int>(idx.shape.size()) != rank) {
    return err(absl::StrCat("index '", idx.name, "' has shape ", ShapeText(index), " and input '", x.name,
                            "' shape ", ShapeText(input), " (expected the same rank, at least 1)"));
  }
  auto axis = NormalizeAxis(dim, rank);
  if (!axis.ok()) return err(axis.status().message());
  for (int d = 0; d < rank; ++d) {
    if (d == *axis) continue;
    const Dim& a = idx.shape[d];
    const Dim& b = x.shape[d];
    // No larger than the input: equal, or both static and smaller.
    if (!(a == b) && !(a.is_static() && b.is_static() && a.value <= b.value)) {
      return err(absl::StrCat("index '", idx.name, "' dim ", d, " is ", ShapeString({a}, symbols_),
                              " but input '", x.name, "' dim ", d, " is ", ShapeString({b}, symbols_),
                              " (expected no larger)"));
    }
  }
  Node n;
  n.name = std::move(name);
  n.kind = NodeKind::kGather;
  n.inputs = {input, index};
  n.shape = idx.shape;
  n.dtype = x.dtype;
  n.attrs.dim = *axis;
  return Append(std::move(n));
}

absl::StatusOr<int> Graph::UnsqueezeThrough(const std::string& name, int v, int trailing, std::map<int, int>& memo,
                                            int& budget) {
  if (auto it = memo.find(v); it != memo.end()) return it->second;
  const Node x = nodes_[v];  // a copy: adding nodes moves nodes_
  const int k = static_cast<int>(x.shape.size());
  int r = v;
  if (x.kind == NodeKind::kConstant || k < trailing) {
    // Broadcast from the right, it never reaches the new dim.
  } else if (x.kind == NodeKind::kPointwise && budget > 0) {
    --budget;
    std::vector<int> args;
    for (int in : x.inputs) {
      TF_ASSIGN_OR_RETURN(const int a, UnsqueezeThrough(name, in, trailing, memo, budget));
      args.push_back(a);
    }
    TF_ASSIGN_OR_RETURN(r, AddPointwise(absl::StrCat(name, ".", x.name), x.pointwise, args, x.attrs));
  } else {
    Shape shape = x.shape;
    shape.insert(shape.begin() + (k - trailing), Dim::Static(1));
    TF_ASSIGN_OR_RETURN(r, AddView(absl::StrCat(name, ".", x.name), ViewOp::kReshape, v, Attrs{.shape = shape}));
  }
  memo[v] = r;
  return r;
}

absl::StatusOr<int> Graph::AddStack(std::string name, std::vector<int> inputs, int dim) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, inputs));
  const auto err = [&](absl::string_view what) { return IndexError(name, "stack", what); };
  if (inputs.empty()) return err("takes at least 1 operand, got 0");
  const Shape shape = nodes_[inputs[0]].shape;  // a copy: adding nodes moves nodes_
  auto axis = NormalizeAxis(dim, static_cast<int>(shape.size()) + 1);
  if (!axis.ok()) return err(axis.status().message());
  for (int in : inputs) {
    if (nodes_[in].kind == NodeKind::kConstant) return err(absl::StrCat("'", nodes_[in].name, "' is a constant (expected a tensor)"));
    if (!(nodes_[in].shape == shape)) {
      return err(absl::StrCat("'", nodes_[in].name, "' has shape ", ShapeText(in), " and '", nodes_[inputs[0]].name,
                              "' ", ShapeText(inputs[0]), " (expected equal shapes)"));
    }
  }
  Shape one = shape;
  one.insert(one.begin() + *axis, Dim::Static(1));
  const size_t n = inputs.size();
  if (n == 1) return AddView(std::move(name), ViewOp::kReshape, inputs[0], Attrs{.shape = one});
  std::vector<int> parts;
  std::map<int, int> memo;
  int budget = kMaxStackRecompute;
  const int trailing = static_cast<int>(shape.size()) - *axis;
  for (size_t i = 0; i < n; ++i) {
    TF_ASSIGN_OR_RETURN(const int u, UnsqueezeThrough(absl::StrCat(name, ".in"), inputs[i], trailing, memo, budget));
    parts.push_back(u);
  }
  Shape out = shape;
  out.insert(out.begin() + *axis, Dim::Static(static_cast<int64_t>(n)));
  TF_ASSIGN_OR_RETURN(const int pos, AddIota(absl::StrCat(name, ".pos"), out, *axis, 0, 1, DType::kI32));
  int result = parts.back();
  for (size_t i = n - 1; i-- > 0;) {
    TF_ASSIGN_OR_RETURN(const int next, AddScalar(static_cast<double>(i + 1), DType::kI32));
    TF_ASSIGN_OR_RETURN(const int in_part, AddPointwise(absl::StrCat(name, ".is", i), PointwiseOp::kLt, {pos, next}));
    TF_ASSIGN_OR_RETURN(result, AddPointwise(i == 0 ? name : absl::StrCat(name, ".pick", i), PointwiseOp::kWhere,
                                             {in_part, parts[i], result}));
  }
  return result;
}

bool Graph::IsUnaryOver(int v) const {
  const Node& x = nodes_[v];
  return x.kind == NodeKind::kPointwise && x.inputs.size() == 1 && nodes_[x.inputs[0]].shape == x.shape;
}

absl::StatusOr<int> Graph::GatherThrough(const std::string& name, int input, int dim, int index, int read) {
  // Copies: adding nodes moves nodes_.
  const Node x = nodes_[input];
  if (!IsUnaryOver(input)) return read >= 0 ? read : AddGather(name, input, dim, index);
  TF_ASSIGN_OR_RETURN(const int inner, GatherThrough(absl::StrCat(name, ".", x.name), x.inputs[0], dim, index, read));
  return AddPointwise(name, x.pointwise, {inner}, x.attrs);
}

absl::StatusOr<int> Graph::AddCat(std::string name, std::vector<int> inputs, int dim) {
  TF_RETURN_IF_ERROR(CheckNewNode(name, inputs));
  const auto err = [&](absl::string_view what) { return IndexError(name, "cat", what); };
  if (inputs.empty()) return err("takes at least 1 operand, got 0");
  // Copies: adding nodes moves nodes_.
  const Node first = nodes_[inputs[0]];
  const int rank = static_cast<int>(first.shape.size());
  if (rank == 0) return err(absl::StrCat("'", first.name, "' is a scalar (expected a tensor of rank >= 1)"));
  auto axis = NormalizeAxis(dim, rank);
  if (!axis.ok()) return err(axis.status().message());
  const int d = *axis;
  std::vector<int64_t> offsets;
  int64_t total = 0;
  DType dtype = first.dtype;
  for (int in : inputs) {
    const Node& x = nodes_[in];
    if (x.kind == NodeKind::kConstant) return err(absl::StrCat("'", x.name, "' is a constant (expected a tensor)"));
    bool same = static_cast<int>(x.shape.size()) == rank;
    for (int a = 0; same && a < rank; ++a) same = a == d || x.shape[a] == first.shape[a];
    if (!same) {
      return err(absl::StrCat("'", x.name, "' has shape ", ShapeText(in), " and '", first.name, "' ",
                              ShapeText(inputs[0]), " (expected equal sizes but along dim ", d, ")"));
    }
  }
  for (int in : inputs) {
    const Node& x = nodes_[in];
    if (!x.shape[d].is_static()) {
      return err(absl::StrCat("'", x.name, "' is ", ShapeText(in), ": dim ", d,
                              " is symbolic (expected static sizes along the concatenated dim)"));
    }
    offsets.push_back(total);
    total += x.shape[d].value;
    dtype = PromoteTypes(dtype, x.dtype);
  }
  if (total > INT32_MAX) return err(absl::StrCat("dim ", d, " totals ", total, " (expected at most 2^31 - 1)"));
  Shape shape = first.shape;
  shape[d] = Dim::Static(total);
  const size_t n = inputs.size();
  if (n == 1) return AddPointwise(std::move(name), PointwiseOp::kCast, {inputs[0]}, Attrs{.dtype = dtype});
  TF_ASSIGN_OR_RETURN(const int pos, AddIota(absl::StrCat(name, ".pos"), shape, d, 0, 1, DType::kI32));
  // Part i is in the result where pos < offset_{i + 1}.
  std::vector<int> in_part(n, -1);
  for (size_t i = 0; i + 1 < n; ++i) {
    TF_ASSIGN_OR_RETURN(const int off, AddScalar(static_cast<double>(offsets[i + 1]), DType::kI32));
    TF_ASSIGN_OR_RETURN(in_part[i], AddPointwise(absl::StrCat(name, ".in", i), PointwiseOp::kLt, {pos, off}));
  }
  const auto pick = [&](const std::vector<int>& values, const std::string& last_name) -> absl::StatusOr<int> {
    int r = values.back();
    for (size_t i = n - 1; i-- > 0;) {
      TF_ASSIGN_OR_RETURN(r, AddPointwise(i == 0 ? last_name : absl::StrCat(last_name, ".pick", i),
                                          PointwiseOp::kWhere, {in_part[i], values[i], r}));
    }
    return r;
  };
  // Every part a slice along d of one tensor, through unary ops (rotate_half's
  // cat(-x[..., h:], x[..., :h])): one gather of that tensor at a position picked per part
  // (all inside it), then each part's unary ops over it, instead of a gather per part.
  int source = -1;
  std::vector<int64_t> starts;
  for (int in : inputs) {
    int v = in;
    while (IsUnaryOver(v)) v = nodes_[v].inputs[0];
    const Node& x = nodes_[v];
    const bool slice = x.kind == NodeKind::kView && (x.view == ViewOp::kSlice || x.view == ViewOp::kNarrow) &&
                       x.attrs.dim == d && x.attrs.start && x.attrs.step.value_or(1) == 1;
    if (!slice || (source >= 0 && x.inputs[0] != source)) {
      source = -1;
      break;
    }
    source = x.inputs[0];
    starts.push_back(*x.attrs.start);
  }
  if (source >= 0) {
    std::vector<int> at;
    for (size_t i = 0; i < n; ++i) {
      int a = pos;
      if (starts[i] != offsets[i]) {
        TF_ASSIGN_OR_RETURN(const int shift, AddScalar(static_cast<double>(starts[i] - offsets[i]), DType::kI32));
        TF_ASSIGN_OR_RETURN(a, AddPointwise(absl::StrCat(name, ".at", i), PointwiseOp::kAdd, {pos, shift}));
      }
      at.push_back(a);
    }
    TF_ASSIGN_OR_RETURN(const int index, pick(at, absl::StrCat(name, ".at")));
    TF_ASSIGN_OR_RETURN(const int read, AddGather(absl::StrCat(name, ".read"), source, d, index));
    std::vector<int> parts;
    for (size_t i = 0; i < n; ++i) {
      // Part i's unary ops, rebuilt over the one read.
      TF_ASSIGN_OR_RETURN(int part, GatherThrough(absl::StrCat(name, ".part", i), inputs[i], d, index, read));
      if (nodes_[part].dtype != dtype) {
        TF_ASSIGN_OR_RETURN(part, AddPointwise(absl::StrCat(name, ".part", i, ".", DTypeName(dtype)),
                                               PointwiseOp::kCast, {part}, Attrs{.dtype = dtype}));
      }
      parts.push_back(part);
    }
    return pick(parts, name);
  }
  // Part i read at pos - offset_i (the gather clamps the positions of the other parts).
  std::vector<int> parts;
  for (size_t i = 0; i < n; ++i) {
    int at = pos;
    if (offsets[i] > 0) {
      TF_ASSIGN_OR_RETURN(const int off, AddScalar(static_cast<double>(offsets[i]), DType::kI32));
      TF_ASSIGN_OR_RETURN(at, AddPointwise(absl::StrCat(name, ".at", i), PointwiseOp::kSub, {pos, off}));
    }
    TF_ASSIGN_OR_RETURN(int part, GatherThrough(absl::StrCat(name, ".part", i), inputs[i], d, at));
    if (nodes_[part].dtype != dtype) {
      TF_ASSIGN_OR_RETURN(part, AddPointwise(absl::StrCat(name, ".part", i, ".", DTypeName(dtype)),
                                             PointwiseOp::kCast, {part}, Attrs{.dtype = dtype}));
    }
    parts.push_back(part);
  }
  // The last part, then each earlier one where pos falls before the next part's offset.
  return pick(parts, name);
}

}  // namespace tilefuse::internal
