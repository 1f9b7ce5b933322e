#include "runtime/graph/json.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/graph/json_value.h"
#include "runtime/graph/names.h"
#include "runtime/graph/read_file.h"
#include "runtime/graph/torch_aliases.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

absl::Status Err(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// The keys an object of the format may hold: any other is a misspelling, not ignored.
absl::Status OnlyKeys(const Json& obj, std::initializer_list<absl::string_view> allowed, absl::string_view where) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    return Err(where, absl::StrCat("unknown key ", QuotedName(key), " (expected ", absl::StrJoin(allowed, ", "), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Shape> ParseShape(Graph& g, const Json& j, absl::string_view where) {
  if (!j.is_array()) return Err(where, "'shape' must be an array of ints and symbol names");
  if (j.size() > static_cast<size_t>(kMaxRank)) {
    return Err(where, absl::StrCat("'shape' has ", j.size(), " dims (at most ", kMaxRank, ")"));
  }
  Shape s;
  for (const Json& d : j) {
    if (d.is_number()) {
      TF_ASSIGN_OR_RETURN(int64_t v, JsonInt(d, -(int64_t{1} << kMaxNumelLog2), int64_t{1} << kMaxNumelLog2, absl::StrCat(where, ": dim")));
      s.push_back(Dim::Static(v));
    } else if (d.is_string() && !d.get_ref<const std::string&>().empty()) {
      const std::string& name = d.get_ref<const std::string&>();
      if (!IsPrintableName(name)) return Err(where, absl::StrCat("symbol ", QuotedName(name), " is not printable"));
      if (g.FindSymbol(name) < 0 && g.symbols().size() >= static_cast<size_t>(kMaxSymbols)) {
        return Err(where, absl::StrCat("symbol ", QuotedName(name), " is one more than the ", kMaxSymbols,
                                       " a graph may have"));
      }
      s.push_back(Dim::Sym(g.Symbol(name)));
    } else {
      return Err(where, absl::StrCat("dim ", BriefJson(d), " is neither an int nor a symbol name"));
    }
  }
  return s;
}

absl::StatusOr<int> ParseAxis(const Json& v, absl::string_view where) {
  TF_ASSIGN_OR_RETURN(int64_t a, JsonInt(v, -kMaxRank, kMaxRank - 1, where));
  return static_cast<int>(a);
}

absl::StatusOr<Attrs> ParseAttrs(Graph& g, const Json& j, absl::string_view where) {
  Attrs a;
  if (j.is_null()) return a;
  if (!j.is_object()) return Err(where, "'attrs' must be an object");
  for (const auto& [key, v] : j.items()) {
    const std::string what = absl::StrCat(where, ": attribute '", key, "'");
    if (key == "dtype") {
      TF_ASSIGN_OR_RETURN(std::string name, JsonString(v, what));
      auto d = ParseDType(name);
      if (!d.ok()) return Err(where, d.status().message());
      a.dtype = *d;
    } else if (key == "approximate") {
      TF_ASSIGN_OR_RETURN(a.approximate, JsonString(v, what));
    } else if (key == "min" || key == "max" || key == "eps" || key == "negative_slope" || key == "alpha" ||
               key == "beta" || key == "threshold") {
      TF_ASSIGN_OR_RETURN(double x, JsonReal(v, what));
      (key == "min"              ? a.min
       : key == "max"            ? a.max
       : key == "eps"            ? a.eps
       : key == "negative_slope" ? a.negative_slope
       : key == "alpha"          ? a.alpha
       : key == "beta"           ? a.beta
                                 : a.threshold) = x;
    } else if (key == "dim" && v.is_array()) {
      for (const Json& d : v) {
        TF_ASSIGN_OR_RETURN(int axis, ParseAxis(d, what));
        a.dims.push_back(axis);
      }
      if (a.dims.size() == 1) a.dim = a.dims[0];
      if (a.dims.size() <= 1) a.dims.clear();
    } else if (key == "dim" || key == "dim0" || key == "dim1") {
      TF_ASSIGN_OR_RETURN(int axis, ParseAxis(v, what));
      (key == "dim" ? a.dim : key == "dim0" ? a.dim0 : a.dim1) = axis;
    } else if (key == "dims") {
      if (!v.is_array()) return Err(where, absl::StrCat("attribute 'dims' must be an array of axes"));
      for (const Json& d : v) {
        TF_ASSIGN_OR_RETURN(int axis, ParseAxis(d, what));
        a.dims.push_back(axis);
      }
    } else if (key == "start" || key == "end" || key == "step" || key == "length" || key == "index") {
      TF_ASSIGN_OR_RETURN(int64_t x, JsonInt(v, -(int64_t{1} << kMaxNumelLog2), int64_t{1} << kMaxNumelLog2, what));
      (key == "start" ? a.start : key == "end" ? a.end : key == "step" ? a.step : key == "length" ? a.length : a.index) =
          x;
    } else if (key == "group") {
      TF_ASSIGN_OR_RETURN(a.group, JsonInt(v, 0, int64_t{1} << kMaxNumelLog2, what));
    } else if (key == "repeats") {
      TF_ASSIGN_OR_RETURN(a.repeats, JsonInt(v, 1, int64_t{1} << kMaxNumelLog2, what));
    } else if (key == "num_groups") {
      TF_ASSIGN_OR_RETURN(a.num_groups, JsonInt(v, 1, int64_t{1} << kMaxNumelLog2, what));
    } else if (key == "p" || key == "ord") {
      TF_ASSIGN_OR_RETURN(a.p, JsonReal(v, what));
    } else if (key == "correction") {
      TF_ASSIGN_OR_RETURN(int64_t c, JsonInt(v, 0, INT32_MAX, what));
      a.correction = static_cast<int>(c);
    } else if (key == "keepdim") {
      TF_ASSIGN_OR_RETURN(a.keepdim, JsonBool(v, what));
    } else if (key == "shape") {
      TF_ASSIGN_OR_RETURN(a.shape, ParseShape(g, v, where));
    } else {
      return Err(where, absl::StrCat("unknown attribute ", QuotedName(key)));
    }
  }
  return a;
}

// One operand of a node: a node's name, a number (i32 for an integer, f32 otherwise),
// true/false, or {"value": V, "dtype": D} for a constant JSON cannot write as a number
// (V "inf", "-inf" or "nan") or of a stated dtype.
absl::StatusOr<int> ParseOperand(Graph& g, const Json& in, absl::string_view where) {
  if (in.is_string()) return g.FindNode(in.get_ref<const std::string&>());
  if (in.is_boolean()) return g.AddScalar(in.get<bool>() ? 1 : 0, DType::kBool);
  if (in.is_number_integer()) {
    TF_ASSIGN_OR_RETURN(int64_t v, JsonInt(in, INT32_MIN, INT32_MAX, absl::StrCat(where, ": integer operand")));
    return g.AddScalar(static_cast<double>(v), DType::kI32);
  }
  if (in.is_number()) return g.AddScalar(in.get<double>(), DType::kF32);
  if (in.is_object()) {
    TF_RETURN_IF_ERROR(OnlyKeys(in, {"value", "dtype"}, absl::StrCat(where, ": constant operand")));
    const Json* value = JsonMember(in, "value");
    if (value == nullptr) return Err(where, absl::StrCat("constant ", BriefJson(in), " has no 'value'"));
    TF_ASSIGN_OR_RETURN(double v, JsonReal(*value, absl::StrCat(where, ": constant value")));
    DType dtype = value->is_number_integer() ? DType::kI32 : DType::kF32;
    if (const Json* d = JsonMember(in, "dtype")) {
      TF_ASSIGN_OR_RETURN(std::string name, JsonString(*d, absl::StrCat(where, ": constant dtype")));
      auto parsed = ParseDType(name);
      if (!parsed.ok()) return Err(where, parsed.status().message());
      dtype = *parsed;
    }
    return g.AddScalar(v, dtype);
  }
  return Err(where, absl::StrCat("operand ", BriefJson(in), " is neither a name nor a number"));
}

// PyTorch's unsqueeze / squeeze as the reshape view they are: a size-1 dim inserted at
// `dim` (of the result's rank), or removed at `dim` (every size-1 dim when none is given; a
// dim whose size is not 1 stays, as in PyTorch).
absl::StatusOr<int> AddUnsqueeze(Graph& g, const std::string& name, int x, int dim, const std::string& where) {
  Shape shape = g.node(x).shape;
  auto axis = NormalizeAxis(dim, static_cast<int>(shape.size()) + 1);
  if (!axis.ok()) return Err(where, axis.status().message());
  shape.insert(shape.begin() + *axis, Dim::Static(1));
  return g.AddView(name, ViewOp::kReshape, x, Attrs{.shape = shape});
}

absl::StatusOr<int> AddSqueeze(Graph& g, const std::string& name, int x, std::optional<int> dim,
                               const std::string& where) {
  const Shape& in = g.node(x).shape;
  Shape shape;
  std::optional<int> axis;
  if (dim) {
    auto a = NormalizeAxis(*dim, static_cast<int>(in.size()));
    if (!a.ok()) return Err(where, a.status().message());
    axis = *a;
  }
  for (size_t d = 0; d < in.size(); ++d) {
    const bool drop = in[d].is_one() && (!axis || *axis == static_cast<int>(d));
    if (!drop) shape.push_back(in[d]);
  }
  return g.AddView(name, ViewOp::kReshape, x, Attrs{.shape = shape});
}

// torch.matmul: 2-D x 2-D is the matmul tile; a vector operand is a dot, a row reduction
// (mv: sum(a * v, -1)) or a one-row GEMM (vm); an N-D A times a 2-D B flattens A's leading
// dims where they allow it (static, or one symbolic dim beside dims of 1); otherwise the
// batch dims broadcast (static or symbolic), each operand is expanded to them where it
// lacks them, and one batched matmul tile runs every batch in one launch.
absl::StatusOr<int> AddMatmul(Graph& g, const std::string& name, const std::vector<int>& ins,
                              const std::string& where) {
  if (ins.size() != 2) return Err(where, absl::StrCat("'matmul' takes 2 operands, got ", ins.size()));
  const Shape a = g.node(ins[0]).shape, b = g.node(ins[1]).shape;  // copies: adding nodes moves the graph's nodes
  const auto shapes = [&] { return absl::StrCat(g.ShapeText(ins[0]), " and ", g.ShapeText(ins[1])); };
  if (a.empty() || b.empty()) return Err(where, absl::StrCat("'matmul' operands must have rank >= 1, got ", shapes()));
  if (a.size() == 2 && b.size() == 2) return g.AddTile(name, TileOp::kMatmul, ins);
  const Dim& k = a.back();
  const Dim& kb = b.size() == 1 ? b[0] : b[b.size() - 2];
  if (!(k == kb)) {
    return Err(where, absl::StrCat("'matmul' inner dims differ: ", shapes(), " (expected [..., K] and [..., K, N] or [K])"));
  }
  if (b.size() == 1) {
    // A vector B: each row of A times it, summed (a dot product for a vector A).
    TF_ASSIGN_OR_RETURN(const int prod, g.AddPointwise(absl::StrCat(name, ".prod"), PointwiseOp::kMul, ins));
    return g.AddReduce(name, ReduceOp::kSum, prod, Attrs{.dim = -1});
  }
  if (a.size() == 1) {
    if (b.size() != 2) {
      return Err(where, absl::StrCat("'matmul' of a vector and a batch of matrices (", shapes(),
                                     ") is not supported; unsqueeze the vector to [1, K] and broadcast it"));
    }
    TF_ASSIGN_OR_RETURN(const int row, g.AddView(absl::StrCat(name, ".row"), ViewOp::kReshape, ins[0],
                                                 Attrs{.shape = Shape{Dim::Static(1), k}}));
    TF_ASSIGN_OR_RETURN(const int y, g.AddTile(absl::StrCat(name, ".mm"), TileOp::kMatmul, {row, ins[1]}));
    return g.AddView(name, ViewOp::kReshape, y, Attrs{.shape = Shape{b.back()}});
  }
  if (b.size() == 2) {
    // [..., M, K] x [K, N]: one GEMM over the flattened rows where a reshape can say so.
    int64_t rows = 1;
    int symbolic = 0;
    std::optional<Dim> sym;
    for (size_t d = 0; d + 1 < a.size(); ++d) {
      if (a[d].is_static()) {
        rows *= a[d].value;
      } else {
        ++symbolic;
        sym = a[d];
      }
    }
    if (symbolic == 0 || (symbolic == 1 && rows == 1)) {
      TF_ASSIGN_OR_RETURN(const int a2, g.AddView(absl::StrCat(name, ".a2d"), ViewOp::kReshape, ins[0],
                                                  Attrs{.shape = Shape{sym ? *sym : Dim::Static(rows), k}}));
      TF_ASSIGN_OR_RETURN(const int y, g.AddTile(absl::StrCat(name, ".mm"), TileOp::kMatmul, {a2, ins[1]}));
      Shape out(a.begin(), a.end() - 1);
      out.push_back(b.back());
      return g.AddView(name, ViewOp::kReshape, y, Attrs{.shape = out});
    }
  }
  // Batched: the broadcast of both operands' leading dims.
  const size_t rank = std::max(a.size(), b.size());
  Shape batch(rank - 2, Dim::Static(1));
  for (size_t d = 0; d + 2 < rank; ++d) {
    for (const Shape* s : {&a, &b}) {
      const size_t lead = rank - s->size();
      if (d < lead || (*s)[d - lead].is_one()) continue;
      const Dim& x = (*s)[d - lead];
      if (!batch[d].is_one() && !(batch[d] == x)) {
        return Err(where, absl::StrCat("'matmul' batch dims of ", shapes(), " do not broadcast"));
      }
      batch[d] = x;
    }
  }
  // Each operand as [batch..., rows, cols]: expanded where its batch dims differ (a view).
  const auto batched = [&](int x, const std::string& tag) -> absl::StatusOr<int> {
    const Shape& s = g.node(x).shape;
    Shape full = batch;
    full.insert(full.end(), s.end() - 2, s.end());
    if (s == full) return x;
    return g.AddView(absl::StrCat(name, ".", tag), ViewOp::kExpand, x, Attrs{.shape = full});
  };
  TF_ASSIGN_OR_RETURN(const int ab, batched(ins[0], "a"));
  TF_ASSIGN_OR_RETURN(const int bb, batched(ins[1], "b"));
  return g.AddTile(name, TileOp::kMatmul, {ab, bb});
}

// torch.nn.functional.linear(x, w[, b]) = x @ w.T (+ b), w [N, K], x [..., K]: AddMatmul of
// x and w's transpose (x's leading dims flattened into M where a reshape can, else a
// batched GEMM over them), then the bias.
absl::StatusOr<int> AddLinear(Graph& g, const std::string& name, const std::vector<int>& ins,
                              const std::string& where) {
  if (ins.size() != 2 && ins.size() != 3) {
    return Err(where, absl::StrCat("'linear' takes 2 or 3 operands (x, w[, b]), got ", ins.size()));
  }
  const Shape x = g.node(ins[0]).shape;  // copies: adding nodes moves the graph's nodes
  if (x.size() < 2) return Err(where, absl::StrCat("'linear' input x is ", g.ShapeText(ins[0]), " (expected rank >= 2)"));
  TF_ASSIGN_OR_RETURN(const int wt, g.AddView(absl::StrCat(name, ".wt"), ViewOp::kTranspose, ins[1],
                                              Attrs{.dim0 = 0, .dim1 = 1}));
  const bool bias = ins.size() == 3;
  TF_ASSIGN_OR_RETURN(const int y, AddMatmul(g, bias ? absl::StrCat(name, ".mm") : name, {ins[0], wt}, where));
  if (!bias) return y;
  return g.AddPointwise(name, PointwiseOp::kAdd, {y, ins[2]});
}

// torch.index_select(x, dim, index) with a 1-D i32 index, and F.embedding(ids, weight): a
// gather whose index is the given one broadcast over the other dims (a reshape and an
// expand: views), and for embedding the weight broadcast over the ids' leading dims.
absl::StatusOr<int> AddIndexSelect(Graph& g, const std::string& name, int x, int dim, int index,
                                   const std::string& where) {
  const Shape xs = g.node(x).shape, is = g.node(index).shape;
  if (is.size() != 1) {
    return Err(where, absl::StrCat("'index_select' index is ", g.ShapeText(index), " (expected 1-D)"));
  }
  if (xs.empty()) return Err(where, "'index_select' input must have rank >= 1");
  const int rank = static_cast<int>(xs.size());
  const int axis = dim < 0 ? dim + rank : dim;
  if (axis < 0 || axis >= rank) {
    return Err(where, absl::StrCat("'index_select' dim ", dim, " is out of range for rank ", rank));
  }
  Shape lifted(rank, Dim::Static(1)), out = xs;
  lifted[axis] = is[0];
  out[axis] = is[0];
  TF_ASSIGN_OR_RETURN(const int r, g.AddView(absl::StrCat(name, ".index"), ViewOp::kReshape, index, Attrs{.shape = lifted}));
  TF_ASSIGN_OR_RETURN(const int e, g.AddView(absl::StrCat(name, ".indices"), ViewOp::kExpand, r, Attrs{.shape = out}));
  return g.AddGather(name, x, axis, e);
}

absl::StatusOr<int> AddEmbedding(Graph& g, const std::string& name, int ids, int weight, const std::string& where) {
  const Shape is = g.node(ids).shape, ws = g.node(weight).shape;
  if (ws.size() != 2) return Err(where, absl::StrCat("'embedding' weight is ", g.ShapeText(weight), " (expected [V, H])"));
  if (is.empty()) return Err(where, "'embedding' ids must have rank >= 1");
  if (is.size() == 1) return AddIndexSelect(g, name, weight, 0, ids, where);
  // ids [..., S]: the weight as [1.., V, H] broadcast to [.., V, H], gathered along V.
  Shape lead(is.begin(), is.end() - 1), ones(is.size() - 1, Dim::Static(1));
  Shape w_shape = ones, w_out = lead, i_shape = is, i_out = is;
  w_shape.insert(w_shape.end(), ws.begin(), ws.end());
  w_out.insert(w_out.end(), ws.begin(), ws.end());
  i_shape.push_back(Dim::Static(1));
  i_out.push_back(ws[1]);
  TF_ASSIGN_OR_RETURN(const int w1, g.AddView(absl::StrCat(name, ".w"), ViewOp::kReshape, weight, Attrs{.shape = w_shape}));
  TF_ASSIGN_OR_RETURN(const int we, g.AddView(absl::StrCat(name, ".table"), ViewOp::kExpand, w1, Attrs{.shape = w_out}));
  TF_ASSIGN_OR_RETURN(const int i1, g.AddView(absl::StrCat(name, ".ids"), ViewOp::kReshape, ids, Attrs{.shape = i_shape}));
  TF_ASSIGN_OR_RETURN(const int ie, g.AddView(absl::StrCat(name, ".indices"), ViewOp::kExpand, i1, Attrs{.shape = i_out}));
  return g.AddGather(name, we, static_cast<int>(is.size()) - 1, ie);
}

// Adds one JSON node whose named operands all exist already.
absl::Status AddNode(Graph& g, const Json& n, const std::string& name, const TileRegistry* registry) {
  const std::string where = absl::StrCat("node ", QuotedName(name));
  TF_RETURN_IF_ERROR(OnlyKeys(n, {"name", "op", "inputs", "attrs"}, where));
  const Json* op_json = JsonMember(n, "op");
  if (op_json == nullptr || !op_json->is_string()) return Err(where, "needs a string 'op'");
  const std::string& op = op_json->get_ref<const std::string&>();
  TF_ASSIGN_OR_RETURN(const Json* operands, JsonArrayMember(n, "inputs", where));
  std::vector<int> ins;
  for (const Json& in : *operands) {
    TF_ASSIGN_OR_RETURN(int id, ParseOperand(g, in, where));
    ins.push_back(id);
  }
  const Json* attrs_json = JsonMember(n, "attrs");
  TF_ASSIGN_OR_RETURN(Attrs attrs, ParseAttrs(g, attrs_json != nullptr ? *attrs_json : Json(), where));
  if (op == "iota" || op == "arange") {
    if (!ins.empty()) return Err(where, absl::StrCat("'", op, "' takes no operands, got ", ins.size()));
    const DType dtype = attrs.dtype.value_or(DType::kI32);
    if (op == "arange") {
      if (!attrs.end) return Err(where, "'arange' needs 'end'");
      return g.AddArange(name, attrs.start.value_or(0), *attrs.end, attrs.step.value_or(1), dtype).status();
    }
    if (!attrs.shape) return Err(where, "'iota' needs 'shape'");
    return g.AddIota(name, *attrs.shape, attrs.dim.value_or(0), attrs.start.value_or(0), attrs.step.value_or(1), dtype)
        .status();
  }
  if (op == "cat" || op == "concat") return g.AddCat(name, ins, attrs.dim.value_or(0)).status();
  if (op == "unsqueeze" || op == "squeeze") {
    if (ins.size() != 1) return Err(where, absl::StrCat("'", op, "' takes 1 operand, got ", ins.size()));
    if (op == "squeeze") return AddSqueeze(g, name, ins[0], attrs.dim, where).status();
    if (!attrs.dim) return Err(where, "'unsqueeze' needs 'dim'");
    return AddUnsqueeze(g, name, ins[0], *attrs.dim, where).status();
  }
  if (op == "stack") return g.AddStack(name, ins, attrs.dim.value_or(0)).status();
  if (op == "linear") return AddLinear(g, name, ins, where).status();
  if (op == "matmul") return AddMatmul(g, name, ins, where).status();
  if (op == "mm" || op == "bmm") {
    // torch.mm and torch.bmm: matmul of 2-D or 3-D operands only.
    const size_t rank = op == "mm" ? 2 : 3;
    if (ins.size() != 2) return Err(where, absl::StrCat("'", op, "' takes 2 operands, got ", ins.size()));
    if (g.node(ins[0]).shape.size() != rank || g.node(ins[1]).shape.size() != rank) {
      return Err(where, absl::StrCat("'", op, "' operands must be ", rank, "-D, got ", g.ShapeText(ins[0]), " and ",
                                     g.ShapeText(ins[1])));
    }
    return AddMatmul(g, name, ins, where).status();
  }
  if (op == "addmm" || op == "baddbmm") {
    // torch.addmm(bias, a, b, beta=, alpha=) and baddbmm: beta * bias + alpha * (a @ b).
    if (ins.size() != 3) return Err(where, absl::StrCat("'", op, "' takes 3 operands (bias, a, b), got ", ins.size()));
    const size_t rank = op == "addmm" ? 2 : 3;
    if (g.node(ins[1]).shape.size() != rank || g.node(ins[2]).shape.size() != rank) {
      return Err(where, absl::StrCat("'", op, "' operands a and b must be ", rank, "-D, got ", g.ShapeText(ins[1]),
                                     " and ", g.ShapeText(ins[2])));
    }
    const double alpha = attrs.alpha.value_or(1.0), beta = attrs.beta.value_or(1.0);
    TF_ASSIGN_OR_RETURN(int y, AddMatmul(g, absl::StrCat(name, ".mm"), {ins[1], ins[2]}, where));
    int bias = ins[0];
    const auto scaled = [&](int x, double s, const char* tag) -> absl::StatusOr<int> {
      if (s == 1.0) return x;
      TF_ASSIGN_OR_RETURN(const int c, g.AddScalar(s));
      return g.AddPointwise(absl::StrCat(name, ".", tag), PointwiseOp::kMul, {x, c});
    };
    TF_ASSIGN_OR_RETURN(y, scaled(y, alpha, "alpha"));
    TF_ASSIGN_OR_RETURN(bias, scaled(bias, beta, "beta"));
    return g.AddPointwise(name, PointwiseOp::kAdd, {y, bias}).status();
  }
  if (op == "std") {
    // torch.std: the square root of var (same dims, keepdim and correction).
    if (ins.size() != 1) return Err(where, absl::StrCat("'std' takes 1 operand, got ", ins.size()));
    TF_ASSIGN_OR_RETURN(const int var, g.AddReduce(absl::StrCat(name, ".var"), ReduceOp::kVar, ins[0], attrs));
    return g.AddPointwise(name, PointwiseOp::kSqrt, {var}).status();
  }
  if (op == "dequant") return g.AddDequant(name, ins, attrs).status();
  if (op == "quantize") return g.AddQuantize(name, ins, attrs).status();
  if (op == "index_select") {
    if (ins.size() != 2) return Err(where, absl::StrCat("'index_select' takes 2 operands (input, index), got ", ins.size()));
    if (!attrs.dim) return Err(where, "'index_select' needs 'dim'");
    return AddIndexSelect(g, name, ins[0], *attrs.dim, ins[1], where).status();
  }
  if (op == "embedding") {
    if (ins.size() != 2) return Err(where, absl::StrCat("'embedding' takes 2 operands (ids, weight), got ", ins.size()));
    return AddEmbedding(g, name, ins[0], ins[1], where).status();
  }
  if (op == "gather") {
    if (ins.size() != 2) return Err(where, absl::StrCat("'gather' takes 2 operands (input, index), got ", ins.size()));
    if (!attrs.dim) return Err(where, "'gather' needs 'dim'");
    return g.AddGather(name, ins[0], *attrs.dim, ins[1]).status();
  }
  TF_ASSIGN_OR_RETURN(const std::optional<int> alias, AddTorchAlias(g, op, name, ins, attrs, where));
  if (alias) return absl::OkStatus();
  if (auto p = ParsePointwiseOp(op)) return g.AddPointwise(name, *p, ins, attrs).status();
  if (auto t = ParseTileOp(op)) return g.AddTile(name, *t, ins, attrs).status();
  if (auto r = ParseReduceOp(op); r || ParseViewOp(op)) {
    if (ins.size() != 1) {
      return Err(where, absl::StrCat("'", op, "' takes 1 operand, got ", ins.size()));
    }
    if (r) return g.AddReduce(name, *r, ins[0], attrs).status();
    return g.AddView(name, *ParseViewOp(op), ins[0], attrs).status();
  }
  if (registry != nullptr) {
    if (auto custom = registry->Find(op)) return g.AddCustomTile(name, custom, ins, attrs).status();
  }
  return Err(where, absl::StrCat("unknown op ", QuotedName(op)));
}

absl::Status AddInputs(Graph& g, const Json& j) {
  TF_ASSIGN_OR_RETURN(const Json* inputs, JsonArrayMember(j, "inputs", "the graph's"));
  for (const Json& in : *inputs) {
    if (!in.is_object()) return Err("the graph's 'inputs'", absl::StrCat("entry ", BriefJson(in), " is not an object"));
    const Json* name_json = JsonMember(in, "name");
    if (name_json == nullptr || !name_json->is_string()) {
      return Err(absl::StrCat("input ", BriefJson(in)), "needs a string 'name'");
    }
    const std::string& name = name_json->get_ref<const std::string&>();
    const std::string where = absl::StrCat("input ", QuotedName(name));
    TF_RETURN_IF_ERROR(OnlyKeys(in, {"name", "shape", "dtype"}, where));
    const Json* shape_json = JsonMember(in, "shape");
    if (shape_json == nullptr) return Err(where, "needs 'shape'");
    TF_ASSIGN_OR_RETURN(Shape shape, ParseShape(g, *shape_json, where));
    const Json* dtype_json = JsonMember(in, "dtype");
    if (dtype_json == nullptr) return Err(where, "needs 'dtype'");
    TF_ASSIGN_OR_RETURN(std::string dtype_name, JsonString(*dtype_json, absl::StrCat(where, ": 'dtype'")));
    auto dtype = ParseDType(dtype_name);
    if (!dtype.ok()) return Err(where, dtype.status().message());
    TF_RETURN_IF_ERROR(g.AddInput(name, std::move(shape), *dtype).status());
  }
  return absl::OkStatus();
}

// Adds the nodes in dependency order, whatever order the file lists them in: a topological
// pass (Kahn's) that takes ready nodes in file order, linear in nodes and operands.
absl::Status AddNodes(Graph& g, const Json& j, const TileRegistry* registry) {
  TF_ASSIGN_OR_RETURN(const Json* nodes, JsonArrayMember(j, "nodes", "the graph's"));
  if (nodes->size() > static_cast<size_t>(kMaxGraphNodes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the graph lists ", nodes->size(), " nodes (at most ", kMaxGraphNodes, ")"));
  }
  const size_t n = nodes->size();
  std::vector<const std::string*> names(n);
  absl::flat_hash_map<std::string, int> listed;
  for (size_t i = 0; i < n; ++i) {
    const Json& node = (*nodes)[i];
    if (!node.is_object()) return Err("the graph's 'nodes'", absl::StrCat("entry ", BriefJson(node), " is not an object"));
    const Json* name = JsonMember(node, "name");
    if (name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      return Err(absl::StrCat("node ", BriefJson(node)), "needs a non-empty string 'name'");
    }
    names[i] = &name->get_ref<const std::string&>();
    if (!listed.emplace(*names[i], static_cast<int>(i)).second || g.FindNode(*names[i]) >= 0) {
      return Err(absl::StrCat("node ", QuotedName(*names[i])), "the name is used twice");
    }
  }
  std::vector<int> waiting(n, 0);                 // operands not yet added
  std::vector<std::vector<int>> dependents(n);    // nodes that name node i
  for (size_t i = 0; i < n; ++i) {
    TF_ASSIGN_OR_RETURN(const Json* operands, JsonArrayMember((*nodes)[i], "inputs", absl::StrCat("node ", QuotedName(*names[i]))));
    for (const Json& in : *operands) {
      if (!in.is_string()) continue;
      const std::string& dep = in.get_ref<const std::string&>();
      if (g.FindNode(dep) >= 0) continue;
      auto it = listed.find(dep);
      if (it == listed.end()) {
        return Err(absl::StrCat("node ", QuotedName(*names[i])),
                   absl::StrCat("operand ", QuotedName(dep), " is not an input or a node"));
      }
      ++waiting[i];
      dependents[it->second].push_back(static_cast<int>(i));
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;  // file order among the ready
  for (size_t i = 0; i < n; ++i) {
    if (waiting[i] == 0) ready.push(static_cast<int>(i));
  }
  size_t added = 0;
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    TF_RETURN_IF_ERROR(AddNode(g, (*nodes)[i], *names[i], registry));
    ++added;
    for (int d : dependents[i]) {
      if (--waiting[d] == 0) ready.push(d);
    }
  }
  if (added < n) {
    std::vector<std::string> stuck;
    for (size_t i = 0; i < n && stuck.size() < 8; ++i) {
      if (waiting[i] > 0) stuck.push_back(absl::CHexEscape(*names[i]));
    }
    return absl::InvalidArgumentError(absl::StrCat("the graph is cyclic: nodes ", absl::StrJoin(stuck, ", "),
                                                   n - added > stuck.size() ? absl::StrCat(" (and ", n - added - stuck.size(), " more)") : "",
                                                   " depend on each other"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Graph> GraphFromParsedJson(const Json& j, const TileRegistry* registry) {
  if (!j.is_object()) return absl::InvalidArgumentError("graph file must hold a JSON object");
  TF_RETURN_IF_ERROR(OnlyKeys(j, {"format", "name", "inputs", "nodes", "outputs"}, "the graph"));
  if (const Json* format = JsonMember(j, "format")) {
    TF_RETURN_IF_ERROR(JsonInt(*format, 1, kGraphFormat, "the graph's 'format'").status());
  }
  std::string name = "graph";
  if (const Json* n = JsonMember(j, "name")) {
    TF_ASSIGN_OR_RETURN(name, JsonString(*n, "the graph's 'name'"));
    if (!IsPrintableName(name)) return Err("the graph's 'name'", absl::StrCat(QuotedName(name), " is not printable"));
  }
  Graph g(std::move(name));
  TF_RETURN_IF_ERROR(AddInputs(g, j));
  TF_RETURN_IF_ERROR(AddNodes(g, j, registry));
  TF_ASSIGN_OR_RETURN(const Json* outputs, JsonArrayMember(j, "outputs", "the graph's"));
  for (const Json& o : *outputs) {
    if (!o.is_string()) return absl::InvalidArgumentError(absl::StrCat("output ", BriefJson(o), " is not a name"));
    const int id = g.FindNode(o.get_ref<const std::string&>());
    if (id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("output ", QuotedName(o.get_ref<const std::string&>()), " is not an input or a node"));
    }
    TF_RETURN_IF_ERROR(g.AddOutput(id));
  }
  if (g.outputs().empty()) return absl::InvalidArgumentError("the graph has no outputs");
  return g;
}

}  // namespace

absl::StatusOr<Graph> GraphFromJson(absl::string_view text, const TileRegistry* registry) {
  TF_ASSIGN_OR_RETURN(Json j, ParseJson(text, "graph file"));
  try {
    return GraphFromParsedJson(j, registry);
  } catch (const std::exception& e) {  // a backstop: every read above checks its type first
    return absl::InternalError(absl::StrCat("graph file: unexpected error reading it: ", e.what()));
  }
}

absl::StatusOr<Graph> GraphFromJsonFile(const std::string& path, const TileRegistry* registry) {
  TF_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path, kMaxJsonBytes, "graph file"));
  auto g = GraphFromJson(text, registry);
  if (!g.ok()) {
    return absl::Status(g.status().code(), absl::StrCat(path, ": ", g.status().message()));
  }
  return g;
}

namespace {

Json ShapeJson(const Graph& g, const Shape& s) {
  Json a = Json::array();
  for (const Dim& d : s) {
    if (d.is_static()) {
      a.push_back(d.value);
    } else {
      a.push_back(g.symbols()[d.symbol]);
    }
  }
  return a;
}

Json ConstantJson(const Node& c) {
  if (c.dtype == DType::kBool) return Json(c.constant != 0);
  if (c.dtype == DType::kI32) return Json(static_cast<int64_t>(c.constant));
  if (!std::isfinite(c.constant)) return Json{{"value", RealToJson(c.constant)}};
  return Json(c.constant);
}

}  // namespace

std::string GraphToJson(const Graph& g) {
  Json j;
  j["format"] = kGraphFormat;
  j["name"] = g.name();
  j["inputs"] = Json::array();
  j["nodes"] = Json::array();
  for (const Node& n : g.nodes()) {
    if (n.kind == NodeKind::kConstant) continue;
    if (n.kind == NodeKind::kInput) {
      j["inputs"].push_back(
          {{"name", n.name}, {"shape", ShapeJson(g, n.shape)}, {"dtype", DTypeName(n.dtype)}});
      continue;
    }
    Json node{{"name", n.name}, {"op", n.OpString()}};
    Json ins = Json::array();
    for (int in : n.inputs) {
      const Node& src = g.node(in);
      ins.push_back(src.kind == NodeKind::kConstant ? ConstantJson(src) : Json(src.name));
    }
    node["inputs"] = ins;
    Json attrs = Json::object();
    const Attrs& a = n.attrs;
    if (a.dtype) attrs["dtype"] = DTypeName(*a.dtype);
    if (a.approximate) attrs["approximate"] = *a.approximate;
    if (a.min) attrs["min"] = RealToJson(*a.min);
    if (a.max) attrs["max"] = RealToJson(*a.max);
    if (a.eps) attrs["eps"] = RealToJson(*a.eps);
    if (a.negative_slope) attrs["negative_slope"] = RealToJson(*a.negative_slope);
    if (a.alpha) attrs["alpha"] = RealToJson(*a.alpha);
    if (a.beta) attrs["beta"] = RealToJson(*a.beta);
    if (a.threshold) attrs["threshold"] = RealToJson(*a.threshold);
    if (a.dim) attrs["dim"] = *a.dim;
    if (a.keepdim) attrs["keepdim"] = true;
    if (a.correction) attrs["correction"] = *a.correction;
    if (a.dim0) attrs["dim0"] = *a.dim0;
    if (a.dim1) attrs["dim1"] = *a.dim1;
    if (a.shape) attrs["shape"] = ShapeJson(g, *a.shape);
    if (n.kind == NodeKind::kIota) attrs["shape"] = ShapeJson(g, n.shape);
    if (n.kind == NodeKind::kView && !a.dims.empty()) attrs["dims"] = a.dims;
    if (a.start) attrs["start"] = *a.start;
    if (a.end) attrs["end"] = *a.end;
    if (a.step) attrs["step"] = *a.step;
    if (a.length) attrs["length"] = *a.length;
    if (a.index) attrs["index"] = *a.index;
    if (a.group) attrs["group"] = *a.group;
    if (!attrs.empty()) node["attrs"] = attrs;
    j["nodes"].push_back(node);
  }
  j["outputs"] = Json::array();
  for (int o : g.outputs()) j["outputs"].push_back(g.node(o).name);
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tilefuse::internal
