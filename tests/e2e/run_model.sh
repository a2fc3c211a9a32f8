#!/usr/bin/env bash
# Runs one model through `refit run` and compares its outputs with the PyTorch oracle's.
#
# usage: run_model.sh --python PY --refit REFIT --model-dir DIR --work-dir WORK
#                     [--expected FILE] [--rel REL] [-- EXTRA_REFIT_ARGS...]
# DIR holds model.onnx, inputs.safetensors and outputs.safetensors (as written by
# tests/models/make_zoo.py); --expected names another file in DIR (e.g. outputs2.safetensors
# together with `-- --weights DIR/weights2.safetensors`).
set -euo pipefail

python="" refit="" model_dir="" work_dir="" expected="outputs.safetensors" rel="1e-4"
engine_mode="" weights=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --python) python="$2"; shift 2 ;;
    --refit) refit="$2"; shift 2 ;;
    --model-dir) model_dir="$2"; shift 2 ;;
    --work-dir) work_dir="$2"; shift 2 ;;
    --expected) expected="$2"; shift 2 ;;
    --rel) rel="$2"; shift 2 ;;
    --engine) engine_mode="$2"; shift 2 ;;    # build an engine of this mode and run it
    --weights) weights="$2"; shift 2 ;;       # refit to these source weights (file in model dir)
    --) shift; break ;;
    *) echo "run_model.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
for var in python refit model_dir work_dir; do
  if [[ -z "${!var}" ]]; then
    echo "run_model.sh: --${var//_/-} is required" >&2
    exit 2
  fi
done
for file in model.onnx inputs.safetensors "$expected"; do
  if [[ ! -f "$model_dir/$file" ]]; then
    echo "run_model.sh: missing $model_dir/$file (did the zoo_generate fixture run?)" >&2
    exit 1
  fi
done

compare="$(cd "$(dirname "${BASH_SOURCE[0]}")/../models" && pwd)/compare.py"
mkdir -p "$work_dir"
out="$work_dir/out.safetensors"
rm -f "$out"

target="$model_dir/model.onnx"
run_extra=()
if [[ -n "$engine_mode" ]]; then
  # The engine is built for the shapes of the test's inputs (read from the safetensors header).
  mapfile -t shape_args < <("$python" - "$model_dir/inputs.safetensors" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
for name, info in header.items():
    if name != "__metadata__":
        print("--input")
        print(name + ":" + "x".join(str(d) for d in info["shape"]))
PY
)
  target="$work_dir/model.engine"
  rm -f "$target"
  build=("$refit" build "$model_dir/model.onnx" -o "$target" --mode "$engine_mode" --quiet
         --timing-cache "$work_dir/../timing_cache_$(basename "$model_dir").json" "${shape_args[@]}" "$@")
  echo "+ ${build[*]}"
  "${build[@]}" || { echo "FAIL: refit build exited with status $? on $model_dir/model.onnx" >&2; exit 1; }
fi
if [[ -n "$weights" ]]; then run_extra=(--weights "$model_dir/$weights"); fi
cmd=("$refit" run "$target" --inputs "$model_dir/inputs.safetensors" -o "$out" "${run_extra[@]}" "$@")
echo "+ ${cmd[*]}"
start=$EPOCHREALTIME
status=0
"${cmd[@]}" || status=$?
if [[ $status -ne 0 ]]; then
  echo "FAIL: refit run exited with status $status on $model_dir/model.onnx" >&2
  exit 1
fi
awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "refit run took %.3f s\n", e - s }'
if [[ ! -f "$out" ]]; then
  echo "FAIL: refit run succeeded but wrote no $out" >&2
  exit 1
fi
echo "+ compare.py $model_dir/$expected $out --rel $rel"
exec "$python" "$compare" "$model_dir/$expected" "$out" --rel "$rel"
