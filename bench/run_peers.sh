#!/usr/bin/env bash
# Latency of refit, ONNX Runtime and PyTorch on the zoo, side by side, in one run.
#
# usage: bench/run_peers.sh [BUILD_DIR] [MODELS]     (defaults: build/release, every zoo model)
# Writes bench/results/peers.md (table of medians and ratios) and prints it. Same inputs (the zoo's
# inputs.safetensors) and thread counts (1 and 2) for every runtime. ONNX Runtime comes from npm
# (onnxruntime-node@1.30.0, installed once into bench/.npm); PyTorch is /usr/bin/python3's.
# refit runs models through its reference executor here: the baseline its engines must beat
# (bench/run_engines.sh measures the engines).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
models=${2:-tiny_cnn,resnet18,mobilenet_v2,bert_tiny,tiny_unet,tiny_vit,mlp_acts,tiny_misc}
zoo="$build/zoo"
iters=${REFIT_BENCH_ITERATIONS:-20}
warmup=3

# shellcheck source=bench/peers/ensure_ort.sh
. bench/peers/ensure_ort.sh
ensure_ort run_peers
if [ ! -f "$zoo/resnet18/model.onnx" ]; then
  bash tests/e2e/generate_zoo.sh /usr/bin/python3 "$zoo" "$models" >&2
fi

# Reads a JSON document (pretty or one line) from stdin and prints one numeric field.
json_field() { /usr/bin/python3 -c "import json,sys; print('%.3f' % json.load(sys.stdin)['$1'])"; }

mkdir -p bench/results
out=bench/results/peers.md
{
  echo "# Latency, batch 1: refit vs ONNX Runtime vs PyTorch"
  echo
  echo "Median of $iters runs after $warmup warm-up runs, milliseconds. $(date -u +%F), $(nproc) cores."
  echo "refit = reference executor (no engine yet). Ratio = refit / peer (lower is better for refit)."
  echo
  echo "| model | threads | refit ms | ORT ms | PyTorch ms | refit/ORT | refit/PyTorch |"
  echo "|---|---|---|---|---|---|---|"
} > "$out"
IFS=, read -ra list <<< "$models"
for m in "${list[@]}"; do
  dir="$zoo/$m"
  for t in 1 2; do
    r=$("$build/refit" bench "$dir/model.onnx" --inputs "$dir/inputs.safetensors" \
          --iterations "$iters" --warmup "$warmup" --threads "$t" --json | json_field median_ms)
    o=$(node bench/peers/ort_bench.js "$dir/model.onnx" "$dir/inputs.safetensors" "$t" "$iters" \
          "$warmup" | json_field median_ms)
    p=$(/usr/bin/python3 bench/peers/torch_bench.py "$m" "$dir/inputs.safetensors" "$t" "$iters" \
          "$warmup" | json_field median_ms)
    ratio() { /usr/bin/python3 -c "print('%.2f' % ($1 / $2))"; }
    echo "| $m | $t | $r | $o | $p | $(ratio "$r" "$o") | $(ratio "$r" "$p") |" >> "$out"
    echo "run_peers: $m threads=$t refit=$r ORT=$o PyTorch=$p" >&2
  done
done
cat "$out"
