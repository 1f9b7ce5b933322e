#!/usr/bin/env bash
# ncu of every kernel of one graph with static shapes (a catalog graph: the weight-only decode
# GEMMs, say), run through `tilefuse run` on random inputs, clocks as they run, the raw page of
# the usual sections kept and its telling lines printed. On a GPU machine with build/ carried
# (scripts/bundle_libs.sh).
#   bash scripts/ncu_graph.sh OUTDIR GRAPH.json [TILEFUSE RUN FLAGS...]
# (e.g. --gemm-config '{...}' to profile a forced tile config; the output is named after the
# graph, so give each config its own OUTDIR.)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: ncu_graph.sh OUTDIR GRAPH.json} graph=${2:?usage: ncu_graph.sh OUTDIR GRAPH.json}
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/build/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
shift 2
name=$(basename "$graph" .json)
# Inputs: floats in [-2, 2] as f32 (the CLI casts to the input's type), integer codes in their
# range as int8 (i4 one per byte), fp8 as f32; inputs named s... (the catalog's scales) in
# [0.01, 0.02].
args=$(python3 - "$out" "$graph" <<'PY'
import json, sys
import numpy as np
out, path = sys.argv[1], sys.argv[2]
g = json.load(open(path))
rng = np.random.default_rng(0)
args = []
for t in g["inputs"]:
    shape = t["shape"]
    if any(not isinstance(d, int) for d in shape):
        sys.exit(f"{t['name']}: symbolic shape {shape}; give a graph with static shapes")
    if t["dtype"] == "i8":
        a = rng.integers(-127, 128, shape).astype(np.int8)
    elif t["dtype"] == "i4":
        a = rng.integers(-8, 8, shape).astype(np.int8)
    elif t["name"].startswith("s"):
        a = rng.uniform(0.01, 0.02, shape).astype(np.float32)
    else:
        a = rng.uniform(-2, 2, shape).astype(np.float32)
    np.save(f"{out}/{t['name']}.npy", a)
    args.append(f"--input={t['name']}={out}/{t['name']}.npy")
for o in g["outputs"]:
    args.append(f"--output={o}={out}/{o}.out.npy")
print(" ".join(args))
PY
)
sections=(--section SpeedOfLight --section MemoryWorkloadAnalysis --section LaunchStats --section Occupancy
          --section WarpStateStats --section SchedulerStats --metrics smsp__inst_executed.sum)
# shellcheck disable=SC2086  # args: one word per flag, no spaces in the paths
ncu --clock-control none "${sections[@]}" --page raw -k regex:tf_ -s 2 -c 1 \
  build/runtime/tools/tilefuse run "$graph" $args --repeat 4 --no-disk-cache "$@" > "$out/ncu_$name.txt" 2>&1
grep -E "^  tf_|gpu__time_duration.sum|smsp__inst_executed.sum |launch__grid_size |dram__bytes.sum.per_second|dram__cycles_active.avg.pct|sm__throughput.avg.pct|lts__t_sector_hit_rate.pct |launch__registers_per_thread |sm__warps_active.avg.per_cycle_active|launch__occupancy_limit_(registers|shared_mem)|smsp__issue_active.avg.pct|smsp__average_warps_issue_stalled_.*_per_issue_active.ratio|sm__pipe_(alu|fma|tensor)_cycles_active.avg.pct|sm__cycles_active.avg " \
  "$out/ncu_$name.txt" | awk '$NF + 0 > 0.05 || /tf_|duration|occupancy_limit|registers/'
