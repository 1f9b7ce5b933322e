#!/usr/bin/env bash
# The package as an engine sees it (issue 19): install the build, build examples/engine
# against the installed prefix only (find_package, one include), run it, move the prefix
# and do it again, build it with pkg-config; check that <tilefuse/tilefuse.h> reaches no
# Abseil or internal header and that libtilefuse.so exports no Abseil symbol; configure
# tilefuse through FetchContent without GTest or Google Benchmark and check that it
# defines no test or benchmark target, then build a consumer with it.
#   bash scripts/check_install.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
build=${1:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check_install: FAILED: $*"; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cp -r examples/engine "$work/engine-src"  # outside the source tree
engine_flags=(--arch sm_90 --hidden 256 --ffn 512 --cache-dir "$work/kernels")

build_engine() {  # PREFIX BUILD_DIR
  cmake -S "$work/engine-src" -B "$2" -G Ninja -DCMAKE_PREFIX_PATH="$1" \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
  cmake --build "$2" >/dev/null
  ! grep -q "$repo" "$2/compile_commands.json" || fail "the engine's build reaches into $repo"
}

build_engine "$work/prefix" "$work/engine-a"
"$work/engine-a/engine" "${engine_flags[@]}" > "$work/a.log" || { cat "$work/a.log"; fail "engine (installed)"; }
grep -q "plan 'llama_mlp': 2 kernels" "$work/a.log" || { cat "$work/a.log"; fail "engine's plan"; }
echo "installed package: engine built and ran"

mv "$work/prefix" "$work/moved"
build_engine "$work/moved" "$work/engine-b"
"$work/engine-b/engine" "${engine_flags[@]}" > "$work/b.log" || { cat "$work/b.log"; fail "engine (moved prefix)"; }
echo "moved prefix: engine built and ran"

cuda=/usr/local/cuda
# shellcheck disable=SC2046
g++ -std=c++17 "$work/engine-src/main.cc" -o "$work/engine-pc" \
  $(PKG_CONFIG_PATH="$work/moved/lib/pkgconfig" pkg-config --cflags --libs tilefuse) \
  -I"$cuda/include" -L"$cuda/lib64" -lcudart -Wl,-rpath,"$cuda/lib64"
"$work/engine-pc" "${engine_flags[@]}" > "$work/c.log" || { cat "$work/c.log"; fail "engine (pkg-config)"; }
echo "pkg-config: engine built and ran"

echo '#include <tilefuse/tilefuse.h>' > "$work/one.cc"
g++ -std=c++17 -M -I"$work/moved/include" "$work/one.cc" > "$work/deps.txt"
! grep -qE "absl|$repo" "$work/deps.txt" || fail "<tilefuse/tilefuse.h> reaches $(grep -oE "[^ ]*(absl|$repo)[^ ]*" "$work/deps.txt" | head -3)"
headers=$(tr ' \\' '\n\n' < "$work/deps.txt" | grep -c "$work/moved/include" || true)
echo "<tilefuse/tilefuse.h>: $headers tilefuse headers, no Abseil or internal header"

lib=$(ls "$work"/moved/lib/libtilefuse.so.*.*.* | head -1)
exported=$(nm -D --defined-only "$lib" | c++filt | grep -c " T tilefuse::" || true)
! nm -D --defined-only "$lib" | c++filt | grep -q "absl::" || fail "libtilefuse.so exports Abseil symbols"
! nm -D --defined-only "$lib" | c++filt | grep " [TW] " | grep -qv " tilefuse::" || \
  fail "libtilefuse.so exports $(nm -D --defined-only "$lib" | c++filt | grep " [TW] " | grep -v " tilefuse::" | head -3)"
echo "libtilefuse.so: $exported functions exported, all tilefuse::, no Abseil"

mkdir -p "$work/fc"
cat > "$work/fc/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.22)
project(fc_consumer LANGUAGES CXX)
include(FetchContent)
FetchContent_Declare(tilefuse SOURCE_DIR "$repo")
FetchContent_MakeAvailable(tilefuse)
add_executable(consumer consumer.cc)
target_link_libraries(consumer PRIVATE tilefuse::tilefuse)
CMAKE
cat > "$work/fc/consumer.cc" <<'CC'
#include <tilefuse/tilefuse.h>
#include <cstdio>
int main() {
  auto g = tilefuse::Graph::FromJson(R"({"inputs": [{"name": "x", "shape": [4], "dtype": "f32"}],
    "nodes": [{"name": "y", "op": "relu", "inputs": ["x"]}], "outputs": ["y"]})");
  if (!g.ok()) return std::printf("%s\n", g.status().ToString().c_str()), 1;
  std::printf("%s: %zu inputs\n", g->name().c_str(), g->input_names().size());
  return 0;
}
CC
# Debug without debug info: the build proves the consumer links, not speed (and takes a
# third of a release build's time).
cmake -S "$work/fc" -B "$work/fc/build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG=-g0 -DCMAKE_UNITY_BUILD=ON -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON --no-warn-unused-cli >/dev/null
! ninja -C "$work/fc/build" -t targets all | grep -qE "_test:|bench_fusion:|tp_mlp:|/engine:" || \
  fail "FetchContent defines test or bench targets: $(ninja -C "$work/fc/build" -t targets all | grep -E "_test:|bench_fusion:" | head -3)"
cmake --build "$work/fc/build" --target consumer >/dev/null
"$work/fc/build/consumer" | grep -q "graph: 1 inputs" || fail "FetchContent consumer"
echo "FetchContent (no GTest, no benchmark): no test targets; the consumer built and ran"
echo "check_install: passed"
