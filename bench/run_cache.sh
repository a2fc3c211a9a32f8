#!/usr/bin/env bash
# The engine cache on the zoo: `refit build MODEL --cache DIR` on a miss (the build, stored), on a
# hit (the stored stripped engine refitted with the model's weights) and on a hit with another
# checkpoint of the architecture (model2.onnx: same graph, other weights), same flags each time.
#
# usage: bench/run_cache.sh [BUILD_DIR] [MODELS]
# Defaults: build/release, the e2e zoo models. Writes bench/results/cache.md. Environment:
# REFIT_BENCH_ZOO (default build/release/zoo), REFIT_BENCH_THREADS (--threads, default 1).
# Times are the CLI's own "X s in all" (from the start of the command's work: model import, key,
# lookup, build or load and refit, writing the engine; not process start-up), and wall clock of
# the whole process beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
models=${2:-tiny_cnn,resnet18,mobilenet_v2,bert_tiny,tiny_unet,tiny_vit,mlp_acts,tiny_misc}
zoo=${REFIT_BENCH_ZOO:-build/release/zoo}
threads=${REFIT_BENCH_THREADS:-1}
refit="$build/refit"
[ -x "$refit" ] || { echo "run_cache.sh: no $refit (build the refit target first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
# Runs `refit build` with the cache; prints "<cli seconds> <wall seconds> <summary line>".
build_once() {
  local model=$1 out=$2 cache=$3 start end line
  start=$(now)
  line=$("$refit" build "$model" -o "$out" --cache "$cache" --threads "$threads" --quiet 2>&1 |
           grep '^refit build: .* -> ' | tail -1) || true
  end=$(now)
  local cli
  cli=$(sed -n 's/.* \([0-9.]*\) s in all$/\1/p' <<<"$line")
  echo "${cli:--} $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }') $line"
}
field() { sed -n "s/.*$1.*/\\1/p" <<<"$2"; }

rows=()
IFS=, read -ra names <<<"$models"
for m in "${names[@]}"; do
  model="$zoo/$m/model.onnx"
  model2="$zoo/$m/model2.onnx"
  if [[ ! -f "$model" || ! -f "$model2" ]]; then
    echo "run_cache.sh: $zoo/$m lacks model.onnx or model2.onnx (generate the zoo: ctest -R zoo_generate)" >&2
    exit 1
  fi
  cache="$work/$m.cache"
  read -r miss_s miss_w miss_line < <(build_once "$model" "$work/$m.miss.engine" "$cache")
  read -r hit_s hit_w hit_line < <(build_once "$model" "$work/$m.hit.engine" "$cache")
  read -r hit2_s hit2_w hit2_line < <(build_once "$model2" "$work/$m.hit2.engine" "$cache")
  for line in "$miss_line" "$hit_line" "$hit2_line"; do echo "$line" >&2; done
  [[ "$miss_line" == *"cache miss"* ]] || miss_s="$miss_s (not a miss!)"
  [[ "$hit_line" == *"cache hit"* ]] || hit_s="$hit_s (not a hit!)"
  [[ "$hit2_line" == *"cache hit"* ]] || hit2_s="$hit2_s (not a hit!)"
  load=$(field 'loaded in \([0-9.]*\) s' "$hit_line")
  refit_ms=$(field 'in \([0-9.]*\) ms;' "$hit_line")
  build_s=$(field 'built in \([0-9.]*\) s' "$miss_line")
  entry=$(stat -c %s "$cache"/*.engine | awk '{ printf "%.1f KiB", $1 / 1024 }')
  ratio=$(awk -v a="${miss_s%% *}" -v b="${hit_s%% *}" 'BEGIN { if (b > 0) printf "%.0fx", a / b; else print "-" }')
  engine_ratio=$(awk -v b="$build_s" -v l="$load" -v r="$refit_ms" \
                 'BEGIN { t = l + r / 1000; if (b != "" && t > 0) printf "%.0fx", b / t; else print "-" }')
  rows+=("| $m | $miss_s | $hit_s | $hit2_s | $ratio | $build_s | $load | $refit_ms | $engine_ratio | $miss_w | $hit_w | $entry |")
done

# The same cache through MutableModel in one process (bench/model_bench.cc): no model import or
# engine file in the timed path, and no one-time process start-up costs in the hit.
model_table=$(mktemp)
model_dirs=()
for m in "${names[@]}"; do model_dirs+=("$zoo/$m"); done
if [[ -x "$build/bench/model_bench" ]]; then
  "$build/bench/model_bench" "${model_dirs[@]}" --markdown "$model_table" >/dev/null
else
  echo "(build the model_bench target for this table)" > "$model_table"
fi

mkdir -p bench/results
{
  echo "# Engine cache: build --cache miss vs hit"
  echo
  echo "\`bash bench/run_cache.sh\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(date -u +%Y-%m-%d), --threads $threads."
  echo "Each model: \`refit build model.onnx --cache DIR\` into an empty DIR (miss: build and store),"
  echo "the same again (hit: load the stored stripped engine, refit it with the model's weights),"
  echo "then \`model2.onnx\` (the same architecture with other weights: must hit). Times in seconds"
  echo "are the CLI's own \"s in all\" (model import, cache key, lookup, build or load + refit,"
  echo "writing the engine file; not process start-up). The wall columns time the whole process."
  echo "build: the builder's own time inside the miss; load (lookup and Engine::Open of the"
  echo "entry) and refit: inside the hit; build / (load + refit) is what the cache replaces by what."
  echo "Both commands also import the ONNX model and write the engine file; a hit imports it for the"
  echo "lookup without onnx::checker and shape inference (a miss imports it again, checked, to build)."
  echo "Target: miss / hit >= 50x."
  echo
  echo "| model | miss (s) | hit (s) | hit model2 (s) | miss / hit | build (s) | load (s) | refit (ms) | build / (load + refit) | wall miss (s) | wall hit (s) | entry |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Through MutableModel (in process)"
  echo
  echo "Five rounds: a MutableModel over an emptied cache directory runs the model (miss: build and"
  echo "store; the process's memory tier bypassed), then five fresh MutableModel objects run it with"
  echo "the memory tier bypassed (disk hit: cache key, load the stripped entry, refit it with the"
  echo "model's weights), each right after the build, as cold as a hit gets. Then five with the memory"
  echo "tier (memory hit: cache key, a new instance of the engine the process already loaded, sharing"
  echo "its plan and kernels, refitted with the model's weights), and one weight (the largest) edited"
  echo "(refit). Times are medians of RunInfo::prepare_seconds, the path's own cost; miss / disk hit is"
  echo "the median over the rounds of each round's miss over its median hit (paired: the load of this"
  echo "shared machine drifts). Open is MutableModel::Open (ONNX import and the graph digest the keys"
  echo "start from), which every model object pays once whichever path its runs take."
  echo "Target: miss / hit >= 50x."
  echo
  cat "$model_table"
} > bench/results/cache.md
rm -f "$model_table"
cat bench/results/cache.md
