"""Plots bench_fusion's shape sweep: tilefuse time over cuBLAS (+ epilogue kernels) time
against M, one line per (K, N) shape, a panel per epilogue and M static or symbolic.

    bench_fusion --benchmark_filter='copy|sweep/' --benchmark_out=sweep.json
    python3 bench/plot_sweep.py sweep.json sweep.png     (needs matplotlib)
"""
import collections
import json
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = json.load(open(sys.argv[1]))["benchmarks"]
us = {}
for r in rows:
    m = re.match(r"sweep/(K\d+xN\d+)/(\w+)/M=(\d+)/(static|symbolic|cublas)", r["name"])
    if m and "median_us" in r:
        us[m.groups()] = r["median_us"]
lines = collections.defaultdict(list)  # (epilogue, variant, shape) -> [(M, ratio)]
for (shape, epilogue, mv, variant), t in us.items():
    base = us.get((shape, epilogue, mv, "cublas"))
    if variant != "cublas" and base:
        lines[(epilogue, variant, shape)].append((int(mv), t / base))
panels = sorted({(e, v) for e, v, _ in lines})
fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), sharey=True, squeeze=False)
for ax, (epilogue, variant) in zip(axes[0], panels):
    for (e, v, shape), points in sorted(lines.items()):
        if (e, v) == (epilogue, variant):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=shape)
    ax.axhline(1.0, color="gray", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("M (batch rows)")
    ax.set_title(f"{epilogue}, M {variant}")
    ax.legend(fontsize=8)
axes[0][0].set_ylabel("time over cuBLAS (+ epilogue)")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
print(f"wrote {sys.argv[2]}")
