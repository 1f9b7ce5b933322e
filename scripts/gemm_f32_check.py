"""An f32 GEMM through `tilefuse run` against PyTorch's f32 matmul (TF32 off) on the GPU:
time per run and relative error against a float64 reference, for the split-bf16 path
(kernels/gemm.cuh kSplitF32).

    python3 scripts/gemm_f32_check.py build/runtime/tools/tilefuse OUTDIR [M K N]
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import torch

cli, out = sys.argv[1], sys.argv[2]
m, k, n = (int(v) for v in sys.argv[3:6]) if len(sys.argv) > 5 else (4096, 4096, 4096)
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(16)
x = rng.standard_normal((m, k), dtype=np.float32)
w = rng.standard_normal((n, k), dtype=np.float32)  # a Linear's weight, used as w.T
graph = {"name": "gemm_f32", "inputs": [{"name": "x", "shape": ["M", k], "dtype": "f32"},
                                         {"name": "w", "shape": [n, k], "dtype": "f32"}],
         "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                   {"name": "y", "op": "matmul", "inputs": ["x", "wt"]}], "outputs": ["y"]}
paths = {name: os.path.join(out, name) for name in ("g.json", "x.npy", "w.npy", "y.npy")}
json.dump(graph, open(paths["g.json"], "w"))
np.save(paths["x.npy"], x)
np.save(paths["w.npy"], w)
run = subprocess.run([cli, "run", paths["g.json"], "--input", "x=" + paths["x.npy"], "--input", "w=" + paths["w.npy"],
                      "--output", "y=" + paths["y.npy"], "--repeat", "20", "--no-disk-cache"],
                     capture_output=True, text=True, check=True)
us_tf = float(re.search(r"([0-9.]+) us per run", run.stdout).group(1))
ref = x.astype(np.float64) @ w.astype(np.float64).T
err = lambda y: float(np.linalg.norm(y - ref) / np.linalg.norm(ref))

torch.backends.cuda.matmul.allow_tf32 = False
xt, wt = torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda()
for _ in range(3):
    yt = xt @ wt.T
start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
times = []
for _ in range(20):
    start.record()
    yt = xt @ wt.T
    stop.record()
    torch.cuda.synchronize()
    times.append(start.elapsed_time(stop) * 1000)
us_torch = sorted(times)[len(times) // 2]
print(f"f32 GEMM {m}x{k}x{n}: tilefuse {us_tf:.1f} us (rel. error {err(np.load(paths['y.npy'])):.2e}), "
      f"torch f32 (TF32 off) {us_torch:.1f} us (rel. error {err(yt.cpu().numpy()):.2e})")
