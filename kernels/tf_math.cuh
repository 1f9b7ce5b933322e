// Scalar types and pointwise math shared by generated kernels (under NVRTC) and the CPU
// reference evaluator (under the host compiler), so both compute the same function.
//
// Storage types: float, tf::half_t, tf::bf16_t, int, bool, tf::f8e4m3_t, tf::f8e5m2_t,
// signed char (i8), tf::i4x2_t (two packed i4). Compute kinds: float for every floating
// storage type, int for the integers, bool. Rounding to a floating storage type is
// round-to-nearest-even; integers narrower than int keep their low bits (they wrap).
#ifndef TILEFUSE_KERNELS_TF_MATH_CUH_
#define TILEFUSE_KERNELS_TF_MATH_CUH_

#if defined(__CUDACC__)
#define TF_HD __host__ __device__ __forceinline__
#define TF_DEVICE __device__ __forceinline__
#else
#include <cmath>
#include <cstdint>
#include <cstring>
#define TF_HD inline
#endif

namespace tf {

struct bf16_t { unsigned short bits; };
struct half_t { unsigned short bits; };
struct f8e4m3_t { unsigned char bits; };
struct f8e5m2_t { unsigned char bits; };
// Two i4 elements: the even one in the low nibble.
struct i4x2_t { unsigned char bits; };

TF_HD float bits_to_float(unsigned int u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

TF_HD unsigned int float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  unsigned int u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

// ---- storage -> compute ----
TF_HD float to_float(float x) { return x; }
TF_HD float to_float(bf16_t x) { return bits_to_float(static_cast<unsigned int>(x.bits) << 16); }
TF_HD float to_float(half_t x) {
#if defined(__CUDA_ARCH__)
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
  return f;
#else
  const unsigned int sign = (x.bits & 0x8000u) << 16;
  const unsigned int exp = (x.bits >> 10) & 0x1f;
  unsigned int mant = x.bits & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bits_to_float(sign);
    // Subnormal: scale exactly.
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // 2^-24
    return sign ? -v : v;
  }
  return bits_to_float(sign | ((exp + 112) << 23) | (mant << 13));
#endif
}
// e4m3fn: bias 7, no infinity, S.1111.111 is NaN; subnormals are m * 2^-9.
TF_HD float to_float(f8e4m3_t x) {
  const unsigned int sign = (x.bits & 0x80u) << 24;
  const unsigned int exp = (x.bits >> 3) & 0xfu, mant = x.bits & 7u;
  if (exp == 0xfu && mant == 7u) return bits_to_float(sign | 0x7fc00000u);
  if (exp == 0) return bits_to_float(sign | float_to_bits(static_cast<float>(mant) * 0.001953125f));
  return bits_to_float(sign | ((exp + 120u) << 23) | (mant << 20));
}
// e5m2 is the high byte of an f16.
TF_HD float to_float(f8e5m2_t x) { return to_float(half_t{static_cast<unsigned short>(x.bits << 8)}); }
TF_HD float to_float(int x) { return static_cast<float>(x); }
// An int of at most 22 bits (i8, i4) as float: added into the mantissa of 1.5 * 2^23, then
// that subtracted, both exact; two full-rate instructions where the conversion unit takes
// a quarter-rate one (a weight-only GEMM converts every weight).
TF_HD float small_int_to_float(int x) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(0x4b400000 + x) - 12582912.0f;
#else
  return static_cast<float>(x);
#endif
}
TF_HD float to_float(bool x) { return x ? 1.0f : 0.0f; }

// ---- compute -> storage, round to nearest even ----
TF_HD bf16_t to_bf16(float f) {
  bf16_t r;
#if defined(__CUDA_ARCH__)
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r.bits) : "f"(f));
#else
  const unsigned int u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    r.bits = static_cast<unsigned short>((u >> 16) | 0x40);  // quiet NaN
  } else {
    r.bits = static_cast<unsigned short>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
#endif
  return r;
}

