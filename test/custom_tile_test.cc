// User-registered tile kernels: registration rules, fusion like the built-ins, NVRTC
// compile, and (interpreted on the host) agreement with the user's reference.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "gtest/gtest.h"
#include "runtime/fusion/planner.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "test/custom_kernel.h"
#include "test/host_data.h"
#include "test/plan_interpreter.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

TEST(CustomTile, RegistrationIsChecked) {
  TileRegistry r;
  EXPECT_TRUE(StatusIs(r.Register({"softmax", "f", "src", 0, nullptr}),
                       absl::StatusCode::kInvalidArgument, "built-in op"));
  EXPECT_TRUE(StatusIs(r.Register({"k", "", "src", 0, nullptr}),
                       absl::StatusCode::kInvalidArgument, "needs a name, a function and source"));
  TF_EXPECT_OK(r.Register({"k", "f", "src", 0, nullptr}));
  EXPECT_TRUE(StatusIs(r.Register({"k", "f", "src", 0, nullptr}),
                       absl::StatusCode::kInvalidArgument, "already registered"));
  // Without the registry the op is unknown.
  EXPECT_TRUE(StatusIs(GraphFromJson(CustomKernelGraphJson()), absl::StatusCode::kInvalidArgument,
                       "unknown op 'absmax_scale'"));
}

TEST(CustomTile, FusesItsEpilogueAndCompiles) {
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(CustomKernelGraphJson(), &TestRegistry()));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan fused, PlanFusion(g, {true}));
  TF_ASSERT_OK_AND_ASSIGN(FusionPlan unfused, PlanFusion(g, {false}));
  EXPECT_EQ(fused.kernels.size(), 1u);
  EXPECT_EQ(unfused.kernels.size(), 3u);
  EXPECT_EQ(fused.kernels[0].spec.tile, "absmax_scale");
  std::mt19937_64 rng(4);
  const auto syms = BindSymbols(g, {{"M", 9}});
  const auto inputs = RandomInputs(g, syms, rng);
  TF_ASSERT_OK_AND_ASSIGN(auto ref, EvaluateReference(g, inputs));
  for (const FusionPlan* plan : {&fused, &unfused}) {
    TF_ASSERT_OK_AND_ASSIGN(auto got, InterpretPlan(g, *plan, inputs, syms));
    EXPECT_TRUE(AllClose(got[0], ref[0], ToleranceFor(g)));
  }
  CompileOptions o;
  o.arch = "sm_90";
  TF_ASSERT_OK_AND_ASSIGN(Plan plan, Compile(g, o));
  EXPECT_EQ(plan.num_kernels(), 1);
  // Another source is another binary.
  TileRegistry other;
  CustomTileKernel k = *TestRegistry().Find("absmax_scale");
  k.source += "\n// revised\n";
  TF_ASSERT_OK(other.Register(k));
  TF_ASSERT_OK_AND_ASSIGN(Graph g2, GraphFromJson(CustomKernelGraphJson(), &other));
  TF_ASSERT_OK_AND_ASSIGN(Plan plan2, Compile(g2, o));
  EXPECT_NE(plan2.reports()[0].entry_name, plan.reports()[0].entry_name);
}

// A kernel NVRTC rejects: the error names the generated line and the dump path; the dump
// goes to a folder private to the user, created anew, never through a link planted in it.
TEST(CustomTile, FailedCompileDumpsIntoAPrivateFolderWithoutFollowingLinks) {
  TileRegistry broken;
  CustomTileKernel k = *TestRegistry().Find("absmax_scale");
  k.source += "\nthis is not C++;\n";
  TF_ASSERT_OK(broken.Register(k));
  TF_ASSERT_OK_AND_ASSIGN(Graph g, GraphFromJson(CustomKernelGraphJson(), &broken));
  const std::string dir = ::testing::TempDir() + "/tf_dump_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  CompileOptions o;
  o.arch = "sm_90";
  o.dump_dir = dir;
  auto first = Compile(g, o);
  ASSERT_FALSE(first.ok());
  const std::string message(first.status().message());
  const size_t at = message.find("source written to ");
  ASSERT_NE(at, std::string::npos) << message;
  const std::string path = message.substr(at + 18);
  EXPECT_EQ(path.rfind(dir + "/", 0), 0u) << path;
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // Another user's trick: the dump's name made a link to a file of the victim's.
  const std::string victim = dir + "_victim";
  std::ofstream(victim) << "precious";
  std::filesystem::remove(path);
  std::filesystem::create_symlink(victim, path);
  ASSERT_FALSE(Compile(g, o).ok());
  std::ifstream f(victim);
  std::string kept((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, "precious");
  EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::symlink_status(path)));
  // A dump folder others may write is not used at all.
  ::chmod(dir.c_str(), 0777);
  auto shared = Compile(g, o);
  ASSERT_FALSE(shared.ok());
  EXPECT_NE(shared.status().message().find("not private to this user"), std::string::npos) << shared.status();
}

}  // namespace
}  // namespace tilefuse::internal
