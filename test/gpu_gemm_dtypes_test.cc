// GEMMs in every operand dtype the planner accepts, fused and unfused, against the CPU
// reference on the GPU: f32 operands (split into bf16 parts on the MMA), f16 and bf16,
// epilogues and prologues of other dtypes, odd shapes, decode M, misaligned pointers, and
// symbolic M at each shape class's bounds (each class a kernel of its own).
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/plan.h"
#include "test/gemm_dtype_graphs.h"
#include "test/gpu_harness.h"
#include "test/host_data.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

TEST(GpuGemmDtypes, EveryDtypeMatchesTheReference) {
  TF_SKIP_WITHOUT_GPU();
  KernelCache cache;
  PrecompileGraphs(GemmDtypeTestGraphs(), cache);
  std::mt19937_64 rng(41);
  for (const TestGraph& t : GemmDtypeTestGraphs()) {
    const Graph g = ParseTestGraph(t);
    for (bool fuse : {true, false}) {
      CompileOptions o = GpuOptions();
      o.fuse = fuse;
      o.cache = &cache;
      TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
      // M at the default shape classes' bounds (16 to 1024) and past them.
      for (int64_t m : {1, 16, 17, 32, 33, 64, 65, 128, 129, 256, 257, 512, 513, 1024, 1025}) {
        for (size_t misalign : {0, 4}) {
          SCOPED_TRACE(absl::StrCat(t.name, fuse ? " fused" : " unfused", " M=", m, " misalign ", misalign));
          const auto syms = t.symbols.empty() ? std::vector<int64_t>{} : BindSymbols(g, {{"M", m}});
          EXPECT_TRUE(MatchesReference(plan, syms, rng, misalign));
        }
        if (t.symbols.empty()) break;
      }
    }
  }
}

}  // namespace
}  // namespace tilefuse::internal