TF_HD half_t to_half(float f) {
  half_t r;
#if defined(__CUDA_ARCH__)
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(f));
#else
  const unsigned int u = float_to_bits(f);
  const unsigned int sign = (u >> 16) & 0x8000u;
  const unsigned int a = u & 0x7fffffffu;
  if (a > 0x7f800000u) {
    r.bits = static_cast<unsigned short>(sign | 0x7e00u);
  } else if (a >= 0x477ff000u) {  // rounds to >= 65520: infinity
    r.bits = static_cast<unsigned short>(sign | 0x7c00u);
  } else if (a < 0x38800000u) {  // below 2^-14: subnormal or zero
    const float scaled = bits_to_float(a) * 16777216.0f;  // exact: times 2^24
    // Round half to even on the integer number of 2^-24 units.
    const float fl = static_cast<float>(static_cast<unsigned int>(scaled));
    unsigned int q = static_cast<unsigned int>(fl);
    const float rem = scaled - fl;
    if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
    r.bits = static_cast<unsigned short>(sign | q);
  } else {
    const unsigned int rounded = a + 0xfffu + ((a >> 13) & 1u);
    r.bits = static_cast<unsigned short>(sign | ((rounded - 0x38000000u) >> 13));
  }
#endif
  return r;
}

// Rounds |f| (bits a, finite, below 2^(e_min)) to a whole number of `unit`s, half to even.
TF_HD unsigned int round_units(unsigned int a, float inv_unit) {
  const float scaled = bits_to_float(a) * inv_unit;  // exact: a power of two
  const float fl = static_cast<float>(static_cast<unsigned int>(scaled));
  unsigned int q = static_cast<unsigned int>(fl);
  const float rem = scaled - fl;
  if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
  return q;
}

// IEEE 754-2019 maximum / minimum: NaN if either is NaN (the canonical 0x7fffffff), and
// -0 < +0. That is sm_80's max.NaN / min.NaN: one instruction where the compare-and-select
// form took four (clamps, amax, amin in every kernel).
template <bool kMax>
TF_HD float ieee_max_min(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float r;
  if constexpr (kMax) {
    asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  } else {
    asm("min.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  }
  return r;
#else
  if (a != a || b != b) return bits_to_float(0x7fffffffu);
  // Equal: the same bits, or zeros of both signs (+0 the larger).
  if (a == b) return bits_to_float(kMax ? float_to_bits(a) & float_to_bits(b) : float_to_bits(a) | float_to_bits(b));
  return (a > b) == kMax ? a : b;
#endif
}
TF_HD float max_f(float a, float b) { return ieee_max_min<true>(a, b); }
TF_HD float min_f(float a, float b) { return ieee_max_min<false>(a, b); }

// |f| (bits a, finite, below the type's overflow) rounded to nearest even as a 1-byte float
// of `mant` mantissa bits and exponent bias `bias`: subnormals in units of 2^(1 - bias -
// mant), normals rebiased and their mantissa cut to `mant` bits.
TF_HD unsigned int minifloat_bits(unsigned int a, int mant, int bias) {
  if (a < static_cast<unsigned int>(128 - bias) << 23) {
    return round_units(a, bits_to_float(static_cast<unsigned int>(126 + bias + mant) << 23));
  }
  const int drop = 23 - mant;
  const unsigned int b = a - (static_cast<unsigned int>(127 - bias) << 23);
  return (b + (1u << (drop - 1)) - 1u + ((b >> drop) & 1u)) >> drop;
}

// One element's code in software (the host, and devices before sm_89). e4m3fn: NaN,
// infinity, or above 464 give NaN. e5m2: NaN stays NaN; from 61440 on it rounds to 65536
// or more, infinity.
TF_HD unsigned int e4m3_code(float f) {
  const unsigned int u = float_to_bits(f), sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
  return sign | (a > 0x43e80000u ? 0x7fu : minifloat_bits(a, 3, 7));
}
TF_HD unsigned int e5m2_code(float f) {
  const unsigned int u = float_to_bits(f), sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
  return sign | (a > 0x7f800000u ? 0x7fu : a >= 0x47700000u ? 0x7cu : minifloat_bits(a, 2, 15));
}

// f32 -> e4m3fn as PyTorch's c10::Float8_e4m3fn: round to nearest even; NaN and whatever
// rounds past 448 (|f| > 464) become NaN (there is no infinity). The quantize op clamps
// first, so it saturates. Two at a time (lo in the low byte): sm_89+ converts a pair in
// one instruction.
TF_HD unsigned int f8e4m3x2_bits(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  // The hardware's conversion saturates where PyTorch's gives NaN: past 464 (or NaN).
  unsigned short h;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(h) : "f"(hi), "f"(lo));
  unsigned int r = h;
  // One test for the pair (max.NaN passes a NaN on): the fix-ups are rare, and tested one
  // by one they cost more than the conversion.
  if (__builtin_expect(!(max_f(fabsf(lo), fabsf(hi)) <= 464.0f), 0)) {
    if (!(fabsf(lo) <= 464.0f)) r = (r & 0xff00u) | ((float_to_bits(lo) >> 24) & 0x80u) | 0x7fu;
    if (!(fabsf(hi) <= 464.0f)) r = (r & 0x00ffu) | ((float_to_bits(hi) >> 16) & 0x8000u) | 0x7f00u;
  }
  return r;
#else
  return e4m3_code(lo) | (e4m3_code(hi) << 8);
#endif
}

// f32 -> e5m2 as PyTorch's c10::Float8_e5m2: round to nearest even, overflow to infinity.
TF_HD unsigned int f8e5m2x2_bits(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  // Saturating in hardware; PyTorch rounds past 61440 to infinity and keeps NaN.
  unsigned short h;
  asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(h) : "f"(hi), "f"(lo));
  unsigned int r = h;
  if (__builtin_expect(!(max_f(fabsf(lo), fabsf(hi)) < 61440.0f), 0)) {
    for (int k = 0; k < 2; ++k) {
      const float f = k == 0 ? lo : hi;
      if (!(fabsf(f) < 61440.0f)) {
        const unsigned int code = ((float_to_bits(f) >> 24) & 0x80u) | (f != f ? 0x7fu : 0x7cu);
        r = (r & (0xff00u >> (8 * k))) | (code << (8 * k));
      }
    }
  }
  return r;
#else
  return e5m2_code(lo) | (e5m2_code(hi) << 8);
#endif
}

