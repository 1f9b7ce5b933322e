// Dims, shapes and NumPy broadcasting over static and symbolic dims.
//
// A dim is either a static size or a symbol (named in the graph, e.g. "M"), bound from the
// inputs' shapes at run time. Sizes and strides that depend on symbols are kept as
// SizeExpr products and evaluated per run, so one compiled kernel serves every token count.
#ifndef TILEFUSE_RUNTIME_GRAPH_SHAPE_H_
#define TILEFUSE_RUNTIME_GRAPH_SHAPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tilefuse::internal {

inline constexpr int kMaxRank = 8;
// A shape holds at most 2^kMaxNumelLog2 elements (static dims when built, bound sizes at
// run time): sizes, strides and flat indices then never overflow int64.
inline constexpr int kMaxNumelLog2 = 48;

struct Dim {
  int64_t value = 1;  // the size, when static
  int symbol = -1;    // index into Graph::symbols(), or -1 when static

  static Dim Static(int64_t v) { return Dim{v, -1}; }
  static Dim Sym(int s) { return Dim{0, s}; }
  bool is_static() const { return symbol < 0; }
  bool is_one() const { return is_static() && value == 1; }
  friend bool operator==(const Dim& a, const Dim& b) {
    return a.symbol == b.symbol && (a.symbol >= 0 || a.value == b.value);
  }
};

using Shape = std::vector<Dim>;

// constant * product(symbols): a size or stride known only once symbols are bound.
struct SizeExpr {
  int64_t constant = 1;
  std::vector<int> symbols;  // sorted, repeats allowed

  static SizeExpr Of(const Dim& d);
  SizeExpr operator*(const SizeExpr& o) const;
  bool is_static() const { return symbols.empty(); }
  int64_t Eval(absl::Span<const int64_t> symbol_values) const;
  friend bool operator==(const SizeExpr& a, const SizeExpr& b) {
    return a.constant == b.constant && a.symbols == b.symbols;
  }
  // Canonical text, e.g. "4096*s0", used in signatures and dumps.
  std::string ToString() const;
};

SizeExpr Numel(const Shape& s);
// Whether the static dims of `s` (each >= 0) hold at most 2^kMaxNumelLog2 elements.
bool StaticNumelFits(const Shape& s);
// Row-major strides, in elements.
std::vector<SizeExpr> ContiguousStrides(const Shape& s);

// NumPy broadcasting. A symbol only matches itself or a static 1; the error names both dims.
absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b,
                                      absl::Span<const std::string> symbol_names);

// "[M, 4096]" with symbol names.
std::string ShapeString(const Shape& s, absl::Span<const std::string> symbol_names);

// Normalizes a possibly negative axis; error text names the axis and the rank.
absl::StatusOr<int> NormalizeAxis(int axis, int rank);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_SHAPE_H_
