// Asynchronous copies into shared memory and the barriers that wait for them: cp.async
// (sm_80), mbarriers (sm_90, the TMA's copies complete on them), and thread-block clusters
// with their distributed shared memory (sm_90). Used by the GEMM kernels.
#ifndef TILEFUSE_KERNELS_ASYNC_COPY_CUH_
#define TILEFUSE_KERNELS_ASYNC_COPY_CUH_

namespace tf {

TF_DEVICE unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
TF_DEVICE void cp_async16(unsigned dst, const void* src, bool pred) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(pred ? 16 : 0));
}
TF_DEVICE void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
TF_DEVICE void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

TF_DEVICE void mbar_init(unsigned long long* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count));
}
TF_DEVICE void mbar_wait(unsigned long long* bar, unsigned parity) {
  // Labels are scoped by the braces, so every inlined copy may reuse them.
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "TF_WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
      "@!p bra TF_WAIT;\n"
      "}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}
TF_DEVICE void mbar_arrive(unsigned long long* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
// Adds `bytes` of expected copy traffic to the barrier's current phase (no arrival).
TF_DEVICE void mbar_expect_tx(unsigned long long* bar, unsigned bytes) {
  asm volatile("mbarrier.expect_tx.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}

// The bulk tensor copy engine (TMA, sm_90). A CUtensorMap, opaque to device code; passed as a
// __grid_constant__ parameter.
struct alignas(64) TmaDesc {
  unsigned long long v[16];
};

// A box of the 2-D tensor map at (inner, outer) into shared memory, completing on `bar`.
TF_DEVICE void tma_load_2d(void* dst, const TmaDesc* map, unsigned long long* bar, int inner, int outer) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n"
      ::"r"(smem_addr(dst)), "l"(reinterpret_cast<unsigned long long>(map)), "r"(smem_addr(bar)), "r"(inner), "r"(outer)
      : "memory");
}
// The same box into the shared memory of every CTA of the cluster in `ctas` (a bit per
// rank), at dst's offset in each, completing on the barrier at bar's offset in each.
TF_DEVICE void tma_load_2d_multicast(void* dst, const TmaDesc* map, unsigned long long* bar, int inner, int outer,
                                     unsigned short ctas) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
      " [%0], [%1, {%3, %4}], [%2], %5;\n"
      ::"r"(smem_addr(dst)), "l"(reinterpret_cast<unsigned long long>(map)), "r"(smem_addr(bar)), "r"(inner), "r"(outer),
      "h"(ctas)
      : "memory");
}
// An arrival on the barrier at bar's offset in the shared memory of cluster CTA `rank`,
// relaxed: it orders no memory access (a release costs a fence per arrival, which made the
// multicast GEMM's main loop 3x slower); what it says is that this warp's wgmmas have read
// a stage, which they have when it is made.
TF_DEVICE void mbar_arrive_cluster(unsigned long long* bar, unsigned rank) {
  asm volatile(
      "{\n"
      ".reg .b32 remote;\n"
      "mapa.shared::cluster.u32 remote, %0, %1;\n"
      "mbarrier.arrive.relaxed.cluster.shared::cluster.b64 _, [remote];\n"
      "}\n" ::"r"(smem_addr(bar)),
      "r"(rank)
      : "memory");
}
// The first 1024-byte boundary at or after p (128-byte swizzle atoms repeat every 1024
// bytes). Pointer arithmetic, not an integer round trip, so that the compiler still knows
// the result is shared memory and emits LDS/STS with 32-bit addresses, not generic ones.
TF_DEVICE char* align1024(char* p) { return p + ((1024u - (smem_addr(p) & 1023u)) & 1023u); }
// mbarrier inits made visible to the other threads and to the async proxy (the TMA).
TF_DEVICE void fence_mbarrier_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }

// Thread-block clusters: the CTA's rank, the cluster-wide barrier in two halves (arrive
// releases this thread's memory operations, wait acquires everyone's), and 16- or 4-byte
// loads from another CTA's shared memory at the offset of a local address.
TF_DEVICE unsigned cluster_rank() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
TF_DEVICE void cluster_arrive() { asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory"); }
TF_DEVICE void cluster_wait() { asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory"); }
TF_DEVICE float4 cluster_load4(unsigned local, unsigned rank) {
  unsigned remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(local), "r"(rank));
  float4 v;
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "r"(remote) : "memory");
  return v;
}
TF_DEVICE float cluster_load1(unsigned local, unsigned rank) {
  unsigned remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(local), "r"(rank));
  float v;
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(remote) : "memory");
  return v;
}

}  // namespace tf

#endif  // TILEFUSE_KERNELS_ASYNC_COPY_CUH_
