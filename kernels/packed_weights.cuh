// Packed weights to the MMA's 16-bit operand type, exactly, in registers: what the skinny
// decode GEMM (kernels/gemm_skinny.cuh) does with the raw bytes of an int8, int4 or e4m3
// weight instead of calling its load hook. Each function turns one 32-bit word into
// registers of two 16-bit values (bf16, or f16 with kF16), the lower element in the low half.
#ifndef TILEFUSE_KERNELS_PACKED_WEIGHTS_CUH_
#define TILEFUSE_KERNELS_PACKED_WEIGHTS_CUH_

namespace tf {

// Two fp32 values as one register of the operand type, lo in the low half.
template <bool kF16>
TF_DEVICE unsigned pack2(float lo, float hi) {
  unsigned u;
  if constexpr (kF16) {
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(u) : "f"(hi), "f"(lo));
  } else {
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(u) : "f"(hi), "f"(lo));
  }
  return u;
}

// a * b + c on 16-bit pairs, rounded once.
template <bool kF16>
TF_DEVICE unsigned fma2(unsigned a, unsigned b, unsigned c) {
  unsigned d;
  if constexpr (kF16) {
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  } else {
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  }
  return d;
}

// Four int8: 2^23 + (q + 128) as a float by a byte permute, less 2^23 + 128, is q exactly;
// then packed (exact: |q| < 2^8).
template <bool kF16>
TF_DEVICE void i8x4_to_pairs(unsigned w, unsigned& lo, unsigned& hi) {
  const unsigned u = w ^ 0x80808080u;  // q + 128, unsigned
  float f[4];
#pragma unroll
  for (int b = 0; b < 4; ++b) f[b] = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7440 | b)) - 8388736.0f;
  lo = pack2<kF16>(f[0], f[1]);
  hi = pack2<kF16>(f[2], f[3]);
}

// Eight int4 (element e in bits 4e..4e+3): pair j holds elements j and j + 4, two at a
// time by a mask into a 16-bit float's mantissa: 128 + (q + 8) in bf16 (1024 + (q + 8) in
// f16), less 136 (1032).
template <bool kF16>
TF_DEVICE void i4x8_to_pairs(unsigned w, unsigned (&out)[4]) {
  const unsigned magic = kF16 ? 0x64006400u : 0x43004300u, one = kF16 ? 0x3c003c00u : 0x3f803f80u;
  const unsigned bias = kF16 ? 0xe408e408u : 0xc308c308u;
  const unsigned u = w ^ 0x88888888u;  // q + 8, unsigned
#pragma unroll
  for (int j = 0; j < 4; ++j) out[j] = fma2<kF16>(((u >> (4 * j)) & 0x000f000fu) | magic, one, bias);
}

// Four e4m3 (OCP e4m3fn). f16: the hardware's conversion. bf16: each byte's sign to bit 15
// and its 7 exponent and mantissa bits to bits 4-10, a bf16 of the value times 2^-120
// (subnormals included), then one multiply by 2^120; the codes of NaN (|b| = 0x7f) come
// out as 480 here: e4m3x4_has_nan says where e4m3x4_mend_nan must mend them (rare: weights
// are finite, so a caller tests many words at once).
template <bool kF16>
TF_DEVICE void e4m3x4_to_pairs_finite(unsigned w, unsigned& lo, unsigned& hi) {
  if constexpr (kF16) {
    unsigned short a = static_cast<unsigned short>(w), b = static_cast<unsigned short>(w >> 16);
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(lo) : "h"(a));
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(hi) : "h"(b));
  } else {
    const unsigned mag = w & 0x7f7f7f7fu;
    const unsigned two120 = 0x7b807b80u, zero = 0x80008000u;  // 2^120; -0 keeps a zero's sign
    // [0, b0, 0, b1]: the signs at bits 15 and 31; [m0, 0, m1, 0] << 4: the rest.
    lo = fma2<false>((__byte_perm(w, 0, 0x1404) & 0x80008000u) | (__byte_perm(mag, 0, 0x4140) << 4), two120, zero);
    hi = fma2<false>((__byte_perm(w, 0, 0x3424) & 0x80008000u) | (__byte_perm(mag, 0, 0x4342) << 4), two120, zero);
  }
}

// Nonzero where a byte of w is a NaN code for e4m3x4_to_pairs_finite's bf16 path (an OR of
// several words' results tests them all).
TF_DEVICE unsigned e4m3x4_has_nan(unsigned w) { return ((w & 0x7f7f7f7fu) + 0x01010101u) & 0x80808080u; }

// The bf16 pairs of e4m3x4_to_pairs_finite with each NaN code's half made a NaN.
TF_DEVICE void e4m3x4_mend_nan(unsigned w, unsigned& lo, unsigned& hi) {
#pragma unroll
  for (int b = 0; b < 4; ++b) {
    if (((w >> (8 * b)) & 0x7fu) != 0x7fu) continue;
    const unsigned keep = 0xffff0000u >> (16 * (b & 1)), nan = 0x7fc0u << (16 * (b & 1));
    if (b < 2) {
      lo = (lo & keep) | nan;
    } else {
      hi = (hi & keep) | nan;
    }
  }
}

// Four e4m3 as two pairs, NaN codes included.
template <bool kF16>
TF_DEVICE void e4m3x4_to_pairs(unsigned w, unsigned& lo, unsigned& hi) {
  e4m3x4_to_pairs_finite<kF16>(w, lo, hi);
  if constexpr (!kF16) {
    if (__builtin_expect(e4m3x4_has_nan(w) != 0, 0)) e4m3x4_mend_nan(w, lo, hi);
  }
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_PACKED_WEIGHTS_CUH_
