#include "test/random_graphs.h"

#include <random>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {
namespace {

class Builder {
 public:
  Builder(uint64_t seed) : rng_(seed), g_(absl::StrCat("random_", seed)) {}

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  double Uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }

  // Adds a node or aborts the generator's assumptions loudly.
  int Op(PointwiseOp op, std::vector<int> ins, Attrs attrs = {}) {
    auto r = g_.AddPointwise(absl::StrCat("n", counter_++), op, std::move(ins), std::move(attrs));
    if (!r.ok()) {
      fprintf(stderr, "random graph generator: %s\n", std::string(r.status().message()).c_str());
      std::abort();
    }
    return *r;
  }
  int Scalar(double v, DType t) { return *g_.AddScalar(v, t); }
  bool IsFloatValue(int id) const { return IsFloating(g_.node(id).dtype); }

  // |x| + 1: positive, for log, sqrt, rsqrt, div and pow bases.
  int Positive(int x) {
    if (g_.node(x).dtype == DType::kBool) x = Op(PointwiseOp::kCast, {x}, Attrs{.dtype = DType::kI32});
    return Op(PointwiseOp::kAdd, {Op(PointwiseOp::kAbs, {x}), Scalar(1, DType::kI32)});
  }
  int NonBool(int x) {
    if (g_.node(x).dtype != DType::kBool) return x;
    return Op(PointwiseOp::kCast, {x}, Attrs{.dtype = Pick(2) ? DType::kI32 : DType::kF32});
  }

  std::mt19937_64 rng_;
  Graph g_;
  int counter_ = 0;
};

}  // namespace

