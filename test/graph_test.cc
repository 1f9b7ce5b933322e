// Graph IR: validation errors that name the node, broadcasting, PyTorch promotion, and the
// CPU reference of single ops at hand-worked points.
#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/graph/graph.h"
#include "runtime/graph/json.h"
#include "runtime/graph/promotion.h"
#include "runtime/reference.h"
#include "runtime/reference_ops.h"
#include "test/host_data.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

// A one-input graph with `nodes` (JSON array text) and output "o".
std::string WithNodes(const std::string& nodes, const std::string& inputs =
                          R"([{"name": "x", "shape": ["M", 8], "dtype": "bf16"}])") {
  return R"({"name": "t", "inputs": )" + inputs + R"(, "nodes": )" + nodes +
         R"(, "outputs": ["o"]})";
}

struct BadCase {
  std::string what;
  std::string json;
  std::string message;  // must appear in the error
};

TEST(GraphValidation, BadGraphsFailWithMessagesNamingTheNode) {
  const std::string two = R"([{"name": "x", "shape": ["M", 8], "dtype": "bf16"},
                              {"name": "y", "shape": [7], "dtype": "bf16"}])";
  const std::vector<BadCase> cases = {
      {"unknown op", WithNodes(R"([{"name": "o", "op": "frobnicate", "inputs": ["x"]}])"),
       "node 'o': unknown op 'frobnicate'"},
      {"unknown operand", WithNodes(R"([{"name": "o", "op": "relu", "inputs": ["q"]}])"),
       "node 'o': operand 'q' is not an input or a node"},
      {"broadcast mismatch", WithNodes(R"([{"name": "o", "op": "add", "inputs": ["x", "y"]}])", two),
       "node 'o' (add): shapes [M, 8] and [7] do not broadcast"},
      {"matmul inner dims",
       WithNodes(R"([{"name": "o", "op": "matmul", "inputs": ["x", "x"]}])"),
       "node 'o' (matmul): inner dims differ"},
      {"where condition", WithNodes(R"([{"name": "o", "op": "where", "inputs": ["x", "x", "x"]}])"),
       "condition 'x' is bf16 (expected bool)"},
      {"cast without dtype", WithNodes(R"([{"name": "o", "op": "cast", "inputs": ["x"]}])"),
       "node 'o' (cast): needs the attribute 'dtype'"},
      {"duplicate name", WithNodes(R"([{"name": "o", "op": "relu", "inputs": ["x"]},
                                       {"name": "o", "op": "neg", "inputs": ["x"]}])"),
       "node 'o': the name is used twice"},
      {"cycle", WithNodes(R"([{"name": "a", "op": "relu", "inputs": ["o"]},
                              {"name": "o", "op": "neg", "inputs": ["a"]}])"),
       "the graph is cyclic: nodes a, o"},
      {"unknown dtype",
       WithNodes(R"([{"name": "o", "op": "relu", "inputs": ["x"]}])",
                 R"([{"name": "x", "shape": [2], "dtype": "f64"}])"),
       "input 'x': unknown dtype 'f64'"},
      {"transpose axis", WithNodes(R"([{"name": "o", "op": "transpose", "inputs": ["x"],
                                        "attrs": {"dim0": 0, "dim1": 2}}])"),
       "node 'o' (transpose): axis 2 is out of range for rank 2"},
      {"reshape count", WithNodes(R"([{"name": "o", "op": "reshape", "inputs": ["x"],
                                       "attrs": {"shape": ["M", 9]}}])"),
       "node 'o' (reshape): shape [M, 9] does not have the element count"},
      {"gelu approximate", WithNodes(R"([{"name": "o", "op": "gelu", "inputs": ["x"],
                                          "attrs": {"approximate": "fast"}}])"),
       "approximate='fast' (expected 'none' or 'tanh')"},
      {"unknown attribute", WithNodes(R"([{"name": "o", "op": "relu", "inputs": ["x"],
                                           "attrs": {"slope": 1}}])"),
       "node 'o': unknown attribute 'slope'"},
      {"another op's attribute", WithNodes(R"([{"name": "o", "op": "relu", "inputs": ["x"],
                                                "attrs": {"alpha": 1}}])"),
       "node 'o' (relu): only elu takes 'alpha'"},
      {"bool arithmetic",
       WithNodes(R"([{"name": "o", "op": "add", "inputs": ["x", "x"]}])",
                 R"([{"name": "x", "shape": [4], "dtype": "bool"}])"),
       "op 'add' does not take bool operands"},
      {"clamp bounds", WithNodes(R"([{"name": "o", "op": "clamp", "inputs": ["x"],
                                      "attrs": {"min": 2, "max": 1}}])"),
       "node 'o' (clamp): min 2 > max 1"},
      {"rms_norm weight", WithNodes(R"([{"name": "o", "op": "rms_norm", "inputs": ["x", "y"]}])", two),
       "parameter 'y' has shape [7] (expected [8]"},
      {"mean of ints",
       WithNodes(R"([{"name": "o", "op": "mean", "inputs": ["x"], "attrs": {"dim": 0}}])",
                 R"([{"name": "x", "shape": [4], "dtype": "i32"}])"),
       "node 'o' (mean): operand 'x' is i32 (expected a floating dtype"},
      {"negative dim",
       WithNodes(R"([{"name": "o", "op": "relu", "inputs": ["x"]}])",
                 R"([{"name": "x", "shape": [-3], "dtype": "f32"}])"),
       "input 'x': dim -3 is negative"},
      {"unknown output", R"({"name": "t", "inputs": [{"name": "x", "shape": [2], "dtype": "f32"}],
                             "nodes": [], "outputs": ["nope"]})",
       "output 'nope' is not an input or a node"},
      {"wrong arity", WithNodes(R"([{"name": "o", "op": "add", "inputs": ["x"]}])"),
       "node 'o' (add): takes 2 operands, got 1"},
      {"var of ints",
       WithNodes(R"([{"name": "o", "op": "var", "inputs": ["x"], "attrs": {"dim": 0}}])",
                 R"([{"name": "x", "shape": [4], "dtype": "i32"}])"),
       "node 'o' (var): operand 'x' is i32 (expected a floating dtype, as torch.var does)"},
      {"negative correction", WithNodes(R"([{"name": "o", "op": "var", "inputs": ["x"],
                                             "attrs": {"dim": 1, "correction": -1}}])"),
       "attribute 'correction' is -1 (expected an integer in [0, 2147483647])"},
      {"repeated axis", WithNodes(R"([{"name": "o", "op": "sum", "inputs": ["x"], "attrs": {"dim": [1, -1]}}])"),
       "node 'o' (sum): dim 1 appears twice"},
      {"amax with a dtype", WithNodes(R"([{"name": "o", "op": "amax", "inputs": ["x"], "attrs": {"dim": 1, "dtype": "f32"}}])"),
       "node 'o' (amax): only sum, mean and prod take 'dtype'"},
      {"rms_norm with a dtype", WithNodes(R"([{"name": "o", "op": "rms_norm", "inputs": ["x"], "attrs": {"dtype": "f32"}}])"),
       "node 'o' (rms_norm): only softmax and log_softmax take 'dtype'"},
      {"argmax over two axes", WithNodes(R"([{"name": "o", "op": "argmax", "inputs": ["x"], "attrs": {"dim": [0, 1]}}])"),
       "node 'o' (argmax): reduces 2 axes (argmax takes one dim, as in PyTorch)"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_TRUE(StatusIs(GraphFromJson(c.json), absl::StatusCode::kInvalidArgument, c.message));
  }
}

TEST(GraphValidation, OutputsMayRepeatAndNameInputs) {
  Graph g("g");
  TF_ASSERT_OK_AND_ASSIGN(int x, g.AddInput("x", {Dim::Static(4)}, DType::kF32));
  TF_ASSERT_OK_AND_ASSIGN(int y, g.AddPointwise("y", PointwiseOp::kRelu, {x}));
  TF_EXPECT_OK(g.AddOutput(y));
  TF_EXPECT_OK(g.AddOutput(y));
  TF_EXPECT_OK(g.AddOutput(x));
  EXPECT_EQ(g.outputs().size(), 3u);
  EXPECT_TRUE(StatusIs(g.AddOutput(99), absl::StatusCode::kInvalidArgument, "output id 99"));
}

TEST(Broadcasting, HandWorkedShapes) {
  Graph g;
  const int m = g.Symbol("M");
  auto b = BroadcastShapes({Dim::Sym(m), Dim::Static(1), Dim::Static(5)},
                           {Dim::Static(3), Dim::Static(1)}, g.symbols());
  TF_ASSERT_OK(b);
  EXPECT_EQ(ShapeString(*b, g.symbols()), "[M, 3, 5]");
  auto c = BroadcastShapes({Dim::Static(1)}, {Dim::Sym(m)}, g.symbols());
  TF_ASSERT_OK(c);
  EXPECT_EQ(ShapeString(*c, g.symbols()), "[M]");
  auto d = BroadcastShapes({}, {Dim::Static(2), Dim::Static(3)}, g.symbols());
  TF_ASSERT_OK(d);
  EXPECT_EQ(ShapeString(*d, g.symbols()), "[2, 3]");
  EXPECT_TRUE(StatusIs(BroadcastShapes({Dim::Sym(m)}, {Dim::Static(4)}, g.symbols()),
                       absl::StatusCode::kInvalidArgument, "dim 0 is M against 4"));
}

