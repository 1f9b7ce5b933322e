// Index ops: iota / arange (values from positions) and gather (reads at computed positions).
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

}  // namespace tilefuse::internal
