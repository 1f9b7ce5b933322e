// The pointwise kernel template and the vector memory helpers every kernel uses.
//
// Hook contract for pointwise kernels: the generated `Hooks` type provides
//   struct Params;                       // pointers, sizes, strides: all 8-byte fields
//   static constexpr int kVec;           // elements per vector step (16-byte accesses)
//   template <int W> static void apply(const Params&, long long i);
// where apply<W> loads, computes and stores elements [i, i + W). The template walks the
// index space: vector steps when Params::vector_ok says every access is aligned, then a
// scalar tail; scalar steps only otherwise (misaligned pointers, odd broadcast sizes).
#ifndef TILEFUSE_KERNELS_POINTWISE_CUH_
#define TILEFUSE_KERNELS_POINTWISE_CUH_

namespace tf {

template <class C> TF_DEVICE C convert_to(float x);
template <> TF_DEVICE float convert_to<float>(float x) { return x; }
template <> TF_DEVICE int convert_to<int>(float x) { return to_int(x); }
template <> TF_DEVICE bool convert_to<bool>(float x) { return x != 0.0f; }

// Storage element -> compute value of kind C.
template <class C> TF_DEVICE C load_elem(float x) { return convert_to<C>(x); }
template <class C> TF_DEVICE C load_elem(bf16_t x) { return convert_to<C>(to_float(x)); }
template <class C> TF_DEVICE C load_elem(half_t x) { return convert_to<C>(to_float(x)); }
template <class C> TF_DEVICE C load_elem(f8e4m3_t x) { return convert_to<C>(to_float(x)); }
template <class C> TF_DEVICE C load_elem(f8e5m2_t x) { return convert_to<C>(to_float(x)); }
template <class C> TF_DEVICE C load_elem(int x) { return static_cast<C>(x); }
template <class C> TF_DEVICE C load_elem(signed char x) { return static_cast<C>(static_cast<int>(x)); }
template <class C> TF_DEVICE C load_elem(bool x) { return static_cast<C>(x); }

// Compute value -> storage element.
template <class T> struct Store;
template <> struct Store<float> { TF_DEVICE static float of(float x) { return x; } };
template <> struct Store<bf16_t> { TF_DEVICE static bf16_t of(float x) { return to_bf16(x); } };
template <> struct Store<half_t> { TF_DEVICE static half_t of(float x) { return to_half(x); } };
template <> struct Store<f8e4m3_t> { TF_DEVICE static f8e4m3_t of(float x) { return to_f8e4m3(x); } };
template <> struct Store<f8e5m2_t> { TF_DEVICE static f8e5m2_t of(float x) { return to_f8e5m2(x); } };
template <> struct Store<signed char> {
  TF_DEVICE static signed char of(int x) { return static_cast<signed char>(wrap_i8(x)); }
  TF_DEVICE static signed char of(float x) { return of(to_int(x)); }
};
template <> struct Store<int> {
  TF_DEVICE static int of(int x) { return x; }
  TF_DEVICE static int of(float x) { return to_int(x); }
};
template <> struct Store<bool> {
  TF_DEVICE static bool of(bool x) { return x; }
  TF_DEVICE static bool of(float x) { return x != 0.0f; }
};

// Copies W elements (W * sizeof(T) bytes, aligned to min(16, that)) with the widest
// accesses that fit.
template <int W, class T>
TF_DEVICE void copy_aligned(T* dst, const T* src) {
  constexpr int kBytes = W * static_cast<int>(sizeof(T));
  if constexpr (kBytes % 16 == 0) {
#pragma unroll
    for (int k = 0; k < kBytes / 16; ++k) {
      reinterpret_cast<uint4*>(dst)[k] = reinterpret_cast<const uint4*>(src)[k];
    }
  } else if constexpr (kBytes == 8) {
    *reinterpret_cast<uint2*>(dst) = *reinterpret_cast<const uint2*>(src);
  } else if constexpr (kBytes == 4) {
    *reinterpret_cast<unsigned int*>(dst) = *reinterpret_cast<const unsigned int*>(src);
  } else {
#pragma unroll
    for (int k = 0; k < W; ++k) dst[k] = src[k];
  }
}

// Loads W contiguous elements at src (aligned when W > 1) as compute values.
template <int W, class C, class T>
TF_DEVICE void load_vec(C (&dst)[W], const T* src) {
  alignas(16) T tmp[W];
  copy_aligned<W>(tmp, src);
#pragma unroll
  for (int k = 0; k < W; ++k) dst[k] = load_elem<C>(tmp[k]);
}

// bf16 in pairs: the low element is its word shifted up, the high one its word masked, one
// instruction each (element by element the high one takes two).
template <int W, class C>
TF_DEVICE void load_vec(C (&dst)[W], const bf16_t* src) {
  if constexpr (W % 2 == 0) {
    alignas(16) unsigned int tmp[W / 2];
    copy_aligned<W / 2>(tmp, reinterpret_cast<const unsigned int*>(src));
#pragma unroll
    for (int k = 0; k < W / 2; ++k) {
      dst[2 * k] = convert_to<C>(bits_to_float(tmp[k] << 16));
      dst[2 * k + 1] = convert_to<C>(bits_to_float(tmp[k] & 0xffff0000u));
    }
  } else {
#pragma unroll
    for (int k = 0; k < W; ++k) dst[k] = load_elem<C>(src[k]);
  }
}

// W packed i4 elements from element index i (kFull access): whole bytes when W is even
// (then i is too: vector steps start at multiples of W), one nibble each otherwise.
template <int W, class C>
TF_DEVICE void load_i4(C (&dst)[W], const i4x2_t* src, long long i) {
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(src);
  if constexpr (W % 2 == 0) {
    alignas(16) unsigned char tmp[W / 2];
    copy_aligned<W / 2>(tmp, bytes + i / 2);
#pragma unroll
    for (int k = 0; k < W / 2; ++k) {
      dst[2 * k] = static_cast<C>(i4_elem(tmp[k], 0));
      dst[2 * k + 1] = static_cast<C>(i4_elem(tmp[k], 1));
    }
  } else {
#pragma unroll
    for (int k = 0; k < W; ++k) dst[k] = static_cast<C>(i4_elem(bytes[(i + k) / 2], static_cast<int>((i + k) & 1)));
  }
}

// Element `off` of an operand as compute kind C; packed i4 takes its nibble.
template <class C, class T> TF_DEVICE C read_elem(const T* src, long long off) { return load_elem<C>(src[off]); }
template <class C> TF_DEVICE C read_elem(const i4x2_t* src, long long off) {
  return static_cast<C>(i4_elem(reinterpret_cast<const unsigned char*>(src)[off >> 1], static_cast<int>(off & 1)));
}

// Element `off` of src in all W values.
template <int W, class C, class T>
TF_DEVICE void load_one(C (&dst)[W], const T* src, long long off) {
  const C v = read_elem<C>(src, off);
#pragma unroll
  for (int k = 0; k < W; ++k) dst[k] = v;
}

template <int W, class C, class T>
TF_DEVICE void load_bcast(C (&dst)[W], const T* src) { load_one<W>(dst, src, 0); }

// Stores N 32-bit words at dst, in global memory, aligned to min(16, 4 * N) bytes, with
// the widest accesses. 16 bytes go out through an explicit vector store: in the GEMM
// epilogue the compiler split a uint4 assignment into four 32-bit stores (four times the
// store requests, 67% of the sectors excess in ncu).
template <int N>
TF_DEVICE void store_words(void* dst, const unsigned (&w)[N]) {
  if constexpr (N % 4 == 0) {
#pragma unroll
    for (int k = 0; k < N / 4; ++k) {
      asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"l"(__cvta_generic_to_global(
                       reinterpret_cast<uint4*>(dst) + k)),
                   "r"(w[4 * k]), "r"(w[4 * k + 1]), "r"(w[4 * k + 2]), "r"(w[4 * k + 3])
                   : "memory");
    }
  } else if constexpr (N == 2) {
    *reinterpret_cast<uint2*>(dst) = make_uint2(w[0], w[1]);
  } else {
#pragma unroll
    for (int k = 0; k < N; ++k) reinterpret_cast<unsigned*>(dst)[k] = w[k];
  }
}

