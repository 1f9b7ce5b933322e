// Plan::Run rejects bad tensors before it touches the GPU, so these run anywhere.
#include "gtest/gtest.h"
#include "runtime/graph/json.h"
#include "runtime/plan.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

class PlanRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto g = GraphFromJson(R"({"name": "bias",
      "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "bf16"},
                 {"name": "b", "shape": [64], "dtype": "bf16"}],
      "nodes": [{"name": "o", "op": "add", "inputs": ["x", "b"]}], "outputs": ["o"]})");
    ASSERT_TRUE(g.ok()) << g.status();
    CompileOptions options;
    options.arch = "sm_90";
    auto plan = Compile(*g, options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    plan_ = std::make_unique<Plan>(*std::move(plan));
  }
  absl::Status Run(std::vector<TensorArg> in, std::vector<TensorArg> out) {
    return plan_->Run(nullptr, in, out);
  }
  // Plausible, aligned device-looking addresses: never dereferenced by these tests.
  void* p(uintptr_t k) { return reinterpret_cast<void*>(k * 4096); }
  std::unique_ptr<Plan> plan_;
};

TEST_F(PlanRunTest, RejectsBadTensorsNamingThem) {
  const auto ok_x = TensorArg::Make(p(1), DType::kBF16, {5, 64});
  const auto ok_b = TensorArg::Make(p(2), DType::kBF16, {64});
  const auto ok_o = TensorArg::Make(p(3), DType::kBF16, {5, 64});
  EXPECT_TRUE(StatusIs(Run({ok_x}, {ok_o}), absl::StatusCode::kInvalidArgument,
                       "takes 2 inputs and 1 outputs, got 1 and 1"));
  EXPECT_TRUE(StatusIs(Run({TensorArg::Make(p(1), DType::kF16, {5, 64}), ok_b}, {ok_o}),
                       absl::StatusCode::kInvalidArgument, "input 0 ('x'): dtype is f16 (expected bf16)"));
  EXPECT_TRUE(StatusIs(Run({ok_x, TensorArg::Make(p(2), DType::kBF16, {63})}, {ok_o}),
                       absl::StatusCode::kInvalidArgument, "input 1 ('b'): dim 0 is 63 (expected 64)"));
  EXPECT_TRUE(StatusIs(Run({ok_x, ok_b}, {TensorArg::Make(p(3), DType::kBF16, {6, 64})}),
                       absl::StatusCode::kInvalidArgument,
                       "output 0 ('o'): dim 0 is 6 (expected 5 = M bound by an earlier tensor)"));
  EXPECT_TRUE(StatusIs(Run({TensorArg::Make(nullptr, DType::kBF16, {5, 64}), ok_b}, {ok_o}),
                       absl::StatusCode::kInvalidArgument, "input 0 ('x'): data pointer is null"));
  EXPECT_TRUE(StatusIs(Run({TensorArg::Make(static_cast<char*>(p(1)) + 1, DType::kBF16, {5, 64}), ok_b},
                           {ok_o}),
                       absl::StatusCode::kInvalidArgument, "is not aligned to 2 bytes"));
  EXPECT_TRUE(StatusIs(Run({TensorArg::Make(p(1), DType::kBF16, {5, 64, 1}), ok_b}, {ok_o}),
                       absl::StatusCode::kInvalidArgument, "rank is 3 (expected 2"));
  // Sizes that are negative or whose product overflows never bind a symbol.
  EXPECT_TRUE(StatusIs(Run({TensorArg::Make(p(1), DType::kBF16, {-5, 64}), ok_b}, {ok_o}),
                       absl::StatusCode::kInvalidArgument, "input 0 ('x'): dim 0 is -5 (expected a size >= 0"));
  EXPECT_TRUE(StatusIs(Run({TensorArg::Make(p(1), DType::kBF16, {int64_t{1} << 58, 64}), ok_b}, {ok_o}),
                       absl::StatusCode::kInvalidArgument, "dim 0 is 288230376151711744 (expected a size >= 0, at most 2^48"));
}

TEST_F(PlanRunTest, ExplainCountsKernels) {
  EXPECT_EQ(plan_->num_kernels(), 1);
  EXPECT_NE(plan_->Explain().find("1 kernel for sm_90"), std::string::npos) << plan_->Explain();
}

