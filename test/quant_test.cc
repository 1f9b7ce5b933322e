// The low-precision types and quantization ops on the CPU: fp8 conversions against
// PyTorch's c10 rules at worked points and over every code, dequant and quantize at
// hand-worked values, the errors that name what is wrong, .npy round trips.
#include <unistd.h>
#include <sys/stat.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/tf_math.cuh"
#include "runtime/fusion/planner.h"
#include "runtime/graph/json.h"
#include "runtime/reference.h"
#include "runtime/tools/npy.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

TEST(Float8, EveryCodeRoundTripsAndNaNStaysNaN) {
  for (unsigned b = 0; b < 256; ++b) {
    const float e4 = tf::to_float(tf::f8e4m3_t{static_cast<unsigned char>(b)});
    if ((b & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(e4)) << b;
    } else {
      EXPECT_EQ(tf::to_f8e4m3(e4).bits, b) << b << " = " << e4;
    }
    const float e5 = tf::to_float(tf::f8e5m2_t{static_cast<unsigned char>(b)});
    if ((b & 0x7f) > 0x7c) {
      EXPECT_TRUE(std::isnan(e5)) << b;
    } else {
      EXPECT_EQ(tf::to_f8e5m2(e5).bits, b) << b << " = " << e5;
    }
  }
}

TEST(Float8, RoundingAndRangeAsPyTorch) {
  // e4m3fn: max 448; ties go to even; past 464 (and infinity) is NaN; subnormals 2^-9.
  EXPECT_EQ(tf::to_f8e4m3(448.0f).bits, 0x7e);
  EXPECT_EQ(tf::to_f8e4m3(464.0f).bits, 0x7e);
  EXPECT_EQ(tf::to_f8e4m3(464.5f).bits, 0x7f);
  EXPECT_EQ(tf::to_f8e4m3(-INFINITY).bits, 0xff);
  EXPECT_EQ(tf::to_f8e4m3(std::ldexp(1.0f, -10)).bits, 0x00);      // half a unit: to even 0
  EXPECT_EQ(tf::to_f8e4m3(std::ldexp(3.0f, -10)).bits, 0x02);      // 1.5 units: to even 2
  EXPECT_EQ(tf::to_f8e4m3(std::ldexp(15.0f, -10)).bits, 0x08);     // 7.5 units: 2^-6, normal
  EXPECT_EQ(tf::to_f8e4m3(1.0625f).bits, 0x38);                    // 1 + 1/16: tie to 1.0
  EXPECT_EQ(tf::to_f8e4m3(1.1875f).bits, 0x3a);                    // 1 + 3/16: tie to 1.25
  EXPECT_EQ(tf::to_f8e4m3(-0.0f).bits, 0x80);
  // e5m2: max 57344, past 61440 (the tie, to even) is infinity.
  EXPECT_EQ(tf::to_f8e5m2(57344.0f).bits, 0x7b);
  EXPECT_EQ(tf::to_f8e5m2(61439.0f).bits, 0x7b);
  EXPECT_EQ(tf::to_f8e5m2(61440.0f).bits, 0x7c);
  EXPECT_EQ(tf::to_f8e5m2(NAN).bits & 0x7f, 0x7f);
  EXPECT_EQ(tf::to_f8e5m2(std::ldexp(1.0f, -16)).bits, 0x01);
  EXPECT_EQ(tf::to_f8e5m2(1.125f).bits, 0x3c);  // tie to 1.0
}

TEST(Int4, WrapsAndPacksLowNibbleFirst) {
  EXPECT_EQ(tf::wrap_i4(9), -7);
  EXPECT_EQ(tf::wrap_i4(-9), 7);
  EXPECT_EQ(tf::wrap_i8(200), -56);
  HostTensor t = HostTensor::Zeros(DType::kI4, {3});
  ASSERT_EQ(t.bytes.size(), 2u);
  t.Set(0, -8);
  t.Set(1, 7);
  t.Set(2, -1);
  EXPECT_EQ(t.bytes[0], 0x78);
  EXPECT_EQ(t.bytes[1], 0x0f);
  EXPECT_EQ(t.Get(0), -8);
  EXPECT_EQ(t.Get(1), 7);
  EXPECT_EQ(t.Get(2), -1);
}

absl::StatusOr<std::vector<HostTensor>> EvalJson(const std::string& json, const std::vector<HostTensor>& inputs) {
  TF_ASSIGN_OR_RETURN(Graph g, GraphFromJson(json));
  return EvaluateReference(g, inputs);
}

TEST(Dequant, GroupsAlongAnOddLastDimWithZeroPoints) {
  // q [2, 5] i4, groups of 2: scales [2, 3], the last group of one element.
  const std::string json = R"({"name": "d", "inputs": [{"name": "q", "shape": [2, 5], "dtype": "i4"},
      {"name": "s", "shape": [2, 3], "dtype": "f32"}, {"name": "z", "shape": [2, 3], "dtype": "f32"}],
      "nodes": [{"name": "w", "op": "dequant", "inputs": ["q", "s", "z"], "attrs": {"group": 2, "dtype": "bf16"}}],
      "outputs": ["w"]})";
  HostTensor q = HostTensor::Zeros(DType::kI4, {2, 5}), s = HostTensor::Zeros(DType::kF32, {2, 3}),
             z = HostTensor::Zeros(DType::kF32, {2, 3});
  for (int i = 0; i < 10; ++i) q.Set(i, i - 5);
  for (int i = 0; i < 6; ++i) {
    s.Set(i, 0.5 * (i + 1));
    z.Set(i, i);
  }
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvalJson(json, {q, s, z}));
  ASSERT_EQ(out[0].dtype, DType::kBF16);
  for (int r = 0; r < 2; ++r) {
    for (int k = 0; k < 5; ++k) {
      const int g = r * 3 + k / 2;
      EXPECT_EQ(out[0].Get(r * 5 + k), tf::round_bf16(static_cast<float>((r * 5 + k - 5 - g) * 0.5 * (g + 1))))
          << r << "," << k;
    }
  }
}

