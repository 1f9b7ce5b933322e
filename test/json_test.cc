// The JSON graph format: round trips, node order, constants.
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/graph/read_file.h"
#include "runtime/graph/json.h"
#include "runtime/graph/torch_aliases.h"
#include "test/status_matchers.h"
#include "test/test_graphs.h"

namespace tilefuse::internal {
namespace {

TEST(Json, EveryTestGraphRoundTrips) {
  for (const TestGraph& t : AllTestGraphs()) {
    SCOPED_TRACE(t.name);
    const Graph g = ParseTestGraph(t);
    const std::string once = GraphToJson(g);
    TF_ASSERT_OK_AND_ASSIGN(Graph again, GraphFromJson(once));
    EXPECT_EQ(GraphToJson(again), once);
    EXPECT_EQ(again.nodes().size(), g.nodes().size());
    EXPECT_EQ(again.outputs().size(), g.outputs().size());
  }
}

TEST(Json, DesignExampleParsesWithSymbolsConstantsAndAttributes) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({
    "name": "gemm_bias_gelu",
    "inputs": [{"name": "x", "shape": ["M", 4096], "dtype": "bf16"},
               {"name": "w", "shape": [4096, 4096], "dtype": "bf16"},
               {"name": "b", "shape": [4096], "dtype": "bf16"}],
    "nodes": [{"name": "y", "op": "matmul", "inputs": ["x", "w"]},
              {"name": "z", "op": "add", "inputs": ["y", "b"]},
              {"name": "g", "op": "gelu", "inputs": ["z"], "attrs": {"approximate": "tanh"}},
              {"name": "out", "op": "cast", "inputs": ["g"], "attrs": {"dtype": "bf16"}}],
    "outputs": ["out"]})"));
  EXPECT_EQ(g.symbols(), std::vector<std::string>{"M"});
  EXPECT_EQ(g.ShapeText(g.FindNode("out")), "[M, 4096]");
  EXPECT_EQ(*g.node(g.FindNode("g")).attrs.approximate, "tanh");
}

TEST(Json, NodesMayBeListedOutOfOrder) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(R"({"name": "t",
    "inputs": [{"name": "x", "shape": [3], "dtype": "f32"}],
    "nodes": [{"name": "b", "op": "relu", "inputs": ["a"]},
              {"name": "a", "op": "mul", "inputs": ["x", 2.5]}],
    "outputs": ["b"]})"));
  EXPECT_LT(g.FindNode("a"), g.FindNode("b"));
  // Literals keep their kind: 2.5 is an f32 literal, 2 would be i32, true a bool.
  const Node& a = g.node(g.FindNode("a"));
  EXPECT_EQ(g.node(a.inputs[1]).dtype, DType::kF32);
  EXPECT_DOUBLE_EQ(g.node(a.inputs[1]).constant, 2.5);
}

TEST(Json, MalformedFilesAreRejected) {
  EXPECT_TRUE(StatusIs(GraphFromJson("{not json"), absl::StatusCode::kInvalidArgument, "not valid JSON"));
  EXPECT_TRUE(StatusIs(GraphFromJson("[1, 2]"), absl::StatusCode::kInvalidArgument, "JSON object"));
  EXPECT_TRUE(StatusIs(GraphFromJson(R"({"inputs": [], "nodes": [], "outputs": []})"),
                       absl::StatusCode::kInvalidArgument, "no outputs"));
  EXPECT_TRUE(StatusIs(GraphFromJsonFile("/nonexistent/graph.json"), absl::StatusCode::kNotFound,
                       "/nonexistent/graph.json"));
}

// docs/graph.schema.json names every op and dtype the reader takes, and no other, and
// every attribute it lists is one the reader knows.
TEST(Json, SchemaFileMatchesTheReader) {
  TF_ASSERT_OK_AND_ASSIGN(std::string text,
                          ReadTextFile(absl::StrCat(TILEFUSE_SOURCE_DIR, "/docs/graph.schema.json"), 1 << 20, "schema"));
  const nlohmann::json schema = nlohmann::json::parse(text);
  std::set<std::string> ops;
  for (const auto& o : schema["$defs"]["node"]["properties"]["op"]["enum"]) ops.insert(o.get<std::string>());
#define TILEFUSE_NAME_(e, name, ...) name,
  const std::vector<std::string> reader = {TILEFUSE_FOR_EACH_POINTWISE_OP(TILEFUSE_NAME_) TILEFUSE_FOR_EACH_TILE_OP(
      TILEFUSE_NAME_) TILEFUSE_FOR_EACH_REDUCE_OP(TILEFUSE_NAME_) TILEFUSE_FOR_EACH_VIEW_OP(TILEFUSE_NAME_) "iota",
                                           "arange", "gather", "cat", "concat", "stack", "unsqueeze", "squeeze", "linear",
                                           "mm", "bmm", "index_select", "embedding", "std", "dequant", "quantize",
                                           "addmm", "baddbmm"};
#undef TILEFUSE_NAME_
  std::vector<std::string> all = reader;
  all.insert(all.end(), TorchAliasNames().begin(), TorchAliasNames().end());
  EXPECT_EQ(ops, std::set<std::string>(all.begin(), all.end()));
  std::set<std::string> dtypes;
  for (const auto& d : schema["$defs"]["dtype"]["enum"]) dtypes.insert(d.get<std::string>());
  std::set<std::string> known;
  for (DType t : kAllDTypes) known.insert(std::string(DTypeName(t)));
  EXPECT_EQ(dtypes, known);
  EXPECT_EQ(schema["properties"]["format"]["maximum"].get<int>(), kGraphFormat);
  for (const auto& [key, value] : schema["$defs"]["node"]["properties"]["attrs"]["properties"].items()) {
    const auto g = GraphFromJson(absl::StrCat(R"({"name": "a", "inputs": [{"name": "x", "shape": [4], "dtype": "f32"}],
      "nodes": [{"name": "y", "op": "relu", "inputs": ["x"], "attrs": {")", key, R"(": 1}}], "outputs": ["y"]})"));
    EXPECT_TRUE(g.ok() || g.status().message().find("unknown attribute") == std::string::npos) << key << ": " << g.status();
  }
}

}  // namespace
}  // namespace tilefuse::internal
