#!/usr/bin/env python3
"""Bar chart of bench_fusion results: achieved fraction of each graph's floor.

    python3 bench/plot_bench.py BENCH.json OUT.png

BENCH.json is bench_fusion's --benchmark_out (JSON). The floor of a memory-bound graph is
every input read once and every output written once at the copy bandwidth of the same run
(bench_fusion's frac_copy counter); a 4096^3 GEMM's floor is cuBLAS's plain GEMM of the same
run; the decode GEMM (M=16) is memory-bound. Bars: tilefuse fused, tilefuse unfused, and
cuBLAS plus separate epilogue kernels where the graph has a GEMM. Needs matplotlib
(pip install matplotlib); the library itself has no Python dependency.
"""
import json
import sys
from collections import defaultdict


def load(path):
    """{graph file: {column: counters}} from a Google Benchmark JSON file."""
    rows = defaultdict(dict)
    for b in json.load(open(path))["benchmarks"]:
        parts = b["name"].split("/")
        if parts[0] != "graph" or "median_us" not in b:
            continue
        rows[parts[1]][parts[2]] = b
    return rows


def fraction(graph, column, rows):
    """Achieved fraction of the floor: floor time over measured time."""
    b = rows[graph][column]
    gemm_floor = rows.get("gemm_plain.json", {}).get("cublas")
    memory_bound = "TFLOPs" not in b or "decode" in graph
    if memory_bound:
        # The floor time, from the fused run's frac_copy; the cuBLAS column has no counter.
        fused = rows[graph].get("fused", {})
        if "frac_copy" not in fused:
            return None
        return fused["median_us"] * fused["frac_copy"] / b["median_us"]
    if gemm_floor is None:
        return None
    return gemm_floor["median_us"] / b["median_us"]


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = load(argv[1])
    graphs = sorted(rows)
    columns = [("fused", "tilefuse fused", "#2b7bba"), ("unfused", "tilefuse unfused", "#9ecae1"),
               ("cublas", "cuBLAS + epilogue kernels", "#e6550d")]
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(graphs)), 5))
    width = 0.27
    for i, (key, label, color) in enumerate(columns):
        xs, ys = [], []
        for g_i, g in enumerate(graphs):
            if key in rows[g]:
                f = fraction(g, key, rows)
                if f is not None:
                    xs.append(g_i + (i - 1) * width)
                    ys.append(f)
        ax.bar(xs, ys, width, label=label, color=color)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(0.95, color="gray", linewidth=0.8, linestyle="--", label="95% of the floor")
    ax.set_xticks(range(len(graphs)))
    ax.set_xticklabels([g.replace(".json", "") for g in graphs], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("achieved fraction of the floor")
    ax.set_title("bench_fusion: fraction of each graph's floor (higher is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(argv[2], dpi=120)
    print(f"wrote {argv[2]} ({len(graphs)} graphs)")


if __name__ == "__main__":
    main(sys.argv)
