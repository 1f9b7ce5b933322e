// Golden files of the generated glue (Params, Hooks, entry) of every catalog graph's fused
// plan, so that a codegen change shows up as a reviewable diff. Regenerate with
//   TILEFUSE_REGENERATE_GOLDEN=1 build/test/glue_golden_test
// and review `git diff test/golden/`.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "codegen/generate.h"
#include "codegen/source.h"
#include "gtest/gtest.h"
#include "runtime/fusion/planner.h"
#include "runtime/graph/json.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

namespace fs = std::filesystem;

// The glue of every kernel of the fused plan, with a fixed entry name (the real one hashes
// the kernel templates, whose edits are not codegen changes).
std::string GlueOf(const Graph& g) {
  auto plan = PlanFusion(g, PlanOptions{});
  if (!plan.ok()) return absl::StrCat("planning failed: ", plan.status().message());
  std::string out;
  for (size_t i = 0; i < plan->kernels.size(); ++i) {
    auto src = GenerateSource(plan->kernels[i].spec, absl::StrCat("tf_golden_k", i));
    if (!src.ok()) return absl::StrCat("codegen failed: ", src.status().message());
    const size_t at = src->find(kGlueMarker);
    absl::StrAppend(&out, "// ==== kernel ", i, ": ", plan->kernels[i].summary, "\n",
                    at == std::string::npos ? *src : src->substr(at));
  }
  return out;
}

// "line N: expected ... / got ..." for the first line that differs.
std::string FirstDifference(const std::string& want, const std::string& got) {
  const std::vector<std::string> a = absl::StrSplit(want, '\n'), b = absl::StrSplit(got, '\n');
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string x = i < a.size() ? a[i] : "(end of file)", y = i < b.size() ? b[i] : "(end of file)";
    if (x != y) return absl::StrCat("line ", i + 1, ":\n  golden:    ", x, "\n  generated: ", y);
  }
  return "no difference";
}

TEST(GlueGolden, CatalogGraphsGenerateTheReviewedGlue) {
  const std::string graphs = absl::StrCat(TILEFUSE_SOURCE_DIR, "/bench/graphs");
  const std::string golden_dir = absl::StrCat(TILEFUSE_SOURCE_DIR, "/test/golden/glue");
  const bool regenerate = std::getenv("TILEFUSE_REGENERATE_GOLDEN") != nullptr;
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(graphs)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().filename().string());
    TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJsonFile(entry.path().string()));
    const std::string got = GlueOf(g);
    const std::string path = absl::StrCat(golden_dir, "/", entry.path().stem().string(), ".cu.txt");
    if (regenerate) {
      fs::create_directories(golden_dir);
      std::ofstream(path, std::ios::binary) << got;
    }
    std::ifstream f(path, std::ios::binary);
    ASSERT_TRUE(f.good()) << "no golden file " << path << " (regenerate: TILEFUSE_REGENERATE_GOLDEN=1)";
    std::ostringstream want;
    want << f.rdbuf();
    EXPECT_EQ(want.str(), got) << "generated glue differs from " << path << " at "
                               << FirstDifference(want.str(), got)
                               << "\n(if intended: TILEFUSE_REGENERATE_GOLDEN=1 and review the diff)";
    ++checked;
  }
  EXPECT_GE(checked, 15);
}

}  // namespace
}  // namespace tilefuse::internal