// Overlapped launches need the kernels' wait (sm_90 on) and more than one kernel; the
// option turns them off.
TEST(PlanOverlap, LaunchesOverlapOnSm90PlansOfSeveralKernels) {
  auto g = GraphFromJson(R"({"name": "two",
    "inputs": [{"name": "x", "shape": ["M", 64], "dtype": "f32"}, {"name": "b", "shape": [64], "dtype": "f32"}],
    "nodes": [{"name": "a", "op": "add", "inputs": ["x", "b"]}, {"name": "c", "op": "mul", "inputs": ["a", "a"]}],
    "outputs": ["c"]})");
  ASSERT_TRUE(g.ok()) << g.status();
  const auto explain = [&](const std::string& arch, bool overlap) {
    CompileOptions o;
    o.arch = arch;
    o.overlap_launches = overlap;
    o.fuse = false;  // a kernel per op
    auto plan = Compile(*g, o);
    EXPECT_TRUE(plan.ok()) << plan.status();
    EXPECT_GT(plan.ok() ? plan->num_kernels() : 0, 1);
    return plan.ok() ? plan->Explain() : std::string();
  };
  constexpr const char* kSays = "each after the first launched overlapped";
  EXPECT_NE(explain("sm_90", true).find(kSays), std::string::npos) << explain("sm_90", true);
  EXPECT_EQ(explain("sm_90", false).find(kSays), std::string::npos);
  EXPECT_EQ(explain("sm_80", true).find(kSays), std::string::npos);
  EXPECT_NE(explain("sm_100", true).find(kSays), std::string::npos);
}

TEST(DLPack, ConvertsCompactCudaTensorsAndRejectsOthers) {
  int64_t shape[2] = {3, 4};
  int64_t strides[2] = {4, 1};
  DLTensor t{};
  t.data = reinterpret_cast<void*>(4096);
  t.device = {kDLCUDA, 0};
  t.ndim = 2;
  t.dtype = {kDLBfloat, 16, 1};
  t.shape = shape;
  t.strides = strides;
  TF_ASSERT_OK_AND_ASSIGN(TensorArg a, FromDLTensor(t));
  EXPECT_EQ(a.dtype, DType::kBF16);
  EXPECT_EQ(a.numel(), 12);
  int64_t transposed[2] = {1, 3};
  t.strides = transposed;
  EXPECT_TRUE(StatusIs(FromDLTensor(t), absl::StatusCode::kInvalidArgument, "compact row-major"));
  t.strides = strides;
  t.device = {kDLCPU, 0};
  EXPECT_TRUE(StatusIs(FromDLTensor(t), absl::StatusCode::kInvalidArgument, "expected CUDA memory (kDLCUDA)"));
}

// WorkspaceBytes: the intermediate's slot, grown with M, and the split-K scratch of a
// small-M class, counted at every M that reaches it; a missing or unknown symbol is named.
TEST(PlanWorkspace, BytesCoverSlotsAndEverySplitClassUpToTheSizes) {
  auto g = GraphFromJson(R"({"name": "two_gemms",
    "inputs": [{"name": "x", "shape": ["M", 4096], "dtype": "bf16"},
               {"name": "w1", "shape": [4096, 64], "dtype": "bf16"},
               {"name": "w2", "shape": [64, 32], "dtype": "bf16"}],
    "nodes": [{"name": "h", "op": "matmul", "inputs": ["x", "w1"]},
              {"name": "y", "op": "matmul", "inputs": ["h", "w2"]}], "outputs": ["y"]})");
  ASSERT_TRUE(g.ok()) << g.status();
  CompileOptions o;
  o.arch = "sm_80";  // on sm_90 split-K GEMMs reduce over a cluster, with no partials in memory
  auto plan = Compile(*g, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string explain = plan->Explain();
  ASSERT_NE(explain.find("split"), std::string::npos) << explain;  // the M <= 16 class splits K
  std::vector<size_t> bytes;
  for (int64_t m : {1, 16, 300, 8192}) {
    auto b = plan->WorkspaceBytes({{"M", m}});
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_GE(*b, static_cast<size_t>(m) * 64 * 2) << m;  // h, bf16
    bytes.push_back(*b);
  }
  EXPECT_GT(bytes[0], 256u) << "the decode class's split-K partials\n" << explain;
  for (size_t i = 1; i < bytes.size(); ++i) EXPECT_GE(bytes[i], bytes[i - 1]) << "a larger M never needs less";
  EXPECT_TRUE(StatusIs(plan->WorkspaceBytes({}), absl::StatusCode::kInvalidArgument, "needs a size >= 0 for 'M'"));
  EXPECT_TRUE(StatusIs(plan->WorkspaceBytes({{"M", 4}, {"N", 2}}), absl::StatusCode::kInvalidArgument,
                       "has no symbol 'N'"));
}

}  // namespace
}  // namespace tilefuse::internal
