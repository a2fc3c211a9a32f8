#!/usr/bin/env bash
# Quick start (b): install, build, and run every test (unit, ONNX conformance, PyTorch zoo, CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release
ctest --test-dir build/release --output-on-failure -j "${REFIT_JOBS:-$(nproc)}" "$@"
