#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release), optionally only some targets.
# Usage: scripts/build.sh [PRESET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
shift || true
jobs=${REFIT_JOBS:-$(nproc)}
[ -f "build/$preset/build.ninja" ] || cmake --preset "$preset" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "build/$preset" -j "$jobs" "${targets[@]}"
