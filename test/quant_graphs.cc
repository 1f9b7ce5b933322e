// Graphs with the low-precision types (issue 21): dequant in pointwise kernels and in a
// GEMM's B load (weight-only GEMMs), quantize in a norm's store with its row amax, casts.
#include "test/test_graphs.h"

namespace tilefuse::internal {

const std::vector<TestGraph>& QuantTestGraphs() {
  static const std::vector<TestGraph>* graphs = new std::vector<TestGraph>{
      // int8 weights with one scale per row, dequantized to bf16 on their own.
      {"dequant_i8_rows", R"({"name": "dequant_i8_rows",
        "inputs": [{"name": "q", "shape": ["N", 200], "dtype": "i8"},
                   {"name": "s", "shape": ["N", 1], "dtype": "f32"}],
        "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s"], "attrs": {"dtype": "bf16"}}],
        "outputs": ["w"]})", 1, 3, {{"N", 37}}},
      // int4 with groups of 128 along an odd K (333: the last group holds 77) and zero points.
      {"dequant_i4_groups_odd_k", R"({"name": "dequant_i4_groups_odd_k",
        "inputs": [{"name": "q", "shape": [24, 333], "dtype": "i4"},
                   {"name": "s", "shape": [24, 3], "dtype": "bf16"},
                   {"name": "z", "shape": [24, 3], "dtype": "f32"}],
        "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s", "z"], "attrs": {"group": 128}}],
        "outputs": ["w"]})", 1, 11, {}},
      // fp8 in and out: e4m3 read, e5m2 written (rounding and the range of both).
      {"f8_casts", R"({"name": "f8_casts",
        "inputs": [{"name": "a", "shape": ["M", 40], "dtype": "f8e4m3"},
                   {"name": "x", "shape": ["M", 40], "dtype": "f32"}],
        "nodes": [{"name": "af", "op": "cast", "inputs": ["a"], "attrs": {"dtype": "f32"}},
                  {"name": "p", "op": "mul", "inputs": ["af", "x"]},
                  {"name": "big", "op": "mul", "inputs": ["p", 30000.0]},
                  {"name": "e", "op": "cast", "inputs": ["big"], "attrs": {"dtype": "f8e5m2"}},
                  {"name": "e4", "op": "cast", "inputs": ["p"], "attrs": {"dtype": "f8e4m3"}}],
        "outputs": ["e", "e4"]})", 1, 5, {{"M", 19}}},
      // Per-row int8 quantization: x / s rounded half to even and saturated.
      {"quantize_i8_rows", R"({"name": "quantize_i8_rows",
        "inputs": [{"name": "x", "shape": ["M", 100], "dtype": "f32"},
                   {"name": "s", "shape": ["M", 1], "dtype": "f32"}],
        "nodes": [{"name": "q", "op": "quantize", "inputs": ["x", "s"], "attrs": {"dtype": "i8"}}],
        "outputs": ["q"]})", 1, 5, {{"M", 21}}},
      // What engines run before an fp8 GEMM: rms_norm, its row amax, fp8 with a per-tensor
      // scale: one kernel.
      {"rms_norm_quantize_f8", R"({"name": "rms_norm_quantize_f8",
        "inputs": [{"name": "x", "shape": ["M", 512], "dtype": "bf16"},
                   {"name": "g", "shape": [512], "dtype": "bf16"},
                   {"name": "s", "shape": [1], "dtype": "f32"}],
        "nodes": [{"name": "h", "op": "rms_norm", "inputs": ["x", "g"], "attrs": {"eps": 1e-6}},
                  {"name": "a", "op": "abs", "inputs": ["h"]},
                  {"name": "amax", "op": "amax", "inputs": ["a"], "attrs": {"dim": -1, "keepdim": true}},
                  {"name": "q", "op": "quantize", "inputs": ["h", "s"], "attrs": {"dtype": "f8e4m3"}}],
        "outputs": ["q", "amax"]})", 1, 7, {{"M", 45}}},
      // Weight-only GEMMs: the dequant runs in the B load.
      {"weight_only_i8", R"({"name": "weight_only_i8",
        "inputs": [{"name": "x", "shape": ["M", 256], "dtype": "bf16"},
                   {"name": "q", "shape": [200, 256], "dtype": "i8"},
                   {"name": "s", "shape": [200, 1], "dtype": "bf16"},
                   {"name": "b", "shape": [200], "dtype": "bf16"}],
        "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s"], "attrs": {"dtype": "bf16"}},
                  {"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},
                  {"name": "out", "op": "add", "inputs": ["y", "b"]}],
        "outputs": ["out"]})", 1, 5, {{"M", 33}}},
      {"weight_only_i4_groups", R"({"name": "weight_only_i4_groups",
        "inputs": [{"name": "x", "shape": ["M", 320], "dtype": "f16"},
                   {"name": "q", "shape": [136, 320], "dtype": "i4"},
                   {"name": "s", "shape": [136, 3], "dtype": "f16"},
                   {"name": "z", "shape": [136, 3], "dtype": "f16"}],
        "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s", "z"], "attrs": {"dtype": "f16", "group": 128}},
                  {"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["x", "wt"]}],
        "outputs": ["y"]})", 1, 13, {{"M", 70}}},
      {"weight_only_f8_silu", R"({"name": "weight_only_f8_silu",
        "inputs": [{"name": "x", "shape": ["M", 192], "dtype": "bf16"},
                   {"name": "q", "shape": [96, 192], "dtype": "f8e4m3"},
                   {"name": "s", "shape": [96, 1], "dtype": "f32"}],
        "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s"], "attrs": {"dtype": "bf16"}},
                  {"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},
                  {"name": "out", "op": "silu", "inputs": ["y"]}],
        "outputs": ["out"]})", 1, 5, {{"M", 5}}},
      // K = 200 (not whole 16-element loads: the element path) and N = 72 (a partial tile),
      // a bias in the accumulators.
      {"weight_only_i8_odd", R"({"name": "weight_only_i8_odd",
        "inputs": [{"name": "x", "shape": ["M", 200], "dtype": "bf16"},
                   {"name": "q", "shape": [72, 200], "dtype": "i8"},
                   {"name": "s", "shape": [72, 1], "dtype": "f32"},
                   {"name": "b", "shape": [72], "dtype": "bf16"}],
        "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s"], "attrs": {"dtype": "bf16"}},
                  {"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},
                  {"name": "out", "op": "add", "inputs": ["y", "b"]}],
        "outputs": ["out"]})", 1, 5, {{"M", 3}}},
  };
  return *graphs;
}

}  // namespace tilefuse::internal
