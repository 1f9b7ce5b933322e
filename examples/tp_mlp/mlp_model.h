// The Llama MLP of the tensor-parallel example: its graphs, its weights and their slices.
//
//   out = (silu(x @ w_gate^T) * (x @ w_up^T)) @ w_down^T + bias + residual
//
// Rank r of R holds rows [r*I/R, (r+1)*I/R) of w_gate and w_up (gate/up split by columns of
// their outputs) and the same columns of w_down (down split by rows of its input): its
// down GEMM yields a partial sum of `out`, and an all-reduce adds the partials. The bias
// and the residual are added once: in rank 0's down-GEMM epilogue (`kRank0`), or after the
// all-reduce by a pointwise plan on every rank (`kAfterReduce`).
#ifndef TILEFUSE_EXAMPLES_TP_MLP_MLP_MODEL_H_
#define TILEFUSE_EXAMPLES_TP_MLP_MLP_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace tilefuse::internal::example {

enum class Placement { kRank0, kAfterReduce };

struct MlpShape {
  int64_t hidden = 4096;   // H
  int64_t inter = 14336;   // I (Llama 3 8B)
};

// The MLP over `inter` intermediate columns, M symbolic; with `bias_residual`, the bias
// [H] and residual [M, H] inputs are added in the down GEMM's epilogue.
std::string MlpGraphJson(const MlpShape& s, int64_t inter, bool bias_residual);

// out = partial + bias + residual, all [M, H] bf16 but the bias [H].
std::string AddBiasResidualGraphJson(const MlpShape& s);

// bf16 bit patterns.
uint16_t ToBf16(float f);
float FromBf16(uint16_t b);

// Deterministic bf16 values, uniform in [-scale, scale], from (seed, index).
std::vector<uint16_t> RandomBf16(uint64_t seed, int64_t count, float scale);

// The full weights, bias included (host, bf16).
struct Weights {
  std::vector<uint16_t> gate, up, down, bias;  // [I, H], [I, H], [H, I], [H]
};
Weights MakeWeights(const MlpShape& s, uint64_t seed);

// Rank `rank` of `ranks`: its rows of gate/up and columns of down, contiguous.
struct WeightSlice {
  std::vector<uint16_t> gate, up, down;  // [I/R, H], [I/R, H], [H, I/R]
};
WeightSlice SliceWeights(const MlpShape& s, const Weights& w, int rank, int ranks);

}  // namespace tilefuse::internal::example

#endif  // TILEFUSE_EXAMPLES_TP_MLP_MLP_MODEL_H_
