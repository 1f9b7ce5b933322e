"""One decode GEMM (M = 16, 4096 -> 4096, bf16) timed after different work, tilefuse against
torch's cuBLASLt, in one PyTorch process: what ran just before decides whether the kernel's code
is still in the instruction caches (docs/NOTES.md, session 8). Each GEMM is a CUDA graph replay
timed with events after the named work, median of 50, twice.

    PYTHONPATH=build/python python3 bench/torch_cold_code.py
"""
import json

import torch

import tilefuse
from torch_block import graphed, timed
from torch_gemms import linear_graph

DEV = "cuda"


def stream():
    return torch.cuda.current_stream().cuda_stream


def row_sum_flush(src):
    """bench_fusion's L2 flush before session 8: tilefuse's row sum over 256 MiB (little code)."""
    g = {"name": "flush", "inputs": [{"name": "f", "shape": list(src.shape), "dtype": "f32"}],
         "nodes": [{"name": "s", "op": "sum", "inputs": ["f"], "attrs": {"dim": 1}}], "outputs": ["s"]}
    plan = tilefuse.compile(tilefuse.Graph.from_json(json.dumps(g)))
    dst = torch.empty(src.shape[0], device=DEV)
    return lambda: plan.run([src], [dst], stream=stream())


def main():
    k, n, m = 4096, 4096, 16
    plan = tilefuse.compile(tilefuse.Graph.from_json(json.dumps(linear_graph(k, n))))
    w, w2 = ((torch.randn(n, k, device=DEV) / 64).to(torch.bfloat16) for _ in range(2))
    x = torch.randn(m, k, device=DEV).to(torch.bfloat16)
    y, y2, yt = (torch.empty(m, n, device=DEV, dtype=torch.bfloat16) for _ in range(3))
    flush = torch.zeros(65536, 1024, device=DEV)
    small = torch.zeros(16, 1024, device=DEV)
    tf_flush = row_sum_flush(flush)
    other = tilefuse.compile(tilefuse.Graph.from_json(json.dumps(linear_graph(256, 256))))
    sa = torch.randn(m, 256, device=DEV).to(torch.bfloat16)
    sb = torch.randn(256, 256, device=DEV).to(torch.bfloat16)
    sy = torch.empty(m, 256, device=DEV, dtype=torch.bfloat16)
    ours = graphed(lambda: plan.run([x, w], [y], stream=stream()))
    blas = graphed(lambda: torch.matmul(x, w.T, out=yt))
    before = {
        "torch.sum of 256 MiB (the scripts' flush)": lambda: torch.sum(flush),
        "tilefuse's row-sum flush (small code)": tf_flush,
        "row-sum flush, then a 64 KB torch.sum": lambda: (tf_flush(), torch.sum(small)),
        "torch.sum, then this GEMM on another weight": lambda: (torch.sum(flush),
                                                                plan.run([x, w2], [y2], stream=stream())),
        "row-sum flush, then another decode GEMM": lambda: (tf_flush(), other.run([sa, sb], [sy], stream=stream())),
        "nothing (this GEMM just before)": lambda: None,
    }
    print("us, median of 50 (twice): tilefuse | cuBLASLt; decode GEMM M=16, 4096 -> 4096")
    for name, work in before.items():
        # Apart, not in turns: "nothing" means the same GEMM ran just before.
        t = [(timed(ours, work, 50), timed(blas, work, 50)) for _ in range(2)]
        print(f"  {name:<46} {t[0][0]:6.1f} {t[1][0]:6.1f} | {t[0][1]:6.1f} {t[1][1]:6.1f}")


if __name__ == "__main__":
    main()