RandomGraph MakeRandomPointwiseGraph(uint64_t seed) {
  Builder b(seed);
  Graph& g = b.g_;
  RandomGraph out;
  // The output index space: rank 1..3, a symbolic leading dim half the time.
  const int rank = 1 + b.Pick(3);
  Shape space;
  for (int d = 0; d < rank; ++d) {
    if (d == 0 && b.Pick(2)) {
      space.push_back(Dim::Sym(g.Symbol("S")));
      out.symbols["S"] = 1 + b.Pick(67);
    } else {
      space.push_back(Dim::Static(1 + b.Pick(40)));
    }
  }
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kBool};
  std::vector<int> pool;
  const int n_inputs = 1 + b.Pick(4);
  for (int i = 0; i < n_inputs; ++i) {
    Shape s = space;
    const int variant = b.Pick(5);
    if (variant == 1 && s.size() > 1) s.erase(s.begin());            // leading broadcast
    if (variant == 2) s[b.Pick(s.size())] = Dim::Static(1);           // size-1 broadcast
    if (variant == 3) s.clear();                                      // zero-dim tensor
    const bool transpose = variant == 4 && s.size() >= 2;
    if (transpose) std::swap(s[0], s[1]);
    const int x = *g.AddInput(absl::StrCat("in", i), s, dtypes[b.Pick(5)]);
    if (transpose) {
      pool.push_back(*g.AddView(absl::StrCat("t", i), ViewOp::kTranspose, x,
                                Attrs{.dim0 = 0, .dim1 = 1}));
    } else {
      pool.push_back(x);
    }
  }
  const int n_ops = 1 + b.Pick(8);
  for (int k = 0; k < n_ops; ++k) {
    const int a = pool[b.Pick(pool.size())];
    const int c = pool[b.Pick(pool.size())];
    const int kind = b.Pick(32);
    // Graph inputs: exact on the host and the device alike, where a last-bit difference of
    // a computed value could flip a comparison, a rounding or a truth value.
    const int ia = pool[b.Pick(n_inputs)], ic = pool[b.Pick(n_inputs)];
    int r;
    switch (kind) {
      case 0: r = b.Op(PointwiseOp::kNeg, {b.NonBool(a)}); break;
      case 1: r = b.Op(PointwiseOp::kAbs, {b.NonBool(a)}); break;
      case 2: r = b.Op(PointwiseOp::kRelu, {b.NonBool(a)}); break;
      case 3: r = b.Op(PointwiseOp::kGelu, {a}, Attrs{.approximate = b.Pick(2) ? "tanh" : "none"}); break;
      case 4: r = b.Op(PointwiseOp::kSilu, {a}); break;
      case 5: r = b.Op(PointwiseOp::kSigmoid, {a}); break;
      case 6: r = b.Op(PointwiseOp::kTanh, {a}); break;
      case 7: r = b.Op(PointwiseOp::kExp, {b.Op(PointwiseOp::kTanh, {a})}); break;
      case 8: r = b.Op(PointwiseOp::kLog, {b.Positive(a)}); break;
      case 9: r = b.Op(PointwiseOp::kSqrt, {b.Positive(a)}); break;
      case 10: r = b.Op(PointwiseOp::kRsqrt, {b.Positive(a)}); break;
      case 11: {
        // Casts never go from float to an integer type (exactness, see the header).
        const DType from = g.node(a).dtype;
        DType to = dtypes[b.Pick(3)];
        if (!IsFloating(from)) to = dtypes[b.Pick(4)];
        r = b.Op(PointwiseOp::kCast, {a}, Attrs{.dtype = to});
        break;
      }
      case 12: {
        const int x = b.NonBool(a);
        const bool is_int = g.node(x).dtype == DType::kI32;
        const double lo = is_int ? -10 : -1.5, hi = is_int ? 20 : 1.0;
        r = b.Op(PointwiseOp::kClamp, {x}, Attrs{.min = lo, .max = hi});
        break;
      }
      case 13: r = b.Op(PointwiseOp::kAdd, {b.NonBool(a), b.NonBool(c)}); break;
      case 14: r = b.Op(PointwiseOp::kSub, {b.NonBool(a), b.NonBool(c)}); break;
      case 15: r = b.Op(PointwiseOp::kMul, {b.NonBool(a), b.NonBool(c)}); break;
      case 16: r = b.Op(PointwiseOp::kDiv, {b.NonBool(a), b.Positive(c)}); break;
      case 17: r = b.Op(PointwiseOp::kMaximum, {b.NonBool(a), b.NonBool(c)}); break;
      case 18: r = b.Op(PointwiseOp::kMinimum, {b.NonBool(a), b.NonBool(c)}); break;
      case 19: {
        // Small exponents keep powers finite; integer powers of integers stay exact.
        const int base = b.Positive(a);
        const int e = b.IsFloatValue(base) ? b.Op(PointwiseOp::kTanh, {c})
                                           : b.Scalar(b.Pick(3), DType::kI32);
        r = b.Op(PointwiseOp::kPow, {base, e});
        break;
      }
      case 20: r = b.Op(PointwiseOp::kLog1p, {b.Positive(a)}); break;
      case 21: r = b.Op(PointwiseOp::kExpm1, {b.Op(PointwiseOp::kTanh, {a})}); break;
      case 22: {
        const PointwiseOp ops[] = {PointwiseOp::kErf, PointwiseOp::kSin, PointwiseOp::kCos, PointwiseOp::kMish,
                                   PointwiseOp::kHardswish, PointwiseOp::kHardsigmoid};
        r = b.Op(ops[b.Pick(6)], {a});
        break;
      }
      case 23: r = b.Op(PointwiseOp::kReciprocal, {b.Positive(a)}); break;
      case 24: r = b.Op(PointwiseOp::kSoftplus, {a}, Attrs{.beta = b.Pick(2) ? 1.0 : 2.0, .threshold = 3.0}); break;
      case 25: r = b.Op(PointwiseOp::kLeakyRelu, {a}, Attrs{.negative_slope = 0.125}); break;
      case 26: r = b.Op(PointwiseOp::kElu, {a}, Attrs{.alpha = b.Pick(2) ? 1.0 : 0.5}); break;
      case 27: r = b.Op(PointwiseOp::kSquare, {b.NonBool(a)}); break;
      case 28: {
        const PointwiseOp ops[] = {PointwiseOp::kFloor, PointwiseOp::kCeil, PointwiseOp::kRound, PointwiseOp::kSign};
        const int x = b.NonBool(ia);
        r = b.Op(ops[b.Pick(4)], {b.IsFloatValue(x) ? b.Op(PointwiseOp::kMul, {x, b.Scalar(2.5, DType::kF32)}) : x});
        break;
      }
      case 29: {
        const PointwiseOp ops[] = {PointwiseOp::kEq, PointwiseOp::kNe, PointwiseOp::kLt,
                                   PointwiseOp::kLe, PointwiseOp::kGt, PointwiseOp::kGe};
        r = b.Op(ops[b.Pick(6)], {ia, ic});
        break;
      }
      case 30: {
        const PointwiseOp ops[] = {PointwiseOp::kLogicalAnd, PointwiseOp::kLogicalOr};
        r = b.Pick(3) ? b.Op(ops[b.Pick(2)], {ia, ic}) : b.Op(PointwiseOp::kLogicalNot, {ia});
        break;
      }
      default: {
        int cond = -1;
        for (int p : pool) {
          if (g.node(p).dtype == DType::kBool) cond = p;
        }
        if (cond < 0) cond = *g.AddInput(absl::StrCat("cond", k), space, DType::kBool);
        r = b.Op(PointwiseOp::kWhere, {cond, a, c});
        break;
      }
    }
    pool.push_back(r);
  }
  // One or two outputs among the computed values, sometimes an intermediate.
  const int last = pool.back();
  (void)g.AddOutput(last);
  if (b.Pick(2) && pool.size() > static_cast<size_t>(n_inputs) + 1) {
    (void)g.AddOutput(pool[n_inputs + b.Pick(pool.size() - n_inputs - 1)]);
  }
  out.graph = std::move(g);
  return out;
}