TEST(Promotion, MatchesPyTorchOnHandWorkedCases) {
  const auto T = [](DType d) { return PromotionOperand{d, 1, false}; };
  const auto Z = [](DType d) { return PromotionOperand{d, 0, false}; };
  const auto L = [](DType d) { return PromotionOperand{d, 0, true}; };
  EXPECT_EQ(ResultType({T(DType::kBF16), L(DType::kF32)}), DType::kBF16);   // x * 0.5
  EXPECT_EQ(ResultType({T(DType::kI32), L(DType::kF32)}), DType::kF32);     // int * 0.5
  EXPECT_EQ(ResultType({T(DType::kI32), L(DType::kI32)}), DType::kI32);     // int + 2
  EXPECT_EQ(ResultType({T(DType::kBool), L(DType::kI32)}), DType::kI32);    // bool + 1
  EXPECT_EQ(ResultType({T(DType::kF16), T(DType::kBF16)}), DType::kF32);
  EXPECT_EQ(ResultType({T(DType::kI32), T(DType::kBF16)}), DType::kBF16);
  EXPECT_EQ(ResultType({T(DType::kBF16), Z(DType::kF32)}), DType::kBF16);   // 0-dim yields
  EXPECT_EQ(ResultType({T(DType::kI32), Z(DType::kF32)}), DType::kF32);     // unless a higher kind
  EXPECT_EQ(ResultType({Z(DType::kF16), L(DType::kF32)}), DType::kF16);
  EXPECT_EQ(*PointwiseResultDType(PointwiseOp::kDiv, DType::kI32), DType::kF32);
  EXPECT_EQ(*PointwiseResultDType(PointwiseOp::kExp, DType::kI32), DType::kF32);
  EXPECT_EQ(*PointwiseResultDType(PointwiseOp::kNeg, DType::kI32), DType::kI32);
}

// Comparisons and logical ops give bools; comparisons read their operands as f32 when one
// is floating, else as i32; rounding keeps an integer's dtype; the transcendental ops give
// f32 for integers.
TEST(Promotion, ComparisonsLogicalAndRoundingOps) {
  EXPECT_EQ(*PointwiseResultDType(PointwiseOp::kLt, DType::kBF16), DType::kBool);
  EXPECT_EQ(*PointwiseResultDType(PointwiseOp::kLogicalAnd, DType::kF32), DType::kBool);
  EXPECT_EQ(*PointwiseResultDType(PointwiseOp::kFloor, DType::kI32), DType::kI32);
  EXPECT_EQ(*PointwiseResultDType(PointwiseOp::kSin, DType::kI32), DType::kF32);
  EXPECT_FALSE(PointwiseResultDType(PointwiseOp::kSquare, DType::kBool).ok());
  const DType f_i[] = {DType::kBF16, DType::kI32}, i_b[] = {DType::kI32, DType::kBool};
  EXPECT_EQ(OperandDType(PointwiseOp::kEq, DType::kBool, f_i, 1), DType::kF32);
  EXPECT_EQ(OperandDType(PointwiseOp::kEq, DType::kBool, i_b, 0), DType::kI32);
  EXPECT_EQ(OperandDType(PointwiseOp::kLogicalOr, DType::kBool, f_i, 0), DType::kBool);
  EXPECT_EQ(OperandDType(PointwiseOp::kWhere, DType::kF32, f_i, 0), DType::kBool);
  EXPECT_EQ(OperandDType(PointwiseOp::kAdd, DType::kF32, f_i, 1), DType::kF32);
}

// The CPU reference of the new ops at hand-worked points (PyTorch's values).
TEST(Reference, NewPointwiseOpsAtHandWorkedPoints) {
  const auto f = [](PointwiseOp op, float x, Attrs a = {}) {
    Scalar s;
    s.f = x;
    return ApplyPointwise(op, a, DType::kF32, &s, DType::kF32)->f;
  };
  EXPECT_FLOAT_EQ(f(PointwiseOp::kLeakyRelu, -2.0f), -0.02f);
  EXPECT_FLOAT_EQ(f(PointwiseOp::kLeakyRelu, -2.0f, Attrs{.negative_slope = 0.5}), -1.0f);
  EXPECT_FLOAT_EQ(f(PointwiseOp::kElu, -1.0f, Attrs{.alpha = 2.0}), 2.0f * std::expm1(-1.0f));
  EXPECT_FLOAT_EQ(f(PointwiseOp::kHardswish, 1.0f), 4.0f / 6.0f);
  EXPECT_FLOAT_EQ(f(PointwiseOp::kHardswish, -4.0f), 0.0f);
  EXPECT_FLOAT_EQ(f(PointwiseOp::kHardsigmoid, 4.0f), 1.0f);
  EXPECT_FLOAT_EQ(f(PointwiseOp::kSoftplus, 30.0f), 30.0f);  // past the threshold: x
  EXPECT_FLOAT_EQ(f(PointwiseOp::kSoftplus, 0.0f), std::log(2.0f));
  EXPECT_FLOAT_EQ(f(PointwiseOp::kMish, 1.0f), std::tanh(std::log1p(std::exp(1.0f))));
  EXPECT_EQ(f(PointwiseOp::kRound, 2.5f), 2.0f);  // half to even
  EXPECT_EQ(f(PointwiseOp::kRound, -0.5f), 0.0f);
  EXPECT_TRUE(std::signbit(f(PointwiseOp::kSign, -0.0f)));
  EXPECT_TRUE(std::isnan(f(PointwiseOp::kSign, NAN)));
  EXPECT_TRUE(std::isnan(f(PointwiseOp::kHardsigmoid, NAN)));
  EXPECT_EQ(f(PointwiseOp::kReciprocal, 4.0f), 0.25f);
  EXPECT_EQ(f(PointwiseOp::kExp2, 3.0f), 8.0f);
  EXPECT_EQ(f(PointwiseOp::kLog2, 0.25f), -2.0f);
  EXPECT_FLOAT_EQ(f(PointwiseOp::kLog10, 1000.0f), 3.0f);
  EXPECT_FLOAT_EQ(f(PointwiseOp::kTan, 0.5f), std::tan(0.5f));
  EXPECT_FLOAT_EQ(f(PointwiseOp::kAtan, 1.0f), 0.78539819f);
  EXPECT_FLOAT_EQ(f(PointwiseOp::kAsin, 1.0f), 1.5707964f);
  EXPECT_FLOAT_EQ(f(PointwiseOp::kAcos, -1.0f), 3.1415927f);
  EXPECT_TRUE(std::isnan(f(PointwiseOp::kAsin, 1.5f)));
  EXPECT_FLOAT_EQ(f(PointwiseOp::kSinh, 1.0f), std::sinh(1.0f));
  EXPECT_FLOAT_EQ(f(PointwiseOp::kCosh, -1.0f), std::cosh(1.0f));
  EXPECT_EQ(f(PointwiseOp::kTrunc, -2.7f), -2.0f);
  EXPECT_TRUE(std::signbit(f(PointwiseOp::kTrunc, -0.5f)));  // -0, as torch.trunc
  EXPECT_EQ(*PointwiseResultDType(PointwiseOp::kLog2, DType::kI32), DType::kF32);
  EXPECT_EQ(*PointwiseResultDType(PointwiseOp::kTrunc, DType::kI32), DType::kI32);
  Scalar two[2];
  two[0].f = NAN;
  two[1].f = NAN;
  EXPECT_EQ(ApplyPointwise(PointwiseOp::kEq, {}, DType::kBool, two, DType::kF32)->i, 0);
  EXPECT_EQ(ApplyPointwise(PointwiseOp::kNe, {}, DType::kBool, two, DType::kF32)->i, 1);
  two[0].i = 3;
  two[1].i = 7;
  EXPECT_EQ(ApplyPointwise(PointwiseOp::kLt, {}, DType::kBool, two, DType::kI32)->i, 1);
}

// maximum and minimum as IEEE 754-2019 (what sm_80's max.NaN / min.NaN compute, which the
// kernels use): NaN from either side, +0 above -0 in either order.
TEST(Reference, MaximumAndMinimumOrderSignedZerosAndPassNaN) {
  const auto f = [](PointwiseOp op, float a, float b) {
    Scalar two[2];
    two[0].f = a;
    two[1].f = b;
    return ApplyPointwise(op, {}, DType::kF32, two, DType::kF32)->f;
  };
  for (const auto& [a, b] : {std::pair{0.0f, -0.0f}, std::pair{-0.0f, 0.0f}}) {
    EXPECT_FALSE(std::signbit(f(PointwiseOp::kMaximum, a, b)));
    EXPECT_TRUE(std::signbit(f(PointwiseOp::kMinimum, a, b)));
  }
  EXPECT_TRUE(std::isnan(f(PointwiseOp::kMaximum, 1.0f, NAN)));
  EXPECT_TRUE(std::isnan(f(PointwiseOp::kMaximum, -NAN, 1.0f)));
  EXPECT_TRUE(std::isnan(f(PointwiseOp::kMinimum, NAN, -INFINITY)));
  EXPECT_EQ(f(PointwiseOp::kMaximum, -1.0f, -INFINITY), -1.0f);
  EXPECT_EQ(f(PointwiseOp::kMinimum, 3.0f, 2.0f), 2.0f);
}

// logsumexp as torch computes it: large values without overflow, a row of -inf gives -inf,
// an integer input gives f32.
TEST(Reference, LogsumexpLowersToWhatTorchComputes) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "l", "inputs": [{"name": "x", "shape": [3, 3], "dtype": "f32"},
      {"name": "i", "shape": [3], "dtype": "i32"}],
    "nodes": [{"name": "r", "op": "logsumexp", "inputs": ["x"], "attrs": {"dim": 1}},
              {"name": "q", "op": "logsumexp", "inputs": ["i"], "attrs": {"dim": 0}}], "outputs": ["r", "q"]})"));
  EXPECT_EQ(g.node(g.FindNode("r")).dtype, DType::kF32);
  EXPECT_EQ(g.node(g.FindNode("q")).dtype, DType::kF32);
  EXPECT_EQ(g.ShapeText(g.FindNode("r")), "[3]");
  HostTensor x = HostTensor::Zeros(DType::kF32, {3, 3});
  const float v[] = {1, 2, 3, -INFINITY, -INFINITY, -INFINITY, 1000, 1000, 0};
  for (int k = 0; k < 9; ++k) x.Set(k, v[k]);
  HostTensor i = HostTensor::Zeros(DType::kI32, {3});
  for (int k = 0; k < 3; ++k) i.Set(k, k);
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvaluateReference(g, {x, i}));
  EXPECT_NEAR(out[0].Get(0), std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)), 1e-5);
  EXPECT_EQ(out[0].Get(1), -INFINITY);
  EXPECT_NEAR(out[0].Get(2), 1000 + std::log(2.0), 1e-3);
  EXPECT_NEAR(out[1].Get(0), std::log(1 + std::exp(1.0) + std::exp(2.0)), 1e-5);
}

