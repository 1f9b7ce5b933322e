"""Decode GEMMs (y = x @ w.T, bf16, Llama-3-8B projection shapes) and the gate/up dual GEMM
(silu(x @ wg.T) * (x @ wu.T)) timed against torch's cuBLASLt GEMMs on the GPU: each captured
in a CUDA graph and replayed, L2 flushed (read) before each replay, CUDA events, median of 50.
tilefuse plans with M symbolic (its shape classes), as an engine would.

    PYTHONPATH=build/python python3 bench/torch_gemms.py [--m 1 16 64]
"""
import argparse
import json

import torch

import tilefuse
from torch_block import graphed, timed, timed_all

BF16 = torch.bfloat16


def linear_graph(k, n):
    return {"name": f"linear_{k}x{n}", "inputs": [{"name": "x", "shape": ["M", k], "dtype": "bf16"},
                                                  {"name": "w", "shape": [n, k], "dtype": "bf16"}],
            "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                      {"name": "y", "op": "matmul", "inputs": ["x", "wt"]}], "outputs": ["y"]}


def dual_graph(k, n):
    return {"name": f"swiglu_{k}x{n}", "inputs": [{"name": "x", "shape": ["M", k], "dtype": "bf16"},
                                                  {"name": "wg", "shape": [n, k], "dtype": "bf16"},
                                                  {"name": "wu", "shape": [n, k], "dtype": "bf16"}],
            "nodes": [{"name": "a", "op": "transpose", "inputs": ["wg"], "attrs": {"dim0": 0, "dim1": 1}},
                      {"name": "b", "op": "transpose", "inputs": ["wu"], "attrs": {"dim0": 0, "dim1": 1}},
                      {"name": "g", "op": "matmul", "inputs": ["x", "a"]},
                      {"name": "u", "op": "matmul", "inputs": ["x", "b"]},
                      {"name": "s", "op": "silu", "inputs": ["g"]},
                      {"name": "p", "op": "mul", "inputs": ["s", "u"]},
                      {"name": "y", "op": "cast", "inputs": ["p"], "attrs": {"dtype": "bf16"}}], "outputs": ["y"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", type=int, nargs="+", default=[1, 16, 64])
    args = ap.parse_args()
    dev = "cuda"
    flush = torch.empty(64 << 20, device=dev, dtype=torch.float32)
    copy_src = torch.empty(1 << 28, device=dev, dtype=torch.uint8)
    copy_dst = torch.empty_like(copy_src)
    t_copy = timed(graphed(lambda: copy_dst.copy_(copy_src)), flush, 50)
    copy_bw = 2 * copy_src.numel() / t_copy / 1e6
    print(f"copy: {copy_bw:.2f} TB/s; us, tilefuse / torch (cuBLASLt), weight read bandwidth as % of copy")
    cases = [("linear", 4096, 6144), ("linear", 4096, 4096), ("linear", 4096, 28672), ("linear", 14336, 4096),
             ("dual", 4096, 14336)]
    for kind, k, n in cases:
        graph = (linear_graph if kind == "linear" else dual_graph)(k, n)
        plan = tilefuse.compile(tilefuse.Graph.from_json(json.dumps(graph)))
        weights = [(torch.randn(n, k, device=dev) / 64).to(BF16) for _ in range(1 if kind == "linear" else 2)]
        wcat = torch.cat(weights).contiguous()
        for m in args.m:
            x = torch.randn(m, k, device=dev).to(BF16)
            y = torch.empty(m, n, device=dev, dtype=BF16)
            yt = torch.empty(m, wcat.shape[0], device=dev, dtype=BF16)

            def tf_run():
                plan.run([x] + weights, [y], stream=torch.cuda.current_stream().cuda_stream)

            t_tf, t_torch = timed_all([graphed(tf_run), graphed(lambda: torch.matmul(x, wcat.T, out=yt))], flush, 50)
            gb = wcat.numel() * 2 / 1e3
            print(f"  {kind:>6} K={k:<6} N={n:<6} M={m:<4} {t_tf:8.1f} {t_torch:8.1f}  ratio {t_tf / t_torch:5.3f}"
                  f"  weights {gb / t_tf / 1e3 / copy_bw * 100:5.1f}% / {gb / t_torch / 1e3 / copy_bw * 100:5.1f}%")


if __name__ == "__main__":
    main()
