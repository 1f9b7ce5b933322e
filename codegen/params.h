// The layout of a generated kernel's Params struct, shared by codegen (which declares it)
// and the runtime (which packs it): every field is 8 bytes, in this order.
#ifndef TILEFUSE_CODEGEN_PARAMS_H_
#define TILEFUSE_CODEGEN_PARAMS_H_

#include <string>
#include <vector>

#include "runtime/fusion/kernel_spec.h"

namespace tilefuse::internal {

struct ParamField {
  enum Kind {
    kOperandPtr,  // const T* in<index>
    kOutputPtr,   // T* out<index>
    kNumel,       // long long n: elements of the epilogue index space
    kVectorOk,    // long long vector_ok: 1 when every vector access is aligned
    kInner,       // long long inner<index>
    kDim,         // long long dims<index>[rank]: the operand's site index space
    kStride,      // long long stride<index>[rank]
    kRows,        // long long rows (tile kernels)
    kCols,        // long long cols (tile kernels)
    kEps,         // double eps (tile kernels)
    kDepth,       // long long depth: K of a matmul
    kRedCount,    // long long red_n: what a mean divides by (reductions)
    kPartial,     // float* part: per-tile partials of a split store-site reduction
    kSplitK,      // float* splitk: a split-K GEMM's fp32 tile partials [split][tile][BM * BN]
    kSplitCount,  // unsigned* splitk_count: its arrivals per tile, zero between launches
  };
  Kind kind;
  int index = 0;  // operand or output index
  int dim = 0;    // kDim, kStride
};

// Fields in declaration order. Arrays (dims, strides) appear as consecutive fields.
std::vector<ParamField> ParamLayout(const KernelSpec& spec);

// A kernel's parameters are at most this many 8-byte fields: the 4 KiB of kernel
// parameters every CUDA launch may pass. Compile refuses a kernel with more.
inline constexpr int kMaxParamWords = 512;

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_PARAMS_H_