// F.softmax(x, dim, dtype), log_softmax and torch.sum / mean / prod with a dtype cast x to
// it first: the result is in that dtype.
TEST(Graph, DtypeArgumentsCastTheInputFirst) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "d", "inputs": [{"name": "x", "shape": [3, 8], "dtype": "bf16"}],
    "nodes": [{"name": "p", "op": "softmax", "inputs": ["x"], "attrs": {"dim": -1, "dtype": "f32"}},
              {"name": "l", "op": "log_softmax", "inputs": ["x"], "attrs": {"dim": 0, "dtype": "f32"}},
              {"name": "s", "op": "sum", "inputs": ["x"], "attrs": {"dim": [0, 1], "dtype": "f32"}},
              {"name": "m", "op": "mean", "inputs": ["x"], "attrs": {"dtype": "f16"}}],
    "outputs": ["p", "l", "s", "m"]})"));
  EXPECT_EQ(g.node(g.FindNode("p")).dtype, DType::kF32);
  EXPECT_EQ(g.node(g.FindNode("l")).dtype, DType::kF32);
  EXPECT_EQ(g.node(g.FindNode("s")).dtype, DType::kF32);
  EXPECT_EQ(g.node(g.FindNode("m")).dtype, DType::kF16);
  EXPECT_EQ(g.node(g.FindNode("p.in")).dtype, DType::kF32);
  EXPECT_EQ(g.ShapeText(g.FindNode("s")), "[]");
}

// Reductions over several axes as torch computes them: adjacent static axes merged into one
// (mean, var), others one axis at a time (var as squared deviations from the mean over
// every axis), against sums written out here.
TEST(Reference, MultiAxisReductionsComputeWhatTorchComputes) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "m",
    "inputs": [{"name": "x", "shape": [2, 3, 4, 5], "dtype": "f32"}],
    "nodes": [{"name": "mn", "op": "mean", "inputs": ["x"], "attrs": {"dim": [-2, -1], "keepdim": true}},
              {"name": "v", "op": "var", "inputs": ["x"], "attrs": {"dim": [2, 3], "correction": 0}},
              {"name": "vs", "op": "var", "inputs": ["x"], "attrs": {"dim": [1, 3]}},
              {"name": "sd", "op": "std", "inputs": ["x"], "attrs": {"dim": [0, 2], "keepdim": true}},
              {"name": "a", "op": "amax", "inputs": ["x"], "attrs": {"dim": [1, 3]}}],
    "outputs": ["mn", "v", "vs", "sd", "a"]})"));
  EXPECT_EQ(g.ShapeText(g.FindNode("mn")), "[2, 3, 1, 1]");
  EXPECT_EQ(g.ShapeText(g.FindNode("v")), "[2, 3]");
  EXPECT_EQ(g.ShapeText(g.FindNode("vs")), "[2, 4]");
  EXPECT_EQ(g.ShapeText(g.FindNode("sd")), "[1, 3, 1, 5]");
  EXPECT_GE(g.FindNode("mn.merged"), 0);  // adjacent static axes: one reduction
  EXPECT_LT(g.FindNode("vs.merged"), 0);  // axes 1 and 3: one at a time
  HostTensor x = HostTensor::Zeros(DType::kF32, {2, 3, 4, 5});
  const auto at = [](int i, int j, int k, int l) { return ((i * 3 + j) * 4 + k) * 5 + l; };
  const auto value = [](int i, int j, int k, int l) { return std::sin(1.0 + i + 2.0 * j + 0.7 * k * k - 0.3 * l); };
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        for (int l = 0; l < 5; ++l) x.Set(at(i, j, k, l), value(i, j, k, l));
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvaluateReference(g, {x}));
  // The mean and variance of the values f(i, j, k, l) picks out, dividing by n - correction.
  const auto stats = [&](auto pick, int n, int correction) {
    double sum = 0, sq = 0;
    for (int e = 0; e < n; ++e) sum += pick(e);
    const double mean = sum / n;
    for (int e = 0; e < n; ++e) sq += (pick(e) - mean) * (pick(e) - mean);
    return std::pair<double, double>{mean, sq / (n - correction)};
  };
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      const auto [mean, var] = stats([&](int e) { return value(i, j, e / 5, e % 5); }, 20, 0);
      EXPECT_NEAR(out[0].Get(i * 3 + j), mean, 1e-5);
      EXPECT_NEAR(out[1].Get(i * 3 + j), var, 1e-5);
    }
    for (int k = 0; k < 4; ++k) {
      const auto [mean, var] = stats([&](int e) { return value(i, e / 5, k, e % 5); }, 15, 1);
      EXPECT_NEAR(out[2].Get(i * 4 + k), var, 1e-5);
      double mx = -INFINITY;
      for (int e = 0; e < 15; ++e) mx = std::max(mx, value(i, e / 5, k, e % 5));
      EXPECT_NEAR(out[4].Get(i * 4 + k), mx, 1e-6);
    }
  }
  for (int j = 0; j < 3; ++j) {
    for (int l = 0; l < 5; ++l) {
      const auto [mean, var] = stats([&](int e) { return value(e / 4, j, e % 4, l); }, 8, 1);
      EXPECT_NEAR(out[3].Get(j * 5 + l), std::sqrt(var), 1e-5);
    }
  }
}

// PyTorch's norm spellings against sums written out here: group_norm and instance_norm
// (biased variance per group of channels), batch_norm with running statistics, normalize
// and vector_norm, and layer_norm over the last two dims.
TEST(Reference, NormSpellingsComputeWhatTorchComputes) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "n",
    "inputs": [{"name": "x", "shape": [2, 4, 3], "dtype": "f32"}, {"name": "w", "shape": [4], "dtype": "f32"},
               {"name": "b", "shape": [4], "dtype": "f32"}, {"name": "w2", "shape": [4, 3], "dtype": "f32"}],
    "nodes": [{"name": "gn", "op": "group_norm", "inputs": ["x", "w", "b"], "attrs": {"num_groups": 2, "eps": 0.01}},
              {"name": "in", "op": "instance_norm", "inputs": ["x"]},
              {"name": "bn", "op": "batch_norm", "inputs": ["x", "b", "w", "w", "b"]},
              {"name": "nz", "op": "normalize", "inputs": ["x"]},
              {"name": "n1", "op": "vector_norm", "inputs": ["x"], "attrs": {"ord": 1, "dim": [0, 2]}},
              {"name": "ln", "op": "layer_norm", "inputs": ["x", "w2", "w2"]}],
    "outputs": ["gn", "in", "bn", "nz", "n1", "ln"]})"));
  for (const char* out : {"gn", "in", "bn", "nz", "ln"}) EXPECT_EQ(g.ShapeText(g.FindNode(out)), "[2, 4, 3]") << out;
  EXPECT_EQ(g.ShapeText(g.FindNode("n1")), "[4]");
  const auto value = [](int i, int c, int k) { return std::cos(0.3 + i - 0.9 * c + 0.5 * k * c); };
  const auto param = [](int c) { return 0.5 + 0.25 * c; };  // w; b is param(c) - 1
  HostTensor x = HostTensor::Zeros(DType::kF32, {2, 4, 3}), w = HostTensor::Zeros(DType::kF32, {4}),
             b = HostTensor::Zeros(DType::kF32, {4}), w2 = HostTensor::Zeros(DType::kF32, {4, 3});
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < 4; ++c)
      for (int k = 0; k < 3; ++k) x.Set((i * 4 + c) * 3 + k, value(i, c, k));
  for (int c = 0; c < 4; ++c) {
    w.Set(c, param(c));
    b.Set(c, param(c) - 1);
    for (int k = 0; k < 3; ++k) w2.Set(c * 3 + k, 1 + 0.1 * (c * 3 + k));
  }
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvaluateReference(g, {x, w, b, w2}));
  // Mean and biased variance of the values over channels [c0, c1) of sample i.
  const auto stats = [&](int i, int c0, int c1) {
    double s = 0, q = 0;
    const int n = (c1 - c0) * 3;
    for (int c = c0; c < c1; ++c)
      for (int k = 0; k < 3; ++k) s += value(i, c, k);
    for (int c = c0; c < c1; ++c)
      for (int k = 0; k < 3; ++k) q += (value(i, c, k) - s / n) * (value(i, c, k) - s / n);
    return std::pair<double, double>{s / n, q / n};
  };
  for (int i = 0; i < 2; ++i) {
    for (int c = 0; c < 4; ++c) {
      const auto [gm, gv] = stats(i, c / 2 * 2, c / 2 * 2 + 2);
      const auto [im, iv] = stats(i, c, c + 1);
      const auto [lm, lv] = stats(i, 0, 4);
      double norm2 = 0;
      for (int d = 0; d < 4; ++d) norm2 += value(i, d, 0) * value(i, d, 0);  // over dim 1 at k = 0
      for (int k = 0; k < 3; ++k) {
        const int e = (i * 4 + c) * 3 + k;
        const double v = value(i, c, k);
        EXPECT_NEAR(out[0].Get(e), (v - gm) / std::sqrt(gv + 0.01) * param(c) + param(c) - 1, 1e-5) << e;
        EXPECT_NEAR(out[1].Get(e), (v - im) / std::sqrt(iv + 1e-5), 1e-4) << e;
        // running mean b, running var w, weight w, bias b
        EXPECT_NEAR(out[2].Get(e), (v - param(c) + 1) / std::sqrt(param(c) + 1e-5) * param(c) + param(c) - 1, 1e-4)
            << e;
        if (k == 0) {
          EXPECT_NEAR(out[3].Get(e), v / std::sqrt(norm2), 1e-5) << e;
        }
        const double lw = 1 + 0.1 * (c * 3 + k);
        EXPECT_NEAR(out[5].Get(e), (v - lm) / std::sqrt(lv + 1e-5) * lw + lw, 1e-4) << e;
      }
    }
  }
  for (int c = 0; c < 4; ++c) {
    double n1 = 0;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 3; ++k) n1 += std::fabs(value(i, c, k));
    EXPECT_NEAR(out[4].Get(c), n1, 1e-5) << c;
  }
  // What the spellings refuse, by name.
  const auto bad = [](const std::string& nodes) {
    return GraphFromJson(absl::StrCat(R"({"name": "n", "inputs": [{"name": "x", "shape": [2, 4, 3], "dtype": "f32"}],
      "nodes": )", nodes, R"(, "outputs": ["y"]})")).status();
  };
  EXPECT_TRUE(StatusIs(bad(R"([{"name": "y", "op": "group_norm", "inputs": ["x"], "attrs": {"num_groups": 3}}])"),
                       absl::StatusCode::kInvalidArgument, "num_groups 3 does not divide the 4 channels"));
  EXPECT_TRUE(StatusIs(bad(R"([{"name": "y", "op": "group_norm", "inputs": ["x"]}])"),
                       absl::StatusCode::kInvalidArgument, "needs 'num_groups'"));
  EXPECT_TRUE(StatusIs(bad(R"([{"name": "y", "op": "batch_norm", "inputs": ["x", "x", "x"]}])"),
                       absl::StatusCode::kInvalidArgument, "expected [C], C = dim 1"));
  EXPECT_TRUE(StatusIs(bad(R"([{"name": "y", "op": "norm", "inputs": ["x"], "attrs": {"p": -1}}])"),
                       absl::StatusCode::kInvalidArgument, "norm order p = -1"));
}

