// The Python binding over the public API (include/tilefuse): graphs, compile, Explain, and
// runs on DLPack tensors (__dlpack__), which stay the caller's. Errors raise
// tilefuse.TilefuseError with the library's message.
#include <dlpack/dlpack.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tilefuse/tilefuse.h"

namespace nb = nanobind;

namespace {

nb::object error_type;

[[noreturn]] void Raise(const tilefuse::Status& s) {
  PyErr_SetString(error_type.ptr(), s.ToString().c_str());
  throw nb::python_error();
}

template <class T>
T Take(tilefuse::Result<T> r) {
  if (!r.ok()) Raise(r.status());
  return std::move(*r);
}

tilefuse::DType ParseDType(const std::string& name) {
  for (tilefuse::DType d : {tilefuse::DType::kF32, tilefuse::DType::kF16, tilefuse::DType::kBF16, tilefuse::DType::kI32,
                            tilefuse::DType::kBool, tilefuse::DType::kF8E4M3, tilefuse::DType::kF8E5M2,
                            tilefuse::DType::kI8, tilefuse::DType::kI4}) {
    if (name == tilefuse::DTypeName(d)) return d;
  }
  Raise(tilefuse::Status(tilefuse::StatusCode::kInvalidArgument,
                         "dtype '" + name + "' is not one of f32, f16, bf16, i32, bool, f8e4m3, f8e5m2, i8, i4"));
}

// A Python attribute value in the JSON format's terms.
tilefuse::AttrValue ToAttr(const std::string& key, nb::handle v) {
  if (nb::isinstance<nb::bool_>(v)) return nb::cast<bool>(v);
  if (nb::isinstance<nb::int_>(v)) return nb::cast<int64_t>(v);
  if (nb::isinstance<nb::float_>(v)) return nb::cast<double>(v);
  if (nb::isinstance<nb::str>(v)) return nb::cast<std::string>(v);
  if (nb::isinstance<nb::list>(v) || nb::isinstance<nb::tuple>(v)) {
    bool all_ints = true;
    for (nb::handle e : v) all_ints = all_ints && nb::isinstance<nb::int_>(e) && !nb::isinstance<nb::bool_>(e);
    if (all_ints) return nb::cast<std::vector<int64_t>>(v);
    return nb::cast<tilefuse::Shape>(v);  // a shape with symbols
  }
  Raise(tilefuse::Status(tilefuse::StatusCode::kInvalidArgument,
                         "attribute '" + key + "': a bool, int, float, str or list is expected"));
}

// The DLPack capsules of `tensors` (kept alive in `keep`) and their tensors.
std::vector<const DLManagedTensor*> Capsules(nb::sequence tensors, std::vector<nb::object>& keep, const char* what) {
  std::vector<const DLManagedTensor*> out;
  for (nb::handle t : tensors) {
    nb::object capsule = nb::hasattr(t, "__dlpack__") ? t.attr("__dlpack__")() : nb::borrow(t);
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
    if (m == nullptr) {
      PyErr_Clear();
      Raise(tilefuse::Status(tilefuse::StatusCode::kInvalidArgument,
                             std::string(what) + " " + std::to_string(out.size()) +
                                 " is not a DLPack tensor (no __dlpack__, nor a 'dltensor' capsule)"));
    }
    keep.push_back(std::move(capsule));  // the capsule's destructor frees it (we only borrow)
    out.push_back(m);
  }
  return out;
}

}  // namespace