TF_HD f8e4m3_t to_f8e4m3(float f) {
  f8e4m3_t r;
  r.bits = static_cast<unsigned char>(f8e4m3x2_bits(f, 0.0f) & 0xffu);
  return r;
}

TF_HD f8e5m2_t to_f8e5m2(float f) {
  f8e5m2_t r;
  r.bits = static_cast<unsigned char>(f8e5m2x2_bits(f, 0.0f) & 0xffu);
  return r;
}

// Float to int truncates toward zero and saturates; NaN gives 0 (cvt.rzi.s32.f32).
TF_HD int to_int(float f) {
  if (!(f == f)) return 0;
  if (f >= 2147483647.0f) return 2147483647;
  if (f <= -2147483648.0f) return -2147483647 - 1;
  return static_cast<int>(f);
}

// Rounds a compute value through a floating storage type (an explicit cast, or a store).
TF_HD float round_bf16(float x) { return to_float(to_bf16(x)); }
TF_HD float round_half(float x) { return to_float(to_half(x)); }
TF_HD float round_f8e4m3(float x) { return to_float(to_f8e4m3(x)); }
TF_HD float round_f8e5m2(float x) { return to_float(to_f8e5m2(x)); }
// An int kept to a narrower integer type's low bits, sign-extended.
TF_HD int wrap_i8(int x) { return static_cast<int>(static_cast<signed char>(static_cast<unsigned char>(x & 0xff))); }
TF_HD int wrap_i4(int x) { return ((x & 0xf) ^ 8) - 8; }
// Element e (0: low nibble) of a packed i4 byte.
TF_HD int i4_elem(unsigned int byte, int e) { return wrap_i4(static_cast<int>(byte >> (4 * e))); }

