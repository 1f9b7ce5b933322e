#!/bin/bash
export LD_LIBRARY_PATH=$PWD/build/lib:/usr/local/cuda/lib64
mkdir -p /tmp/tf_torch_graphs
timeout 150 python3 scripts/check_torch_graphs.py build/runtime/tools/tilefuse /tmp/tf_torch_graphs > $OUT/torch_graphs.txt 2>&1; echo "torch rc=$?"
tail -5 $OUT/torch_graphs.txt
timeout 150 build/gt/gpu_plans_test --gtest_filter='GpuPointwise.TestGraphsMatchTheReference' > $OUT/plans.log 2>&1; echo "plans rc=$?"
grep -E "Failure|FAILED|OK \]|PASSED" $OUT/plans.log | head
timeout 60 build/gt/gpu_rows_test --gtest_filter='GpuRows.Chunked*' > $OUT/rows.log 2>&1; echo "rows rc=$?"
