#!/usr/bin/env bash
# Installs the dependencies, builds cxlmgr and runs the main job on an emulated CXL Type-3
# device (see README.md for what it shows).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
build=build/release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  -DCXLMGR_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
bash tools/demo.sh "$build"