NB_MODULE(_tilefuse, m) {
  m.doc() = "tilefuse: JIT fusion of pointwise ops into GPU tile kernels";
  error_type = nb::borrow(PyErr_NewException("tilefuse.TilefuseError", PyExc_RuntimeError, nullptr));
  m.attr("TilefuseError") = error_type;
  m.def("version", [] { return std::string(tilefuse::Version()); });
  m.def("default_cache_dir", &tilefuse::DefaultCacheDir);

  nb::class_<tilefuse::Graph>(m, "Graph")
      .def_static("from_json", [](const std::string& text) { return Take(tilefuse::Graph::FromJson(text)); })
      .def_static("from_file", [](const std::string& path) { return Take(tilefuse::Graph::FromJsonFile(path)); })
      .def_prop_ro("name", &tilefuse::Graph::name)
      .def_prop_ro("input_names", &tilefuse::Graph::input_names)
      .def_prop_ro("output_names", &tilefuse::Graph::output_names)
      .def_prop_ro("symbols", &tilefuse::Graph::symbols)
      .def("to_json", &tilefuse::Graph::ToJson);

  nb::class_<tilefuse::GraphBuilder::Value>(m, "Value").def_ro("name", &tilefuse::GraphBuilder::Value::name);

  nb::class_<tilefuse::GraphBuilder>(m, "GraphBuilder")
      .def(nb::init<std::string>(), nb::arg("name") = "graph")
      .def("input", [](tilefuse::GraphBuilder& b, std::string name, tilefuse::Shape shape,
                       const std::string& dtype) { return b.Input(std::move(name), std::move(shape), ParseDType(dtype)); },
           nb::arg("name"), nb::arg("shape"), nb::arg("dtype"))
      .def("scalar", &tilefuse::GraphBuilder::Scalar)
      .def("op",
           [](tilefuse::GraphBuilder& b, std::string op, std::vector<tilefuse::GraphBuilder::Value> inputs,
              nb::dict attrs, std::string name) {
             tilefuse::Attrs a;
             for (auto [k, v] : attrs) {
               const std::string key = nb::cast<std::string>(k);
               a[key] = ToAttr(key, v);
             }
             return b.Op(std::move(op), std::move(inputs), std::move(a), std::move(name));
           },
           nb::arg("op"), nb::arg("inputs"), nb::arg("attrs") = nb::dict(), nb::arg("name") = "")
      .def("output", &tilefuse::GraphBuilder::Output)
      .def("build", [](const tilefuse::GraphBuilder& b) { return Take(b.Build()); });

  nb::class_<tilefuse::Plan>(m, "Plan")
      .def_prop_ro("num_kernels", &tilefuse::Plan::num_kernels)
      .def_prop_ro("arch", &tilefuse::Plan::arch)
      .def_prop_ro("device", &tilefuse::Plan::device)
      .def("explain", &tilefuse::Plan::Explain)
      .def("workspace_bytes",
           [](const tilefuse::Plan& p, const std::map<std::string, int64_t>& sizes) { return Take(p.WorkspaceBytes(sizes)); })
      .def("run",
           [](tilefuse::Plan& p, nb::sequence inputs, nb::sequence outputs, uintptr_t stream) {
             std::vector<nb::object> keep;
             const auto in = Capsules(inputs, keep, "input");
             const auto out = Capsules(outputs, keep, "output");
             tilefuse::Status s;
             {
               nb::gil_scoped_release release;
               s = p.RunDLPack(reinterpret_cast<CUstream_st*>(stream), in, out);
             }
             if (!s.ok()) Raise(s);
           },
           nb::arg("inputs"), nb::arg("outputs"), nb::arg("stream") = 0,
           "Runs on DLPack tensors (in the graph's order); `stream`: a CUDA stream handle "
           "(torch.cuda.current_stream().cuda_stream), 0 for the default stream.");

  m.def("compile",
        [](const tilefuse::Graph& g, std::string arch, bool fuse, int device, std::string cache_dir,
           std::optional<std::vector<int64_t>> m_classes, int sm_count, bool overlap_launches) {
          tilefuse::CompileOptions o;
          o.arch = std::move(arch);
          o.fuse = fuse;
          o.device = device;
          o.cache_dir = std::move(cache_dir);
          o.m_classes = std::move(m_classes);
          o.sm_count = sm_count;
          o.overlap_launches = overlap_launches;
          std::optional<tilefuse::Result<tilefuse::Plan>> plan;
          {
            nb::gil_scoped_release release;  // NVRTC takes a while; other threads run
            plan.emplace(tilefuse::Plan::Compile(g, o));
          }
          return Take(std::move(*plan));
        },
        nb::arg("graph"), nb::arg("arch") = "", nb::arg("fuse") = true, nb::arg("device") = 0,
        nb::arg("cache_dir") = "", nb::arg("m_classes") = nb::none(), nb::arg("sm_count") = 0,
        nb::arg("overlap_launches") = true,
        "Plans the graph and compiles its kernels (NVRTC; no GPU needed with `arch`).");
}
