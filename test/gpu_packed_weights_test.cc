// The skinny GEMM's packed weight conversions (kernels/packed_weights.cuh) over every code:
// each int8 and e4m3 byte and int4 nibble, in every position of a word, to bf16 and f16,
// bit for bit against the host's conversions (tf_math.cuh); NaN codes stay NaN.
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/source.h"
#include "gtest/gtest.h"
#include "kernels/tf_math.cuh"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/driver.h"
#include "runtime/cuda/nvrtc.h"
#include "test/gpu_harness.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

constexpr char kProbe[] = R"(
template <bool kF16>
__device__ void convert(const unsigned* words, unsigned* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const unsigned w = words[i];
  tf::i8x4_to_pairs<kF16>(w, out[8 * i], out[8 * i + 1]);
  tf::e4m3x4_to_pairs<kF16>(w, out[8 * i + 2], out[8 * i + 3]);
  unsigned q[4];
  tf::i4x8_to_pairs<kF16>(w, q);
  for (int j = 0; j < 4; ++j) out[8 * i + 4 + j] = q[j];
}
extern "C" __global__ void to_bf16(const unsigned* w, unsigned* out, int n) { convert<false>(w, out, n); }
extern "C" __global__ void to_f16(const unsigned* w, unsigned* out, int n) { convert<true>(w, out, n); }
)";

// The 16 bits a 16-bit float holds for `want` (exact for these values), NaN as any NaN.
bool Same(unsigned short got, float want, bool f16) {
  if (want != want) return f16 ? (got & 0x7c00) == 0x7c00 && (got & 0x3ff) : (got & 0x7f80) == 0x7f80 && (got & 0x7f);
  return got == (f16 ? tf::to_half(want).bits : tf::to_bf16(want).bits);
}

TEST(GpuPackedWeights, EveryCodeConvertsExactly) {
  TF_SKIP_WITHOUT_GPU();
  TF_ASSERT_OK_AND_ASSIGN(const Driver* cu, Driver::Get());
  TF_ASSERT_OK_AND_ASSIGN(DeviceInfo dev, UseDevice(TestDevice()));
  TF_ASSERT_OK_AND_ASSIGN(std::string templates, TemplateText({"tf_math.cuh", "packed_weights.cuh"}));
  TF_ASSERT_OK_AND_ASSIGN(CompiledCubin bin, CompileToCubin(templates + kProbe, "packed.cu", NvrtcOptions{dev.Arch()}));
  CUmodule module;
  TF_ASSERT_OK(cu->Check(cu->cuModuleLoadData(&module, bin.cubin.data()), "cuModuleLoadData"));
  // Words holding every pair of bytes in the low half, and others in the high one.
  const int n = 65536;
  std::vector<unsigned> words(n);
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) words[a * 256 + b] = a | (b << 8) | ((a ^ 0x55u) << 16) | ((b ^ 0xaau) << 24);
  }
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer in, DeviceBuffer::Allocate(n * 4));
  TF_ASSERT_OK_AND_ASSIGN(DeviceBuffer out, DeviceBuffer::Allocate(n * 32));
  TF_ASSERT_OK(in.Upload(words.data(), n * 4));
  std::vector<unsigned> got(8 * n);
  for (const bool f16 : {false, true}) {
    SCOPED_TRACE(f16 ? "f16" : "bf16");
    CUfunction fn;
    TF_ASSERT_OK(cu->Check(cu->cuModuleGetFunction(&fn, module, f16 ? "to_f16" : "to_bf16"), "cuModuleGetFunction"));
    CUdeviceptr a = in.ptr(), b = out.ptr();
    int count = n;
    void* args[] = {&a, &b, &count};
    TF_ASSERT_OK(cu->Check(cu->cuLaunchKernel(fn, n / 256, 1, 1, 256, 1, 1, 0, nullptr, args, nullptr), "cuLaunchKernel"));
    TF_ASSERT_OK(out.Download(got.data(), n * 32));
    int bad = 0;
    for (int i = 0; i < n && bad < 8; ++i) {
      const unsigned w = words[i];
      for (int k = 0; k < 4; ++k) {
        const unsigned byte = (w >> (8 * k)) & 0xff;
        const unsigned short i8 = static_cast<unsigned short>(got[8 * i + k / 2] >> (16 * (k % 2)));
        const unsigned short f8 = static_cast<unsigned short>(got[8 * i + 2 + k / 2] >> (16 * (k % 2)));
        tf::f8e4m3_t code;
        code.bits = static_cast<unsigned char>(byte);
        if (!Same(i8, static_cast<float>(static_cast<signed char>(byte)), f16)) {
          ADD_FAILURE() << absl::StrCat("int8 ", byte, " gave 0x", absl::Hex(i8));
          ++bad;
        }
        if (!Same(f8, tf::to_float(code), f16)) {
          ADD_FAILURE() << absl::StrCat("e4m3 0x", absl::Hex(byte), " gave 0x", absl::Hex(f8));
          ++bad;
        }
      }
      for (int e = 0; e < 8; ++e) {  // pair j holds elements j (low half) and j + 4 (high)
        const unsigned short v = static_cast<unsigned short>(got[8 * i + 4 + e % 4] >> (16 * (e / 4)));
        if (!Same(v, static_cast<float>(tf::i4_elem(w >> (8 * (e / 2)), e % 2)), f16)) {
          ADD_FAILURE() << absl::StrCat("int4 element ", e, " of 0x", absl::Hex(w), " gave 0x", absl::Hex(v));
          ++bad;
        }
      }
    }
  }
  TF_ASSERT_OK(cu->Check(cu->cuModuleUnload(module), "cuModuleUnload"));
}

}  // namespace
}  // namespace tilefuse::internal
