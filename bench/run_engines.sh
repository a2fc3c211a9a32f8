#!/usr/bin/env bash
# Latency of refit engines (refittable and static) vs ONNX Runtime and PyTorch on the zoo, batch 1
# and 8, 1 and 2 threads, in one run.
#
# usage: bench/run_engines.sh [BUILD_DIR] [MODELS]     (defaults: build/release, every zoo model)
# Writes bench/results/engines.md (a table per batch and thread count) and engines.png (refit/ORT
# per model and configuration). Every runtime gets the same ONNX file, inputs.safetensors and
# thread count. Batch B means every input's leading dimension is B: the zoo exports have fixed
# shapes, so models whose zoo batch differs are re-exported (bench/peers/export_batch.py) into
# BUILD_DIR/bench_engines/b<B>/, next to the engines, logs, results.tsv and timing cache.
# Engines are built with `refit build --threads T --input NAME:DIMS --timing-cache` (the cache
# starts empty each run, so the refittable build tunes and the static build of the same
# model/batch/threads mostly reads the cache; REFIT_BENCH_KEEP_CACHE=1 keeps it across runs).
# Environment: REFIT_BENCH_ITERATIONS (batch 1, default 10), REFIT_BENCH_ITERATIONS_B8 (larger
# batches, default 5), REFIT_BENCH_WARMUP (untimed runs, default 2), REFIT_BENCH_WARMUP_MS
# (untimed runs go on for at least this long, default 500: a fresh process's first runs are not
# its steady state, for any runtime), REFIT_BENCH_BATCHES ("1 8"),
# REFIT_BENCH_THREADS ("1 2"), REFIT_BENCH_ZOO (default BUILD_DIR/zoo), REFIT_BENCH_ROUNDS
# (default 3: every runtime is measured once per round, in turn, and reports the median of its
# rounds).
# A failing build or run is logged to BUILD_DIR/bench_engines/log.txt and shows as "-".
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
models=${2:-tiny_cnn,resnet18,mobilenet_v2,bert_tiny,tiny_unet,tiny_vit,mlp_acts,tiny_misc}
zoo=${REFIT_BENCH_ZOO:-$build/zoo}
iters1=${REFIT_BENCH_ITERATIONS:-10}
iters8=${REFIT_BENCH_ITERATIONS_B8:-5}
warmup=${REFIT_BENCH_WARMUP:-2}
warmup_ms=${REFIT_BENCH_WARMUP_MS:-500}
rounds=${REFIT_BENCH_ROUNDS:-3}
batches=${REFIT_BENCH_BATCHES:-1 8}
thread_counts=${REFIT_BENCH_THREADS:-1 2}
refit="$build/refit"
work="$build/bench_engines"
py=/usr/bin/python3

[ -x "$refit" ] || { echo "run_engines: no $refit (build the refit target first)" >&2; exit 1; }
# shellcheck source=bench/peers/ensure_ort.sh
. bench/peers/ensure_ort.sh
ensure_ort run_engines
IFS=, read -ra list <<< "$models"
for m in "${list[@]}"; do
  if [ ! -f "$zoo/$m/model.onnx" ]; then
    bash tests/e2e/generate_zoo.sh "$py" "$zoo" "$models" >&2
    break
  fi
done

# Batch variants are regenerated when the generator scripts change.
mkdir -p "$work/engines"
stamp=$(cat tests/models/make_zoo.py tests/models/zoo_models.py bench/peers/export_batch.py |
          sha256sum | cut -d' ' -f1)