// log_softmax as torch computes it, over any dim, with the input's dtype.
TEST(Reference, LogSoftmaxLowersToWhatTorchComputes) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "l", "inputs": [{"name": "x", "shape": [2, 3], "dtype": "f32"}],
    "nodes": [{"name": "r", "op": "log_softmax", "inputs": ["x"]},
              {"name": "c", "op": "log_softmax", "inputs": ["x"], "attrs": {"dim": 0}}], "outputs": ["r", "c"]})"));
  EXPECT_EQ(g.ShapeText(g.FindNode("c")), "[2, 3]");
  HostTensor x = HostTensor::Zeros(DType::kF32, {2, 3});
  const float v[] = {1, 2, 3, -1, 0, 500};
  for (int k = 0; k < 6; ++k) x.Set(k, v[k]);
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvaluateReference(g, {x}));
  const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(out[0].Get(0), 1 - lse0, 1e-5);
  EXPECT_NEAR(out[0].Get(5), 0.0, 1e-5);  // 500 dominates its row
  EXPECT_NEAR(out[1].Get(0), 1 - std::log(std::exp(1.0) + std::exp(-1.0)), 1e-5);
  EXPECT_NEAR(out[1].Get(2), 3 - 500, 1e-3);
  EXPECT_FALSE(GraphFromJson(R"({"name": "l", "inputs": [{"name": "x", "shape": [2, 3], "dtype": "i32"}],
    "nodes": [{"name": "r", "op": "log_softmax", "inputs": ["x"]}], "outputs": ["r"]})").ok());
}

// argmin and argmax: the first index of the extreme value, a NaN winning both.
TEST(Reference, ArgminAndArgmaxTakeTheFirstIndexAndNaN) {
  const auto index = [](int op, std::vector<float> v) {
    return ReduceValues(op, static_cast<int64_t>(v.size()), [&](int64_t r) { return v[r]; });
  };
  EXPECT_EQ(index(7, {3, 1, 2, 1}), 1);
  EXPECT_EQ(index(4, {3, 1, 3, 1}), 0);
  EXPECT_EQ(index(7, {3, NAN, -5, NAN}), 1);
  EXPECT_EQ(index(4, {3, NAN, 5}), 1);
  EXPECT_EQ(index(7, {INFINITY, INFINITY}), 0);
}

// An activation's parameters: only on it, finite, softplus's beta not zero.
TEST(GraphValidation, ActivationParametersBelongToTheirOp) {
  const auto graph = [](const std::string& op, const std::string& attrs) {
    return GraphFromJson(absl::StrCat(R"({"name": "a", "inputs": [{"name": "x", "shape": [4], "dtype": "f32"}],
      "nodes": [{"name": "y", "op": ")", op, R"(", "inputs": ["x"], "attrs": )", attrs, R"(}], "outputs": ["y"]})"));
  };
  TF_EXPECT_OK(graph("leaky_relu", R"({"negative_slope": 0.1})").status());
  TF_EXPECT_OK(graph("softplus", R"({"beta": 2, "threshold": 5})").status());
  EXPECT_TRUE(StatusIs(graph("relu", R"({"negative_slope": 0.1})").status(), absl::StatusCode::kInvalidArgument,
                       "only leaky_relu takes 'negative_slope'"));
  EXPECT_TRUE(StatusIs(graph("elu", R"({"beta": 1})").status(), absl::StatusCode::kInvalidArgument,
                       "only softplus takes 'beta'"));
  EXPECT_TRUE(StatusIs(graph("softplus", R"({"beta": 0})").status(), absl::StatusCode::kInvalidArgument,
                       "'beta' is 0"));
  EXPECT_TRUE(StatusIs(graph("elu", R"({"alpha": {"value": "inf"}})").status(), absl::StatusCode::kInvalidArgument));
}

// Views: their shapes (Python's slice rules, negative axes and positions), and errors that
// name the node and the values.
TEST(GraphBuilder, ViewShapesAndErrors) {
  const auto graph = [](const std::string& op, const std::string& attrs) {
    return GraphFromJson(absl::StrCat(R"({"name": "v", "inputs": [{"name": "x", "shape": ["M", 8, 10], "dtype": "f32"}],
      "nodes": [{"name": "y", "op": ")", op, R"(", "inputs": ["x"], "attrs": )", attrs, R"(}], "outputs": ["y"]})"));
  };
  const auto shape = [&](const std::string& op, const std::string& attrs) -> std::string {
    auto g = graph(op, attrs);
    if (!g.ok()) return std::string(g.status().message());
    return g->ShapeText(g->FindNode("y"));
  };
  EXPECT_EQ(shape("permute", R"({"dims": [2, 0, -2]})"), "[10, M, 8]");
  EXPECT_EQ(shape("slice", R"({"dim": 2, "start": 1, "end": -1, "step": 2})"), "[M, 8, 4]");
  EXPECT_EQ(shape("slice", R"({"dim": -1, "start": -3})"), "[M, 8, 3]");
  EXPECT_EQ(shape("slice", R"({"dim": 1, "start": 5, "end": 100})"), "[M, 3, 10]");
  EXPECT_EQ(shape("slice", R"({"dim": 0})"), "[M, 8, 10]");  // the whole of a symbolic axis
  EXPECT_EQ(shape("narrow", R"({"dim": 1, "start": -2, "length": 2})"), "[M, 2, 10]");
  EXPECT_EQ(shape("select", R"({"dim": 2, "index": -1})"), "[M, 8]");
  EXPECT_EQ(shape("flip", R"({"dims": [0, 2]})"), "[M, 8, 10]");
  EXPECT_EQ(shape("expand", R"({"shape": [3, -1, 8, 10]})"), "[3, M, 8, 10]");
  EXPECT_TRUE(StatusIs(graph("permute", R"({"dims": [0, 0, 1]})").status(), absl::StatusCode::kInvalidArgument,
                       "node 'y' (permute): dim 0 appears twice in 'dims'"));
  EXPECT_TRUE(StatusIs(graph("permute", R"({"dims": [0, 1]})").status(), absl::StatusCode::kInvalidArgument,
                       "(expected all 3)"));
  EXPECT_TRUE(StatusIs(graph("select", R"({"dim": 1, "index": 8})").status(), absl::StatusCode::kInvalidArgument,
                       "index 8 is out of range for dim 1 of size 8"));
  EXPECT_TRUE(StatusIs(graph("select", R"({"dim": 0, "index": 0})").status(), absl::StatusCode::kInvalidArgument,
                       "is symbolic"));
  EXPECT_TRUE(StatusIs(graph("slice", R"({"dim": 1, "step": 0})").status(), absl::StatusCode::kInvalidArgument,
                       "step 0 (expected a positive step)"));
  EXPECT_TRUE(StatusIs(graph("narrow", R"({"dim": 1, "start": 7, "length": 2})").status(),
                       absl::StatusCode::kInvalidArgument, "start 7 and length 2 leave dim 1 of size 8"));
  EXPECT_TRUE(StatusIs(graph("expand", R"({"shape": [-1, 4, 10]})").status(), absl::StatusCode::kInvalidArgument,
                       "cannot expand dim 1"));
  EXPECT_TRUE(StatusIs(graph("flip", R"({})").status(), absl::StatusCode::kInvalidArgument, "needs 'dims'"));
}

TEST(GraphBuilder, InfersShapesAndDtypesOfStructuredNodes) {
  auto g = GraphFromJson(R"({"name": "t",
    "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"},
               {"name": "w", "shape": [64, 32], "dtype": "bf16"}],
    "nodes": [{"name": "y", "op": "matmul", "inputs": ["x", "w"]},
              {"name": "s", "op": "sum", "inputs": ["y"], "attrs": {"dim": 1, "keepdim": true}},
              {"name": "t", "op": "transpose", "inputs": ["y"], "attrs": {"dim0": 0, "dim1": 1}},
              {"name": "r", "op": "reshape", "inputs": ["x"], "attrs": {"shape": [-1, 8, 8]}}],
    "outputs": ["s", "t", "r"]})");
  TF_ASSERT_OK(g);
  EXPECT_EQ(g->ShapeText(g->FindNode("y")), "[M, 32]");
  EXPECT_EQ(g->ShapeText(g->FindNode("s")), "[M, 1]");
  EXPECT_EQ(g->ShapeText(g->FindNode("t")), "[32, M]");
  EXPECT_EQ(g->ShapeText(g->FindNode("r")), "[M, 8, 8]");
  EXPECT_EQ(g->node(g->FindNode("s")).dtype, DType::kBF16);
}

