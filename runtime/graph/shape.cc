#include "runtime/graph/shape.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tilefuse::internal {

SizeExpr SizeExpr::Of(const Dim& d) {
  SizeExpr e;
  if (d.is_static()) {
    e.constant = d.value;
  } else {
    e.symbols.push_back(d.symbol);
  }
  return e;
}

SizeExpr SizeExpr::operator*(const SizeExpr& o) const {
  SizeExpr e;
  e.constant = constant * o.constant;
  if (e.constant == 0) return e;  // zero absorbs the symbols
  e.symbols = symbols;
  e.symbols.insert(e.symbols.end(), o.symbols.begin(), o.symbols.end());
  std::sort(e.symbols.begin(), e.symbols.end());
  return e;
}

int64_t SizeExpr::Eval(absl::Span<const int64_t> symbol_values) const {
  int64_t v = constant;
  for (int s : symbols) v *= symbol_values[s];
  return v;
}

std::string SizeExpr::ToString() const {
  std::string s = absl::StrCat(constant);
  for (int sym : symbols) absl::StrAppend(&s, "*s", sym);
  return s;
}

bool StaticNumelFits(const Shape& s) {
  int64_t n = 1;
  for (const Dim& d : s) {
    if (!d.is_static()) continue;
    if (d.value < 0 || __builtin_mul_overflow(n, d.value, &n)) return false;
  }
  return n <= (int64_t{1} << kMaxNumelLog2);
}

SizeExpr Numel(const Shape& s) {
  SizeExpr e;
  for (const Dim& d : s) e = e * SizeExpr::Of(d);
  return e;
}

std::vector<SizeExpr> ContiguousStrides(const Shape& s) {
  std::vector<SizeExpr> strides(s.size());
  SizeExpr acc;
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    strides[i] = acc;
    acc = acc * SizeExpr::Of(s[i]);
  }
  return strides;
}

namespace {
std::string DimString(const Dim& d, absl::Span<const std::string> names) {
  if (d.is_static()) return absl::StrCat(d.value);
  if (d.symbol < static_cast<int>(names.size())) return names[d.symbol];
  return absl::StrCat("s", d.symbol);
}
}  // namespace

std::string ShapeString(const Shape& s, absl::Span<const std::string> names) {
  std::vector<std::string> parts;
  for (const Dim& d : s) parts.push_back(DimString(d, names));
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b,
                                      absl::Span<const std::string> names) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align from the right, as NumPy does.
    const Dim da = i < rank - a.size() ? Dim::Static(1) : a[i - (rank - a.size())];
    const Dim db = i < rank - b.size() ? Dim::Static(1) : b[i - (rank - b.size())];
    if (da == db || db.is_one()) {
      out[i] = da;
    } else if (da.is_one()) {
      out[i] = db;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "shapes ", ShapeString(a, names), " and ", ShapeString(b, names),
          " do not broadcast: dim ", i, " is ", DimString(da, names), " against ",
          DimString(db, names), " (expected equal sizes or a 1)"));
    }
  }
  return out;
}

absl::StatusOr<int> NormalizeAxis(int axis, int rank) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "axis ", axis, " is out of range for rank ", rank, " (expected ", -rank, "..",
        rank - 1, ")"));
  }
  return a;
}

}  // namespace tilefuse::internal