if [ "$(cat "$work/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$work"/b[0-9]*
  echo "$stamp" > "$work/.stamp"
fi
cache="$work/timing_cache.json"
[ "${REFIT_BENCH_KEEP_CACHE:-0}" = 1 ] || rm -f "$cache"
load_start=$(cut -d' ' -f1 /proc/loadavg)
log="$work/log.txt"
: > "$log"
tsv="$work/results.tsv"
printf '%s\t' batch threads model refittable_ms static_ms ort_ms torch_ms build_refittable_s \
  build_static_s cached_refittable cached_static > "$tsv"
echo inputs >> "$tsv"

# Model directory holding batch-$1 exports of model $2: the zoo's when its batch already is $1.
model_dir() {
  local b=$1 m=$2
  if "$py" - "$zoo/$m/meta.json" "$b" <<'EOF'; then echo "$zoo/$m"; return; fi
import json, sys
shapes = json.load(open(sys.argv[1]))["inputs"].values()
sys.exit(0 if all(s and s[0] == int(sys.argv[2]) for s in shapes) else 1)
EOF
  if ! "$py" -W ignore bench/peers/export_batch.py "$b" "$work/b$b" --models "$m" \
         >>"$log" 2>&1; then
    echo "run_engines: export of $m at batch $b failed (see $log)" >&2
  fi
  echo "$work/b$b/$m"
}
# "--input NAME:DxD ..." flags from meta.json, and a compact "NAME:DxD" summary.
input_flags() {
  "$py" -c "import json,sys; d=json.load(open(sys.argv[1]))['inputs']
print(' '.join('--input %s:%s' % (k, 'x'.join(map(str, v))) for k, v in d.items()))" "$1/meta.json"
}
# Runs "$@" (which prints JSON); prints its median_ms, or "-" (and logs) if it fails.
median() {
  local out
  if out=$("$@" 2>>"$log") && out=$(echo "$out" | "$py" -c \
      "import json,sys; print('%.3f' % json.load(sys.stdin)['median_ms'])"); then
    echo "$out"
  else
    echo "FAILED: $*" >> "$log"; echo "-"
  fi
}
# Builds engine $1 in mode $2 from model dir $3 with $4 threads; prints "SECONDS CACHED_LAYERS".
build_engine() {
  local engine=$1 mode=$2 dir=$3 t=$4 err
  # shellcheck disable=SC2046  # input_flags is a list of words by design.
  if err=$("$refit" build "$dir/model.onnx" -o "$engine" --mode "$mode" --threads "$t" \
             --timing-cache "$cache" --quiet $(input_flags "$dir") 2>&1); then
    echo "$err" | grep -v '^refit build: note' >> "$log" || true
    echo "$err" | sed -n 's/.* \([0-9]*\) from the timing cache.*built in \([0-9.]*\) s.*/\2 \1/p'
  else
    echo "FAILED build $mode $dir threads $t: $err" >> "$log"; rm -f "$engine"; echo "- -"
  fi
}

for b in $batches; do
  iters=$iters1; [ "$b" = 1 ] || iters=$iters8
  for m in "${list[@]}"; do
    dir=$(model_dir "$b" "$m")
    shapes=$("$py" -c "import json,sys; d=json.load(open(sys.argv[1]))['inputs']
print(' '.join('%s:%s' % (k, 'x'.join(map(str, v))) for k, v in d.items()))" "$dir/meta.json")
    for t in $thread_counts; do
      builds=()
      engines=()
      for mode in refittable static; do
        engine="$work/engines/${m}_b${b}_t${t}_${mode}.refit"
        read -r secs cached <<< "$(build_engine "$engine" "$mode" "$dir" "$t")"
        builds+=("${secs:--}" "${cached:--}")
        engines+=("$engine")
      done
      # Rounds of one run of each runtime in turn, so a burst of load on this shared machine
      # lands on every runtime alike; each column is the median of its rounds' medians.
      rounds_out=()
      for ((r = 0; r < rounds; ++r)); do
        one=()
        for engine in "${engines[@]}"; do
          if [ -f "$engine" ]; then
            one+=("$(median "$refit" bench "$engine" --inputs "$dir/inputs.safetensors" \
                      --iterations "$iters" --warmup "$warmup" --warmup-ms "$warmup_ms" \
                      --threads "$t" --json)")
          else
            one+=("-")
          fi
        done
        one+=("$(median node bench/peers/ort_bench.js "$dir/model.onnx" \
                   "$dir/inputs.safetensors" "$t" "$iters" "$warmup" "$warmup_ms")")
        one+=("$(median "$py" bench/peers/torch_bench.py "$m" "$dir/inputs.safetensors" "$t" \
                   "$iters" "$warmup" "$warmup_ms")")
        rounds_out+=("${one[*]}")
      done
      rm -f "${engines[@]}"  # resnet18's are ~60 MB each; nothing reads them afterwards.
      read -ra row <<< "$(printf '%s\n' "${rounds_out[@]}" | "$py" -c "
import statistics, sys
cols = list(zip(*(line.split() for line in sys.stdin if line.strip())))
out = []
for c in cols:
    v = [float(x) for x in c if x != '-']
    out.append('%.3f' % statistics.median(v) if v else '-')
print(' '.join(out))")"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$t" "$m" "${row[@]}" \
        "${builds[0]}" "${builds[2]}" "${builds[1]}" "${builds[3]}" "$shapes" >> "$tsv"
      echo "run_engines: $m batch=$b threads=$t refittable=${row[0]} static=${row[1]}" \
           "ORT=${row[2]} PyTorch=${row[3]} build=${builds[0]}/${builds[2]} s" >&2
    done
  done
done

mkdir -p bench/results
"$py" bench/peers/engines_report.py "$tsv" bench/results/engines.md bench/results/engines.png \
  --iterations "$iters1" --iterations-large "$iters8" --warmup "$warmup" --warmup-ms "$warmup_ms" \
  --rounds "$rounds" \
  --note "1-min load average: $load_start at the start, $(cut -d' ' -f1 /proc/loadavg) at the end."
cat bench/results/engines.md
