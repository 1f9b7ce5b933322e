// The pointwise test graphs shared by the planner, codegen and GPU suites, each with the
// kernel counts its fused and unfused plans must have and the sizes its symbols take.
#ifndef TILEFUSE_TEST_TEST_GRAPHS_H_
#define TILEFUSE_TEST_TEST_GRAPHS_H_

#include <map>
#include <string>
#include <vector>

#include "runtime/graph/graph.h"

namespace tilefuse::internal {

struct TestGraph {
  std::string name;
  std::string json;
  int fused_kernels;
  int unfused_kernels;
  std::map<std::string, int64_t> symbols;  // run-time sizes, odd ones on purpose
};

const std::vector<TestGraph>& PointwiseTestGraphs();
// Graphs around row-wise tile kernels (rms_norm, layer_norm, softmax).
const std::vector<TestGraph>& TileTestGraphs();
// Graphs around the GEMM tile kernel, odd shapes included.
const std::vector<TestGraph>& GemmTestGraphs();
// Single-axis and full reductions, run as their own kernels (with prologue/epilogue).
const std::vector<TestGraph>& ReduceTestGraphs();
// Reductions folded into a tile kernel's store (persistent and split), and refused ones.
const std::vector<TestGraph>& StoreReduceTestGraphs();
// Norms and softmax written op by op: generated row kernels (test/row_graphs.cc).
const std::vector<TestGraph>& RowTestGraphs();
// iota / arange and gather (test/index_graphs.cc).
const std::vector<TestGraph>& IndexTestGraphs();
// The low-precision types: dequant, quantize, weight-only GEMMs (test/quant_graphs.cc).
const std::vector<TestGraph>& QuantTestGraphs();
// Dual GEMMs: two matmuls of one A meeting in one epilogue (test/dual_graphs.cc).
const std::vector<TestGraph>& DualTestGraphs();
// Batched GEMMs: one launch over static or symbolic batch dims (test/batched_graphs.cc).
const std::vector<TestGraph>& BatchedTestGraphs();
// Every list.
std::vector<TestGraph> AllTestGraphs();
// The graph of that name in any list (a test failure, and an empty graph, when none is).
const TestGraph& NamedTestGraph(const std::string& name);
// Whether `t` is in a one-in-`n` sample (`salt` tells samples of one test apart): chosen by
// a hash of the name, so that graphs added to a list move no other graph in or out.
bool InSample(const TestGraph& t, int n, const std::string& salt = "");
// Parses `t.json`; aborts the test on failure.
Graph ParseTestGraph(const TestGraph& t);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_TEST_TEST_GRAPHS_H_
