// The public Graph and GraphBuilder (include/tilefuse/graph.h) over the internal graph and
// its JSON reader: a builder writes the JSON format, so that both paths check alike.
#include <atomic>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/api/convert.h"
#include "runtime/graph/graph.h"
#include "runtime/graph/json.h"
#include "tilefuse/graph.h"

namespace tilefuse {

static_assert(static_cast<int>(DType::kBool) == static_cast<int>(internal::DType::kBool) &&
                  static_cast<int>(DType::kBF16) == static_cast<int>(internal::DType::kBF16) &&
                  static_cast<int>(DType::kI4) == static_cast<int>(internal::DType::kI4),
              "the public dtypes mirror the internal ones");

const char* DTypeName(DType dtype) {
  return internal::DTypeName(api::ToInternal(dtype)).data();  // literals: NUL-terminated
}

Graph::Graph(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Graph::Graph(const Graph&) = default;
Graph& Graph::operator=(const Graph&) = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;
Graph::~Graph() = default;

Result<Graph> Graph::FromJson(std::string_view text) {
  auto g = internal::GraphFromJson(absl::string_view(text.data(), text.size()));
  if (!g.ok()) return api::FromAbsl(g.status());
  return Graph(std::make_shared<const Impl>(Impl{*std::move(g)}));
}

Result<Graph> Graph::FromJsonFile(const std::string& path) {
  auto g = internal::GraphFromJsonFile(path);
  if (!g.ok()) return api::FromAbsl(g.status());
  return Graph(std::make_shared<const Impl>(Impl{*std::move(g)}));
}

const std::string& Graph::name() const { return impl_->graph.name(); }

std::vector<std::string> Graph::input_names() const {
  std::vector<std::string> out;
  for (int id : impl_->graph.inputs()) out.push_back(impl_->graph.node(id).name);
  return out;
}

std::vector<std::string> Graph::output_names() const {
  std::vector<std::string> out;
  for (int id : impl_->graph.outputs()) out.push_back(impl_->graph.node(id).name);
  return out;
}

std::vector<std::string> Graph::symbols() const { return impl_->graph.symbols(); }

std::string Graph::ToJson() const { return internal::GraphToJson(impl_->graph); }

namespace {

// Scalars are inlined as numbers where they are used; their handles carry this prefix,
// which no name in a graph can start with (names are identifiers).
constexpr char kScalarPrefix = '\x1f';

nlohmann::json DimJson(const Dim& d) {
  if (const auto* s = std::get_if<std::string>(&d)) return *s;
  return std::get<int64_t>(d);
}

nlohmann::json ShapeJson(const Shape& shape) {
  nlohmann::json j = nlohmann::json::array();
  for (const Dim& d : shape) j.push_back(DimJson(d));
  return j;
}

nlohmann::json AttrJson(const AttrValue& v) {
  return std::visit(
      [](const auto& x) -> nlohmann::json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Shape>) {
          return ShapeJson(x);
        } else {
          return x;
        }
      },
      v);
}

}  // namespace

struct GraphBuilder::Impl {
  std::string name;
  nlohmann::json inputs = nlohmann::json::array();
  nlohmann::json nodes = nlohmann::json::array();
  nlohmann::json outputs = nlohmann::json::array();
  std::vector<double> scalars;
  int generated = 0;

  nlohmann::json Operand(const Value& v) const {
    if (!v.name.empty() && v.name[0] == kScalarPrefix) {
      return scalars[std::stoul(v.name.substr(1))];
    }
    return v.name;
  }
};

GraphBuilder::GraphBuilder(std::string name) : impl_(std::make_unique<Impl>()) { impl_->name = std::move(name); }
GraphBuilder::GraphBuilder(GraphBuilder&&) noexcept = default;
GraphBuilder& GraphBuilder::operator=(GraphBuilder&&) noexcept = default;
GraphBuilder::~GraphBuilder() = default;

GraphBuilder::Value GraphBuilder::Input(std::string name, Shape shape, DType dtype) {
  impl_->inputs.push_back({{"name", name}, {"shape", ShapeJson(shape)}, {"dtype", DTypeName(dtype)}});
  return Value{std::move(name)};
}

GraphBuilder::Value GraphBuilder::Scalar(double value) {
  impl_->scalars.push_back(value);
  return Value{absl::StrCat(std::string(1, kScalarPrefix), impl_->scalars.size() - 1)};
}

GraphBuilder::Value GraphBuilder::Op(std::string op, std::vector<Value> inputs, Attrs attrs, std::string name) {
  if (name.empty()) name = absl::StrCat(op, "_", impl_->generated++);
  nlohmann::json operands = nlohmann::json::array();
  for (const Value& v : inputs) operands.push_back(impl_->Operand(v));
  nlohmann::json node = {{"name", name}, {"op", op}, {"inputs", operands}};
  if (!attrs.empty()) {
    nlohmann::json a = nlohmann::json::object();
    for (const auto& [k, v] : attrs) a[k] = AttrJson(v);
    node["attrs"] = a;
  }
  impl_->nodes.push_back(std::move(node));
  return Value{std::move(name)};
}

void GraphBuilder::Output(const Value& value) { impl_->outputs.push_back(impl_->Operand(value)); }

Result<Graph> GraphBuilder::Build() const {
  const nlohmann::json j = {{"format", internal::kGraphFormat},
                            {"name", impl_->name},
                            {"inputs", impl_->inputs},
                            {"nodes", impl_->nodes},
                            {"outputs", impl_->outputs}};
  std::string text;
  try {
    text = j.dump(2);
  } catch (const nlohmann::json::exception& e) {  // a name that is not UTF-8
    return Status(StatusCode::kInvalidArgument, absl::StrCat("graph '", impl_->name, "': ", e.what()));
  }
  return Graph::FromJson(text);
}

}  // namespace tilefuse
