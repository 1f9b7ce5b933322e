// FP8 GEMMs on Hopper: a matmul of two fp8 values, each dequantized by a scale per tensor
// or per row (A: per row of [M, K]; B = w.T: per row of w [N, K], i.e. per output column),
// multiplies the raw codes on wgmma's fp8 path (fp32 accumulation) and applies the scales
// in its epilogue: (q_a * s_a) @ (q_w * s_w).T = s_a[m] * s_w[n] * (q_a @ q_w.T).
//
// Error bound: the reference rounds each dequantized operand to the matmul's 16-bit type
// (relative 2^-9 for bf16, 2^-12 for f16) before multiplying; the fp8 kernel multiplies the
// exact codes and rounds once at the end, so the two differ by at most that rounding per
// product (|y - y_ref| <= 2^-8 * sum |a_k * w_k| for bf16), and the tensor core's fp8
// accumulation keeps fewer bits than fp32 (DeepSeek-V3 measured about 14 on the H800).
#ifndef TILEFUSE_RUNTIME_FUSION_F8_GEMM_H_
#define TILEFUSE_RUNTIME_FUSION_F8_GEMM_H_

#include <optional>
#include <string>

#include "runtime/fusion/fusion_plan.h"

namespace tilefuse::internal {

// Graph value `v` as an fp8 input, dequantized: casts to float types of q or of q * s, with
// q a 2-D fp8 graph input and s a float graph input with one value per row of q or one in
// all; nullopt for anything else. (The grouping asks it of both operands before it fuses a
// large M's weight dequant into the GEMM's load; bench_fusion's cuBLASLt column too.)
struct ScaledF8 {
  int q = -1;  // the codes' input
  int s = -1;  // the scale's input, or -1
};
std::optional<ScaledF8> ScaledF8Of(const Graph& g, int v);

// Rewrites matmul kernel `k` (planned for sm_90, B's prologue over [N, K]) into the fp8
// form when both prologues are such dequants: the codes read by TMA (a_async, b_async), the
// scales moved to the epilogue site, every read of the GEMM's value there scaled. Returns
// the plan decision (empty, `k` unchanged, where the kernel does not have that form) and
// whether any scale moved.
struct F8Rewrite {
  std::string decision;
  bool scaled = false;
};
F8Rewrite UseF8Gemm(const Graph& g, KernelPlan& k);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_F8_GEMM_H_