TF_DEVICE unsigned storage_bits(float x) { return float_to_bits(x); }
TF_DEVICE unsigned storage_bits(int x) { return static_cast<unsigned>(x); }
TF_DEVICE unsigned storage_bits(bf16_t x) { return x.bits; }
TF_DEVICE unsigned storage_bits(half_t x) { return x.bits; }
TF_DEVICE unsigned storage_bits(f8e4m3_t x) { return x.bits; }
TF_DEVICE unsigned storage_bits(f8e5m2_t x) { return x.bits; }
TF_DEVICE unsigned storage_bits(signed char x) { return static_cast<unsigned char>(x); }
// Two 1-byte elements (lo in the low byte); the float8 types convert a pair at once.
template <class T> struct StorePair {
  template <class C> TF_DEVICE static unsigned bits(C lo, C hi) {
    return storage_bits(Store<T>::of(lo)) | (storage_bits(Store<T>::of(hi)) << 8);
  }
};
template <> struct StorePair<f8e4m3_t> {
  TF_DEVICE static unsigned bits(float lo, float hi) { return f8e4m3x2_bits(lo, hi); }
};
template <> struct StorePair<f8e5m2_t> {
  TF_DEVICE static unsigned bits(float lo, float hi) { return f8e5m2x2_bits(lo, hi); }
};

