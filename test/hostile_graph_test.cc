// Graph files as an attacker or a careless tool writes them: every one gives a status with
// a message (never an exception, a crash or a silent truncation), and large graphs load
// and plan in time linear in their size.
#include <chrono>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/fusion/planner.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "test/sanitizer.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

std::string OneInput(const std::string& input, const std::string& nodes = R"([{"name": "y", "op": "relu", "inputs": ["x"]}])") {
  return absl::StrCat(R"({"name": "g", "inputs": [)", input, R"(], "nodes": )", nodes, R"(, "outputs": ["y"]})");
}

TEST(HostileGraph, TypeConfusedFieldsAreStatusesNotExceptions) {
  const struct {
    std::string json, message;
  } cases[] = {
      {R"({"name": 5, "inputs": [], "nodes": [], "outputs": []})", "the graph's 'name' is 5 (expected a string)"},
      {OneInput(R"({"name": "x", "shape": [4], "dtype": 3})"), "input 'x': 'dtype' is 3 (expected a string)"},
      {OneInput("7"), "entry 7 is not an object"},
      {OneInput(R"({"name": 1, "shape": [4], "dtype": "f32"})"), "needs a string 'name'"},
      {OneInput(R"({"name": "x", "shape": 4, "dtype": "f32"})"), "'shape' must be an array"},
      {OneInput(R"({"name": "x", "shape": [4], "dtype": "f32"})", "[3]"), "entry 3 is not an object"},
      {OneInput(R"({"name": "x", "shape": [4], "dtype": "f32"})", R"([{"name": "y", "op": "relu", "inputs": "x"}])"),
       "'inputs' is \"x\" (expected an array)"},
      {OneInput(R"({"name": "x", "shape": [4], "dtype": "f32"})", R"([{"name": "y", "op": 4, "inputs": ["x"]}])"),
       "needs a string 'op'"},
      {OneInput(R"({"name": "x", "shape": [4], "dtype": "f32"})",
                R"([{"name": "y", "op": "relu", "inputs": ["x"], "attrs": [1]}])"),
       "'attrs' must be an object"},
      {R"({"name": "g", "inputs": [], "nodes": {}, "outputs": []})", "'nodes' is {} (expected an array)"},
      {R"({"name": "g", "inputs": [], "nodes": [], "outputs": "y"})", "'outputs' is \"y\" (expected an array)"},
      {OneInput(R"({"name": "x", "shape": [4], "dtype": "f32"})",
                R"([{"name": "y", "op": "cast", "inputs": ["x"], "attrs": {"dtype": 1}}])"),
       "attribute 'dtype' is 1 (expected a string)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_TRUE(StatusIs(GraphFromJson(c.json), kInvalid, c.message));
  }
}

// A misspelled key is an error naming it, not a setting silently lost.
TEST(HostileGraph, UnknownKeysAreErrors) {
  const std::string x = R"({"name": "x", "shape": [4], "dtype": "f32"})";
  const struct {
    std::string json, message;
  } cases[] = {
      {R"({"name": "g", "input": [], "nodes": [], "outputs": []})",
       "the graph: unknown key 'input' (expected format, name, inputs, nodes, outputs)"},
      {OneInput(R"({"name": "x", "shape": [4], "dtype": "f32", "dtpye": "bf16"})"), "input 'x': unknown key 'dtpye'"},
      {OneInput(x, R"([{"name": "y", "op": "relu", "inputs": ["x"], "atrs": {}}])"), "node 'y': unknown key 'atrs'"},
      {OneInput(x, R"([{"name": "y", "op": "add", "inputs": ["x", {"value": 1, "type": "f32"}]}])"),
       "constant operand: unknown key 'type'"},
      {R"({"format": 3, "name": "g", "inputs": [], "nodes": [], "outputs": []})",
       "the graph's 'format' is 3 (expected an integer in [1, 2])"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_TRUE(StatusIs(GraphFromJson(c.json), kInvalid, c.message));
  }
  // A file of format 1 still reads; the writer writes the newest format.
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(absl::StrCat(R"({"format": 1,)", OneInput(x).substr(1))));
  EXPECT_NE(GraphToJson(g).find("\"format\": 2"), std::string::npos);
}

TEST(HostileGraph, OutOfRangeIntegersAreRefusedNotTruncated) {
  const std::string x = R"({"name": "x", "shape": [4, 4], "dtype": "f32"})";
  const struct {
    std::string json, message;
  } cases[] = {
      {OneInput(x, R"([{"name": "y", "op": "sum", "inputs": ["x"], "attrs": {"dim": 4294967296}}])"),
       "attribute 'dim' is 4294967296 (expected an integer in [-8, 7])"},
      {OneInput(x, R"([{"name": "y", "op": "var", "inputs": ["x"], "attrs": {"dim": 1, "correction": 4294967296}}])"),
       "attribute 'correction' is 4294967296"},
      {OneInput(x, R"([{"name": "y", "op": "add", "inputs": ["x", 3000000000]}])"), "integer operand is 3000000000"},
      {OneInput(R"({"name": "x", "shape": [1099511627776, 1099511627776], "dtype": "f32"})"),
       "holds more than 2^48 elements"},
      {OneInput(R"({"name": "x", "shape": [18446744073709551615], "dtype": "f32"})"), "dim is 18446744073709551615"},
      {OneInput(x, R"([{"name": "y", "op": "reshape", "inputs": ["x"], "attrs": {"shape": [4611686018427387904, 8]}}])"),
       "dim is 4611686018427387904"},
      {OneInput(x, R"([{"name": "y", "op": "reshape", "inputs": ["x"], "attrs": {"shape": [281474976710656, 8]}}])"),
       "more than 2^48 elements"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_TRUE(StatusIs(GraphFromJson(c.json), kInvalid, c.message));
  }
}

TEST(HostileGraph, ViewsAndReductionsOfConstantsAreRefused) {
  EXPECT_TRUE(StatusIs(GraphFromJson(OneInput(R"({"name": "x", "shape": [1], "dtype": "f32"})",
                                              R"([{"name": "y", "op": "reshape", "inputs": [2.0], "attrs": {"shape": [1]}}])")),
                       kInvalid, "node 'y' (reshape): operand '$c1' is the constant 2 (expected a tensor"));
  EXPECT_TRUE(StatusIs(GraphFromJson(OneInput(R"({"name": "x", "shape": [1], "dtype": "f32"})",
                                              R"([{"name": "y", "op": "sum", "inputs": [2.0]}])")),
                       kInvalid, "is the constant 2"));
}

TEST(HostileGraph, DeepNestingAndParseErrorsSayWhere) {
  const std::string deep = absl::StrCat(R"({"name": "g", "inputs": [{"name": "x", "shape": )", std::string(200000, '['),
                                        std::string(200000, ']'), "}]}");
  EXPECT_TRUE(StatusIs(GraphFromJson(deep), kInvalid, "nests arrays and objects more than 64 deep at line 1, column"));
  EXPECT_TRUE(StatusIs(GraphFromJson("{\n  \"name\": \"g\",\n  \"inputs\": [,]\n}"), kInvalid,
                       "graph file is not valid JSON at line 3, column 14"));
}

TEST(HostileGraph, NamesWithControlCharactersAreRefusedAndQuoted) {
  const auto s = GraphFromJson(OneInput(R"({"name": "x\nINJECTED", "shape": [1], "dtype": "f32"})"));
  EXPECT_TRUE(StatusIs(s, kInvalid, R"(node name 'x\nINJECTED' holds a control character)"));
  EXPECT_EQ(s.status().message().find('\n'), std::string::npos);
}

TEST(HostileGraph, NonFiniteConstantsRoundTrip) {
  TF_ASSERT_OK_AND_ASSIGN(
      Graph g, GraphFromJson(OneInput(R"({"name": "x", "shape": [4], "dtype": "f32"})",
                                      R"([{"name": "a", "op": "add", "inputs": ["x", {"value": "inf"}]},
                                          {"name": "b", "op": "mul", "inputs": ["a", {"value": "-inf"}]},
                                          {"name": "y", "op": "clamp", "inputs": ["b"], "attrs": {"min": "-inf", "max": "nan"}}])")));
  const std::string once = GraphToJson(g);
  EXPECT_EQ(once.find("null"), std::string::npos) << once;
  TF_ASSERT_OK_AND_ASSIGN(Graph again, GraphFromJson(once));
  EXPECT_EQ(GraphToJson(again), once);
  const Node& a = again.node(again.FindNode("a"));
  EXPECT_TRUE(std::isinf(again.node(a.inputs[1]).constant));
  EXPECT_TRUE(std::isnan(*again.node(again.FindNode("y")).attrs.max));
}

// A long chain of pointwise ops, listed forwards or backwards: parsing and planning are
// linear (a topological pass over a name index; dependency walks bounded by node ids),
// and the kernels stay at a size NVRTC compiles. The time is measured in bench_fusion
// (jit/plan_chain); here the test only has to finish.
std::string Chain(int n, bool reversed) {
  std::string nodes;
  for (int k = 0; k < n; ++k) {
    const int i = reversed ? n - 1 - k : k;
    absl::StrAppend(&nodes, k ? ", " : "", R"({"name": "n)", i, R"(", "op": ")", i % 2 ? "relu" : "mul",
                    R"(", "inputs": [")", i ? absl::StrCat("n", i - 1) : "x", "\"", i % 2 ? "" : ", 0.5", "]}");
  }
  return absl::StrCat(R"({"name": "chain", "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "f32"}], "nodes": [)",
                      nodes, R"(], "outputs": ["n)", n - 1, "\"]}");
}

