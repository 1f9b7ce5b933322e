#include "test/custom_kernel.h"

#include <cmath>

namespace tilefuse::internal {
namespace {

constexpr char kSource[] = R"(
template <class H>
__device__ void absmax_scale(const typename H::Params& p) {
  __shared__ float smem[H::kThreads / 32];
  const tf::RowSpan<H> s(p);
  float x[H::kVecs][H::kVec];
  tf::load_row<H>(p, s, x, 0.f);
  float m = 0.f;
  for (int it = 0; it < H::kVecs; ++it)
    for (int k = 0; k < H::kVec; ++k) m = fmaxf(m, fabsf(x[it][k]));
  m = tf::row_reduce<H::kRowThreads, true>(m, smem);
  const float inv = m > 0.f ? 1.0f / m : 0.f;
  tf::store_row<H, 1>(p, s, x, [inv](float v, float w, float) { return v * inv * w; });
}
)";

void AbsmaxScaleRow(const float* x, const std::vector<const float*>& params, int64_t cols, float* y) {
  float m = 0;
  for (int64_t c = 0; c < cols; ++c) m = std::max(m, std::fabs(x[c]));
  const float inv = m > 0 ? 1.0f / m : 0.f;
  for (int64_t c = 0; c < cols; ++c) y[c] = x[c] * inv * params[0][c];
}

}  // namespace

const TileRegistry& TestRegistry() {
  static const TileRegistry* registry = [] {
    auto* r = new TileRegistry();
    const absl::Status s = r->Register(CustomTileKernel{"absmax_scale", "absmax_scale", kSource, 1,
                                                        AbsmaxScaleRow});
    if (!s.ok()) std::abort();
    return r;
  }();
  return *registry;
}

std::string CustomKernelGraphJson() {
  return R"({"name": "custom_epilogue",
    "inputs": [{"name": "x", "shape": ["M", 700], "dtype": "bf16"},
               {"name": "w", "shape": [700], "dtype": "bf16"},
               {"name": "bias", "shape": [700], "dtype": "f32"}],
    "nodes": [{"name": "y", "op": "absmax_scale", "inputs": ["x", "w"]},
              {"name": "z", "op": "add", "inputs": ["y", "bias"]},
              {"name": "o", "op": "relu", "inputs": ["z"]}],
    "outputs": ["o"]})";
}

}  // namespace tilefuse::internal
