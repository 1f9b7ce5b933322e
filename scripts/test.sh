#!/usr/bin/env bash
# The test command: install what is missing, build, run every test and the package check;
# then the CPU suite again under AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/), and the compile and cache paths' tests under ThreadSanitizer
# (build-tsan/). GPU suites skip cleanly where no driver is found.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
# The installed package as an engine consumes it (find_package, pkg-config, a moved
# prefix, FetchContent without GTest), header and symbol hygiene.
bash scripts/check_install.sh build

# The sanitizer builds make only what their tests need: no benchmarks, examples, or GPU
# suites (which would only skip).
sanitized_build() {  # DIR CMAKE_FLAGS...
  local dir=$1
  shift
  # -Og -g1: line tables for the reports' stacks; -Og compiles in about half the time of
  # -O1 (and runs the tests about as fast). Unity builds, as build.sh's.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-Og -g1" \
    -DCMAKE_UNITY_BUILD=ON -DTILEFUSE_BUILD_BENCH=OFF -DTILEFUSE_BUILD_EXAMPLES=OFF "$@" >/dev/null
}
sanitized_build build-asan -DTILEFUSE_SANITIZE=ON
# Leak checks are off: NVRTC keeps process-lifetime allocations of its own. codegen_test,
# shape_class_test and jit_cache_test (label nvrtc) are left to the first pass: their time
# is NVRTC's, and the code they reach of ours runs here under the other tests (fuzz,
# planner, disk cache, ...).
mapfile -t asan_tests < <(ctest --test-dir build-asan -L cpu -LE nvrtc -N | awk '/Test +#/ {print $3}')
cmake --build build-asan -j"$(nproc)" --target "${asan_tests[@]}"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L cpu -LE nvrtc --output-on-failure -j"$(nproc)"

# ThreadSanitizer over the compile and cache paths (single-flight builds, the disk cache's
# locks, concurrent warmups). NVRTC is not instrumented: its own locks are suppressed.
# jit_cache_test's concurrent parts only: its other tests are the CLI's single-threaded
# paths, NVRTC's time under TSan.
sanitized_build build-tsan -DTILEFUSE_TSAN=ON
cmake --build build-tsan -j"$(nproc)" --target cache_test disk_cache_test jit_cache_test tilefuse_cli
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp"
build-tsan/test/cache_test --gtest_brief=1 &
build-tsan/test/disk_cache_test --gtest_brief=1
wait $!
build-tsan/test/jit_cache_test --gtest_brief=1 \
  --gtest_filter='JitCache.TwoProcesses*:JitCache.EightConcurrentWarmups*:JitCache.SecondProcess*:JitCache.Logger*'
echo "test.sh: passed"