// 100000 nodes; 30000 under a sanitizer (its time there is the instrumented walk's).
TEST(HostileGraph, LongChainsLoadAndPlanInEitherOrder) {
  const size_t n = kUnderSanitizer ? 30000 : 100000;
  for (bool reversed : {false, true}) {
    TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(Chain(static_cast<int>(n), reversed)));
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan plan, PlanFusion(g, PlanOptions{true, "sm_90"}));
    EXPECT_GE(plan.kernels.size(), n / 1000 - 2);
    EXPECT_LE(plan.kernels.size(), n / 500);
    TF_ASSERT_OK_AND_ASSIGN(FusionPlan unfused, PlanFusion(g, PlanOptions{false, "sm_90"}));
    EXPECT_EQ(unfused.kernels.size(), n);
  }
}

// A kernel reading more tensors than a launch can pass pointers for is refused when the
// plan is made, naming the kernel, instead of failing at Run.
TEST(HostileGraph, KernelsWithTooManyParametersAreRefusedAtCompile) {
  std::string inputs, nodes;
  const int n = 600;
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&inputs, i ? ", " : "", R"({"name": "x)", i, R"(", "shape": [8], "dtype": "f32"})");
    if (i > 0) {
      absl::StrAppend(&nodes, i > 1 ? ", " : "", R"({"name": "s)", i, R"(", "op": "add", "inputs": [")",
                      i > 1 ? absl::StrCat("s", i - 1) : "x0", R"(", "x)", i, R"("]})");
    }
  }
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(absl::StrCat(R"({"name": "wide", "inputs": [)", inputs,
                                                              R"(], "nodes": [)", nodes, R"(], "outputs": ["s)", n - 1,
                                                              R"("]})")));
  CompileOptions o;
  o.arch = "sm_90";
  EXPECT_TRUE(StatusIs(Compile(g, o), kInvalid, "kernel 0 (fused s1:add, s2:add"));
  EXPECT_TRUE(StatusIs(Compile(g, o), kInvalid, "8-byte fields (at most 512"));
}

}  // namespace
}  // namespace tilefuse::internal