template <int W, class T, class C>
TF_DEVICE void store_vec(T* dst, const C (&src)[W]) {
  if constexpr (sizeof(T) == 4 && W > 1) {
    unsigned w[W];
#pragma unroll
    for (int k = 0; k < W; ++k) w[k] = storage_bits(Store<T>::of(src[k]));
    store_words<W>(dst, w);
  } else if constexpr (sizeof(T) == 2 && W % 2 == 0) {
    unsigned w[W / 2];
#pragma unroll
    for (int k = 0; k < W / 2; ++k) {
      w[k] = storage_bits(Store<T>::of(src[2 * k])) | (storage_bits(Store<T>::of(src[2 * k + 1])) << 16);
    }
    store_words<W / 2>(dst, w);
  } else if constexpr (sizeof(T) == 1 && W % 4 == 0) {
    unsigned w[W / 4];
#pragma unroll
    for (int k = 0; k < W / 4; ++k) {
      w[k] = StorePair<T>::bits(src[4 * k], src[4 * k + 1]) | (StorePair<T>::bits(src[4 * k + 2], src[4 * k + 3]) << 16);
    }
    store_words<W / 4>(dst, w);
  } else {
    alignas(16) T tmp[W];
#pragma unroll
    for (int k = 0; k < W; ++k) tmp[k] = Store<T>::of(src[k]);
    copy_aligned<W>(dst, tmp);
  }
}

// Asks L2 for n elements at src, without registers or a wait: a later load of them then
// hits L2. One bulk prefetch (sm_90) over the 16-byte-aligned span that covers them;
// nothing on older targets.
template <class T>
TF_DEVICE void prefetch_l2(const T* src, long long n) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const unsigned long long lo = reinterpret_cast<unsigned long long>(src) & ~15ull;
  const unsigned long long hi = (reinterpret_cast<unsigned long long>(src + n) + 15ull) & ~15ull;
  if (n > 0 && hi - lo < (1ull << 31)) {
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(lo), "r"(static_cast<unsigned>(hi - lo))
                 : "memory");
  }
#else
  (void)src;
  (void)n;
#endif
}

// Programmatic dependent launch (sm_90; Plan::Run launches a plan's later kernels with
// it): the kernel may be launched before its predecessor in the stream has finished, so
// every entry calls this first; it returns once the predecessors completed and their
// writes are visible (a no-op for a kernel launched without the attribute). Nothing here
// triggers the next kernel early (griddepcontrol.launch_dependents): measured on the
// H200, CTAs waiting beside a running kernel slowed it (docs/NOTES.md).
TF_DEVICE void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// i % n, in 32 bits when both fit: a 64-bit remainder costs several times more, and
// broadcast operands (a bias over the columns) take one per access. A power of two (most
// hidden sizes) is a mask: one instruction instead of some twenty, one of them on the
// multi-function unit, in GEMM epilogues that run beside the other warpgroup's wgmmas.
TF_DEVICE long long mod_index(long long i, long long n) {
  if ((n & (n - 1)) == 0) return i & (n - 1);
  if (((i | n) >> 32) == 0) return static_cast<unsigned>(i) % static_cast<unsigned>(n);
  return i % n;
}

