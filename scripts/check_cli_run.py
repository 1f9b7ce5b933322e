"""Runs `tilefuse run` on a catalog graph with NumPy inputs and checks the output.

usage: check_cli_run.py TILEFUSE_BINARY WORKDIR
bf16 travels as f32 .npy files (rounded to bf16 on the way in), as the CLI documents.
"""
import math
import subprocess
import sys

import numpy as np


def to_bf16(a):
    """Rounds f32 values to bf16 (nearest even), returned as f32."""
    u = a.astype(np.float32).view(np.uint32)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.view(np.float32)


def main():
    cli, work = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    n = 100_003
    x = rng.uniform(-2, 2, n).astype(np.float32)
    y = rng.uniform(-2, 2, n).astype(np.float32)
    np.save(f"{work}/x.npy", x)
    np.save(f"{work}/y.npy", y)
    a = to_bf16(x) * 0.5 + to_bf16(y)
    ref = to_bf16(0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3))))
    # Back-to-back runs (their mean), then each run alone after an L2 flush (the median).
    for timing, says in [[], "us per run"], [["--flush"], "L2 flushed before each: median"]:
        run = subprocess.run([cli, "run", "bench/graphs/pointwise_scale_add_gelu.json",
                              f"--input=x={work}/x.npy", f"--input=y={work}/y.npy",
                              f"--output=out={work}/out.npy", "--repeat", "10"] + timing,
                             capture_output=True, text=True)
        print(run.stdout, end="")
        if run.returncode != 0:
            print(f"tilefuse run {' '.join(timing)}: exit {run.returncode}: {run.stderr}")
            sys.exit(1)
        out = np.load(f"{work}/out.npy")
        err = np.linalg.norm(out - ref) / np.linalg.norm(ref)
        print(f"tilefuse run {' '.join(timing)}: {n} elements, relative error {err:.2e} against NumPy")
        if out.shape != (n,) or not err < 1e-2 or says not in run.stdout:
            print(f"tilefuse run {' '.join(timing)}: MISMATCH (or no '{says}' line)")
            sys.exit(1)


if __name__ == "__main__":
    main()
