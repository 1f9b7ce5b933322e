"""Transformer blocks (Llama-3-8B sizes, bf16) timed on the GPU in one process (issue 20):
tilefuse through its Python binding, PyTorch eager, torch.compile (default mode), cuBLAS
running the block's GEMMs alone (gate and up as one [28672, 4096] GEMM), and those GEMMs
with separate kernels around them (torch's rms_norm, rope, silu and mul; residuals in the
GEMMs' addmm). Blocks:

  mlp     bench/blocks/llama_mlp.json: rms_norm -> gate and up GEMMs -> silu(gate) * up ->
          down GEMM + residual
  noattn  bench/blocks/llama_block_noattn.json: rms_norm -> QKV GEMM -> RoPE (rotate-half)
          on q and k, v stored; O projection of a given attention output + residual;
          rms_norm -> the MLP -> down + residual

Each variant is captured in a CUDA graph and replayed (what an engine does at decode: no
host time in the figures), L2 flushed (read) before each replay, CUDA events, median of 30, the variants timed in
turns. The
tilefuse column without graphs (host launch included) is printed too.

    PYTHONPATH=build/python python3 bench/torch_block.py [--block mlp noattn] [--m 16 4096]
"""
import argparse
import os
import statistics

import torch

import tilefuse

HERE = os.path.dirname(os.path.abspath(__file__))
HIDDEN, FFN, HEADS, KV_HEADS, HEAD_DIM = 4096, 14336, 32, 8, 128
BF16 = torch.bfloat16


def flush_l2(buf):
    """Reads `buf` (more than L2): what the block reads next comes from HBM. A read, not a
    write, so that no dirty lines are left for the next kernel to write back (after a
    write flush, up to L2's 50 MB of them: some 12 us of HBM time by arithmetic)."""
    torch.sum(buf)


def timed(fn, flush, runs=30):
    return timed_all([fn], flush, runs)[0]


def timed_all(fns, flush, runs=30):
    """Median device time of each of `fns`, timed in turns (one run of each per round), so
    that the card's clock and temperature drift over the rounds touches every variant alike.
    Before each run: `flush` read (flush_l2), or called where it is a function."""
    before = flush if callable(flush) else lambda: flush_l2(flush)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for fn in fns:
        fn()
    torch.cuda.synchronize()
    times = [[] for _ in fns]
    for _ in range(runs):
        for fn, t in zip(fns, times):
            before()
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            t.append(start.elapsed_time(stop) * 1e3)
    return [statistics.median(t) for t in times]


def graphed(fn):
    """fn captured in a CUDA graph (after a warm run), returned as its replay."""
    fn()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay


def rms(x, w):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(BF16) * w


def mlp_eager(h, wg, wu, wd, res):
    return torch.nn.functional.silu(h @ wg.T) * (h @ wu.T) @ wd.T + res