TF_DEVICE long long div_index(long long i, long long n) {
  if (((i | n) >> 32) == 0) return static_cast<unsigned>(i) / static_cast<unsigned>(n);
  return i / n;
}

// W elements from flat index i of an operand broadcast over trailing dims of size n (one
// value per n elements): one division, then the row steps as the elements cross it.
template <int W, class C, class T>
TF_DEVICE void load_outer(C (&dst)[W], const T* src, long long i, long long n) {
  long long q = div_index(i, n), r = i - q * n;
  if (W > 1 && r + W <= n) return load_one<W>(dst, src, q);  // the W elements in one row: one read
#pragma unroll
  for (int k = 0; k < W; ++k) {
    dst[k] = read_elem<C>(src, q);
    if (++r == n) {
      r = 0;
      ++q;
    }
  }
}

// Element offset of flat index i of an [.., K] space in an operand holding one value per
// `group` elements of each row, `groups` per row (Access::kGroup).
TF_DEVICE long long group_offset(long long i, long long K, long long group, long long groups) {
  const long long row = div_index(i, K), c = i - row * K;
  return row * groups + c / group;
}

// W elements from flat index i of such an operand: one division, then the group steps as
// the elements cross it (a 16-element load inside one group of 128 reads one value).
template <int W, class C, class T>
TF_DEVICE void load_group(C (&dst)[W], const T* src, long long i, long long K, long long group, long long groups) {
  const long long row = div_index(i, K);
  long long c = i - row * K, at = row * groups + c / group, in_group = c % group;
  if (W > 1 && in_group + W <= group && c + W <= K) return load_one<W>(dst, src, at);  // one group: one read
#pragma unroll
  for (int k = 0; k < W; ++k) {
    dst[k] = read_elem<C>(src, at);
    if (++c == K) {
      c = 0;
      in_group = 0;
      ++at;
    } else if (++in_group == group) {
      in_group = 0;
      ++at;
    }
  }
}

// The coordinates of flat index i (< the index space's size) over an index space of R
// dims. The leading coordinate takes no modulo; an index below 2^31 divides in 32 bits (a
// 64-bit division by a run-time divisor is a slow-path call of about 70 instructions).
// Every strided operand of a site indexes the site's space, so one Coords serves them all.
// a / b of an index past 2^31, out of line: element loops that decompose several indices
// each keep one call instead of the 64-bit division's inlined setup (RoPE's loop body held
// 96 of them). Values only, so that no coordinate goes through local memory.
__device__ __noinline__ long long div_wide(long long a, long long b) { return a / b; }

template <int R>
struct Coords {
  long long c[R];
  TF_DEVICE Coords(long long i, const long long* dims) {
    if (static_cast<unsigned long long>(i) < (1ull << 31)) {
      unsigned j = static_cast<unsigned>(i);
#pragma unroll
      for (int d = R - 1; d > 0; --d) {
        const unsigned long long size = static_cast<unsigned long long>(dims[d]);
        const unsigned q = size > j ? 0u : j / static_cast<unsigned>(size);
        c[d] = j - q * static_cast<unsigned>(size);
        j = q;
      }
      c[0] = j;
      return;
    }
#pragma unroll
    for (int d = R - 1; d > 0; --d) {
      const long long q = div_wide(i, dims[d]);
      c[d] = i - q * dims[d];
      i = q;
    }
    c[0] = i;
  }
  TF_DEVICE long long offset(const long long* strides) const {
    long long off = 0;
#pragma unroll
    for (int d = 0; d < R; ++d) off += c[d] * strides[d];
    return off;
  }
};

