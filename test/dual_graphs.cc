// Dual GEMMs (runtime/fusion/dual_gemm.h): two matmuls of one A whose products meet in one
// epilogue, as a gated MLP writes them.
#include "test/test_graphs.h"

namespace tilefuse::internal {

const std::vector<TestGraph>& DualTestGraphs() {
  static const std::vector<TestGraph>* graphs = new std::vector<TestGraph>{
      // SwiGLU: silu(x @ wg.T) * (x @ wu.T), N = 200 (a part tile) and K = 136 (a part
      // k-tile). "wgmma_": GpuGemm.WgmmaSplitK... runs it on every Hopper tile and split.
      {"wgmma_dual_swiglu", R"({"name": "wgmma_dual_swiglu",
        "inputs": [{"name": "x", "shape": ["M", 136], "dtype": "bf16"},
                   {"name": "wg", "shape": [200, 136], "dtype": "bf16"},
                   {"name": "wu", "shape": [200, 136], "dtype": "bf16"}],
        "nodes": [{"name": "wgt", "op": "transpose", "inputs": ["wg"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "wut", "op": "transpose", "inputs": ["wu"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "g", "op": "matmul", "inputs": ["x", "wgt"]},
                  {"name": "u", "op": "matmul", "inputs": ["x", "wut"]},
                  {"name": "s", "op": "silu", "inputs": ["g"]},
                  {"name": "a", "op": "mul", "inputs": ["s", "u"]},
                  {"name": "y", "op": "cast", "inputs": ["a"], "attrs": {"dtype": "bf16"}}],
        "outputs": ["y"]})", 1, 5, {{"M", 45}}},
      // GeGLU in f16 with an odd N (99: the hook path), a residual, and the second product
      // stored as well (an output of the merged kernel).
      {"dual_geglu_odd_n", R"({"name": "dual_geglu_odd_n",
        "inputs": [{"name": "x", "shape": ["M", 40], "dtype": "f16"},
                   {"name": "wa", "shape": [99, 40], "dtype": "f16"},
                   {"name": "wb", "shape": [99, 40], "dtype": "f16"},
                   {"name": "res", "shape": ["M", 99], "dtype": "f32"}],
        "nodes": [{"name": "wat", "op": "transpose", "inputs": ["wa"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "wbt", "op": "transpose", "inputs": ["wb"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "a", "op": "matmul", "inputs": ["x", "wat"]},
                  {"name": "b", "op": "matmul", "inputs": ["x", "wbt"]},
                  {"name": "ga", "op": "gelu", "inputs": ["a"]},
                  {"name": "p", "op": "mul", "inputs": ["ga", "b"]},
                  {"name": "y", "op": "add", "inputs": ["p", "res"]}],
        "outputs": ["y", "b"]})", 1, 5, {{"M", 37}}},
      // The Llama MLP, small: rms_norm, the gate and up GEMMs as one, the down GEMM with
      // the residual.
      {"dual_mlp_block", R"({"name": "dual_mlp_block",
        "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"},
                   {"name": "w_norm", "shape": [64], "dtype": "bf16"},
                   {"name": "w_gate", "shape": [160, 64], "dtype": "bf16"},
                   {"name": "w_up", "shape": [160, 64], "dtype": "bf16"},
                   {"name": "w_down", "shape": [64, 160], "dtype": "bf16"}],
        "nodes": [{"name": "h", "op": "rms_norm", "inputs": ["x", "w_norm"], "attrs": {"eps": 1e-5}},
                  {"name": "wg", "op": "transpose", "inputs": ["w_gate"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "wu", "op": "transpose", "inputs": ["w_up"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "wd", "op": "transpose", "inputs": ["w_down"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "g", "op": "matmul", "inputs": ["h", "wg"]},
                  {"name": "u", "op": "matmul", "inputs": ["h", "wu"]},
                  {"name": "s", "op": "silu", "inputs": ["g"]},
                  {"name": "a", "op": "mul", "inputs": ["s", "u"]},
                  {"name": "ab", "op": "cast", "inputs": ["a"], "attrs": {"dtype": "bf16"}},
                  {"name": "d", "op": "matmul", "inputs": ["ab", "wd"]},
                  {"name": "r", "op": "add", "inputs": ["d", "x"]},
                  {"name": "y", "op": "cast", "inputs": ["r"], "attrs": {"dtype": "bf16"}}],
        "outputs": ["y"]})", 3, 9, {{"M", 13}}},
      // One concatenated gate/up weight, its product split by two column slices (an
      // engine's gate_up_proj): one kernel over [M, 200] reading the weight's two row
      // windows; the matmul's [M, 400] is never stored.
      {"wgmma_dual_gate_up_cat", R"({"name": "wgmma_dual_gate_up_cat",
        "inputs": [{"name": "x", "shape": ["M", 136], "dtype": "bf16"},
                   {"name": "wgu", "shape": [400, 136], "dtype": "bf16"}],
        "nodes": [{"name": "wt", "op": "transpose", "inputs": ["wgu"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},
                  {"name": "g", "op": "slice", "inputs": ["y"], "attrs": {"dim": 1, "start": 0, "end": 200}},
                  {"name": "u", "op": "slice", "inputs": ["y"], "attrs": {"dim": 1, "start": 200, "end": 400}},
                  {"name": "s", "op": "silu", "inputs": ["g"]},
                  {"name": "a", "op": "mul", "inputs": ["s", "u"]},
                  {"name": "o", "op": "cast", "inputs": ["a"], "attrs": {"dtype": "bf16"}}],
        "outputs": ["o"]})", 1, 4, {{"M", 45}}},
      // The same in f16 with slices of odd width (99: the hook path), up first in the
      // weight, a residual, and the gate's epilogue value also an output.
      {"dual_gate_up_cat_odd", R"({"name": "dual_gate_up_cat_odd",
        "inputs": [{"name": "x", "shape": ["M", 40], "dtype": "f16"},
                   {"name": "wug", "shape": [198, 40], "dtype": "f16"},
                   {"name": "res", "shape": ["M", 99], "dtype": "f32"}],
        "nodes": [{"name": "wt", "op": "transpose", "inputs": ["wug"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},
                  {"name": "u", "op": "narrow", "inputs": ["y"], "attrs": {"dim": 1, "start": 0, "length": 99}},
                  {"name": "g", "op": "narrow", "inputs": ["y"], "attrs": {"dim": -1, "start": 99, "length": 99}},
                  {"name": "ga", "op": "gelu", "inputs": ["g"]},
                  {"name": "p", "op": "mul", "inputs": ["ga", "u"]},
                  {"name": "out", "op": "add", "inputs": ["p", "res"]}],
        "outputs": ["out", "ga"]})", 1, 4, {{"M", 37}}},
      // The MLP as PyTorch model code writes it (nn.Linear on [B, S, D]: linear flattens
      // the leading dims and restores them): the gate and up GEMMs read through those
      // reshapes are one dual GEMM, and the output, a reshape of the down GEMM's value, is
      // stored by it (no copy kernel).
      {"dual_linear_3d", R"({"name": "dual_linear_3d",
 "inputs": [{"name": "x", "shape": [3, 7, 64], "dtype": "bf16"},
            {"name": "w1", "shape": [96, 64], "dtype": "bf16"},
            {"name": "w3", "shape": [96, 64], "dtype": "bf16"},
            {"name": "w2", "shape": [64, 96], "dtype": "bf16"}],
 "nodes": [{"name": "h1", "op": "linear", "inputs": ["x", "w1"]},
           {"name": "h3", "op": "linear", "inputs": ["x", "w3"]},
           {"name": "s", "op": "silu", "inputs": ["h1"]},
           {"name": "a", "op": "mul", "inputs": ["s", "h3"]},
           {"name": "y", "op": "linear", "inputs": ["a", "w2"]}],
 "outputs": ["y"]})", 2, 5, {}},
      // The same at decode ([B, 1, D], B symbolic) with biases on gate and up.
      {"dual_linear_decode_bias", R"({"name": "dual_linear_decode_bias",
 "inputs": [{"name": "x", "shape": ["B", 1, 64], "dtype": "bf16"},
            {"name": "w1", "shape": [96, 64], "dtype": "bf16"},
            {"name": "b1", "shape": [96], "dtype": "bf16"},
            {"name": "w3", "shape": [96, 64], "dtype": "bf16"},
            {"name": "b3", "shape": [96], "dtype": "bf16"},
            {"name": "w2", "shape": [64, 96], "dtype": "bf16"}],
 "nodes": [{"name": "h1", "op": "linear", "inputs": ["x", "w1", "b1"]},
           {"name": "h3", "op": "linear", "inputs": ["x", "w3", "b3"]},
           {"name": "s", "op": "silu", "inputs": ["h1"]},
           {"name": "a", "op": "mul", "inputs": ["s", "h3"]},
           {"name": "y", "op": "linear", "inputs": ["a", "w2"]}],
 "outputs": ["y"]})", 2, 7, {{"B", 13}}},
  };
  return *graphs;
}

}  // namespace tilefuse::internal
