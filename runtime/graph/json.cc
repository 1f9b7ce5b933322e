#include "runtime/graph/json.h"

#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "runtime/status_macros.h"

namespace tilefuse {
namespace {

using Json = nlohmann::json;

absl::Status Err(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

absl::StatusOr<Shape> ParseShape(Graph& g, const Json& j, absl::string_view where) {
  if (!j.is_array()) return Err(where, "'shape' must be an array of ints and symbol names");
  Shape s;
  for (const Json& d : j) {
    if (d.is_number_integer()) {
      s.push_back(Dim::Static(d.get<int64_t>()));
    } else if (d.is_string() && !d.get<std::string>().empty()) {
      s.push_back(Dim::Sym(g.Symbol(d.get<std::string>())));
    } else {
      return Err(where, absl::StrCat("dim ", d.dump(), " is neither an int nor a symbol name"));
    }
  }
  return s;
}

absl::StatusOr<Attrs> ParseAttrs(Graph& g, const Json& j, absl::string_view where) {
  Attrs a;
  if (j.is_null()) return a;
  if (!j.is_object()) return Err(where, "'attrs' must be an object");
  for (const auto& [key, v] : j.items()) {
    const auto want = [&](bool ok, absl::string_view type) -> absl::Status {
      if (ok) return absl::OkStatus();
      return Err(where, absl::StrCat("attribute '", key, "' is ", v.dump(), " (expected ", type, ")"));
    };
    if (key == "dtype") {
      TF_RETURN_IF_ERROR(want(v.is_string(), "a dtype name"));
      auto d = ParseDType(v.get<std::string>());
      if (!d.ok()) return Err(where, d.status().message());
      a.dtype = *d;
    } else if (key == "approximate") {
      TF_RETURN_IF_ERROR(want(v.is_string(), "'none' or 'tanh'"));
      a.approximate = v.get<std::string>();
    } else if (key == "min" || key == "max" || key == "eps") {
      TF_RETURN_IF_ERROR(want(v.is_number(), "a number"));
      (key == "min" ? a.min : key == "max" ? a.max : a.eps) = v.get<double>();
    } else if (key == "dim" && v.is_array()) {
      for (const Json& d : v) {
        TF_RETURN_IF_ERROR(want(d.is_number_integer(), "an integer axis or a list of them"));
        a.dims.push_back(d.get<int>());
      }
      if (a.dims.size() == 1) a.dim = a.dims[0];
      if (a.dims.size() <= 1) a.dims.clear();
    } else if (key == "dim" || key == "dim0" || key == "dim1") {
      TF_RETURN_IF_ERROR(want(v.is_number_integer(), "an integer axis"));
      (key == "dim" ? a.dim : key == "dim0" ? a.dim0 : a.dim1) = v.get<int>();
    } else if (key == "correction") {
      TF_RETURN_IF_ERROR(want(v.is_number_integer() && v.get<int>() >= 0, "a non-negative integer"));
      a.correction = v.get<int>();
    } else if (key == "keepdim") {
      TF_RETURN_IF_ERROR(want(v.is_boolean(), "true or false"));
      a.keepdim = v.get<bool>();
    } else if (key == "shape") {
      TF_ASSIGN_OR_RETURN(a.shape, ParseShape(g, v, where));
    } else {
      return Err(where, absl::StrCat("unknown attribute '", key, "'"));
    }
  }
  return a;
}

// Adds one JSON node whose named operands all exist already.
absl::Status AddNode(Graph& g, const Json& n, const std::string& name, const TileRegistry* registry) {
  const std::string where = absl::StrCat("node '", name, "'");
  if (!n.contains("op") || !n["op"].is_string()) return Err(where, "needs a string 'op'");
  const std::string op = n["op"].get<std::string>();
  std::vector<int> ins;
  for (const Json& in : n.value("inputs", Json::array())) {
    if (in.is_string()) {
      ins.push_back(g.FindNode(in.get<std::string>()));
    } else if (in.is_boolean()) {
      TF_ASSIGN_OR_RETURN(int c, g.AddScalar(in.get<bool>() ? 1 : 0, DType::kBool));
      ins.push_back(c);
    } else if (in.is_number_integer()) {
      TF_ASSIGN_OR_RETURN(int c, g.AddScalar(in.get<double>(), DType::kI32));
      ins.push_back(c);
    } else if (in.is_number()) {
      TF_ASSIGN_OR_RETURN(int c, g.AddScalar(in.get<double>(), DType::kF32));
      ins.push_back(c);
    } else {
      return Err(where, absl::StrCat("operand ", in.dump(), " is neither a name nor a number"));
    }
  }
  TF_ASSIGN_OR_RETURN(Attrs attrs, ParseAttrs(g, n.value("attrs", Json()), where));
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
  return Err(where, absl::StrCat("unknown op '", op, "'"));
}

std::vector<std::string> OperandNames(const Json& n) {
  std::vector<std::string> names;
  for (const Json& in : n.value("inputs", Json::array())) {
    if (in.is_string()) names.push_back(in.get<std::string>());
  }
  return names;
}

}  // namespace

absl::StatusOr<Graph> GraphFromJson(absl::string_view text, const TileRegistry* registry) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("graph file is not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("graph file must hold a JSON object");
  Graph g(j.value("name", std::string("graph")));
  for (const Json& in : j.value("inputs", Json::array())) {
    const std::string name = in.value("name", std::string());
    const std::string where = absl::StrCat("input '", name, "'");
    if (!in.contains("shape")) return Err(where, "needs 'shape'");
    TF_ASSIGN_OR_RETURN(Shape shape, ParseShape(g, in["shape"], where));
    auto dtype = ParseDType(in.value("dtype", std::string("?")));
    if (!dtype.ok()) return Err(where, dtype.status().message());
    TF_RETURN_IF_ERROR(g.AddInput(name, std::move(shape), *dtype).status());
  }
  // Add nodes in dependency order, whatever order the file lists them in.
  std::vector<Json> pending;
  std::map<std::string, int> listed;
  for (const Json& n : j.value("nodes", Json::array())) {
    const std::string name = n.value("name", std::string());
    if (name.empty()) return absl::InvalidArgumentError("a node has no 'name'");
    if (listed.count(name) || g.FindNode(name) >= 0) {
      return Err(absl::StrCat("node '", name, "'"), "the name is used twice");
    }
    listed[name] = static_cast<int>(pending.size());
    pending.push_back(n);
  }
  std::vector<bool> done(pending.size(), false);
  size_t remaining = pending.size();
  while (remaining > 0) {
    bool progress = false;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (done[i]) continue;
      const std::string name = pending[i]["name"].get<std::string>();
      bool ready = true;
      for (const std::string& dep : OperandNames(pending[i])) {
        if (g.FindNode(dep) >= 0) continue;
        if (!listed.count(dep)) {
          return Err(absl::StrCat("node '", name, "'"),
                     absl::StrCat("operand '", dep, "' is not an input or a node"));
        }
        ready = false;
      }
      if (!ready) continue;
      TF_RETURN_IF_ERROR(AddNode(g, pending[i], name, registry));
      done[i] = true;
      --remaining;
      progress = true;
    }
    if (!progress) {
      std::vector<std::string> stuck;
      for (size_t i = 0; i < pending.size(); ++i) {
        if (!done[i]) stuck.push_back(pending[i]["name"].get<std::string>());
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "the graph is cyclic: nodes ", absl::StrJoin(stuck, ", "), " depend on each other"));
    }
  }
  for (const Json& o : j.value("outputs", Json::array())) {
    if (!o.is_string()) return absl::InvalidArgumentError(absl::StrCat("output ", o.dump(), " is not a name"));
    const int id = g.FindNode(o.get<std::string>());
    if (id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("output '", o.get<std::string>(), "' is not an input or a node"));
    }
    TF_RETURN_IF_ERROR(g.AddOutput(id));
  }
  if (g.outputs().empty()) return absl::InvalidArgumentError("the graph has no outputs");
  return g;
}

absl::StatusOr<Graph> GraphFromJsonFile(const std::string& path, const TileRegistry* registry) {
  std::ifstream f(path);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open graph file '", path, "'"));
  std::stringstream ss;
  ss << f.rdbuf();
  auto g = GraphFromJson(ss.str(), registry);
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
  return Json(c.constant);
}

}  // namespace

std::string GraphToJson(const Graph& g) {
  Json j;
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
    if (a.min) attrs["min"] = *a.min;
    if (a.max) attrs["max"] = *a.max;
    if (a.eps) attrs["eps"] = *a.eps;
    if (a.dim) attrs["dim"] = *a.dim;
    if (a.keepdim) attrs["keepdim"] = true;
    if (a.correction) attrs["correction"] = *a.correction;
    if (a.dim0) attrs["dim0"] = *a.dim0;
    if (a.dim1) attrs["dim1"] = *a.dim1;
    if (a.shape) attrs["shape"] = ShapeJson(g, *a.shape);
    if (!attrs.empty()) node["attrs"] = attrs;
    j["nodes"].push_back(node);
  }
  j["outputs"] = Json::array();
  for (int o : g.outputs()) j["outputs"].push_back(g.node(o).name);
  return j.dump(2);
}

}  // namespace tilefuse
