#!/usr/bin/env bash
# Quick start (a): install, build, and run refit on the bundled model, checked against PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release refit
model=examples/models/tiny_cnn
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo; echo "== refit inspect $model/model.onnx"
build/release/refit inspect "$model/model.onnx"
echo; echo "== refit run $model/model.onnx --inputs $model/inputs.safetensors -o out.safetensors"
build/release/refit run "$model/model.onnx" --inputs "$model/inputs.safetensors" \
  -o "$out/out.safetensors"
echo; echo "== compare with PyTorch's outputs"
/usr/bin/python3 tests/models/compare.py "$model/outputs.safetensors" "$out/out.safetensors"