// sum over two axes of a bf16 tensor: fp32 in between, one rounding at the end.
TEST(GraphBuilder, ReductionOverSeveralAxesLowersToOneAxisAtATime) {
  auto g = GraphFromJson(R"({"name": "t", "inputs": [{"name": "x", "shape": [4, "S", 6], "dtype": "bf16"}],
    "nodes": [{"name": "s", "op": "sum", "inputs": ["x"], "attrs": {"dim": [0, -1], "keepdim": true}}],
    "outputs": ["s"]})");
  TF_ASSERT_OK(g);
  std::vector<std::string> names;
  for (const Node& n : g->nodes()) names.push_back(absl::StrCat(n.name, ":", n.OpString()));
  EXPECT_EQ(names, (std::vector<std::string>{"x:input", "s.f32:cast", "s.dim2:sum", "s.dim0:sum", "s:cast"}));
  EXPECT_EQ(g->ShapeText(g->FindNode("s")), "[1, S, 1]");
  EXPECT_EQ(g->node(g->FindNode("s.dim0")).dtype, DType::kF32);
  EXPECT_EQ(g->node(g->FindNode("s")).dtype, DType::kBF16);
}

// iota / arange and gather: shapes, dtypes, and what each refuses, by name.
TEST(GraphBuilder, IndexOpsShapesAndErrors) {
  Graph g("index");
  const int m = g.Symbol("M");
  TF_ASSERT_OK_AND_ASSIGN(int x, g.AddInput("x", {Dim::Sym(m), Dim::Static(8)}, DType::kBF16));
  TF_ASSERT_OK_AND_ASSIGN(int idx, g.AddInput("idx", {Dim::Sym(m), Dim::Static(3)}, DType::kI32));
  TF_ASSERT_OK_AND_ASSIGN(int fidx, g.AddInput("fidx", {Dim::Sym(m), Dim::Static(3)}, DType::kF32));
  TF_ASSERT_OK_AND_ASSIGN(int gathered, g.AddGather("g", x, -1, idx));
  EXPECT_EQ(g.node(gathered).dtype, DType::kBF16);
  EXPECT_EQ(g.ShapeText(gathered), "[M, 3]");
  EXPECT_EQ(*g.node(gathered).attrs.dim, 1);
  EXPECT_TRUE(StatusIs(g.AddGather("g2", x, 1, fidx), absl::StatusCode::kInvalidArgument,
                       "node 'g2' (gather): index 'fidx' is f32 (expected i32)"));
  EXPECT_TRUE(StatusIs(g.AddGather("g3", x, 2, idx), absl::StatusCode::kInvalidArgument, "node 'g3' (gather)"));
  TF_ASSERT_OK_AND_ASSIGN(int wide, g.AddInput("wide", {Dim::Sym(m), Dim::Static(9)}, DType::kI32));
  TF_ASSERT_OK_AND_ASSIGN(int flat, g.AddInput("flat", {Dim::Static(8)}, DType::kI32));
  EXPECT_TRUE(StatusIs(g.AddGather("g4", x, 0, wide), absl::StatusCode::kInvalidArgument,
                       "index 'wide' dim 1 is [9] but input 'x' dim 1 is [8] (expected no larger)"));
  EXPECT_TRUE(StatusIs(g.AddGather("g5", x, 0, flat), absl::StatusCode::kInvalidArgument, "expected the same rank"));

  TF_ASSERT_OK_AND_ASSIGN(int pos, g.AddIota("pos", {Dim::Sym(m), Dim::Static(8)}, 0, 0, 1, DType::kI32));
  EXPECT_EQ(g.ShapeText(pos), "[M, 8]");
  EXPECT_TRUE(StatusIs(g.AddIota("i2", {Dim::Static(4)}, 1, 0, 1, DType::kI32), absl::StatusCode::kInvalidArgument,
                       "node 'i2' (iota)"));
  EXPECT_TRUE(StatusIs(g.AddIota("i3", {Dim::Static(4)}, 0, 0, 1, DType::kBool), absl::StatusCode::kInvalidArgument,
                       "dtype bool"));
  EXPECT_TRUE(StatusIs(g.AddIota("i4", {Dim::Static(1000)}, 0, int64_t{1} << 30, 1 << 22, DType::kI32),
                       absl::StatusCode::kInvalidArgument, "leave i32"));
  TF_ASSERT_OK_AND_ASSIGN(int r, g.AddArange("r", 10, 0, -3, DType::kF32));  // 10, 7, 4, 1
  EXPECT_EQ(g.ShapeText(r), "[4]");
  TF_ASSERT_OK_AND_ASSIGN(int empty, g.AddArange("e", 5, 5, 1, DType::kI32));
  EXPECT_EQ(g.ShapeText(empty), "[0]");
  EXPECT_TRUE(StatusIs(g.AddArange("z", 0, 5, 0, DType::kI32), absl::StatusCode::kInvalidArgument, "step 0"));
  EXPECT_TRUE(StatusIs(GraphFromJson(R"({"name": "j", "inputs": [], "outputs": ["i"],
                                        "nodes": [{"name": "i", "op": "iota", "inputs": []}]})"),
                       absl::StatusCode::kInvalidArgument, "'iota' needs 'shape'"));
  EXPECT_TRUE(StatusIs(GraphFromJson(R"({"name": "j", "inputs": [{"name": "x", "shape": [4], "dtype": "f32"}],
                                        "outputs": ["g"],
                                        "nodes": [{"name": "g", "op": "gather", "inputs": ["x"], "attrs": {"dim": 0}}]})"),
                       absl::StatusCode::kInvalidArgument, "'gather' takes 2 operands (input, index), got 1"));
}

// The reference: arange's values, and gather's clamp of out-of-range indices.
TEST(Reference, ArangeValuesAndGatherClampsIndices) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "idx", "shape": [5], "dtype": "i32"}],
    "nodes": [{"name": "r", "op": "arange", "inputs": [], "attrs": {"start": 10, "end": 0, "step": -3, "dtype": "f32"}},
              {"name": "g", "op": "gather", "inputs": ["r", "idx"], "attrs": {"dim": 0}}],
    "outputs": ["r", "g"]})"));
  HostTensor idx = HostTensor::Zeros(DType::kI32, {5});
  const int at[5] = {0, 3, -2, 9, 1};
  for (int i = 0; i < 5; ++i) idx.Set(i, at[i]);
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvaluateReference(g, {idx}));
  const double r[4] = {10, 7, 4, 1}, want[5] = {10, 1, 10, 1, 7};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[0].Get(i), r[i]) << i;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(out[1].Get(i), want[i]) << i;
}

// cat: the shape, the promoted dtype, what it refuses (by name), and the reference's values
// (each input's elements in order along the dim, whatever the lowering).
TEST(GraphBuilder, CatConcatenatesAlongOneDim) {
  Graph g("cat");
  const int m = g.Symbol("M");
  TF_ASSERT_OK_AND_ASSIGN(int a, g.AddInput("a", {Dim::Sym(m), Dim::Static(2)}, DType::kBF16));
  TF_ASSERT_OK_AND_ASSIGN(int b, g.AddInput("b", {Dim::Sym(m), Dim::Static(3)}, DType::kF32));
  TF_ASSERT_OK_AND_ASSIGN(int c, g.AddInput("c", {Dim::Sym(m), Dim::Static(1)}, DType::kI32));
  TF_ASSERT_OK_AND_ASSIGN(int y, g.AddCat("y", {a, b, c}, -1));
  EXPECT_EQ(g.ShapeText(y), "[M, 6]");
  EXPECT_EQ(g.node(y).dtype, DType::kF32);
  EXPECT_EQ(g.node(y).name, "y");
  EXPECT_TRUE(StatusIs(g.AddCat("y2", {a, b}, 0), absl::StatusCode::kInvalidArgument,
                       "node 'y2' (cat): 'b' has shape [M, 3] and 'a' [M, 2] (expected equal sizes but along dim 0)"));
  EXPECT_TRUE(StatusIs(g.AddCat("y3", {a, a}, 0), absl::StatusCode::kInvalidArgument,
                       "dim 0 is symbolic (expected static sizes along the concatenated dim)"));
  EXPECT_TRUE(StatusIs(g.AddCat("y4", {}, 0), absl::StatusCode::kInvalidArgument, "at least 1 operand"));
  EXPECT_TRUE(StatusIs(g.AddCat("y5", {a, b}, 2), absl::StatusCode::kInvalidArgument, "node 'y5' (cat)"));
  TF_ASSERT_OK_AND_ASSIGN(int one, g.AddScalar(1.0));
  EXPECT_TRUE(StatusIs(g.AddCat("y6", {a, one}, 1), absl::StatusCode::kInvalidArgument, "is a constant"));

  TF_ASSERT_OK_AND_ASSIGN(Graph j, GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "p", "shape": [2, 2], "dtype": "f32"}, {"name": "q", "shape": [1, 2], "dtype": "f32"}],
    "nodes": [{"name": "nq", "op": "neg", "inputs": ["q"]},
              {"name": "rows", "op": "cat", "inputs": ["p", "nq", "p"], "attrs": {"dim": 0}},
              {"name": "cols", "op": "cat", "inputs": ["q", "q"], "attrs": {"dim": 1}}],
    "outputs": ["rows", "cols"]})"));
  HostTensor p = HostTensor::Zeros(DType::kF32, {2, 2}), q = HostTensor::Zeros(DType::kF32, {1, 2});
  for (int i = 0; i < 4; ++i) p.Set(i, i + 1);  // [[1, 2], [3, 4]]
  q.Set(0, 5);
  q.Set(1, 6);
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvaluateReference(j, {p, q}));
  const double rows[10] = {1, 2, 3, 4, -5, -6, 1, 2, 3, 4}, cols[4] = {5, 6, 5, 6};
  ASSERT_EQ(out[0].numel(), 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(out[0].Get(i), rows[i]) << i;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[1].Get(i), cols[i]) << i;

  // Parts that all slice one tensor along the cat's dim (rotate_half; three parts out of
  // order, one narrowed, one through two unary ops): one gather of it, the values PyTorch's.
  TF_ASSERT_OK_AND_ASSIGN(Graph r, GraphFromJson(R"({"name": "r",
    "inputs": [{"name": "x", "shape": [2, 4], "dtype": "f32"}],
    "nodes": [{"name": "x1", "op": "slice", "inputs": ["x"], "attrs": {"dim": -1, "end": 2}},
              {"name": "x2", "op": "slice", "inputs": ["x"], "attrs": {"dim": 1, "start": 2}},
              {"name": "n2", "op": "neg", "inputs": ["x2"]},
              {"name": "half", "op": "cat", "inputs": ["n2", "x1"], "attrs": {"dim": -1}},
              {"name": "a", "op": "narrow", "inputs": ["x"], "attrs": {"dim": 1, "start": 3, "length": 1}},
              {"name": "b", "op": "slice", "inputs": ["x"], "attrs": {"dim": 1, "start": 1}},
              {"name": "nb", "op": "neg", "inputs": ["b"]},
              {"name": "rb", "op": "relu", "inputs": ["nb"]},
              {"name": "three", "op": "cat", "inputs": ["a", "x1", "rb"], "attrs": {"dim": 1}}],
    "outputs": ["half", "three"]})"));
  int gathers = 0;
  for (const Node& n : r.nodes()) gathers += n.kind == NodeKind::kGather;
  EXPECT_EQ(gathers, 2);  // one per cat
  HostTensor x = HostTensor::Zeros(DType::kF32, {2, 4});
  for (int i = 0; i < 8; ++i) x.Set(i, i % 2 == 0 ? i + 1 : -(i + 1));  // [[1, -2, 3, -4], [5, -6, 7, -8]]
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> rot, EvaluateReference(r, {x}));
  const double half[8] = {-3, 4, 1, -2, -7, 8, 5, -6};
  const double three[12] = {-4, 1, -2, 2, 0, 4, -8, 5, -6, 6, 0, 8};
  ASSERT_EQ(rot[0].numel(), 8);
  ASSERT_EQ(rot[1].numel(), 12);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(rot[0].Get(i), half[i]) << i;
  for (int i = 0; i < 12; ++i) EXPECT_EQ(rot[1].Get(i), three[i]) << i;
}

