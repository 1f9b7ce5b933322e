// Scalar types and pointwise math shared by generated kernels (under NVRTC) and the CPU
// reference evaluator (under the host compiler), so both compute the same function.
//
// Storage types: float, tf::half_t, tf::bf16_t, int, bool. Compute kinds: float for every
// floating storage type, int, bool. Rounding to a storage type is round-to-nearest-even.
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
TF_HD float to_float(int x) { return static_cast<float>(x); }
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

// ---- pointwise math, PyTorch's semantics (NaN propagates through max/min/relu/clamp) ----
TF_HD float max_f(float a, float b) { return (a != a || a > b) ? a : b; }
TF_HD float min_f(float a, float b) { return (a != a || a < b) ? a : b; }
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