RandomGraph MakeRandomRowGraph(uint64_t seed) {
  Builder b(seed);
  Graph& g = b.g_;
  RandomGraph out;
  Shape lead;
  if (b.Pick(2)) {
    lead.push_back(Dim::Sym(g.Symbol("R")));
    out.symbols["R"] = 1 + b.Pick(40);
  } else {
    lead.push_back(Dim::Static(1 + b.Pick(30)));
  }
  if (b.Pick(3) == 0) lead.push_back(Dim::Static(1 + b.Pick(4)));
  const int64_t cols = 1 + b.Pick(b.Pick(4) == 0 ? 3000 : 300);
  Shape space = lead, per_row = lead;
  space.push_back(Dim::Static(cols));
  per_row.push_back(Dim::Static(1));
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16};
  std::vector<int> full, rows;  // values over the rows' space, and one per row ([..., 1])
  full.push_back(*g.AddInput("x", space, dtypes[b.Pick(3)]));
  std::vector<int> others = full;  // operands of binary ops: a per-column weight too
  if (b.Pick(2)) others.push_back(*g.AddInput("w", Shape{Dim::Static(cols)}, dtypes[b.Pick(3)]));
  if (b.Pick(3) == 0) rows.push_back(*g.AddInput("r", per_row, DType::kF32));
  const auto reduce = [&](int x) {
    const ReduceOp ops[] = {ReduceOp::kSum, ReduceOp::kAmax, ReduceOp::kAmin, ReduceOp::kMean, ReduceOp::kVar};
    const ReduceOp op = ops[b.Pick(5)];
    const bool keep = b.Pick(3) != 0;
    Attrs a{.dim = static_cast<int>(space.size()) - 1, .keepdim = keep};
    if (op == ReduceOp::kVar) a.correction = b.Pick(2);
    auto r = g.AddReduce(absl::StrCat("n", b.counter_++), op, x, a);
    if (!r.ok()) std::abort();
    if (keep) return *r;
    // Dropped, then brought back as x.sum(-1)[..., None] is.
    return *g.AddView(absl::StrCat("n", b.counter_++), ViewOp::kReshape, *r, Attrs{.shape = per_row});
  };
  const int n_ops = 2 + b.Pick(8);
  for (int k = 0; k < n_ops; ++k) {
    const int a = full[b.Pick(full.size())];
    const int c = others[b.Pick(others.size())];
    const int kind = b.Pick(rows.empty() ? 5 : 9);
    int r;
    switch (kind) {
      case 0: r = b.Op(PointwiseOp::kMul, {a, c}); break;
      case 1: r = b.Op(PointwiseOp::kAdd, {a, c}); break;
      case 2: r = b.Op(PointwiseOp::kTanh, {a}); break;
      case 3: r = b.Op(PointwiseOp::kCast, {a}, Attrs{.dtype = dtypes[b.Pick(3)]}); break;
      case 4: rows.push_back(reduce(a)); continue;
      default: {  // a per-row value broadcast back over the rows, as norms and softmax do
        const int s = rows[b.Pick(rows.size())];
        switch (kind) {
          case 5: r = b.Op(PointwiseOp::kSub, {a, s}); break;
          case 6: r = b.Op(PointwiseOp::kMul, {a, b.Op(PointwiseOp::kRsqrt, {b.Positive(s)})}); break;
          case 7: r = b.Op(PointwiseOp::kDiv, {a, b.Positive(s)}); break;
          default: r = b.Op(PointwiseOp::kExp, {b.Op(PointwiseOp::kTanh, {b.Op(PointwiseOp::kSub, {a, s})})}); break;
        }
      }
    }
    full.push_back(r);
    others.push_back(r);
  }
  (void)g.AddOutput(full.back());
  if (!rows.empty() && b.Pick(2)) (void)g.AddOutput(rows.back());
  out.graph = std::move(g);
  return out;
}

}  // namespace tilefuse::internal
