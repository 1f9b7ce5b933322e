// The hook contract between tile kernels and generated code. Read this to write a tile
// kernel of your own; kernels/rowwise.cuh is the worked example.
//
// A tile kernel is a function template over a `Hooks` type, H. It never touches a fusible
// operand's memory itself: it reads logical input j and writes its output only through
// hooks that tilefuse generates per fusion, so one template serves every fusion.
//
//   struct H {
//     struct Params;                 // generated: pointers, sizes (rows, cols), eps, ...
//     static constexpr int kVec;     // elements per vector access (16-byte accesses)
//     static constexpr int kThreads, kRowThreads, kVecs;   // the launch config (row-wise)
//     // Logical input j at flat index i of its index space (x: row * cols + col; a
//     // per-column parameter: col), W consecutive elements, as fp32. The hook applies
//     // the input's prologue (casts, scales, + residual, ...) and stores prologue values
//     // the graph needs elsewhere, so a kernel must call it exactly once per element.
//     template <int W> static void load_in<j>(const Params&, long long i, float (&v)[W]);
//     // The kernel's value for W consecutive output elements at flat index i. The hook
//     // applies the epilogue (activation, bias, residual, casts) and stores every output
//     // the graph needs. Called exactly once per element.
//     template <int W> static void store(const Params&, long long i, const float (&v)[W]);
//     // A dual GEMM (kDual: two B operands, one product each; runtime/fusion/dual_gemm.h)
//     // hands the store hook both products of the W elements instead:
//     template <int W> static void store(const Params&, long long i, const float (&v)[W],
//                                        const float (&v2)[W]);
//     // A hint (row-wise kernels): the elements [i, i + n) of load_in0 will be loaded
//     // soon; their operands are asked of L2 now. Loads nothing, may be skipped.
//     static void prefetch_in0(const Params&, long long i, long long n);
//     // A hint (the mma.sync GEMM kernel): the epilogue will soon store the rows x cols tile at
//     // (m0, n0) of the output ([rows, cols] of Params); the operands it reads there are
//     // asked of L2 now. A warp calls it; `lane` picks this thread's share.
//     static void prefetch_tile(const Params&, long long m0, long long n0, long long rows,
//                               long long cols, int lane);
//     // GEMM kernels: with kAccInit set, the accumulators of output column n start from
//     // load_acc's value (W columns from n on; W is 1, n < cols) instead of zero: an
//     // operand added along the columns (a bias), which the store hook then no longer
//     // adds. Split-K adds it in one split only.
//     static constexpr bool kAccInit;
//     template <int W> static void load_acc(const Params&, long long n, float (&v)[W]);
//
//     // A store-site reduction (kReduceOp >= 0: 0 sum, 1 amax, 2 amin, 3 mean, 5 var
//     // with kCorrection; see kernels/reduce_ops.cuh) over axis kReduceAxis of the
//     // output (1: along a row, 0: down a column). The kernel calls store_reduce instead
//     // of store: it stores like store and hands back in red the values to reduce (the
//     // epilogue's reduced input). The kernel combines them in a fixed order
//     // (tf::reduce_apply, or tf::welford_merge for var) and passes each finished result,
//     // for output index o (the row or column), to store_reduced: acc is the value (for
//     // var, the mean), acc2 the variance (var only). store_reduced finishes a mean and
//     // applies what follows the reduction. With kReduceSplit set the kernel writes
//     // per-tile partials to Params::part instead (one float, or n, mean, m2 for var) and
//     // a second kernel combines them. Kernels without a reduction see kReduceOp = -1.
//     static constexpr int kReduceOp, kReduceAxis, kCorrection;
//     static constexpr bool kReduceSplit;
//     template <int W> static void store_reduce(const Params&, long long i,
//                                               const float (&v)[W], float (&red)[W]);
//     static void store_reduced(const Params&, long long o, float acc, float acc2);
//   };
//
// W is kVec on the vector path (when Params::vector_ok is set: aligned pointers and rows
// that are whole vectors) and 1 otherwise; a kernel must handle both. The entry point is
// generated: extern "C" __global__ void tf_<hash>(const Params p) { my_kernel<Hooks>(p); }
#ifndef TILEFUSE_KERNELS_HOOK_CONTRACT_CUH_
#define TILEFUSE_KERNELS_HOOK_CONTRACT_CUH_

namespace tf {

// A row of `cols` elements starting at flat index row * cols: the index a row-wise kernel
// passes to load_in0 and store for column c.
TF_DEVICE long long row_index(long long row, long long cols, long long c) { return row * cols + c; }

}  // namespace tf

#endif  // TILEFUSE_KERNELS_HOOK_CONTRACT_CUH_