// Element offset of flat index i for an operand with per-dim strides (0 where the operand
// is broadcast) over an index space of R dims; `last` receives i's coordinate along the
// last dim.
template <int R>
TF_DEVICE long long strided_offset(long long i, const long long* dims, const long long* strides, long long& last) {
  const Coords<R> at(i, dims);
  last = at.c[R - 1];
  return at.offset(strides);
}
template <int R>
TF_DEVICE long long strided_offset(long long i, const long long* dims, const long long* strides) {
  long long last;
  return strided_offset<R>(i, dims, strides, last);
}

// Offsets of consecutive flat indices i + l: i's coordinates found once, then stepped along
// the last dim (recomputed only where a step would cross it).
template <int R>
struct StridedRun {
  long long i, base, last;
  TF_DEVICE StridedRun(long long i0, const long long* dims, const long long* strides) : i(i0) {
    base = strided_offset<R>(i0, dims, strides, last);
  }
  // From i0's coordinates, found once for the site.
  TF_DEVICE StridedRun(long long i0, const Coords<R>& at, const long long* strides)
      : i(i0), base(at.offset(strides)), last(at.c[R - 1]) {}
  TF_DEVICE long long at(int l, const long long* dims, const long long* strides) const;
};

// A run's element past its last-dim row: its coordinates found again, out of line. Inlined,
// each of a W-element loop's steps held R - 1 divisions, and a GEMM's unrolled loads many
// such loops (a batched GEMM over broadcast operands: 25k lines of PTX, 10 s of NVRTC).
// The extents travel by value, so that no parameter or coordinate goes through memory.
template <int R>
struct Extents {
  long long v[R];
};
template <int R>
TF_DEVICE Extents<R> extents_of(const long long* p) {
  Extents<R> e;
#pragma unroll
  for (int d = 0; d < R; ++d) e.v[d] = p[d];
  return e;
}
template <int R>
__device__ __noinline__ long long offset_past_row(long long i, Extents<R> dims, Extents<R> strides) {
  return strided_offset<R>(i, dims.v, strides.v);
}
template <int R>
TF_DEVICE long long StridedRun<R>::at(int l, const long long* dims, const long long* strides) const {
  if (R > 1 && last + l >= dims[R - 1]) return offset_past_row<R>(i + l, extents_of<R>(dims), extents_of<R>(strides));
  return base + l * strides[R - 1];
}

// An iota's element at offset `off` (OperandSpec::iota): start + step * off, rounded to the
// storage type T as a stored element would be, then read as compute kind C. `view` is the
// operand's pointer, which for an iota carries its view's offset from address 0.
template <class C, class T>
TF_DEVICE C iota_elem(const T* view, long long start, long long step, long long off) {
  off += static_cast<long long>(reinterpret_cast<unsigned long long>(view) / sizeof(T));
  return load_elem<C>(Store<T>::of(static_cast<float>(static_cast<double>(start) + static_cast<double>(step) * off)));
}
template <class C>
TF_DEVICE C iota_elem(const int* view, long long start, long long step, long long off) {
  off += static_cast<long long>(reinterpret_cast<unsigned long long>(view) / sizeof(int));
  return static_cast<C>(static_cast<int>(start + step * off));
}

// A strided iota's W elements from its run: straight-line where the run stays in one row
// (the common case), element by element where it crosses one.
template <int W, int R, class C, class T>
TF_DEVICE void iota_run(C (&dst)[W], const T* view, long long start, long long step, const StridedRun<R>& run,
                        const long long* dims, const long long* strides) {
  if constexpr (R > 1) {  // (a branch of its own: with one dim the run never wraps)
    if (run.last + W > dims[R - 1]) {
#pragma unroll
      for (int k = 0; k < W; ++k) dst[k] = iota_elem<C>(view, start, step, run.at(k, dims, strides));
      return;
    }
  }
#pragma unroll
  for (int k = 0; k < W; ++k) dst[k] = iota_elem<C>(view, start, step, run.base + k * strides[R - 1]);
}

// The element offset a gather reads: `site`, the strided offset of its element over the R
// dims of the index space (0 along the gathered axis; a StridedRun's), plus the index,
// clamped into the axis (dims[R] long, stride strides[R]).
template <int R>
TF_DEVICE long long gather_at(long long site, int index, const long long* dims, const long long* strides) {
  const long long at = index < 0 ? 0 : index >= dims[R] ? dims[R] - 1 : index;
  return site + at * strides[R];
}

