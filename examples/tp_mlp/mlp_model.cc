#include "examples/tp_mlp/mlp_model.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal::example {
namespace {

std::string Input(const std::string& name, const std::string& shape) {
  return absl::StrCat(R"({"name": ")", name, R"(", "shape": )", shape, R"(, "dtype": "bf16"})");
}

std::string Node(const std::string& name, const std::string& op, const std::string& inputs,
                 const std::string& attrs = "") {
  return absl::StrCat(R"({"name": ")", name, R"(", "op": ")", op, R"(", "inputs": )", inputs,
                      attrs.empty() ? "" : absl::StrCat(R"(, "attrs": )", attrs), "}");
}

constexpr char kTranspose[] = R"({"dim0": 0, "dim1": 1})";

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

std::string MlpGraphJson(const MlpShape& s, int64_t inter, bool bias_residual) {
  const std::string h = absl::StrCat(s.hidden), i = absl::StrCat(inter);
  std::string inputs = absl::StrCat(Input("x", absl::StrCat(R"(["M", )", h, "]")), ", ",
                                    Input("w_gate", absl::StrCat("[", i, ", ", h, "]")), ", ",
                                    Input("w_up", absl::StrCat("[", i, ", ", h, "]")), ", ",
                                    Input("w_down", absl::StrCat("[", h, ", ", i, "]")));
  std::string nodes = absl::StrCat(
      Node("gate_t", "transpose", R"(["w_gate"])", kTranspose), ", ", Node("gate", "matmul", R"(["x", "gate_t"])"),
      ", ", Node("up_t", "transpose", R"(["w_up"])", kTranspose), ", ", Node("up", "matmul", R"(["x", "up_t"])"),
      ", ", Node("act", "silu", R"(["gate"])"), ", ", Node("h", "mul", R"(["act", "up"])"), ", ",
      Node("down_t", "transpose", R"(["w_down"])", kTranspose), ", ", Node("down", "matmul", R"(["h", "down_t"])"));
  std::string out = "down";
  if (bias_residual) {
    absl::StrAppend(&inputs, ", ", Input("bias", absl::StrCat("[", h, "]")), ", ",
                    Input("residual", absl::StrCat(R"(["M", )", h, "]")));
    absl::StrAppend(&nodes, ", ", Node("biased", "add", R"(["down", "bias"])"), ", ",
                    Node("out", "add", R"(["biased", "residual"])"));
    out = "out";
  }
  return absl::StrCat(R"({"name": "llama_mlp_)", inter, bias_residual ? "_bias_residual" : "", R"(", "inputs": [)",
                      inputs, R"(], "nodes": [)", nodes, R"(], "outputs": [")", out, R"("]})");
}

std::string AddBiasResidualGraphJson(const MlpShape& s) {
  const std::string h = absl::StrCat(s.hidden);
  return absl::StrCat(R"({"name": "add_bias_residual", "inputs": [)",
                      Input("partial", absl::StrCat(R"(["M", )", h, "]")), ", ",
                      Input("bias", absl::StrCat("[", h, "]")), ", ",
                      Input("residual", absl::StrCat(R"(["M", )", h, "]")), R"(], "nodes": [)",
                      Node("biased", "add", R"(["partial", "bias"])"), ", ",
                      Node("out", "add", R"(["biased", "residual"])"), R"(], "outputs": ["out"]})");
}

uint16_t ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return 0x7FC0;
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);  // round to nearest even
}

float FromBf16(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<uint16_t> RandomBf16(uint64_t seed, int64_t count, float scale) {
  std::vector<uint16_t> v(count);
  const uint64_t base = SplitMix(seed);
  for (int64_t i = 0; i < count; ++i) {
    const double u = static_cast<double>(SplitMix(base + static_cast<uint64_t>(i)) >> 11) * 0x1.0p-53;  // [0, 1)
    v[i] = ToBf16(static_cast<float>((2 * u - 1) * scale));
  }
  return v;
}

Weights MakeWeights(const MlpShape& s, uint64_t seed) {
  // Uniform with unit variance after the product: sqrt(3 / fan_in).
  const float in_h = std::sqrt(3.0f / s.hidden), in_i = std::sqrt(3.0f / s.inter);
  return Weights{RandomBf16(seed + 1, s.inter * s.hidden, in_h), RandomBf16(seed + 2, s.inter * s.hidden, in_h),
                 RandomBf16(seed + 3, s.hidden * s.inter, in_i), RandomBf16(seed + 4, s.hidden, 0.5f)};
}

WeightSlice SliceWeights(const MlpShape& s, const Weights& w, int rank, int ranks) {
  const int64_t part = s.inter / ranks, first = rank * part;
  WeightSlice out;
  out.gate.assign(w.gate.begin() + first * s.hidden, w.gate.begin() + (first + part) * s.hidden);
  out.up.assign(w.up.begin() + first * s.hidden, w.up.begin() + (first + part) * s.hidden);
  out.down.resize(s.hidden * part);
  for (int64_t row = 0; row < s.hidden; ++row) {
    std::memcpy(&out.down[row * part], &w.down[row * s.inter + first], part * sizeof(uint16_t));
  }
  return out;
}

}  // namespace tilefuse::internal::example
