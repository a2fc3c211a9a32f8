#!/usr/bin/env bash
# Where an engine's time goes against ONNX Runtime: per-layer medians of a refit engine
# (`refit bench --profile --json`) beside ORT's per-node medians (its own profiler), one zoo model.
#
# usage: bench/run_layers.sh MODEL [THREADS] [BUILD_DIR]    (defaults: 1 thread, build/release)
# Writes bench/results/layers_MODEL_tTHREADS.md. Both runtimes get the zoo's model.onnx and
# inputs.safetensors, the same thread count and 1 s of untimed warm-up; the engine is built (tuned)
# into BUILD_DIR/bench_layers/ first. Environment: REFIT_BENCH_ZOO (default BUILD_DIR/zoo),
# REFIT_BENCH_ITERATIONS (refit's profiled runs, default 100), REFIT_BENCH_PROFILE_MS (ORT's
# profiled time, default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bench/run_layers.sh MODEL [THREADS] [BUILD_DIR]}
threads=${2:-1}
build=${3:-build/release}
zoo=${REFIT_BENCH_ZOO:-$build/zoo}
iterations=${REFIT_BENCH_ITERATIONS:-100}
profile_ms=${REFIT_BENCH_PROFILE_MS:-2000}
refit="$build/refit"
work="$build/bench_layers"
py=/usr/bin/python3

[ -x "$refit" ] || { echo "run_layers: no $refit (build the refit target first)" >&2; exit 1; }
[ -f "$zoo/$model/model.onnx" ] || bash tests/e2e/generate_zoo.sh "$py" "$zoo" "$model" >&2
[ -f "$zoo/$model/model.onnx" ] || { echo "run_layers: no zoo model '$model'" >&2; exit 1; }
# shellcheck source=bench/peers/ensure_ort.sh
. bench/peers/ensure_ort.sh
ensure_ort run_layers
mkdir -p "$work" bench/results
engine="$work/${model}_t${threads}.refit"
"$refit" build "$zoo/$model/model.onnx" -o "$engine" --threads "$threads" --quiet >&2
"$refit" bench "$engine" --inputs "$zoo/$model/inputs.safetensors" --threads "$threads" \
  --iterations "$iterations" --warmup-ms 1000 --profile --json 2>/dev/null > "$work/refit.json"
node bench/peers/ort_profile.js "$zoo/$model/model.onnx" "$zoo/$model/inputs.safetensors" \
  "$threads" 1000 "$profile_ms" > "$work/ort.json"
out="bench/results/layers_${model}_t${threads}.md"
"$py" bench/peers/layers_report.py "$work/refit.json" "$work/ort.json" \
  --title "$model, $threads thread(s): refit layers against ONNX Runtime nodes" > "$out"
cat "$out"
