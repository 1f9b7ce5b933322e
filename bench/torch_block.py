"""A transformer block's MLP (bench/blocks/llama_mlp.json: rms_norm -> gate and up GEMMs ->
silu(gate) * up -> down GEMM + residual, Llama-3-8B sizes, bf16) timed four ways on the
GPU in one process (issue 20): tilefuse through its Python binding, PyTorch eager,
torch.compile (default mode), cuBLAS running the GEMMs alone (gate and up as one
[28672, 4096] GEMM, then down), and those GEMMs with separate kernels around them (torch's
rms_norm, silu and mul, the residual in the down GEMM's addmm). CUDA events, L2 flushed
before each run, median of 30.

    PYTHONPATH=build/python python3 bench/torch_block.py [--m 16 4096]
"""
import argparse
import os
import statistics

import torch

import tilefuse

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(fn, flush, runs=30):
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        flush.add_(1)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e3)
    return statistics.median(times)


def eager(x, w_norm, wg, wu, wd):
    xf = x.float()
    h = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(torch.bfloat16) * w_norm
    a = torch.nn.functional.silu(h @ wg.T) * (h @ wu.T)
    return a @ wd.T + x


def separate(x, w_norm, wgu, wd):
    ffn = wgu.shape[0] // 2
    h = torch.nn.functional.rms_norm(x, (x.shape[1],), w_norm, 1e-5)
    gu = h @ wgu.T
    a = torch.nn.functional.silu(gu[:, :ffn]) * gu[:, ffn:]
    return torch.addmm(x, a, wd.T)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", type=int, nargs="+", default=[16, 4096])
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = "cuda"
    hidden, ffn = 4096, 14336
    w_norm = (1 + 0.1 * torch.randn(hidden, device=dev)).to(torch.bfloat16)
    wg = (torch.randn(ffn, hidden, device=dev) / 64).to(torch.bfloat16)
    wu = (torch.randn(ffn, hidden, device=dev) / 64).to(torch.bfloat16)
    wd = (torch.randn(hidden, ffn, device=dev) / 120).to(torch.bfloat16)
    wgu = torch.cat([wg, wu]).contiguous()
    flush = torch.empty(64 << 20, device=dev, dtype=torch.float32)  # 256 MiB: more than L2

    graph = tilefuse.Graph.from_file(os.path.join(HERE, "blocks/llama_mlp.json"))
    plan = tilefuse.compile(graph)
    compiled = torch.compile(eager)
    stream = torch.cuda.current_stream().cuda_stream
    print(f"tilefuse {tilefuse.version()}, torch {torch.__version__}, {torch.cuda.get_device_name()}")
    print(f"tilefuse plan: {plan.num_kernels} kernels")
    print(f"{'M':>6} {'tilefuse':>10} {'eager':>10} {'compile':>10} {'cuBLAS':>10} {'cuBLAS+k':>10}"
          f" {'tf/eager':>9} {'tf/compile':>10} {'tf/cuBLAS':>10} {'tf/cuBLAS+k':>11}"
          f"   (us; cuBLAS: the GEMMs alone; +k: with separate kernels)")
    for m in args.m:
        x = torch.randn(m, hidden, device=dev).to(torch.bfloat16)
        y = torch.empty_like(x)
        want = eager(x, w_norm, wg, wu, wd)
        plan.run([x, w_norm, wg, wu, wd], [y], stream=stream)
        torch.cuda.synchronize()
        err = (y.float() - want.float()).abs().max().item()
        scale = want.float().abs().max().item()
        assert err <= 0.02 * scale + 0.05, f"M={m}: tilefuse differs from eager by {err} (max |y| {scale})"
        compiled(x, w_norm, wg, wu, wd)  # compiles here, not in the timing
        a = torch.empty(m, ffn, device=dev, dtype=torch.bfloat16)
        gu = torch.empty(m, 2 * ffn, device=dev, dtype=torch.bfloat16)

        def gemms():
            torch.matmul(x, wgu.T, out=gu)
            torch.matmul(a, wd.T, out=y)

        t_tf = timed(lambda: plan.run([x, w_norm, wg, wu, wd], [y], stream=stream), flush)
        t_eager = timed(lambda: eager(x, w_norm, wg, wu, wd), flush)
        t_comp = timed(lambda: compiled(x, w_norm, wg, wu, wd), flush)
        t_blas = timed(gemms, flush)
        t_sep = timed(lambda: separate(x, w_norm, wgu, wd), flush)
        print(f"{m:>6} {t_tf:>10.1f} {t_eager:>10.1f} {t_comp:>10.1f} {t_blas:>10.1f} {t_sep:>10.1f}"
              f" {t_tf / t_eager:>9.3f} {t_tf / t_comp:>10.3f} {t_tf / t_blas:>10.3f} {t_tf / t_sep:>11.3f}")


if __name__ == "__main__":
    main()
