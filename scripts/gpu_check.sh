#!/usr/bin/env bash
# Every GPU test and bench_fusion in one go, on a GPU machine, from a build made elsewhere
# (scripts/build.sh, then scripts/bundle_libs.sh; carry build/). Logs go to OUTDIR.
#   bash scripts/gpu_check.sh OUTDIR [bench_fusion flags...]
# GPU_CHECK_PART=tests or GPU_CHECK_PART=bench runs one half (two device calls where one
# would pass a call's time limit); each half is also bounded by `timeout`, so that what
# ran is logged even when the rest is cut.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu_check.sh OUTDIR [bench flags]}
shift
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/build/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
# With a driver present NVRTC keeps compiled PTX in the driver's compute cache, so a repeat
# compile of one source costs ~35 ms instead of ~300: off, so that cold figures are cold.
export CUDA_CACHE_DISABLE=1
status=0
part=${GPU_CHECK_PART:-all}
if [[ $part != bench ]]; then
{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv
  # Every GPU suite on each device (TILEFUSE_TEST_DEVICE), the devices at once; the
  # multi-device suite once. GPU_CHECK_DEVICES caps how many.
  devices=$(nvidia-smi -L | grep -c '^GPU')
  devices=$((devices < ${GPU_CHECK_DEVICES:-$devices} ? devices : ${GPU_CHECK_DEVICES:-$devices}))
  for ((d = 0; d < devices; d++)); do
    for t in build/test/gpu_*_test build/test/public_api_test; do
      [[ $t == *gpu_devices_test && $d -gt 0 ]] && continue
      echo "== $t on device $d"
      # Line-buffered, so that a test cut by the timeout still shows the failures it printed.
      # gpu_plans_test (past 400 s alone) runs as six shards at once (with four, one took
      # 270 s in session 21: its NVRTC compiles are the CPU's, 16 cores on the H200 machine).
      shards=1
      [[ $t == *gpu_plans_test ]] && shards=6
      for ((s = 0; s < shards; s++)); do
        GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$s TILEFUSE_TEST_DEVICE=$d \
          timeout "${GPU_TEST_TIMEOUT:-420}" stdbuf -oL "$t" --gtest_brief=1 > "$out/shard_dev${d}_$s.log" 2>&1 \
          || echo "FAILED: $t on device $d (shard $s of $shards)" >> "$out/shard_dev${d}_$s.log" &
      done
      wait
      for ((s = 0; s < shards; s++)); do cat "$out/shard_dev${d}_$s.log"; done
    done > "$out/gpu_suite_dev$d.log" 2>&1 &
  done
  {
  # compute-sanitizer memcheck over the GEMM dtype matrix and the row-wise suite (every
  # access of the GEMM kernels' hook and async paths, split-K, odd shapes, misalignment).
  # (on device 0, beside the suites: it is slow on the CPU, not the GPU)
  if command -v compute-sanitizer >/dev/null; then
    # memcheck LOG WHAT CMD...: the sanitizer's memcheck over CMD, its log in $out/LOG.
    memcheck() {
      local log=$1 what=$2
      shift 2
      echo "== compute-sanitizer memcheck $what"
      timeout "${GPU_MEMCHECK_TIMEOUT:-240}" compute-sanitizer --tool memcheck --error-exitcode 3 \
        "$@" --gtest_brief=1 > "$out/$log" 2>&1 || echo "FAILED: memcheck $what"
      grep -E "ERROR SUMMARY|PASSED|FAILED" "$out/$log" | tail -3
    }
    for t in build/test/gpu_gemm_dtypes_test build/test/gpu_rows_test; do
      memcheck "memcheck_$(basename "$t").log" "$t" "$t"
    done
    # The engine-side runs: a caller's workspace at every size and capture, 8 contexts on
    # 8 streams (issue 19).
    memcheck memcheck_engine_runs.log "gpu_plans_test (workspace, contexts)" build/test/gpu_plans_test \
      --gtest_filter='GpuPlan.CallerWorkspace*:GpuPlan.ContextsRun*'
    # The fp8 GEMM's TMA and element paths, split-K clusters and tiles (issue 21).
    memcheck memcheck_fp8.log "gpu_plans_test (fp8 GEMMs)" build/test/gpu_plans_test --gtest_filter='GpuQuant.Fp8*'
  else
    echo "FAILED: no compute-sanitizer"; status=1
  fi
  } > "$out/memcheck_summary.log" 2>&1 &
  wait
  cat "$out/memcheck_summary.log"
  for ((d = 0; d < devices; d++)); do cat "$out/gpu_suite_dev$d.log"; done
  if ((devices > 1)) && [[ -x build/examples/tp_mlp ]]; then
    # NCCL from the image's Python environment (the nvidia-nccl-cu13 wheel).
    nccl_lib=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(nvidia.nccl.__path__[0], "lib"))' 2>/dev/null)
    for mode in "" "--procs" "--after-reduce"; do
      echo "== tp_mlp --ranks $devices $mode"
      NCCL_NVLS_ENABLE=0 LD_LIBRARY_PATH="$nccl_lib:$LD_LIBRARY_PATH" timeout 240 build/examples/tp_mlp \
        --ranks "$devices" $mode || echo "FAILED: tp_mlp $mode"
    done
  fi
  echo "== kernels warmed up elsewhere (scripts/bundle_libs.sh): NVRTC calls here must be 0"
  if [[ -d build/warm_cache ]]; then
    build/runtime/tools/tilefuse compile bench/graphs/*.json --cache-dir build/warm_cache > "$out/warm_compile.log"
    tail -1 "$out/warm_compile.log"
    nvrtc_calls=$(grep -c " nvrtc " "$out/warm_compile.log" || true)
    echo "NVRTC calls after warmup: $nvrtc_calls"
    [[ $nvrtc_calls -eq 0 ]] || { echo "FAILED: kernels were compiled again"; status=1; }
  else
    echo "FAILED: no build/warm_cache (run scripts/bundle_libs.sh)"; status=1
  fi
  echo "== tilefuse run (CLI against NumPy)"
  python3 scripts/check_cli_run.py build/runtime/tools/tilefuse "$out" || status=1
  echo "== graphs written as PyTorch code writes them, against PyTorch"
  if python3 -c "import torch" 2>/dev/null; then
    mkdir -p /tmp/tf_torch_graphs
    python3 scripts/check_torch_graphs.py build/runtime/tools/tilefuse /tmp/tf_torch_graphs || status=1
  else
    echo "skipped: no PyTorch"
  fi
} 2>&1 | tee "$out/gpu_tests.log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
grep -qE "FAILED|Failure" "$out/gpu_tests.log" && status=1
fi
[[ $part == tests ]] && { echo "gpu_check: $([[ $status -eq 0 ]] && echo passed || echo FAILED)"; exit $status; }
# What is left of a 600-second device call, less a margin for the logs to come back.
bench_limit=${GPU_BENCH_TIMEOUT:-$((570 - SECONDS))}
((bench_limit < 60)) && bench_limit=60
timeout "$bench_limit" build/bench/bench_fusion --benchmark_out="$out/bench.json" --benchmark_out_format=json \
  --tuning="$out/tuning.json" "$@" \
  2>&1 | tee "$out/bench.log" || status=1
echo "gpu_check: $([[ $status -eq 0 ]] && echo passed || echo FAILED)"
exit $status
