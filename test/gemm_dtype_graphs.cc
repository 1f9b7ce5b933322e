#include "test/gemm_dtype_graphs.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {
namespace {

// y = x @ B with x [M, K] of dtype `a` (cast from `x_dtype` first when they differ) and
// B [K, N] (or wt [N, K] transposed), then `epilogue`.
TestGraph Make(const std::string& d, const std::string& x_dtype, bool transposed, const std::string& epilogue,
               const std::string& m, int64_t k, int64_t n) {
  const std::string name =
      absl::StrCat("gemm_", x_dtype == d ? "" : absl::StrCat(x_dtype, "_to_"), d, transposed ? "_wt" : "_w", "_",
                   epilogue, "_m", m, "_k", k, "_n", n);
  std::string inputs = absl::StrCat(R"([{"name": "x", "shape": [)", m == "M" ? "\"M\"" : m, ", ", k,
                                    R"(], "dtype": ")", x_dtype, "\"}");
  absl::StrAppend(&inputs, R"(, {"name": "w", "shape": [)", transposed ? n : k, ", ", transposed ? k : n,
                  R"(], "dtype": ")", d, "\"}");
  std::string nodes = "[";
  std::string a = "x", b = "w";
  if (x_dtype != d) {
    absl::StrAppend(&nodes, R"({"name": "xc", "op": "cast", "inputs": ["x"], "attrs": {"dtype": ")", d, "\"}}, ");
    a = "xc";
  }
  if (transposed) {
    absl::StrAppend(&nodes, R"({"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}}, )");
    b = "wt";
  }
  absl::StrAppend(&nodes, R"({"name": "y", "op": "matmul", "inputs": [")", a, "\", \"", b, "\"]}");
  std::string out = "y";
  if (epilogue == "bias_gelu") {  // a bias of another dtype, gelu, a cast to bf16
    const std::string bias = d == "f32" ? "bf16" : "f32";
    absl::StrAppend(&inputs, R"(, {"name": "b", "shape": [)", n, R"(], "dtype": ")", bias, "\"}");
    absl::StrAppend(&nodes, R"(, {"name": "z", "op": "add", "inputs": ["y", "b"]})",
                    R"(, {"name": "g", "op": "gelu", "inputs": ["z"], "attrs": {"approximate": "tanh"}})",
                    R"(, {"name": "o", "op": "cast", "inputs": ["g"], "attrs": {"dtype": "bf16"}})");
    out = "o";
  } else if (epilogue == "residual") {  // y * 0.5 + an f32 residual, also stored as f16
    absl::StrAppend(&inputs, R"(, {"name": "r", "shape": [)", m == "M" ? "\"M\"" : m, ", ", n,
                    R"(], "dtype": "f32"})");
    absl::StrAppend(&nodes, R"(, {"name": "s", "op": "mul", "inputs": ["y", 0.5]})",
                    R"(, {"name": "o", "op": "add", "inputs": ["s", "r"]})",
                    R"(, {"name": "h", "op": "cast", "inputs": ["o"], "attrs": {"dtype": "f16"}})");
    out = "o\", \"h";
  }
  const std::string json = absl::StrCat(R"({"name": ")", name, R"(", "inputs": )", inputs, "], \"nodes\": ", nodes,
                                        R"(], "outputs": [")", out, "\"]}");
  TestGraph t{name, json, -1, -1, {}};
  if (m == "M") t.symbols["M"] = 77;
  return t;
}

}  // namespace

const std::vector<TestGraph>& GemmDtypeTestGraphs() {
  static const std::vector<TestGraph>* graphs = [] {
    auto* v = new std::vector<TestGraph>;
    for (const char* d : {"f32", "f16", "bf16"}) {
      for (bool transposed : {false, true}) {
        for (const char* epilogue : {"plain", "bias_gelu", "residual"}) {
          v->push_back(Make(d, d, transposed, epilogue, "M", 136, 72));  // K, N multiples of 8
        }
        v->push_back(Make(d, d, transposed, "plain", "M", 100, 43));  // odd N, K not a multiple of 8
        v->push_back(Make(d, d, transposed, "bias_gelu", "5", 264, 40));  // decode: split-K
      }
      // A cast prologue from another dtype.
      v->push_back(Make(d, std::string(d) == "f32" ? "bf16" : "f32", true, "bias_gelu", "M", 96, 64));
    }
    // Large enough for the Hopper kernel (bf16 and f16 with w.T, M > 16).
    v->push_back(Make("f16", "f16", true, "residual", "M", 256, 256));
    v->push_back(Make("f32", "f32", true, "plain", "M", 512, 384));
    // K long enough for every small-M class to split it (a K tail past the last 64; N a
    // tail past the last 64 and 128 columns): fused bf16, plain f16.
    v->push_back(Make("bf16", "bf16", true, "bias_gelu", "M", 4104, 264));
    v->push_back(Make("f16", "f16", true, "plain", "M", 4104, 264));
    return v;
  }();
  return *graphs;
}

}  // namespace tilefuse::internal