// linear (x @ w.T + b, leading dims of x flattened and restored) and std (sqrt of var):
// shapes, and what linear refuses.
TEST(GraphBuilder, LinearAndStd) {
  TF_ASSERT_OK_AND_ASSIGN(Graph j, GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "x", "shape": [2, 3, 8], "dtype": "bf16"}, {"name": "w", "shape": [5, 8], "dtype": "bf16"},
               {"name": "b", "shape": [5], "dtype": "bf16"}, {"name": "y", "shape": ["M", 8], "dtype": "bf16"}],
    "nodes": [{"name": "l3", "op": "linear", "inputs": ["x", "w", "b"]},
              {"name": "l2", "op": "linear", "inputs": ["y", "w"]},
              {"name": "s", "op": "std", "inputs": ["l3"], "attrs": {"dim": 1, "correction": 0}}],
    "outputs": ["l3", "l2", "s"]})"));
  EXPECT_EQ(j.ShapeText(j.FindNode("l3")), "[2, 3, 5]");
  EXPECT_EQ(j.ShapeText(j.FindNode("l2")), "[M, 5]");
  EXPECT_EQ(j.ShapeText(j.FindNode("s")), "[2, 5]");
  EXPECT_EQ(j.node(j.FindNode("l2")).kind, NodeKind::kTile);
  // Two symbolic leading dims: a batched GEMM over the first.
  TF_ASSERT_OK_AND_ASSIGN(Graph bs, GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "x", "shape": ["B", "S", 8], "dtype": "bf16"}, {"name": "w", "shape": [5, 8], "dtype": "bf16"}],
    "nodes": [{"name": "l", "op": "linear", "inputs": ["x", "w"]}], "outputs": ["l"]})"));
  EXPECT_EQ(bs.ShapeText(bs.FindNode("l")), "[B, S, 5]");
  EXPECT_TRUE(IsBatchedMatmul(bs.node(bs.FindNode("l"))));
  EXPECT_TRUE(StatusIs(GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "x", "shape": [8], "dtype": "bf16"}, {"name": "w", "shape": [5, 8], "dtype": "bf16"}],
    "nodes": [{"name": "l", "op": "linear", "inputs": ["x", "w"]}], "outputs": ["l"]})"),
                       absl::StatusCode::kInvalidArgument, "(expected rank >= 2)"));
}

// matmul as torch.matmul: vectors (dot, mv as a row reduction, vm), leading dims that
// flatten into one GEMM, static batches broadcast and run one GEMM each, linear over a
// static batch beside a symbolic dim; softmax over any dim; and what is refused.
TEST(GraphBuilder, MatmulFollowsTorchMatmul) {
  TF_ASSERT_OK_AND_ASSIGN(Graph j, GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "v", "shape": [8], "dtype": "f32"}, {"name": "m", "shape": ["M", 8], "dtype": "f32"},
               {"name": "w", "shape": [8, 5], "dtype": "f32"}, {"name": "x", "shape": [3, 4, 8], "dtype": "f32"},
               {"name": "a", "shape": [2, 1, "M", 8], "dtype": "f32"}, {"name": "b", "shape": [3, 8, 5], "dtype": "f32"},
               {"name": "s", "shape": [2, "S", 8], "dtype": "f32"}, {"name": "l", "shape": [5, 8], "dtype": "f32"}],
    "nodes": [{"name": "dot", "op": "matmul", "inputs": ["v", "v"]},
              {"name": "mv", "op": "matmul", "inputs": ["m", "v"]},
              {"name": "vm", "op": "matmul", "inputs": ["v", "w"]},
              {"name": "flat", "op": "matmul", "inputs": ["x", "w"]},
              {"name": "bmm", "op": "matmul", "inputs": ["a", "b"]},
              {"name": "per_batch", "op": "matmul", "inputs": ["s", "w"]},
              {"name": "lin", "op": "linear", "inputs": ["s", "l"]},
              {"name": "sm0", "op": "softmax", "inputs": ["x"], "attrs": {"dim": 0}}],
    "outputs": ["dot", "mv", "vm", "flat", "bmm", "per_batch", "lin", "sm0"]})"));
  const std::vector<std::pair<const char*, const char*>> shapes = {
      {"dot", "[]"}, {"mv", "[M]"}, {"vm", "[5]"}, {"flat", "[3, 4, 5]"}, {"bmm", "[2, 3, M, 5]"},
      {"per_batch", "[2, S, 5]"}, {"lin", "[2, S, 5]"}, {"sm0", "[3, 4, 8]"}};
  for (const auto& [name, shape] : shapes) EXPECT_EQ(j.ShapeText(j.FindNode(name)), shape) << name;
  EXPECT_EQ(j.node(j.FindNode("mv")).kind, NodeKind::kReduce);
  int gemms = 0;
  for (const Node& n : j.nodes()) gemms += n.kind == NodeKind::kTile && n.tile == TileOp::kMatmul;
  // vm 1, flat 1, and one batched GEMM each for bmm, per_batch and lin.
  EXPECT_EQ(gemms, 5);
  for (const char* name : {"bmm", "per_batch", "lin"}) EXPECT_TRUE(IsBatchedMatmul(j.node(j.FindNode(name)))) << name;
  const auto refused = [](const std::string& a, const std::string& b, const std::string& why) {
    EXPECT_TRUE(StatusIs(GraphFromJson(absl::StrCat(R"({"name": "j", "inputs": [{"name": "a", "shape": )", a,
                                                    R"(, "dtype": "f32"}, {"name": "b", "shape": )", b,
                                                    R"(, "dtype": "f32"}], "nodes": [{"name": "y", "op": "matmul",
                                                    "inputs": ["a", "b"]}], "outputs": ["y"]})")),
                         absl::StatusCode::kInvalidArgument, why))
        << a << " x " << b;
  };
  refused("[2, 4, 8]", "[3, 8, 5]", "do not broadcast");
  refused(R"(["B", 4, 8])", R"(["C", 8, 5])", "do not broadcast");
  // Symbolic and many batches: one batched GEMM, B broadcast over A's batch by an expand.
  TF_ASSERT_OK_AND_ASSIGN(Graph many, GraphFromJson(R"({"name": "j", "inputs": [{"name": "a", "shape": ["B", 4, 8],
    "dtype": "f32"}, {"name": "b", "shape": [8, 5], "dtype": "f32"}, {"name": "c", "shape": [33, 4, 8], "dtype": "f32"},
    {"name": "d", "shape": [33, 8, 5], "dtype": "f32"}], "nodes": [{"name": "y", "op": "matmul", "inputs": ["a", "b"]},
    {"name": "z", "op": "matmul", "inputs": ["c", "d"]}], "outputs": ["y", "z"]})"));
  EXPECT_EQ(many.ShapeText(many.FindNode("y")), "[B, 4, 5]");
  EXPECT_EQ(many.ShapeText(many.FindNode("z")), "[33, 4, 5]");
  EXPECT_EQ(many.ShapeText(many.node(many.FindNode("y")).inputs[1]), "[B, 8, 5]");
  refused("[4, 8]", "[7]", "inner dims differ");
  refused("[8]", "[2, 8, 5]", "unsqueeze the vector");
  // index_select and embedding: gathers through broadcast index views.
  TF_ASSERT_OK_AND_ASSIGN(Graph e, GraphFromJson(R"({"name": "j", "inputs": [{"name": "w", "shape": [100, 8],
    "dtype": "bf16"}, {"name": "ids", "shape": [2, "S"], "dtype": "i32"}, {"name": "v", "shape": [5], "dtype": "i32"}],
    "nodes": [{"name": "t", "op": "embedding", "inputs": ["ids", "w"]},
              {"name": "c", "op": "index_select", "inputs": ["w", "v"], "attrs": {"dim": -1}}], "outputs": ["t", "c"]})"));
  EXPECT_EQ(e.ShapeText(e.FindNode("t")), "[2, S, 8]");
  EXPECT_EQ(e.ShapeText(e.FindNode("c")), "[100, 5]");
  EXPECT_EQ(e.node(e.FindNode("t")).kind, NodeKind::kGather);
  EXPECT_TRUE(StatusIs(GraphFromJson(R"({"name": "j", "inputs": [{"name": "w", "shape": [100, 8], "dtype": "bf16"},
    {"name": "v", "shape": [5, 2], "dtype": "i32"}], "nodes": [{"name": "c", "op": "index_select", "inputs": ["w", "v"],
    "attrs": {"dim": 0}}], "outputs": ["c"]})"), absl::StatusCode::kInvalidArgument, "index is [5, 2] (expected 1-D)"));
  // torch.bmm and torch.mm: the same, of 3-D and 2-D operands only.
  TF_ASSERT_OK_AND_ASSIGN(Graph bmm, GraphFromJson(R"({"name": "j", "inputs": [{"name": "a", "shape": [2, "M", 8],
    "dtype": "f16"}, {"name": "b", "shape": [2, 8, 5], "dtype": "f16"}], "nodes": [{"name": "y", "op": "bmm",
    "inputs": ["a", "b"]}], "outputs": ["y"]})"));
  EXPECT_EQ(bmm.ShapeText(bmm.FindNode("y")), "[2, M, 5]");
  EXPECT_TRUE(StatusIs(GraphFromJson(R"({"name": "j", "inputs": [{"name": "a", "shape": [4, 8], "dtype": "f16"},
    {"name": "b", "shape": [2, 8, 5], "dtype": "f16"}], "nodes": [{"name": "y", "op": "bmm", "inputs": ["a", "b"]}],
    "outputs": ["y"]})"), absl::StatusCode::kInvalidArgument, "'bmm' operands must be 3-D, got [4, 8] and [2, 8, 5]"));
}