// ---- pointwise math, PyTorch's semantics (NaN propagates through max/min/relu/clamp) ----
TF_HD int max_i(int a, int b) { return a > b ? a : b; }
TF_HD int min_i(int a, int b) { return a < b ? a : b; }
TF_HD float relu_f(float x) { return x != x ? x : (x > 0.0f ? x : 0.0f); }
TF_HD float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
// tanh through the hardware exp2 on the GPU: 1 - 2 / (e^{2x} + 1). Its absolute error
// (~1e-7) is what matters inside gelu, where it is scaled by x; the tanh op itself keeps
// tanhf, whose relative accuracy near 0 this form lacks.
TF_HD float tanh_abs_accurate(float x) {
#if defined(__CUDA_ARCH__)
  const float e = exp2f(x * 2.8853900817779268f);  // e^{2x}
  return 1.0f - __fdividef(2.0f, e + 1.0f);
#else
  return tanhf(x);
#endif
}
#if defined(__CUDA_ARCH__)
// 2^x by the multi-function unit's approximation (2 ulp), flushing subnormal results to 0:
// one instruction where exp2f takes several (epilogues run on a GEMM's critical path).
TF_DEVICE float ex2_approx(float x) {
  float e;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(x));
  return e;
}
#endif
TF_HD float gelu_tanh(float x) {
#if defined(__CUDA_ARCH__)
  // 0.5 x (1 + tanh(u)) = x - x / (e^{2u} + 1), u = sqrt(2 / pi) (x + 0.044715 x^3), with
  // 2u log2(e) = x (k + 0.044715 k x^2), k = 2 sqrt(2 / pi) log2(e). Half the instructions
  // of the form above through tanh_abs_accurate, with its absolute accuracy; in a GEMM
  // epilogue they run beside the other warpgroup's wgmmas and slow them. ex2 flushes to 0
  // below 2^-126 (then gelu is 0) and gives inf above 2^128 (then x).
  const float t = fmaf(x * x, 0.10294324f, 2.3022082f);
  return fmaf(-x, __fdividef(1.0f, ex2_approx(x * t) + 1.0f), x);
#else
  const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + tanh_abs_accurate(inner));
#endif
}
TF_HD float sigmoid_f(float x) {
#if defined(__CUDA_ARCH__)
  // e^{-x} by ex2.approx and a fast reciprocal: 4 instructions instead of expf and an IEEE
  // division (a decode GEMM's epilogue is on its critical path). e = inf below x = -88
  // gives 1 / inf = 0.
  return __fdividef(1.0f, 1.0f + ex2_approx(x * -1.4426950408889634f));
#else
  return 1.0f / (1.0f + expf(-x));
#endif
}
TF_HD float silu_f(float x) {
#if defined(__CUDA_ARCH__)
  return x * sigmoid_f(x);
#else
  return x / (1.0f + expf(-x));
#endif
}
TF_HD float rsqrt_f(float x) { return 1.0f / sqrtf(x); }
// PyTorch's activations, NaN in NaN out (the comparisons fall through to the arithmetic).
TF_HD float softplus_f(float x, float beta, float threshold) {
  return x * beta > threshold ? x : log1pf(expf(x * beta)) / beta;
}
TF_HD float leaky_relu_f(float x, float slope) { return x > 0.0f ? x : x * slope; }
TF_HD float elu_f(float x, float alpha) { return x > 0.0f ? x : alpha * expm1f(x); }
TF_HD float hardsigmoid_f(float x) { return x <= -3.0f ? 0.0f : x >= 3.0f ? 1.0f : x / 6.0f + 0.5f; }
TF_HD float hardswish_f(float x) { return x <= -3.0f ? 0.0f : x >= 3.0f ? x : x * (x + 3.0f) / 6.0f; }
TF_HD float mish_f(float x) { return x * tanhf(softplus_f(x, 1.0f, 20.0f)); }
// sign keeps a zero's sign and NaN.
TF_HD float sign_f(float x) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; }
TF_HD int sign_i(int x) { return (x > 0) - (x < 0); }
// Integer arithmetic wraps, as two's complement does on the GPU.
TF_HD int add_i(int a, int b) { return static_cast<int>(static_cast<unsigned>(a) + static_cast<unsigned>(b)); }
TF_HD int sub_i(int a, int b) { return static_cast<int>(static_cast<unsigned>(a) - static_cast<unsigned>(b)); }
TF_HD int mul_i(int a, int b) { return static_cast<int>(static_cast<unsigned>(a) * static_cast<unsigned>(b)); }
TF_HD int neg_i(int a) { return sub_i(0, a); }
TF_HD int abs_i(int a) { return a < 0 ? neg_i(a) : a; }
TF_HD int relu_i(int a) { return a > 0 ? a : 0; }
// Integer power by squaring; a negative exponent gives 0 except for bases 1 and -1.
TF_HD int pow_i(int base, int e) {
  if (e < 0) return base == 1 ? 1 : (base == -1 ? ((e & 1) ? -1 : 1) : 0);
  int r = 1;
  while (e > 0) {
    if (e & 1) r = mul_i(r, base);
    base = mul_i(base, base);
    e >>= 1;
  }
  return r;
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_TF_MATH_CUH_