def rope(qk, cos, sin):
    x1, x2 = qk[..., :HEAD_DIM // 2], qk[..., HEAD_DIM // 2:]
    rot = torch.cat([-x2, x1], -1)
    return (qk.float() * cos + rot.float() * sin).to(BF16)


class Mlp:
    name, file = "mlp", "blocks/llama_mlp.json"

    def __init__(self, m, dev):
        self.w_norm = (1 + 0.1 * torch.randn(HIDDEN, device=dev)).to(BF16)
        self.wg = (torch.randn(FFN, HIDDEN, device=dev) / 64).to(BF16)
        self.wu = (torch.randn(FFN, HIDDEN, device=dev) / 64).to(BF16)
        self.wd = (torch.randn(HIDDEN, FFN, device=dev) / 120).to(BF16)
        self.wgu = torch.cat([self.wg, self.wu]).contiguous()
        self.x = torch.randn(m, HIDDEN, device=dev).to(BF16)
        self.inputs = [self.x, self.w_norm, self.wg, self.wu, self.wd]
        self.outputs = [torch.empty_like(self.x)]
        self.gu = torch.empty(m, 2 * FFN, device=dev, dtype=BF16)
        self.a = torch.empty(m, FFN, device=dev, dtype=BF16)

    def eager(self):
        return [mlp_eager(rms(self.x, self.w_norm), self.wg, self.wu, self.wd, self.x)]

    def gemms(self):
        torch.matmul(self.x, self.wgu.T, out=self.gu)
        torch.matmul(self.a, self.wd.T, out=self.outputs[0])

    def separate(self):
        h = torch.nn.functional.rms_norm(self.x, (HIDDEN,), self.w_norm, 1e-5)
        gu = h @ self.wgu.T
        a = torch.nn.functional.silu(gu[:, :FFN]) * gu[:, FFN:]
        return [torch.addmm(self.x, a, self.wd.T)]


class NoAttn:
    name, file = "noattn", "blocks/llama_block_noattn.json"

    def __init__(self, m, dev):
        qkv = (HEADS + 2 * KV_HEADS) * HEAD_DIM
        self.x = torch.randn(m, HIDDEN, device=dev).to(BF16)
        self.attn = torch.randn(m, HIDDEN, device=dev).to(BF16)
        pos = torch.arange(m, device=dev, dtype=torch.float32)[:, None]
        inv = 500000.0 ** (-torch.arange(0, HEAD_DIM, 2, device=dev, dtype=torch.float32) / HEAD_DIM)
        ang = torch.cat([pos * inv, pos * inv], -1)[:, None, :]
        self.cos, self.sin = ang.cos().contiguous(), ang.sin().contiguous()
        self.wn1 = (1 + 0.1 * torch.randn(HIDDEN, device=dev)).to(BF16)
        self.wqkv = (torch.randn(qkv, HIDDEN, device=dev) / 64).to(BF16)
        self.wo = (torch.randn(HIDDEN, HIDDEN, device=dev) / 64).to(BF16)
        self.wn2 = (1 + 0.1 * torch.randn(HIDDEN, device=dev)).to(BF16)
        self.wg = (torch.randn(FFN, HIDDEN, device=dev) / 64).to(BF16)
        self.wu = (torch.randn(FFN, HIDDEN, device=dev) / 64).to(BF16)
        self.wd = (torch.randn(HIDDEN, FFN, device=dev) / 120).to(BF16)
        self.wgu = torch.cat([self.wg, self.wu]).contiguous()
        self.inputs = [self.x, self.attn, self.cos, self.sin, self.wn1, self.wqkv, self.wo, self.wn2, self.wg,
                       self.wu, self.wd]
        self.outputs = [torch.empty(m, HEADS + KV_HEADS, HEAD_DIM, device=dev, dtype=BF16),
                        torch.empty(m, KV_HEADS, HEAD_DIM, device=dev, dtype=BF16), torch.empty_like(self.x)]
        self.buf_qkv = torch.empty(m, qkv, device=dev, dtype=BF16)
        self.buf_gu = torch.empty(m, 2 * FFN, device=dev, dtype=BF16)
        self.buf_a = torch.empty(m, FFN, device=dev, dtype=BF16)
        self.buf_h = torch.empty_like(self.x)

    def eager(self):
        m = self.x.shape[0]
        heads = (rms(self.x, self.wn1) @ self.wqkv.T).view(m, HEADS + 2 * KV_HEADS, HEAD_DIM)
        qk_rot = rope(heads[:, :HEADS + KV_HEADS], self.cos, self.sin)
        h2 = self.attn @ self.wo.T + self.x
        y = mlp_eager(rms(h2, self.wn2), self.wg, self.wu, self.wd, h2)
        return [qk_rot, heads[:, HEADS + KV_HEADS:].contiguous(), y]

    def gemms(self):
        torch.matmul(self.x, self.wqkv.T, out=self.buf_qkv)
        torch.matmul(self.attn, self.wo.T, out=self.buf_h)
        torch.matmul(self.buf_h, self.wgu.T, out=self.buf_gu)
        torch.matmul(self.buf_a, self.wd.T, out=self.outputs[2])

    def separate(self):
        m = self.x.shape[0]
        h1 = torch.nn.functional.rms_norm(self.x, (HIDDEN,), self.wn1, 1e-5)
        heads = (h1 @ self.wqkv.T).view(m, HEADS + 2 * KV_HEADS, HEAD_DIM)
        qk_rot = rope(heads[:, :HEADS + KV_HEADS], self.cos, self.sin)
        h2 = torch.addmm(self.x, self.attn, self.wo.T)
        h3 = torch.nn.functional.rms_norm(h2, (HIDDEN,), self.wn2, 1e-5)
        gu = h3 @ self.wgu.T
        a = torch.nn.functional.silu(gu[:, :FFN]) * gu[:, FFN:]
        return [qk_rot, heads[:, HEADS + KV_HEADS:].contiguous(), torch.addmm(h2, a, self.wd.T)]


def profile(title, fn, flush):
    """The kernels of one replay of `fn` captured in a CUDA graph, after an L2 flush, in
    launch order with their device times (what the timed columns run, kernel by kernel)."""
    replay = graphed(fn)
    replay()
    flush_l2(flush)
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        replay()
        torch.cuda.synchronize()
    rows = sorted((e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA),
                  key=lambda e: e.time_range.start)
    print(f"  {title}: {sum(e.device_time for e in rows):.1f} us in {len(rows)} kernels")
    for e in rows:
        print(f"    {e.device_time:9.1f} us  {e.name[:100]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--block", nargs="+", default=["mlp", "noattn"])
    ap.add_argument("--m", type=int, nargs="+", default=[16, 4096])
    ap.add_argument("--profile", action="store_true", help="per-kernel times (torch.profiler) of tilefuse and compile")
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = "cuda"
    flush = torch.empty(64 << 20, device=dev, dtype=torch.float32)  # 256 MiB: more than L2
    print(f"tilefuse {tilefuse.version()}, torch {torch.__version__}, {torch.cuda.get_device_name()}")
    for block in [b for b in (Mlp, NoAttn) if b.name in args.block]:
        graph = tilefuse.Graph.from_file(os.path.join(HERE, block.file))
        plan = tilefuse.compile(graph)
        serial = tilefuse.compile(graph, overlap_launches=False)  # the same kernels, one after another
        print(f"\nblock {block.name}: tilefuse plan of {plan.num_kernels} kernels; us, CUDA graphs replayed"
              f" (tilefuse launched from Python: 'tf host'; without overlapped launches: 'tf serial');"
              f" cuBLAS: the GEMMs alone; +k: with separate kernels")
        print(f"{'M':>6} {'tilefuse':>9} {'tf host':>8} {'tf serial':>9} {'eager':>9} {'compile':>9} {'cuBLAS':>9}"
              f" {'cuBLAS+k':>9}"
              f" {'tf/compile':>10} {'tf/cuBLAS':>9} {'tf/+k':>7}")
        for m in args.m:
            b = block(m, dev)
            compiled = torch.compile(block.eager)
            want = b.eager()
            stream = torch.cuda.current_stream().cuda_stream
            plan.run(b.inputs, b.outputs, stream=stream)
            torch.cuda.synchronize()
            for k, (got, ref) in enumerate(zip(b.outputs, want)):
                err = (got.float() - ref.float()).abs().max().item()
                scale = ref.float().abs().max().item()
                assert err <= 0.02 * scale + 0.05, f"{block.name} M={m} output {k}: differs by {err} (max {scale})"
            compiled(b)  # compiles here, not in the timing

            def tf_run():
                plan.run(b.inputs, b.outputs, stream=torch.cuda.current_stream().cuda_stream)

            def tf_serial():
                serial.run(b.inputs, b.outputs, stream=torch.cuda.current_stream().cuda_stream)

            if args.profile:
                profile(f"{block.name} M={m} tilefuse", tf_run, flush)
                profile(f"{block.name} M={m} tilefuse serial", tf_serial, flush)
                profile(f"{block.name} M={m} torch.compile", lambda: compiled(b), flush)
            try:
                tf_graph = graphed(tf_run)
            except RuntimeError as e:  # a capture the binding cannot take part in
                print(f"  tilefuse in a CUDA graph failed ({e}); its column is the launch from Python")
                torch.cuda.synchronize()
                tf_graph = tf_run
            tf_serial()
            t_tf, t_host, t_serial, t_eager, t_comp, t_blas, t_sep = timed_all(
                [tf_graph, tf_run, graphed(tf_serial), graphed(b.eager), graphed(lambda: compiled(b)),
                 graphed(b.gemms), graphed(b.separate)], flush)
            print(f"{m:>6} {t_tf:>9.1f} {t_host:>8.1f} {t_serial:>9.1f} {t_eager:>9.1f} {t_comp:>9.1f}"
                  f" {t_blas:>9.1f} {t_sep:>9.1f}"
                  f" {t_tf / t_comp:>10.3f} {t_tf / t_blas:>9.3f} {t_tf / t_sep:>7.3f}")


if __name__ == "__main__":
    main()
