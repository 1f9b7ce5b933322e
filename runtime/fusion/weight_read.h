// Packed weight reads of the skinny decode GEMM (kernels/gemm_skinny.cuh): a B prologue
// that is a dequant of an int8, int4 or e4m3 weight, f32(q) [* scale] with the scale per
// tensor, per weight row or per group of K, is read as raw bytes and converted with
// byte permutes and paired 16-bit math (kernels/packed_weights.cuh) instead of through
// the generic load hook.
#ifndef TILEFUSE_RUNTIME_FUSION_WEIGHT_READ_H_
#define TILEFUSE_RUNTIME_FUSION_WEIGHT_READ_H_

#include <cstdint>

#include "runtime/fusion/kernel_spec.h"

namespace tilefuse::internal {

struct WeightRead {
  int format = 0;  // 0: the generic hook; 1: i8; 2: i4; 3: f8e4m3 (gemm_skinny.cuh kWeightRead)
  int scale = 0;   // 0: none; 1: per tensor; 2: per weight row; 3: per group of K
  int q = -1;      // the weight's operand
  int s = -1;      // the scale's operand, or -1
  int64_t group = 0, groups = 0;
};

// The packed read of a skinny GEMM's B prologue, or format 0 where the prologue is
// anything else. Exact: an int8, int4 or e4m3 value and a scale of the operand's 16-bit
// type multiply without rounding in f32, so the one rounding of the paired 16-bit
// multiply is the reference's cast.
WeightRead WeightReadOf(const KernelSpec& spec);

// The skinny kernel's TMA form (sm_90, a packed read, x read plain): the weight rows and x
// come by TMA into GemmConfig::stages stages of shared memory, so that the bytes in flight
// cost no registers. A run whose operands are misaligned, or whose weight rows are not
// whole 16-byte chunks, takes the register form of the same kernel.
bool SkinnyWeightTma(const KernelSpec& spec);
// The packed read of the TMA form, or format 0 where the kernel has none: one walk of the
// prologue for the launch paths that need both answers.
WeightRead SkinnyTmaWeightRead(const KernelSpec& spec);

// Shared memory of the TMA form's stages: per stage bk bytes of K (128, 256 or 512: bk k of
// int8 or e4m3, 2 bk of int4) by bn weight rows, x's same k by 16 rows (2 bytes each), and
// a full and an empty mbarrier; 1024 bytes for the stages' alignment.
int SkinnyTmaSmemBytes(const GemmConfig& c, bool int4);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_FUSION_WEIGHT_READ_H_