// PyTorch spellings load as the ops they name (runtime/graph/torch_aliases.h), and their
// misuse says which operand and what was expected.
// x.repeat_interleave(n, dim) repeats each element of dim in place (Llama's repeat_kv of
// grouped-query attention); type_as casts to the other's dtype. The reference of the
// lowered graph holds r[b, j, s, d] = k[b, j / 2, s, d].
TEST(GraphBuilder, RepeatInterleaveRepeatsEachElementInPlace) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "kv",
    "inputs": [{"name": "k", "shape": [2, 3, "S", 4], "dtype": "f32"}, {"name": "h", "shape": [2], "dtype": "bf16"}],
    "nodes": [{"name": "r", "op": "repeat_interleave", "inputs": ["k"], "attrs": {"repeats": 2, "dim": -3}},
              {"name": "c", "op": "type_as", "inputs": ["r", "h"]}],
    "outputs": ["r", "c"]})"));
  EXPECT_EQ(g.ShapeText(g.FindNode("r")), "[2, 6, S, 4]");
  EXPECT_EQ(g.node(g.FindNode("c")).dtype, DType::kBF16);
  std::mt19937_64 rng(3);
  const std::vector<int64_t> syms = BindSymbols(g, {{"S", 5}});
  const std::vector<HostTensor> in = RandomInputs(g, syms, rng);
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvaluateReference(g, in));
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{2, 6, 5, 4}));
  for (int64_t i = 0; i < out[0].numel(); ++i) {
    const int64_t d = i % 4, s = i / 4 % 5, j = i / 20 % 6, b = i / 120;
    ASSERT_EQ(out[0].Get(i), in[0].Get(((b * 3 + j / 2) * 5 + s) * 4 + d)) << i;
  }
  const auto refused = [](const std::string& node, const char* message) {
    EXPECT_TRUE(StatusIs(GraphFromJson(absl::StrCat(R"({"name": "r", "inputs": [{"name": "x", "shape": ["M", 4], "dtype": "f32"}],
      "nodes": [)", node, R"(], "outputs": ["y"]})")), absl::StatusCode::kInvalidArgument, message)) << node;
  };
  refused(R"({"name": "y", "op": "repeat_interleave", "inputs": ["x"], "attrs": {"repeats": 2}})", "needs 'repeats' and 'dim'");
  refused(R"({"name": "y", "op": "repeat_interleave", "inputs": ["x"], "attrs": {"repeats": 0, "dim": 1}})", "repeats");
  refused(R"({"name": "y", "op": "repeat_interleave", "inputs": ["x", 2], "attrs": {"repeats": 2, "dim": 1}})", "takes 1 operand");
  refused(R"({"name": "y", "op": "repeat_interleave", "inputs": ["x"], "attrs": {"repeats": 2, "dim": 0}})", "must be static");
}

TEST(GraphBuilder, TorchAliasesLowerToTheirOps) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "x", "shape": ["M", 8], "dtype": "bf16"}, {"name": "w", "shape": [5, 8], "dtype": "bf16"},
               {"name": "b", "shape": [5], "dtype": "bf16"}, {"name": "p", "shape": [2, 3, 8], "dtype": "bf16"},
               {"name": "q", "shape": [2, 8, 4], "dtype": "bf16"}, {"name": "c", "shape": [2, 3, 4], "dtype": "bf16"}],
    "nodes": [{"name": "wt", "op": "t", "inputs": ["w"]},
              {"name": "mm", "op": "addmm", "inputs": ["b", "x", "wt"], "attrs": {"alpha": 2.0}},
              {"name": "bmm", "op": "baddbmm", "inputs": ["c", "p", "q"]},
              {"name": "v", "op": "view", "inputs": ["x"], "attrs": {"shape": ["M", 2, 4]}},
              {"name": "cl", "op": "clone", "inputs": ["x"]},
              {"name": "f", "op": "to", "inputs": ["x"], "attrs": {"dtype": "f32"}},
              {"name": "mx", "op": "max", "inputs": ["x", "cl"]},
              {"name": "rmax", "op": "max", "inputs": ["x"], "attrs": {"dim": 1}},
              {"name": "amin", "op": "min", "inputs": ["x"]},
              {"name": "r6", "op": "relu6", "inputs": ["x"]},
              {"name": "rs", "op": "rsub", "inputs": ["x", 1.0]},
              {"name": "mask", "op": "lt", "inputs": ["x", 0.0]},
              {"name": "mf", "op": "masked_fill", "inputs": ["x", "mask", {"value": "-inf"}]},
              {"name": "ea", "op": "expand_as", "inputs": ["b", "mm"]}],
    "outputs": ["mm", "bmm", "v", "f", "mx", "rmax", "amin", "r6", "rs", "mf", "ea"]})"));
  const std::vector<std::pair<const char*, const char*>> shapes = {
      {"wt", "[8, 5]"}, {"mm", "[M, 5]"}, {"bmm", "[2, 3, 4]"}, {"v", "[M, 2, 4]"}, {"f", "[M, 8]"},
      {"rmax", "[M]"}, {"amin", "[]"}, {"mf", "[M, 8]"}, {"ea", "[M, 5]"}};
  for (const auto& [name, shape] : shapes) EXPECT_EQ(g.ShapeText(g.FindNode(name)), shape) << name;
  const auto node = [&](const char* name) -> const Node& { return g.node(g.FindNode(name)); };
  EXPECT_EQ(node("wt").view, ViewOp::kTranspose);
  EXPECT_EQ(node("f").dtype, DType::kF32);
  EXPECT_EQ(node("mx").pointwise, PointwiseOp::kMaximum);
  EXPECT_EQ(node("rmax").reduce, ReduceOp::kAmax);
  EXPECT_EQ(node("amin").reduce, ReduceOp::kAmin);
  EXPECT_EQ(node("r6").pointwise, PointwiseOp::kClamp);
  EXPECT_EQ(*node("r6").attrs.max, 6.0);
  EXPECT_EQ(node("rs").inputs[1], g.FindNode("x"));  // 1 - x
  EXPECT_EQ(node("mf").pointwise, PointwiseOp::kWhere);
  EXPECT_EQ(node("mf").dtype, DType::kBF16);
  EXPECT_TRUE(IsBatchedMatmul(node("bmm.mm")));
  EXPECT_EQ(node("mm").pointwise, PointwiseOp::kAdd);
  EXPECT_EQ(node("mm.alpha").pointwise, PointwiseOp::kMul);
  const auto refused = [](const std::string& nodes, const std::string& why) {
    EXPECT_TRUE(StatusIs(GraphFromJson(absl::StrCat(R"({"name": "j", "inputs": [{"name": "x", "shape": [2, 3, 4],
      "dtype": "f32"}, {"name": "m", "shape": [2, 3, 4], "dtype": "f32"}], "nodes": [)", nodes, R"(], "outputs": ["y"]})")),
                         absl::StatusCode::kInvalidArgument, why))
        << nodes;
  };
  refused(R"({"name": "y", "op": "t", "inputs": ["x"]})", "'t' takes a value of rank <= 2, got [2, 3, 4]");
  refused(R"({"name": "y", "op": "masked_fill", "inputs": ["x", "m", 0.0]})", "mask 'm' is f32 (expected bool)");
  refused(R"({"name": "y", "op": "rsub", "inputs": ["x"]})", "'rsub' takes 2 operands (a, b: b - a), got 1");
  refused(R"({"name": "y", "op": "addmm", "inputs": ["x", "x", "x"]})", "'addmm' operands a and b must be 2-D");
}

