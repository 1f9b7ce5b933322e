// Graphs with index ops: iota / arange values and gathers (torch.gather, an embedding
// lookup), fused into pointwise kernels or kept apart from what computes a gathered input.
#include "test/test_graphs.h"

namespace tilefuse::internal {

const std::vector<TestGraph>& IndexTestGraphs() {
  static const std::vector<TestGraph>* graphs = new std::vector<TestGraph>{
      // Positions down the rows and a reversed ramp along them, in one kernel with x.
      {"iota_angles", R"({"name": "iota_angles",
        "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "f32"}],
        "nodes": [{"name": "pos", "op": "iota", "inputs": [], "attrs": {"shape": ["M", 64], "dim": 0}},
                  {"name": "j", "op": "iota", "inputs": [], "attrs": {"shape": [64], "dim": 0, "start": 3, "step": -1}},
                  {"name": "pf", "op": "cast", "inputs": ["pos"], "attrs": {"dtype": "f32"}},
                  {"name": "a", "op": "mul", "inputs": ["pf", 0.01]},
                  {"name": "b", "op": "add", "inputs": ["a", "j"]},
                  {"name": "s", "op": "sin", "inputs": ["b"]},
                  {"name": "out", "op": "add", "inputs": ["s", "x"]}],
        "outputs": ["out"]})", 1, 5, {{"M", 77}}},
      // An arange stored as it is (in bf16), and through a flip.
      {"arange_outputs", R"({"name": "arange_outputs",
        "inputs": [],
        "nodes": [{"name": "r", "op": "arange", "inputs": [], "attrs": {"start": 5, "end": 300, "step": 3, "dtype": "bf16"}},
                  {"name": "f", "op": "flip", "inputs": ["r"], "attrs": {"dims": [0]}},
                  {"name": "y", "op": "mul", "inputs": ["f", 2]}],
        "outputs": ["r", "y"]})", 2, 2, {}},
      // torch.gather along the rows, then a scale: one kernel.
      {"gather_rows", R"({"name": "gather_rows",
        "inputs": [{"name": "x", "shape": ["M", 96], "dtype": "bf16"},
                   {"name": "idx", "shape": ["M", 5], "dtype": "i32"}],
        "nodes": [{"name": "g", "op": "gather", "inputs": ["x", "idx"], "attrs": {"dim": 1}},
                  {"name": "out", "op": "mul", "inputs": ["g", 2.0]}],
        "outputs": ["out"]})", 1, 2, {{"M", 33}}},
      // A gathered intermediate is stored first; what reads both joins the gather.
      {"gather_of_intermediate", R"({"name": "gather_of_intermediate",
        "inputs": [{"name": "x", "shape": ["M", 48], "dtype": "f32"},
                   {"name": "idx", "shape": ["M", 48], "dtype": "i32"}],
        "nodes": [{"name": "y", "op": "exp", "inputs": ["x"]},
                  {"name": "k", "op": "add", "inputs": ["idx", 7]},
                  {"name": "g", "op": "gather", "inputs": ["y", "k"], "attrs": {"dim": 1}},
                  {"name": "out", "op": "add", "inputs": ["g", "y"]}],
        "outputs": ["out"]})", 2, 4, {{"M", 19}}},
      // Along dim 0 of a transposed view, the result broadcast against an iota.
      {"gather_transposed", R"({"name": "gather_transposed",
        "inputs": [{"name": "x", "shape": [64, "N"], "dtype": "f16"},
                   {"name": "idx", "shape": ["N", 32], "dtype": "i32"}],
        "nodes": [{"name": "xt", "op": "transpose", "inputs": ["x"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "g", "op": "gather", "inputs": ["xt", "idx"], "attrs": {"dim": 0}},
                  {"name": "r", "op": "iota", "inputs": [], "attrs": {"shape": [32], "dim": 0, "dtype": "f16"}},
                  {"name": "out", "op": "add", "inputs": ["g", "r"]}],
        "outputs": ["out"]})", 1, 2, {{"N", 70}}},
      // The rotary embedding as model code writes it (rotate_half: cat(-x2, x1)) on a GEMM's
      // output viewed as heads: the GEMM, then one kernel (both halves slice one value: one
      // gather of it at a position picked per half, the negation after it).
      {"rope_rotate_half", R"({"name": "rope_rotate_half",
        "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"},
                   {"name": "w", "shape": [256, 64], "dtype": "bf16"},
                   {"name": "cos", "shape": ["M", 1, 64], "dtype": "f32"},
                   {"name": "sin", "shape": ["M", 1, 64], "dtype": "f32"}],
        "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "q", "op": "matmul", "inputs": ["x", "wt"]},
                  {"name": "q3", "op": "reshape", "inputs": ["q"], "attrs": {"shape": ["M", 4, 64]}},
                  {"name": "x1", "op": "slice", "inputs": ["q3"], "attrs": {"dim": -1, "start": 0, "end": 32}},
                  {"name": "x2", "op": "slice", "inputs": ["q3"], "attrs": {"dim": -1, "start": 32, "end": 64}},
                  {"name": "nx2", "op": "neg", "inputs": ["x2"]},
                  {"name": "rot", "op": "cat", "inputs": ["nx2", "x1"], "attrs": {"dim": -1}},
                  {"name": "a", "op": "mul", "inputs": ["q3", "cos"]},
                  {"name": "b", "op": "mul", "inputs": ["rot", "sin"]},
                  {"name": "s", "op": "add", "inputs": ["a", "b"]},
                  {"name": "out", "op": "cast", "inputs": ["s"], "attrs": {"dtype": "bf16"}}],
        "outputs": ["out"]})", 2, 12, {{"M", 37}}},
      // cat along the last dim with parts that straddle 8-element vectors: vectors wholly in
      // one part (read as one vector where aligned), wholly past a part (one clamped read),
      // and across a boundary (element by element); rows of 24, two parts sliced from a
      // reshaped input at odd offsets.
      {"cat_last_dim_straddled", R"({"name": "cat_last_dim_straddled",
        "inputs": [{"name": "a", "shape": ["M", 8], "dtype": "f32"},
                   {"name": "x", "shape": ["M", 2, 16], "dtype": "bf16"},
                   {"name": "s", "shape": [24], "dtype": "f32"}],
        "nodes": [{"name": "na", "op": "neg", "inputs": ["a"]},
                  {"name": "xf", "op": "reshape", "inputs": ["x"], "attrs": {"shape": ["M", 32]}},
                  {"name": "b", "op": "slice", "inputs": ["xf"], "attrs": {"dim": -1, "start": 16, "end": 21}},
                  {"name": "c", "op": "slice", "inputs": ["xf"], "attrs": {"dim": -1, "start": 5, "end": 16}},
                  {"name": "y", "op": "cat", "inputs": ["na", "b", "c"], "attrs": {"dim": -1}},
                  {"name": "out", "op": "mul", "inputs": ["y", "s"]}],
        "outputs": ["out"]})", 1, 13, {{"M", 29}}},
      // The interleaved rotary embedding (pairs (2i, 2i + 1) rotated; torch.stack of the two
      // rotated halves, then flattened): the GEMM, then one kernel (the stack's inputs are
      // rebuilt over its new dim and computed in its kernel; the flattening reshape reads
      // that kernel's elements in order).
      {"rope_interleaved", R"({"name": "rope_interleaved",
        "inputs": [{"name": "x", "shape": ["M", 48], "dtype": "bf16"},
                   {"name": "w", "shape": [64, 48], "dtype": "bf16"},
                   {"name": "cos", "shape": ["M", 1, 16], "dtype": "f32"},
                   {"name": "sin", "shape": ["M", 1, 16], "dtype": "f32"}],
        "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "q", "op": "matmul", "inputs": ["x", "wt"]},
                  {"name": "q4", "op": "reshape", "inputs": ["q"], "attrs": {"shape": ["M", 2, 16, 2]}},
                  {"name": "x0", "op": "select", "inputs": ["q4"], "attrs": {"dim": -1, "index": 0}},
                  {"name": "x1", "op": "select", "inputs": ["q4"], "attrs": {"dim": -1, "index": 1}},
                  {"name": "a0", "op": "mul", "inputs": ["x0", "cos"]},
                  {"name": "b0", "op": "mul", "inputs": ["x1", "sin"]},
                  {"name": "o0", "op": "sub", "inputs": ["a0", "b0"]},
                  {"name": "a1", "op": "mul", "inputs": ["x1", "cos"]},
                  {"name": "b1", "op": "mul", "inputs": ["x0", "sin"]},
                  {"name": "o1", "op": "add", "inputs": ["a1", "b1"]},
                  {"name": "st", "op": "stack", "inputs": ["o0", "o1"], "attrs": {"dim": -1}},
                  {"name": "flat", "op": "reshape", "inputs": ["st"], "attrs": {"shape": ["M", 64]}},
                  {"name": "out", "op": "cast", "inputs": ["flat"], "attrs": {"dtype": "bf16"}}],
        "outputs": ["out"]})", 2, 10, {{"M", 21}}},
      // A reshape between pointwise ops (x.view(M, 4, 16) in model code): one kernel over
      // the first value's space, the reader's other operands bound over its own shape (a
      // full one and one broadcast along its rows).
      {"reshape_between_pointwise", R"({"name": "reshape_between_pointwise",
        "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "f32"},
                   {"name": "r", "shape": ["M", 4, 16], "dtype": "bf16"},
                   {"name": "b", "shape": [16], "dtype": "f32"}],
        "nodes": [{"name": "y", "op": "exp", "inputs": ["x"]},
                  {"name": "z", "op": "reshape", "inputs": ["y"], "attrs": {"shape": ["M", 4, 16]}},
                  {"name": "p", "op": "mul", "inputs": ["z", "r"]},
                  {"name": "out", "op": "add", "inputs": ["p", "b"]}],
        "outputs": ["out"]})", 1, 3, {{"M", 19}}},
      // A per-row gate computed from a [M, 1] input scales a GEMM's output: the gate is
      // computed again per element in the GEMM's epilogue; an unsqueeze of a transposed
      // input is read in place (a strided view, no copy); the gated value, reshaped to
      // [M, 1, 48], feeds an add that joins the epilogue too (the same elements in order).
      {"broadcast_gate_and_unsqueeze", R"({"name": "broadcast_gate_and_unsqueeze",
        "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"},
                   {"name": "w", "shape": [48, 64], "dtype": "bf16"},
                   {"name": "g", "shape": ["M", 1], "dtype": "f32"},
                   {"name": "t", "shape": [48, "M"], "dtype": "f32"}],
        "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["x", "wt"]},
                  {"name": "s", "op": "sigmoid", "inputs": ["g"]},
                  {"name": "gated", "op": "mul", "inputs": ["y", "s"]},
                  {"name": "tt", "op": "transpose", "inputs": ["t"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "u", "op": "unsqueeze", "inputs": ["tt"], "attrs": {"dim": 1}},
                  {"name": "v", "op": "reshape", "inputs": ["gated"], "attrs": {"shape": ["M", 1, 48]}},
                  {"name": "out", "op": "add", "inputs": ["v", "u"]}],
        "outputs": ["gated", "out"]})", 1, 4, {{"M", 37}}},
      // F.linear on a [1, S, K] input (flattened to the GEMM's M and back), gelu in the
      // epilogue through that reshape; torch.std along the rows and a division by it run
      // in a row kernel (a store-site reduction does not take a reshape of the tile).
      {"linear_batched_std", R"({"name": "linear_batched_std",
        "inputs": [{"name": "x", "shape": [1, "S", 64], "dtype": "bf16"},
                   {"name": "w", "shape": [96, 64], "dtype": "bf16"},
                   {"name": "b", "shape": [96], "dtype": "bf16"}],
        "nodes": [{"name": "h", "op": "linear", "inputs": ["x", "w", "b"]},
                  {"name": "a", "op": "gelu", "inputs": ["h"]},
                  {"name": "sd", "op": "std", "inputs": ["a"], "attrs": {"dim": -1, "keepdim": true}},
                  {"name": "out", "op": "div", "inputs": ["a", "sd"]}],
        "outputs": ["out", "sd"]})", 2, 6, {{"S", 50}}},
      // Three parts along dim 0 (a symbolic dim elsewhere), dtypes promoted, one kernel.
      {"cat_rows_promoted", R"({"name": "cat_rows_promoted",
        "inputs": [{"name": "a", "shape": [3, "N"], "dtype": "bf16"},
                   {"name": "b", "shape": [5, "N"], "dtype": "f16"},
                   {"name": "c", "shape": [1, "N"], "dtype": "f32"}],
        "nodes": [{"name": "y", "op": "cat", "inputs": ["a", "b", "c"], "attrs": {"dim": 0}},
                  {"name": "out", "op": "mul", "inputs": ["y", 2.0]}],
        "outputs": ["out"]})", 1, 12, {{"N", 45}}},
      // An embedding lookup: token ids expanded over the hidden size, gathered from a table.
      {"embedding_lookup", R"({"name": "embedding_lookup",
        "inputs": [{"name": "table", "shape": [1000, 64], "dtype": "bf16"},
                   {"name": "ids", "shape": ["T", 1], "dtype": "i32"}],
        "nodes": [{"name": "ids_e", "op": "expand", "inputs": ["ids"], "attrs": {"shape": ["T", 64]}},
                  {"name": "emb", "op": "gather", "inputs": ["table", "ids_e"], "attrs": {"dim": 0}},
                  {"name": "out", "op": "mul", "inputs": ["emb", 8.0]}],
        "outputs": ["out"]})", 1, 2, {{"T", 41}}},
      // Gathered rows as a GEMM's A: the gather is stored first (never a GEMM prologue).
      {"embedding_matmul", R"({"name": "embedding_matmul",
        "inputs": [{"name": "table", "shape": [1000, 64], "dtype": "bf16"},
                   {"name": "ids", "shape": ["T", 1], "dtype": "i32"},
                   {"name": "w", "shape": [48, 64], "dtype": "bf16"}],
        "nodes": [{"name": "ids_e", "op": "expand", "inputs": ["ids"], "attrs": {"shape": ["T", 64]}},
                  {"name": "emb", "op": "gather", "inputs": ["table", "ids_e"], "attrs": {"dim": 0}},
                  {"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                  {"name": "y", "op": "matmul", "inputs": ["emb", "wt"]}],
        "outputs": ["y"]})", 2, 2, {{"T", 37}}},
      // A gather from an arange: computed, never loaded.
      {"gather_from_arange", R"({"name": "gather_from_arange",
        "inputs": [{"name": "idx", "shape": ["K"], "dtype": "i32"}],
        "nodes": [{"name": "a", "op": "arange", "inputs": [], "attrs": {"start": 10, "end": 110, "dtype": "f32"}},
                  {"name": "g", "op": "gather", "inputs": ["a", "idx"], "attrs": {"dim": 0}}],
        "outputs": ["g"]})", 1, 1, {{"K", 200}}},
      // F.embedding of 1-D and 2-D ids (the table broadcast over the batch), and
      // torch.index_select along the columns: gathers through broadcast index views.
      {"embedding_lookups", R"({"name": "embedding_lookups",
        "inputs": [{"name": "w", "shape": [1000, 64], "dtype": "bf16"},
                   {"name": "ids", "shape": ["M"], "dtype": "i32"},
                   {"name": "tok", "shape": [2, "S"], "dtype": "i32"},
                   {"name": "x", "shape": ["M", 40], "dtype": "f32"},
                   {"name": "cols", "shape": [7], "dtype": "i32"}],
        "nodes": [{"name": "e", "op": "embedding", "inputs": ["ids", "w"]},
                  {"name": "o", "op": "mul", "inputs": ["e", 2.0]},
                  {"name": "t", "op": "embedding", "inputs": ["tok", "w"]},
                  {"name": "c", "op": "index_select", "inputs": ["x", "cols"], "attrs": {"dim": 1}},
                  {"name": "ce", "op": "exp", "inputs": ["c"]}],
        "outputs": ["o", "t", "ce"]})", 3, 5, {{"M", 17}, {"S", 9}}},
  };
  return *graphs;
}

}  // namespace tilefuse::internal
