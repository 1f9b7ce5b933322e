#!/usr/bin/env bash
# The test command: install what is missing, build, run every test. GPU suites skip
# cleanly where no driver is found.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
