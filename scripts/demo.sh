#!/usr/bin/env bash
# Quick start (a): install, build, then build an engine for the bundled model, inspect it, run it
# and check its outputs against PyTorch's; fill a stripped engine with weights at load; finally
# hot-swap LoRA adapters through MutableModel (examples/lora_hotswap.cc).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release refit lora_hotswap
refit=build/release/refit
model=examples/models/tiny_cnn
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { echo; echo "== ${*/#build\/release\//}"; "$@"; }
run $refit inspect "$model/model.onnx"
run $refit build "$model/model.onnx" -o "$out/tiny_cnn.engine" --timing-cache "$out/timing.json"
run $refit inspect "$out/tiny_cnn.engine"
run $refit run "$out/tiny_cnn.engine" --inputs "$model/inputs.safetensors" -o "$out/out.safetensors"
echo; echo "== compare with PyTorch's outputs"
/usr/bin/python3 tests/models/compare.py "$model/outputs.safetensors" "$out/out.safetensors"
run $refit bench "$out/tiny_cnn.engine" --iterations 50
# A stripped engine holds no weights: a tenth of the size here (a tiny model); filled at load.
run $refit build "$model/model.onnx" -o "$out/tiny_cnn.stripped" --mode stripped \
  --timing-cache "$out/timing.json"
ls -l "$out/tiny_cnn.engine" "$out/tiny_cnn.stripped"
run $refit run "$out/tiny_cnn.stripped" --inputs "$model/inputs.safetensors" \
  -o "$out/out2.safetensors" --weights "$model/model.onnx"
/usr/bin/python3 tests/models/compare.py "$model/outputs.safetensors" "$out/out2.safetensors"
# LoRA hot swap through MutableModel: build once, switch adapters by refits, a new input shape
# (examples/lora_hotswap.cc); the second run takes its engines from the cache directory.
run build/release/examples/lora_hotswap --cache "$out/cache"
run build/release/examples/lora_hotswap --cache "$out/cache"