TEST(Quantize, RoundsHalfToEvenAndSaturates) {
  const std::string json = R"({"name": "q", "inputs": [{"name": "x", "shape": [6], "dtype": "f32"},
      {"name": "s", "shape": [1], "dtype": "f32"}],
      "nodes": [{"name": "i", "op": "quantize", "inputs": ["x", "s"], "attrs": {"dtype": "i8"}},
                {"name": "e", "op": "quantize", "inputs": ["x", "s"], "attrs": {"dtype": "f8e4m3"}}],
      "outputs": ["i", "e"]})";
  HostTensor x = HostTensor::Zeros(DType::kF32, {6}), s = HostTensor::Zeros(DType::kF32, {1});
  const double xs[] = {1.0, 3.0, -5.0, 1000.0, -1000.0, NAN};  // over 2: 0.5, 1.5, -2.5, 500, -500, NaN
  for (int i = 0; i < 6; ++i) x.Set(i, xs[i]);
  s.Set(0, 2.0);
  TF_ASSERT_OK_AND_ASSIGN(std::vector<HostTensor> out, EvalJson(json, {x, s}));
  const double want_i8[] = {0, 2, -2, 127, -128, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[0].Get(i), want_i8[i]) << i;
  EXPECT_EQ(out[1].Get(3), 448.0);
  EXPECT_EQ(out[1].Get(4), -448.0);
  EXPECT_TRUE(std::isnan(out[1].Get(5)));
}

TEST(QuantErrors, NameTheNodeAndWhatWasExpected) {
  const std::string in = R"("inputs": [{"name": "q", "shape": [4, 10], "dtype": "i8"},
      {"name": "s", "shape": [4, 2], "dtype": "f32"}, {"name": "x", "shape": [3, 10], "dtype": "bf16"}],)";
  const struct {
    std::string nodes, output, message;
  } cases[] = {
      {R"([{"name": "w", "op": "dequant", "inputs": ["q", "s"], "attrs": {"group": 4}}])", "w",
       "node 'w' (dequant): 's' has shape [4, 2] (expected [4, 3]: one per group of 4"},
      {R"([{"name": "w", "op": "dequant", "inputs": ["q", "s"]}])", "w", "node 'w' (dequant): scale and zero must broadcast to q's shape"},
      {R"([{"name": "w", "op": "quantize", "inputs": ["x", 2.0], "attrs": {"dtype": "i4"}}])", "w",
       "node 'w' (quantize): dtype i4 (expected f8e4m3, f8e5m2 or i8; tilefuse does not write i4)"},
      {R"([{"name": "t", "op": "transpose", "inputs": ["q"], "attrs": {"dim0": 0, "dim1": 1}},
          {"name": "y", "op": "matmul", "inputs": ["x", "t"]}])", "y", "dequant or cast a low-precision operand first"},
      {R"([{"name": "w", "op": "cast", "inputs": ["x"], "attrs": {"dtype": "i4"}}])", "w",
       "tilefuse reads packed i4 tensors but does not write them"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    auto g = GraphFromJson(absl::StrCat(R"({"name": "e", )", in, R"( "nodes": )", c.nodes, R"(, "outputs": [")",
                                        c.output, R"("]})"));
    absl::Status s = g.status();
    if (g.ok()) s = PlanFusion(*g, PlanOptions{}).status();
    EXPECT_TRUE(StatusIs(s, absl::StatusCode::kInvalidArgument, c.message)) << s;
  }
}

TEST(Npy, LowPrecisionTypesRoundTripAndTakeMlDtypesFiles) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/tf_quant_", ::getpid());
  ::mkdir(dir.c_str(), 0700);
  for (DType t : {DType::kF8E4M3, DType::kF8E5M2, DType::kI8, DType::kI4}) {
    HostTensor x = HostTensor::Zeros(t, {3, 5});
    for (int64_t i = 0; i < x.numel(); ++i) x.Set(i, IsFloating(t) ? i * 0.375 - 2 : (i % 16) - 8);
    const std::string path = absl::StrCat(dir, "/", DTypeName(t), ".npy");
    TF_ASSERT_OK(WriteNpy(path, x));
    TF_ASSERT_OK_AND_ASSIGN(HostTensor y, ReadNpy(path, t));
    EXPECT_EQ(y.bytes, x.bytes) << DTypeName(t);
  }
  // ml_dtypes writes float8_e4m3fn and int4 as '|V1', one element per byte.
  const std::string header = "{'descr': '|V1', 'fortran_order': False, 'shape': (2,), }";
  std::string h = header;
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string file = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(h.size()) + '\0' + h + "\x38\x0f";
  const std::string path = dir + "/v1.npy";
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(file.data(), 1, file.size(), f);
  std::fclose(f);
  TF_ASSERT_OK_AND_ASSIGN(HostTensor e4, ReadNpy(path, DType::kF8E4M3));
  EXPECT_EQ(e4.Get(0), 1.0);
  TF_ASSERT_OK_AND_ASSIGN(HostTensor i4, ReadNpy(path, DType::kI4));
  EXPECT_EQ(i4.Get(0), -8);
  EXPECT_EQ(i4.Get(1), -1);
}

}  // namespace
}  // namespace tilefuse::internal
