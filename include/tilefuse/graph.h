// Graphs: read from the JSON format (docs/graph.schema.json) or built op by op. A graph is
// immutable once built and cheap to copy; any thread may read it.
//
//   tilefuse::GraphBuilder b("mlp");
//   auto x = b.Input("x", {"M", 4096}, tilefuse::DType::kBF16);
//   auto w = b.Input("w", {14336, 4096}, tilefuse::DType::kBF16);
//   auto y = b.Op("matmul", {x, b.Op("transpose", {w}, {{"dim0", 0}, {"dim1", 1}})});
//   b.Output(b.Op("silu", {y}));
//   tilefuse::Result<tilefuse::Graph> g = b.Build();
#ifndef TILEFUSE_GRAPH_H_
#define TILEFUSE_GRAPH_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tilefuse/export.h"
#include "tilefuse/status.h"

namespace tilefuse {

// Element types of tensors (storage); arithmetic runs in fp32 for the floating ones and in
// 32-bit ints for the integers. kF8E4M3 is OCP e4m3fn (max 448, no infinity), kF8E5M2 has
// infinity (max 57344); kI4 holds signed 4-bit integers packed two per byte along the last
// axis, the even element in the low nibble (ceil(numel / 2) bytes; tilefuse reads i4 tensors
// and does not write them).
enum class DType { kF32, kF16, kBF16, kI32, kBool, kF8E4M3, kF8E5M2, kI8, kI4 };

// "f32", "f16", "bf16", "i32", "bool", "f8e4m3", "f8e5m2", "i8", "i4".
TILEFUSE_API const char* DTypeName(DType dtype);

// A dimension: a size, or the name of a symbol bound at run time from the inputs ("M").
using Dim = std::variant<int64_t, std::string>;
using Shape = std::vector<Dim>;

// An attribute's value, as the JSON format spells it: "dim": 1, "eps": 1e-6,
// "approximate": "tanh", "keepdim": true, "dims": std::vector<int64_t>{0, 2},
// "shape": tilefuse::Shape{"M", 64, 64}, "dtype": "bf16".
using AttrValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, Shape>;
using Attrs = std::map<std::string, AttrValue>;

class GraphBuilder;

class TILEFUSE_API Graph {
 public:
  // A graph in the JSON format; errors say line:column and the node.
  static Result<Graph> FromJson(std::string_view text);
  static Result<Graph> FromJsonFile(const std::string& path);

  Graph(const Graph&);
  Graph& operator=(const Graph&);
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;
  ~Graph();

  const std::string& name() const;
  // In the order Plan::Run takes the tensors.
  std::vector<std::string> input_names() const;
  std::vector<std::string> output_names() const;
  // The symbols the inputs' shapes use ("M"), bound at run time.
  std::vector<std::string> symbols() const;
  // The graph in the JSON format (the newest; reads back as the same graph).
  std::string ToJson() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  friend class GraphBuilder;
  explicit Graph(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// Builds a graph op by op, with the ops and attributes of the JSON format (README.md lists
// them). Nothing is checked until Build, which checks everything and names the node at
// fault; a builder is used by one thread at a time.
class TILEFUSE_API GraphBuilder {
 public:
  // A value of the graph being built: an input, a constant or an op's result.
  struct Value {
    std::string name;
  };

  explicit GraphBuilder(std::string name = "graph");
  GraphBuilder(GraphBuilder&&) noexcept;
  GraphBuilder& operator=(GraphBuilder&&) noexcept;
  ~GraphBuilder();

  Value Input(std::string name, Shape shape, DType dtype);
  // A scalar that broadcasts against anything (a number literal in PyTorch's promotion:
  // it takes the other operand's dtype).
  Value Scalar(double value);
  // `op` as the JSON format names it ("matmul", "add", "rms_norm", "slice", ...); an empty
  // `name` gets a generated one ("<op>_<n>").
  Value Op(std::string op, std::vector<Value> inputs, Attrs attrs = {}, std::string name = "");
  // Marks a value as an output of the graph (in call order).
  void Output(const Value& value);

  Result<Graph> Build() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tilefuse

#endif  // TILEFUSE_GRAPH_H_
