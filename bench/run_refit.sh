#!/usr/bin/env bash
# Refit speed on the zoo: build time, in-process refit time and memcpy time of the same bytes, in
# one run (bench/refit_bench.cc says what each column measures).
#
# usage: bench/run_refit.sh [BUILD_DIR] [MODELS]
# Defaults: build/release, every zoo model plus bert_small (a 17 M-parameter transformer that only
# the benchmarks use; generated into the zoo directory on first use with /usr/bin/python3).
# Writes bench/results/refit.md. Environment: REFIT_BENCH_ITERATIONS (default 9),
# REFIT_BENCH_THREADS (refit threads, default 0 = every core), REFIT_BENCH_ZOO (default
# BUILD_DIR/zoo).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
models=${2:-tiny_cnn,resnet18,mobilenet_v2,bert_tiny,tiny_unet,tiny_vit,mlp_acts,tiny_misc,bert_small}
zoo=${REFIT_BENCH_ZOO:-$build/zoo}
bench="$build/bench/refit_bench"
if [[ ! -x "$bench" ]]; then
  echo "run_refit.sh: $bench not built (cmake --build $build --target refit_bench)" >&2
  exit 1
fi
dirs=()
IFS=, read -ra names <<<"$models"
for m in "${names[@]}"; do
  if [[ "$m" == bert_small && ! -f "$zoo/$m/weights2.safetensors" ]]; then
    /usr/bin/python3 tests/models/make_zoo.py "$zoo" --models bert_small >/dev/null
  fi
  if [[ ! -f "$zoo/$m/weights2.safetensors" ]]; then
    echo "run_refit.sh: $zoo/$m/weights2.safetensors missing (generate the zoo: ctest -R zoo_generate)" >&2
    exit 1
  fi
  dirs+=("$zoo/$m")
done
mkdir -p bench/results
table=$(mktemp)
"$bench" "${dirs[@]}" --iterations "${REFIT_BENCH_ITERATIONS:-9}" \
  --threads "${REFIT_BENCH_THREADS:-0}" --markdown "$table" >/dev/null
{
  echo "# Refit vs build vs memcpy"
  echo
  echo "\`bash bench/run_refit.sh\` on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(date -u +%Y-%m-%d)."
  echo "build: \`BuildEngine\` with every tactic timed (no timing cache); refit: a full in-process"
  echo "refit to the second weight set (already in memory), median of ${REFIT_BENCH_ITERATIONS:-9};"
  echo "memcpy: copying the same number of bytes as the refit writes, one thread, into a"
  echo "preallocated buffer; partial: refitting the largest source weight (plus the tensors its"
  echo "slots also read). Ratios: build/refit (target >= 100x), refit/memcpy (target <= 2)."
  echo
  cat "$table"
} > bench/results/refit.md
rm -f "$table"
cat bench/results/refit.md
