#!/usr/bin/env bash
# Runs one model through `refit run` and compares its outputs with the PyTorch oracle's.
#
# usage: run_model.sh --python PY --refit REFIT --model-dir DIR --work-dir WORK
#                     [--expected FILE] [--rel REL] [--engine MODE [--keep-sources]]
#                     [--weights FILE] [--lora PATH[:SCALE]]... [--update [--update-mode MODE]]
#                     [-- EXTRA_REFIT_ARGS...]
# DIR holds model.onnx, inputs.safetensors and outputs.safetensors (as written by
# tests/models/make_zoo.py); --expected names another file in DIR (e.g. outputs2.safetensors
# together with `--weights weights2.safetensors`). --weights is refit at `refit run`; with
# --update it goes through `refit update` into a second engine file, which then runs alone.
# --lora names a LoRA adapter in DIR (a PEFT directory or a kohya file, written by
# tests/models/make_adapters.py), applied at that scale (default 1) on top of the base weights:
# --weights if given, else the sources the engine kept (--keep-sources at build). Like
# --weights, adapters go to `refit run`, or with --update to `refit update`.
# EXTRA_REFIT_ARGS go to `refit build` and `refit run`, not to `refit update`.
set -euo pipefail

python="" refit="" model_dir="" work_dir="" expected="outputs.safetensors" rel="1e-4"
engine_mode="" weights="" update=0 update_mode="" keep_sources=0 loras=()
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
    --lora) loras+=("$2"); shift 2 ;;         # apply this adapter (PATH[:SCALE], in model dir)
    --keep-sources) keep_sources=1; shift ;;  # `refit build --keep-sources`
    --update) update=1; shift ;;              # refit with `refit update`, then run the new engine
    --update-mode) update_mode="$2"; shift 2 ;;  # --mode for `refit update`
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
if [[ $update -eq 1 && ( -z "$engine_mode" || ( -z "$weights" && ${#loras[@]} -eq 0 ) ) ]]; then
  echo "run_model.sh: --update needs --engine and --weights or --lora" >&2
  exit 2
fi
if [[ $keep_sources -eq 1 && -z "$engine_mode" ]]; then
  echo "run_model.sh: --keep-sources needs --engine" >&2
  exit 2
fi
if [[ -n "$update_mode" && $update -eq 0 ]]; then
  echo "run_model.sh: --update-mode needs --update" >&2
  exit 2
fi
for file in model.onnx inputs.safetensors "$expected" ${weights:+"$weights"}; do
  if [[ ! -f "$model_dir/$file" ]]; then
    echo "run_model.sh: missing $model_dir/$file (did the zoo_generate fixture run?)" >&2
    exit 1
  fi
done
# Adapters go on as absolute paths, their scale (a number after the last ':') kept.
lora_args=()
for spec in "${loras[@]}"; do
  path="$spec" scale=""
  if [[ "$spec" =~ ^(.+):([-+0-9.eE]+)$ ]]; then
    path="${BASH_REMATCH[1]}" scale=":${BASH_REMATCH[2]}"
  fi
  if [[ ! -e "$model_dir/$path" ]]; then
    echo "run_model.sh: missing adapter $model_dir/$path (did the zoo_generate fixture run?)" >&2
    exit 1
  fi
  lora_args+=(--lora "$(cd "$model_dir" && pwd)/$path$scale")
done

compare="$(cd "$(dirname "${BASH_SOURCE[0]}")/../models" && pwd)/compare.py"
mkdir -p "$work_dir"
out="$work_dir/out.safetensors"
rm -f "$out"

target="$model_dir/model.onnx"
run_extra=()
# timed LABEL EXPECTED_FILE CMD...: runs CMD, prints how long it took, and fails the test unless
# it exits 0 and writes EXPECTED_FILE.
timed() {
  local label="$1" expected_file="$2" status=0 start
  shift 2
  echo "+ $*"
  start=$EPOCHREALTIME
  "$@" || status=$?
  if [[ $status -ne 0 ]]; then
    echo "FAIL: $label exited with status $status on $target" >&2
    exit 1
  fi
  awk -v s="$start" -v e="$EPOCHREALTIME" -v l="$label" 'BEGIN { printf "%s took %.3f s\n", l, e - s }'
  if [[ ! -f "$expected_file" ]]; then
    echo "FAIL: $label succeeded but wrote no $expected_file" >&2
    exit 1
  fi
}

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
  if [[ $keep_sources -eq 1 ]]; then build+=(--keep-sources); fi
  echo "+ ${build[*]}"
  "${build[@]}" || { echo "FAIL: refit build exited with status $? on $model_dir/model.onnx" >&2; exit 1; }
fi
if [[ $update -eq 1 ]]; then
  updated="$work_dir/model_updated.engine"
  rm -f "$updated"
  update_cmd=("$refit" update "$target" -o "$updated" ${weights:+--weights "$model_dir/$weights"}
              "${lora_args[@]}")
  if [[ -n "$update_mode" ]]; then update_cmd+=(--mode "$update_mode"); fi
  timed "refit update" "$updated" "${update_cmd[@]}"
  # The new engine must carry the weights by itself, so it runs without --weights or --lora.
  target="$updated"
else
  run_extra=(${weights:+--weights "$model_dir/$weights"} "${lora_args[@]}")
fi
cmd=("$refit" run "$target" --inputs "$model_dir/inputs.safetensors" -o "$out" "${run_extra[@]}" "$@")
timed "refit run" "$out" "${cmd[@]}"
echo "+ compare.py $model_dir/$expected $out --rel $rel"
exec "$python" "$compare" "$model_dir/$expected" "$out" --rel "$rel"
