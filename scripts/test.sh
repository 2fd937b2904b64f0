#!/usr/bin/env bash
# Installs the dependencies, builds cxlmgr with AddressSanitizer and UndefinedBehaviorSanitizer,
# and runs the whole test suite (unit, fuzz-corpus regression and integration tests) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
build=build/test
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCXLMGR_SANITIZE=ON \
  -DCXLMGR_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 600