// True where the W elements from src + off are one aligned vector access (load_vec's
// alignment: 16 bytes, or the whole access where it is narrower). Never for packed i4.
template <int W, class T>
TF_DEVICE bool vector_at(const T* src, long long off) {
  constexpr unsigned long long kBytes = W * sizeof(T);
  constexpr unsigned long long kAlign = kBytes % 16 == 0 ? 16 : kBytes;
  return W > 1 && (kBytes % 16 == 0 || kBytes == 8 || kBytes == 4) &&
         reinterpret_cast<unsigned long long>(src + off) % kAlign == 0;
}
template <int W>
TF_DEVICE bool vector_at(const i4x2_t*, long long) { return false; }

// A strided operand's W elements from flat index i: one vector access where the run is
// contiguous within one last-dim row and aligned (a slice or a permute that keeps the
// last dim: the common case), one read where it is broadcast along that row, else element
// by element.
template <int W, int R, class C, class T>
TF_DEVICE void load_run(C (&dst)[W], const T* src, const StridedRun<R>& run, const long long* dims,
                        const long long* strides) {
  if (W > 1 && (R == 1 || run.last + W <= dims[R - 1])) {
    if (strides[R - 1] == 1 && vector_at<W>(src, run.base)) return load_vec<W>(dst, src + run.base);
    if (strides[R - 1] == 0) return load_one<W>(dst, src, run.base);
  }
#pragma unroll
  for (int k = 0; k < W; ++k) dst[k] = read_elem<C>(src, run.at(k, dims, strides));
}
template <int W, int R, class C, class T>
TF_DEVICE void load_strided(C (&dst)[W], const T* src, long long i, const long long* dims,
                            const long long* strides) {
  load_run<W>(dst, src, StridedRun<R>(i, dims, strides), dims, strides);
}

// A gather's W elements, at positions idx along its axis (dims[R] long, stride strides[R])
// from the sites of `run` (0 along the axis): one vector access where the sites are one
// (the axis is the last dim) and the positions consecutive, inside the axis and aligned
// (cat's parts and rotations: positions at an iota plus a constant), one read where all
// clamp to the same end, else element by element with the positions clamped.
template <int W, int R, class C, class T>
TF_DEVICE void load_gather(C (&dst)[W], const T* src, const StridedRun<R>& run, const int (&idx)[W],
                           const long long* dims, const long long* strides) {
  if (W > 1 && strides[R - 1] == 0 && run.last + W <= dims[R - 1]) {
    bool consecutive = true, below = true, above = true;
#pragma unroll
    for (int k = 0; k < W; ++k) {
      consecutive &= idx[k] == idx[0] + k;
      below &= idx[k] <= 0;
      above &= idx[k] >= dims[R] - 1;
    }
    // All clamped to one end (the lanes of another part of a cat): one read.
    if (below || above) return load_one<W>(dst, src, run.base + (below ? 0 : (dims[R] - 1) * strides[R]));
    if (consecutive && strides[R] == 1 && idx[0] >= 0 && idx[0] + W <= dims[R] &&
        vector_at<W>(src, run.base + idx[0])) {
      return load_vec<W>(dst, src + run.base + idx[0]);
    }
  }
#pragma unroll
  for (int k = 0; k < W; ++k) dst[k] = read_elem<C>(src, gather_at<R>(run.at(k, dims, strides), idx[k], dims, strides));
}

template <class Hooks>
TF_DEVICE void pointwise_kernel(const typename Hooks::Params& p) {
  constexpr int V = Hooks::kVec;
  const long long n = p.n;
  const long long start = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long step = static_cast<long long>(gridDim.x) * blockDim.x;
  long long scalar_from = 0;
  if (p.vector_ok) {
    const long long nvec = n / V;
    for (long long v = start; v < nvec; v += step) Hooks::template apply<V>(p, v * V);
    scalar_from = nvec * V;
  }
  for (long long i = scalar_from + start; i < n; i += step) Hooks::template apply<1>(p, i);
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_POINTWISE_CUH_
