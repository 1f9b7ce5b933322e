#!/usr/bin/env bash
# ncu of y = x @ w.T at one shape (bf16, w [N, K]): tilefuse's untuned kernel (through
# `tilefuse run`) beside cuBLAS's (torch F.linear), caches flushed between replays, clocks
# as they run. On a GPU machine with build/ carried (scripts/bundle_libs.sh).
#   bash scripts/ncu_gemm.sh OUTDIR M N K
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: ncu_gemm.sh OUTDIR M N K} m=${2:?} n=${3:?} k=${4:?}
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/build/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
tag="m${m}_n${n}_k${k}"
python3 - "$out" "$m" "$n" "$k" <<'PY'
import json, sys
import numpy as np
out, m, n, k = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(0)
np.save(f"{out}/x.npy", rng.uniform(-2, 2, (m, k)).astype(np.float32))
np.save(f"{out}/w.npy", rng.uniform(-2, 2, (n, k)).astype(np.float32))
json.dump({"name": "ncu_gemm",
           "inputs": [{"name": "x", "shape": [m, k], "dtype": "bf16"}, {"name": "w", "shape": [n, k], "dtype": "bf16"}],
           "nodes": [{"name": "wt", "op": "transpose", "inputs": ["w"], "attrs": {"dim0": 0, "dim1": 1}},
                     {"name": "y", "op": "matmul", "inputs": ["x", "wt"]}],
           "outputs": ["y"]}, open(f"{out}/gemm.json", "w"))
PY
sections=(--section SpeedOfLight --section MemoryWorkloadAnalysis --section LaunchStats --section Occupancy
          --section WarpStateStats --section SchedulerStats)
ncu --clock-control none "${sections[@]}" -k regex:tf_ -s 2 -c 1 \
  build/runtime/tools/tilefuse run "$out/gemm.json" --input="x=$out/x.npy" --input="w=$out/w.npy" \
  --output="y=$out/y.npy" --repeat 4 --no-disk-cache > "$out/ncu_tilefuse_$tag.txt" 2>&1
ncu --clock-control none "${sections[@]}" -k regex:'gemm|sm90|cutlass|splitK|gemv' -s 2 -c 1 \
  python3 -c "
import torch
x = torch.randn($m, $k, device='cuda', dtype=torch.bfloat16)
w = torch.randn($n, $k, device='cuda', dtype=torch.bfloat16)
for _ in range(4): torch.nn.functional.linear(x, w)
torch.cuda.synchronize()" > "$out/ncu_cublas_$tag.txt" 2>&1
grep -E "^  [a-z_]+.*\(|Duration|DRAM Throughput|Memory Throughput|Grid Size|Cluster|Registers|Block Size|Achieved Occupancy|Waves Per SM|Dynamic Shared|L2 Hit|No Eligible|Warp Cycles Per Issued" \
  "$out/ncu_tilefuse_$tag.txt" "$out/ncu_cublas_$tag.txt" | sed "s|$out/||"