// torch.add / sub with alpha, clamp_min / clamp_max, the dtype methods, F.logsigmoid and
// F.glu, against values computed here.
TEST(Reference, MoreTorchSpellingsComputeWhatTorchComputes) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "x", "shape": [2, 4], "dtype": "f32"}, {"name": "y", "shape": [2, 4], "dtype": "f32"}],
    "nodes": [{"name": "a", "op": "add", "inputs": ["x", "y"], "attrs": {"alpha": 2.0}},
              {"name": "s", "op": "sub", "inputs": ["x", "y"], "attrs": {"alpha": 0.5}},
              {"name": "lo", "op": "clamp_min", "inputs": ["x"], "attrs": {"min": 0.25}},
              {"name": "hi", "op": "clamp_max", "inputs": ["x"], "attrs": {"max": -0.5}},
              {"name": "h", "op": "half", "inputs": ["x"]}, {"name": "bf", "op": "bfloat16", "inputs": ["x"]},
              {"name": "fl", "op": "float", "inputs": ["h"]},
              {"name": "ls", "op": "logsigmoid", "inputs": ["x"]},
              {"name": "gl", "op": "glu", "inputs": ["x"]}],
    "outputs": ["a", "s", "lo", "hi", "fl", "bf", "ls", "gl"]})"));
  EXPECT_EQ(g.node(g.FindNode("h")).dtype, DType::kF16);
  EXPECT_EQ(g.node(g.FindNode("bf")).dtype, DType::kBF16);
  EXPECT_EQ(g.node(g.FindNode("fl")).dtype, DType::kF32);
  EXPECT_EQ(g.ShapeText(g.FindNode("gl")), "[2, 2]");
  HostTensor x = HostTensor::Zeros(DType::kF32, {2, 4}), y = HostTensor::Zeros(DType::kF32, {2, 4});
  const double xv[8] = {-3, -0.75, 0, 0.5, 2, 30, -40, 1.25}, yv[8] = {1, 2, 3, 4, -1, -2, 0.5, 8};
  for (int i = 0; i < 8; ++i) {
    x.Set(i, xv[i]);
    y.Set(i, yv[i]);
  }
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvaluateReference(g, {x, y}));
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(out[0].Get(i), xv[i] + 2 * yv[i], 1e-6) << i;
    EXPECT_NEAR(out[1].Get(i), xv[i] - 0.5 * yv[i], 1e-6) << i;
    EXPECT_EQ(out[2].Get(i), std::max(xv[i], 0.25)) << i;
    EXPECT_EQ(out[3].Get(i), std::min(xv[i], -0.5)) << i;
    EXPECT_EQ(out[4].Get(i), xv[i]) << i;  // exact in f16
    EXPECT_NEAR(out[6].Get(i), -std::log1p(std::exp(-xv[i])), 1e-5) << i;
  }
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 2; ++c) {
      const double a = xv[r * 4 + c], b = xv[r * 4 + c + 2];
      EXPECT_NEAR(out[7].Get(r * 2 + c), a / (1 + std::exp(-b)), 1e-5) << r << c;
    }
  }
  const auto refused = [](const std::string& nodes, const std::string& why) {
    EXPECT_TRUE(StatusIs(GraphFromJson(absl::StrCat(R"({"name": "j", "inputs": [{"name": "x", "shape": [2, 3],
      "dtype": "f32"}], "nodes": [)", nodes, R"(], "outputs": ["o"]})")),
                         absl::StatusCode::kInvalidArgument, why))
        << nodes;
  };
  refused(R"({"name": "o", "op": "glu", "inputs": ["x"]})", "'glu' halves dim 1 of [2, 3], which must be static and even");
  refused(R"({"name": "o", "op": "clamp_min", "inputs": ["x"]})", "'clamp_min' needs 'min'");
  refused(R"({"name": "o", "op": "relu", "inputs": ["x"], "attrs": {"alpha": 2.0}})", "only elu takes 'alpha'");
}

// rms_norm and layer_norm take PyTorch's default eps (F.rms_norm: the input type's machine
// epsilon; F.layer_norm: 1e-5); with fewer parameters than the tile's they are written op by
// op, in the promoted type.
TEST(GraphBuilder, NormsTakePyTorchDefaultsAndOptionalParameters) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "x", "shape": ["M", 8], "dtype": "bf16"}, {"name": "h", "shape": ["M", 8], "dtype": "f16"},
               {"name": "f", "shape": ["M", 8], "dtype": "f32"}, {"name": "w", "shape": [8], "dtype": "f32"},
               {"name": "b", "shape": [8], "dtype": "bf16"}, {"name": "hw", "shape": [8], "dtype": "f16"}],
    "nodes": [{"name": "r16", "op": "rms_norm", "inputs": ["x", "b"]}, {"name": "rh", "op": "rms_norm", "inputs": ["h", "hw"]},
              {"name": "rf", "op": "rms_norm", "inputs": ["f", "w"]}, {"name": "ln", "op": "layer_norm", "inputs": ["x", "b", "b"]},
              {"name": "bare", "op": "layer_norm", "inputs": ["x"]}, {"name": "weighted", "op": "layer_norm", "inputs": ["x", "w"]},
              {"name": "plain", "op": "rms_norm", "inputs": ["f"], "attrs": {"eps": 0.5}}],
    "outputs": ["r16", "rh", "rf", "ln", "bare", "weighted", "plain"]})"));
  EXPECT_EQ(*g.node(g.FindNode("r16")).attrs.eps, 0x1p-7);
  EXPECT_EQ(*g.node(g.FindNode("rh")).attrs.eps, 0x1p-10);
  EXPECT_EQ(*g.node(g.FindNode("rf")).attrs.eps, 0x1p-23);
  EXPECT_EQ(*g.node(g.FindNode("ln")).attrs.eps, 1e-5);
  EXPECT_EQ(g.node(g.FindNode("bare")).kind, NodeKind::kPointwise);  // the final cast to bf16
  EXPECT_EQ(g.node(g.FindNode("bare")).dtype, DType::kBF16);
  EXPECT_EQ(g.node(g.FindNode("weighted")).dtype, DType::kF32);  // promoted with the f32 weight
  EXPECT_EQ(g.ShapeText(g.FindNode("plain")), "[M, 8]");
  EXPECT_EQ(g.node(g.node(g.FindNode("bare.eps")).inputs[1]).constant, 1e-5);
  EXPECT_EQ(g.node(g.node(g.FindNode("plain.eps")).inputs[1]).constant, 0.5);
  EXPECT_TRUE(StatusIs(GraphFromJson(R"({"name": "j", "inputs": [{"name": "x", "shape": ["M", 8], "dtype": "bf16"},
    {"name": "w", "shape": [7], "dtype": "bf16"}], "nodes": [{"name": "y", "op": "layer_norm", "inputs": ["x", "w"]}],
    "outputs": ["y"]})"), absl::StatusCode::kInvalidArgument, "parameter 'w' is bf16 [7] (expected f32, f16 or bf16 [8])"));
}

// stack, unsqueeze and squeeze (the JSON ops): shapes, values, refusals.
TEST(GraphBuilder, StackUnsqueezeAndSqueeze) {
  TF_ASSERT_OK_AND_ASSIGN(Graph j, GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "p", "shape": [2, 3], "dtype": "f32"}, {"name": "q", "shape": [2, 3], "dtype": "bf16"}],
    "nodes": [{"name": "nq", "op": "neg", "inputs": ["q"]},
              {"name": "s0", "op": "stack", "inputs": ["p", "nq"], "attrs": {"dim": 0}},
              {"name": "s2", "op": "stack", "inputs": ["p", "q", "p"], "attrs": {"dim": -1}},
              {"name": "u", "op": "unsqueeze", "inputs": ["p"], "attrs": {"dim": 1}},
              {"name": "sq", "op": "squeeze", "inputs": ["u"]},
              {"name": "keep", "op": "squeeze", "inputs": ["u"], "attrs": {"dim": 0}}],
    "outputs": ["s0", "s2", "u", "sq", "keep"]})"));
  const auto shape_of = [&](const char* name) { return j.ShapeText(j.FindNode(name)); };
  EXPECT_EQ(shape_of("s0"), "[2, 2, 3]");
  EXPECT_EQ(shape_of("s2"), "[2, 3, 3]");
  EXPECT_EQ(shape_of("u"), "[2, 1, 3]");
  EXPECT_EQ(shape_of("sq"), "[2, 3]");
  EXPECT_EQ(shape_of("keep"), "[2, 1, 3]");
  EXPECT_EQ(j.node(j.FindNode("s0")).dtype, DType::kF32);
  HostTensor p = HostTensor::Zeros(DType::kF32, {2, 3}), q = HostTensor::Zeros(DType::kBF16, {2, 3});
  for (int i = 0; i < 6; ++i) {
    p.Set(i, i + 1);
    q.Set(i, 10 * (i + 1));
  }
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvaluateReference(j, {p, q}));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(out[0].Get(i), i + 1) << i;
    EXPECT_EQ(out[0].Get(6 + i), -10 * (i + 1)) << i;
    EXPECT_EQ(out[1].Get(3 * i), i + 1) << i;  // [r, c, part]
    EXPECT_EQ(out[1].Get(3 * i + 1), 10 * (i + 1)) << i;
    EXPECT_EQ(out[1].Get(3 * i + 2), i + 1) << i;
    EXPECT_EQ(out[3].Get(i), i + 1) << i;
  }
  EXPECT_TRUE(StatusIs(GraphFromJson(R"({"name": "j",
    "inputs": [{"name": "p", "shape": [2, 3], "dtype": "f32"}, {"name": "q", "shape": [3, 2], "dtype": "f32"}],
    "nodes": [{"name": "s", "op": "stack", "inputs": ["p", "q"]}], "outputs": ["s"]})"),
                       absl::StatusCode::kInvalidArgument,
                       "node 's' (stack): 'q' has shape [3, 2] and 'p' [2, 3] (expected equal shapes)"));
  EXPECT_TRUE(StatusIs(GraphFromJson(R"({"name": "j", "inputs": [{"name": "p", "shape": [2], "dtype": "f32"}],
    "nodes": [{"name": "u", "op": "unsqueeze", "inputs": ["p"]}], "outputs": ["u"]})"),
                       absl::StatusCode::kInvalidArgument, "'unsqueeze' needs 'dim'"));
}

}  // namespace
}  // namespace tilefuse::internal
