// Batched GEMMs (graph.h IsBatchedMatmul): torch.matmul / bmm / linear over batch dims that
// do not fold into M, one launch for every batch (grid y), static or symbolic.
#include "test/test_graphs.h"

namespace tilefuse::internal {

const std::vector<TestGraph>& BatchedTestGraphs() {
  static const std::vector<TestGraph>* graphs = new std::vector<TestGraph>{
      // Attention as model code writes it, batch symbolic: softmax(q @ k.T * scale) @ v over
      // [B, 4, 40, 64] (B = 3: 12 batches), k.T read through its strides.
      {"bmm_attention_symbolic_batch", R"({"name": "bmm_attention_symbolic_batch",
        "inputs": [{"name": "q", "shape": ["B", 4, 40, 64], "dtype": "f16"},
                   {"name": "k", "shape": ["B", 4, 40, 64], "dtype": "f16"},
                   {"name": "v", "shape": ["B", 4, 40, 64], "dtype": "f16"}],
        "nodes": [{"name": "kt", "op": "transpose", "inputs": ["k"], "attrs": {"dim0": -2, "dim1": -1}},
                  {"name": "s", "op": "matmul", "inputs": ["q", "kt"]},
                  {"name": "sc", "op": "mul", "inputs": ["s", 0.125]},
                  {"name": "p", "op": "softmax", "inputs": ["sc"], "attrs": {"dim": -1}},
                  {"name": "o", "op": "matmul", "inputs": ["p", "v"]}],
        "outputs": ["o"]})", 3, 4, {{"B", 3}}},
      // 40 static batches (past what one GEMM per batch would launch) with a bias, a residual
      // of the output's shape and a relu in the epilogue; both operands contiguous (cp.async).
      {"bmm_epilogue_40_batches", R"({"name": "bmm_epilogue_40_batches",
        "inputs": [{"name": "a", "shape": [40, 24, 32], "dtype": "bf16"},
                   {"name": "b", "shape": [40, 32, 56], "dtype": "bf16"},
                   {"name": "bias", "shape": [56], "dtype": "bf16"},
                   {"name": "r", "shape": [40, 24, 56], "dtype": "bf16"}],
        "nodes": [{"name": "y", "op": "bmm", "inputs": ["a", "b"]},
                  {"name": "yb", "op": "add", "inputs": ["y", "bias"]},
                  {"name": "yr", "op": "add", "inputs": ["yb", "r"]},
                  {"name": "o", "op": "relu", "inputs": ["yr"]}],
        "outputs": ["o"]})", 1, 4, {}},
      // f32 operands (split into bf16 parts in the hooks), M symbolic, K = 36 (not whole
      // 16-byte chunks: the element path), a prologue on A.
      {"bmm_f32_odd_k", R"({"name": "bmm_f32_odd_k",
        "inputs": [{"name": "a", "shape": [3, "M", 36], "dtype": "f32"},
                   {"name": "b", "shape": [3, 36, 20], "dtype": "f32"}],
        "nodes": [{"name": "ah", "op": "mul", "inputs": ["a", 0.5]},
                  {"name": "y", "op": "matmul", "inputs": ["ah", "b"]}],
        "outputs": ["y"]})", 1, 2, {{"M", 17}}},
      // F.linear over two symbolic leading dims: the weight's transpose expanded over the
      // batch, the bias and a gelu in the epilogue; the batch broadcast of torch.matmul
      // ([2, 1, M, 32] x [3, 32, 48]) beside it.
      {"linear_two_symbolic_dims", R"({"name": "linear_two_symbolic_dims",
        "inputs": [{"name": "x", "shape": ["B", "S", 48], "dtype": "bf16"},
                   {"name": "w", "shape": [40, 48], "dtype": "bf16"},
                   {"name": "bias", "shape": [40], "dtype": "bf16"},
                   {"name": "a", "shape": [2, 1, "S", 32], "dtype": "bf16"},
                   {"name": "c", "shape": [3, 32, 48], "dtype": "bf16"}],
        "nodes": [{"name": "y", "op": "linear", "inputs": ["x", "w", "bias"]},
                  {"name": "o", "op": "gelu", "inputs": ["y"]},
                  {"name": "z", "op": "matmul", "inputs": ["a", "c"]}],
        "outputs": ["o", "z"]})", 2, 4, {{"B", 2}, {"S", 19}}},
      // Several tiles per batch in M and N, both operands contiguous (cp.async), B and M
      // symbolic: 5 batches of 300 x 264 x 128.
      {"bmm_many_tiles_symbolic", R"({"name": "bmm_many_tiles_symbolic",
        "inputs": [{"name": "a", "shape": ["B", "M", 128], "dtype": "bf16"},
                   {"name": "b", "shape": ["B", 128, 264], "dtype": "bf16"}],
        "nodes": [{"name": "y", "op": "bmm", "inputs": ["a", "b"]}],
        "outputs": ["y"]})", 1, 1, {{"B", 5}, {"M", 300}}},
      // One B for every batch (a [K, N] weight under [2, S, K]): read by TMA as it is, no
      // batch offset; K = 72 (a part k-tile).
      {"bmm_shared_row_major_b", R"({"name": "bmm_shared_row_major_b",
        "inputs": [{"name": "x", "shape": [2, "S", 72], "dtype": "bf16"},
                   {"name": "w", "shape": [72, 136], "dtype": "bf16"}],
        "nodes": [{"name": "y", "op": "matmul", "inputs": ["x", "w"]},
                  {"name": "o", "op": "silu", "inputs": ["y"]}],
        "outputs": ["o"]})", 1, 2, {{"S", 67}}},
      // torch.addmm and torch.baddbmm with alpha and beta: the scaled product and bias in
      // the epilogue; addmm's B through t() of a [N, K] weight.
      {"addmm_baddbmm_scaled", R"({"name": "addmm_baddbmm_scaled",
        "inputs": [{"name": "bias", "shape": [48], "dtype": "bf16"},
                   {"name": "a", "shape": ["M", 40], "dtype": "bf16"},
                   {"name": "w", "shape": [48, 40], "dtype": "bf16"},
                   {"name": "c", "shape": [3, 20, 24], "dtype": "f16"},
                   {"name": "p", "shape": [3, 20, 32], "dtype": "f16"},
                   {"name": "q", "shape": [3, 32, 24], "dtype": "f16"}],
        "nodes": [{"name": "wt", "op": "t", "inputs": ["w"]},
                  {"name": "y", "op": "addmm", "inputs": ["bias", "a", "wt"], "attrs": {"alpha": 0.5, "beta": 2.0}},
                  {"name": "z", "op": "baddbmm", "inputs": ["c", "p", "q"], "attrs": {"alpha": 0.25}}],
        "outputs": ["y", "z"]})", 2, 7, {{"M", 23}}},
      // Grouped-query attention's scores: k's 2 heads repeated for q's 8
      // (repeat_interleave, Llama's repeat_kv), copied by a kernel, then the batched GEMM.
      {"gqa_scores_repeat_interleave", R"({"name": "gqa_scores_repeat_interleave",
        "inputs": [{"name": "q", "shape": [2, 8, "S", 64], "dtype": "bf16"},
                   {"name": "k", "shape": [2, 2, "S", 64], "dtype": "bf16"}],
        "nodes": [{"name": "kr", "op": "repeat_interleave", "inputs": ["k"], "attrs": {"repeats": 4, "dim": 1}},
                  {"name": "kt", "op": "transpose", "inputs": ["kr"], "attrs": {"dim0": -2, "dim1": -1}},
                  {"name": "s", "op": "matmul", "inputs": ["q", "kt"]},
                  {"name": "o", "op": "mul", "inputs": ["s", 0.125]}],
        "outputs": ["o"]})", 2, 3, {{"S", 40}}},
  };
  return *graphs;
}

}  // namespace tilefuse::internal
