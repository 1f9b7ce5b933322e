// Graphs written the way model code writes norms and softmax, op by op: a row reduction
// and the pointwise work that broadcasts it back over the same rows run as one generated
// row kernel (runtime/fusion/grouping.cc), with the kernel counts each plan must have.
#include "test/test_graphs.h"

namespace tilefuse {

const std::vector<TestGraph>& RowTestGraphs() {
  static const std::vector<TestGraph>* graphs = new std::vector<TestGraph>{
      // x * rsqrt(mean(x^2) + eps) * w, in f32 between casts, as Llama's RMSNorm writes it.
      {"rms_norm_decomposed", R"({"name": "rms_norm_decomposed",
        "inputs": [{"name": "x", "shape": ["M", 1000], "dtype": "bf16"},
                   {"name": "w", "shape": [1000], "dtype": "bf16"}],
        "nodes": [{"name": "xf", "op": "cast", "inputs": ["x"], "attrs": {"dtype": "f32"}},
                  {"name": "sq", "op": "pow", "inputs": ["xf", 2.0]},
                  {"name": "ms", "op": "mean", "inputs": ["sq"], "attrs": {"dim": -1, "keepdim": true}},
                  {"name": "a", "op": "add", "inputs": ["ms", 1e-6]},
                  {"name": "r", "op": "rsqrt", "inputs": ["a"]},
                  {"name": "y", "op": "mul", "inputs": ["xf", "r"]},
                  {"name": "yb", "op": "cast", "inputs": ["y"], "attrs": {"dtype": "bf16"}},
                  {"name": "out", "op": "mul", "inputs": ["w", "yb"]}],
        "outputs": ["out"]})", 1, 8, {{"M", 37}}},
      // The residual add before it, its sum stored too, and the normalized value before the
      // weight also returned; x * x and 1 / sqrt instead of pow and rsqrt.
      {"add_rms_norm_decomposed_two_outputs", R"({"name": "add_rms_norm_decomposed_two_outputs",
        "inputs": [{"name": "x", "shape": [3, "S", 256], "dtype": "f16"},
                   {"name": "res", "shape": [3, "S", 256], "dtype": "f16"},
                   {"name": "w", "shape": [256], "dtype": "f16"}],
        "nodes": [{"name": "h", "op": "add", "inputs": ["x", "res"]},
                  {"name": "sq", "op": "mul", "inputs": ["h", "h"]},
                  {"name": "ss", "op": "sum", "inputs": ["sq"], "attrs": {"dim": 2, "keepdim": true}},
                  {"name": "ms", "op": "div", "inputs": ["ss", 256.0]},
                  {"name": "a", "op": "add", "inputs": ["ms", 1e-5]},
                  {"name": "d", "op": "sqrt", "inputs": ["a"]},
                  {"name": "n", "op": "div", "inputs": ["h", "d"]},
                  {"name": "out", "op": "mul", "inputs": ["n", "w"]}],
        "outputs": ["h", "n", "out"]})", 1, 8, {{"S", 7}}},
      // (x - mean) / sqrt(var + eps) * w + b with the variance as mean((x - mean)^2).
      {"layer_norm_decomposed", R"({"name": "layer_norm_decomposed",
        "inputs": [{"name": "x", "shape": ["M", 768], "dtype": "bf16"},
                   {"name": "w", "shape": [768], "dtype": "bf16"},
                   {"name": "b", "shape": [768], "dtype": "bf16"}],
        "nodes": [{"name": "xf", "op": "cast", "inputs": ["x"], "attrs": {"dtype": "f32"}},
                  {"name": "mu", "op": "mean", "inputs": ["xf"], "attrs": {"dim": 1, "keepdim": true}},
                  {"name": "xc", "op": "sub", "inputs": ["xf", "mu"]},
                  {"name": "sq", "op": "square", "inputs": ["xc"]},
                  {"name": "var", "op": "mean", "inputs": ["sq"], "attrs": {"dim": 1, "keepdim": true}},
                  {"name": "a", "op": "add", "inputs": ["var", 1e-5]},
                  {"name": "r", "op": "rsqrt", "inputs": ["a"]},
                  {"name": "n", "op": "mul", "inputs": ["xc", "r"]},
                  {"name": "nw", "op": "mul", "inputs": ["n", "w"]},
                  {"name": "y", "op": "add", "inputs": ["nw", "b"]},
                  {"name": "out", "op": "cast", "inputs": ["y"], "attrs": {"dtype": "bf16"}}],
        "outputs": ["out"]})", 1, 11, {{"M", 45}}},
      // torch.var (biased) beside its mean, without affine parameters; the mean and the
      // reciprocal std (one value per row) returned too.
      {"layer_norm_var_no_affine", R"({"name": "layer_norm_var_no_affine",
        "inputs": [{"name": "x", "shape": ["M", 300], "dtype": "f32"}],
        "nodes": [{"name": "mu", "op": "mean", "inputs": ["x"], "attrs": {"dim": -1, "keepdim": true}},
                  {"name": "var", "op": "var", "inputs": ["x"], "attrs": {"dim": -1, "keepdim": true, "correction": 0}},
                  {"name": "a", "op": "add", "inputs": ["var", 1e-5]},
                  {"name": "rstd", "op": "rsqrt", "inputs": ["a"]},
                  {"name": "xc", "op": "sub", "inputs": ["x", "mu"]},
                  {"name": "y", "op": "mul", "inputs": ["xc", "rstd"]}],
        "outputs": ["y", "mu", "rstd"]})", 1, 6, {{"M", 33}}},
      // exp(x - amax) / sum, as a numerically stable softmax is written.
      {"softmax_decomposed", R"({"name": "softmax_decomposed",
        "inputs": [{"name": "x", "shape": ["B", 4, 129], "dtype": "bf16"}],
        "nodes": [{"name": "m", "op": "amax", "inputs": ["x"], "attrs": {"dim": -1, "keepdim": true}},
                  {"name": "s", "op": "sub", "inputs": ["x", "m"]},
                  {"name": "e", "op": "exp", "inputs": ["s"]},
                  {"name": "z", "op": "sum", "inputs": ["e"], "attrs": {"dim": -1, "keepdim": true}},
                  {"name": "p", "op": "div", "inputs": ["e", "z"]}],
        "outputs": ["p"]})", 1, 5, {{"B", 3}}},
      // A scaled, masked softmax: the scale and mask (a [S, S] input broadcast over the
      // batch) before the max; rows with every element masked give NaN as in PyTorch.
      {"softmax_scaled_masked", R"({"name": "softmax_scaled_masked",
        "inputs": [{"name": "x", "shape": ["B", 64, 64], "dtype": "f32"},
                   {"name": "mask", "shape": [64, 64], "dtype": "f32"}],
        "nodes": [{"name": "xs", "op": "mul", "inputs": ["x", 0.125]},
                  {"name": "xm", "op": "add", "inputs": ["xs", "mask"]},
                  {"name": "m", "op": "amax", "inputs": ["xm"], "attrs": {"dim": 2, "keepdim": true}},
                  {"name": "s", "op": "sub", "inputs": ["xm", "m"]},
                  {"name": "e", "op": "exp", "inputs": ["s"]},
                  {"name": "z", "op": "sum", "inputs": ["e"], "attrs": {"dim": 2, "keepdim": true}},
                  {"name": "p", "op": "div", "inputs": ["e", "z"]}],
        "outputs": ["p"]})", 1, 7, {{"B", 5}}},
      // Per-row statistics not broadcast back (no keepdim): one kernel stores both.
      {"row_stats_min_max", R"({"name": "row_stats_min_max",
        "inputs": [{"name": "x", "shape": ["M", 2000], "dtype": "f16"}],
        "nodes": [{"name": "ax", "op": "abs", "inputs": ["x"]},
                  {"name": "hi", "op": "amax", "inputs": ["ax"], "attrs": {"dim": 1}},
                  {"name": "lo", "op": "amin", "inputs": ["x"], "attrs": {"dim": 1}},
                  {"name": "d", "op": "sub", "inputs": ["hi", "lo"]}],
        "outputs": ["ax", "d"]})", 1, 4, {{"M", 70}}},
      // The per-row values without keepdim, brought back through views as model code
      // writes x / x.sum(-1)[:, None]: a reshape to [M, 1], and an expand over the row.
      {"softmax_sums_through_views", R"({"name": "softmax_sums_through_views",
        "inputs": [{"name": "x", "shape": ["M", 96], "dtype": "f32"}],
        "nodes": [{"name": "m", "op": "amax", "inputs": ["x"], "attrs": {"dim": 1}},
                  {"name": "mv", "op": "reshape", "inputs": ["m"], "attrs": {"shape": ["M", 1]}},
                  {"name": "s", "op": "sub", "inputs": ["x", "mv"]},
                  {"name": "e", "op": "exp", "inputs": ["s"]},
                  {"name": "z", "op": "sum", "inputs": ["e"], "attrs": {"dim": 1}},
                  {"name": "z1", "op": "reshape", "inputs": ["z"], "attrs": {"shape": ["M", 1]}},
                  {"name": "zx", "op": "expand", "inputs": ["z1"], "attrs": {"shape": [-1, 96]}},
                  {"name": "p", "op": "div", "inputs": ["e", "zx"]}],
        "outputs": ["p", "z"]})", 1, 5, {{"M", 41}}},
      // logsumexp without keepdim (its shift squeezed through a reshape) and log_softmax
      // over the same rows: one kernel for both.
      {"logsumexp_and_log_softmax", R"({"name": "logsumexp_and_log_softmax",
        "inputs": [{"name": "x", "shape": ["M", 200], "dtype": "bf16"}],
        "nodes": [{"name": "l", "op": "logsumexp", "inputs": ["x"], "attrs": {"dim": 1}},
                  {"name": "y", "op": "log_softmax", "inputs": ["x"], "attrs": {"dim": -1}}],
        "outputs": ["l", "y"]})", 1, 23, {{"M", 29}}},
      // A row product broadcast back over the row.
      {"prod_row_kernel", R"({"name": "prod_row_kernel",
        "inputs": [{"name": "x", "shape": ["M", 12], "dtype": "f16"}],
        "nodes": [{"name": "ax", "op": "abs", "inputs": ["x"]},
                  {"name": "a", "op": "add", "inputs": ["ax", 0.5]},
                  {"name": "p", "op": "prod", "inputs": ["a"], "attrs": {"dim": -1, "keepdim": true}},
                  {"name": "y", "op": "div", "inputs": ["a", "p"]}],
        "outputs": ["y"]})", 1, 4, {{"M", 50}}},
      // torch.var_mean written as two calls, both only returned: one pass over the rows.
      {"row_mean_and_var_outputs", R"({"name": "row_mean_and_var_outputs",
        "inputs": [{"name": "x", "shape": [6, "T", 130], "dtype": "bf16"}],
        "nodes": [{"name": "m", "op": "mean", "inputs": ["x"], "attrs": {"dim": 2}},
                  {"name": "v", "op": "var", "inputs": ["x"], "attrs": {"dim": -1, "keepdim": true}}],
        "outputs": ["m", "v"]})", 1, 2, {{"T", 9}}},
      // Row programs in a GEMM's store, whose tile covers the rows (N <= 256): rms_norm of
      // the output (the Hopper kernel, B a transposed weight), as one kernel.
      {"gemm_rms_norm", R"({"name": "gemm_rms_norm",
        "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"},
                   {"name": "w", "shape": [96, 64], "dtype": "bf16"},
                   {"name": "g", "shape": [96], "dtype": "bf16"}],
        "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},
                  {"name": "out", "op": "rms_norm", "inputs": ["y", "g"], "attrs": {"eps": 1e-5}}],
        "outputs": ["out"]})", 1, 2, {{"M", 77}}},
      // A bias, then rms_norm written op by op in f32 (mma.sync, 256 columns for 200).
      {"gemm_bias_rms_norm_decomposed", R"({"name": "gemm_bias_rms_norm_decomposed",
        "inputs": [{"name": "x", "shape": ["M", 128], "dtype": "f16"},
                   {"name": "w", "shape": [128, 200], "dtype": "f16"},
                   {"name": "b", "shape": [200], "dtype": "f16"},
                   {"name": "g", "shape": [200], "dtype": "f32"}],
        "nodes": [{"name": "y", "op": "matmul", "inputs": ["x", "w"]},
                  {"name": "yb", "op": "add", "inputs": ["y", "b"]},
                  {"name": "yf", "op": "cast", "inputs": ["yb"], "attrs": {"dtype": "f32"}},
                  {"name": "sq", "op": "mul", "inputs": ["yf", "yf"]},
                  {"name": "ms", "op": "mean", "inputs": ["sq"], "attrs": {"dim": -1, "keepdim": true}},
                  {"name": "a", "op": "add", "inputs": ["ms", 1e-6]},
                  {"name": "r", "op": "rsqrt", "inputs": ["a"]},
                  {"name": "n", "op": "mul", "inputs": ["yf", "r"]},
                  {"name": "o", "op": "mul", "inputs": ["n", "g"]},
                  {"name": "out", "op": "cast", "inputs": ["o"], "attrs": {"dtype": "f16"}}],
        "outputs": ["out", "ms"]})", 1, 10, {{"M", 45}}},
      // layer_norm -> GEMM -> rms_norm: the norm's kernel, then the GEMM with the rms_norm
      // in its store.
      {"layer_norm_gemm_rms_norm", R"({"name": "layer_norm_gemm_rms_norm",
        "inputs": [{"name": "x", "shape": ["M", 256], "dtype": "bf16"},
                   {"name": "w1", "shape": [256], "dtype": "bf16"},
                   {"name": "b1", "shape": [256], "dtype": "bf16"},
                   {"name": "w", "shape": [128, 256], "dtype": "bf16"},
                   {"name": "g", "shape": [128], "dtype": "bf16"}],
        "nodes": [{"name": "h", "op": "layer_norm", "inputs": ["x", "w1", "b1"], "attrs": {"eps": 1e-5}},
                  {"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["h", "wt"]},
                  {"name": "out", "op": "rms_norm", "inputs": ["y", "g"], "attrs": {"eps": 1e-6}}],
        "outputs": ["out"]})", 2, 3, {{"M", 200}}},
      // softmax of an f32 GEMM's output, and a row sum of a GEMM's output broadcast back
      // (its store-site reduction turned into a row program).
      {"gemm_softmax_and_row_share", R"({"name": "gemm_softmax_and_row_share",
        "inputs": [{"name": "x", "shape": ["M", 48], "dtype": "f32"},
                   {"name": "w", "shape": [48, 64], "dtype": "f32"},
                   {"name": "x2", "shape": ["M", 64], "dtype": "bf16"},
                   {"name": "w2", "shape": [64, 160], "dtype": "bf16"}],
        "nodes": [{"name": "y", "op": "matmul", "inputs": ["x", "w"]},
                  {"name": "p", "op": "softmax", "inputs": ["y"], "attrs": {"dim": -1}},
                  {"name": "z", "op": "matmul", "inputs": ["x2", "w2"]},
                  {"name": "za", "op": "abs", "inputs": ["z"]},
                  {"name": "s", "op": "sum", "inputs": ["za"], "attrs": {"dim": 1, "keepdim": true}},
                  {"name": "share", "op": "div", "inputs": ["za", "s"]}],
        "outputs": ["p", "share"]})", 2, 6, {{"M", 33}}},
  };
  return *graphs;
}

}  // namespace tilefuse
