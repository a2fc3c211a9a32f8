#!/usr/bin/env bash
# Regenerates the PyTorch oracle zoo (make_zoo.py, then make_adapters.py's LoRA adapters) unless it
# is already up to date.
#
# usage: generate_zoo.sh PYTHON OUTDIR MODEL[,MODEL...]
# The stamp records a hash of the generator scripts, the interpreter and the model list; a
# matching stamp plus every model's files means nothing to do (resnet18 alone takes ~10 s).
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: generate_zoo.sh PYTHON OUTDIR MODEL[,MODEL...]" >&2
  exit 2
fi
python="$1" outdir="$2" models="$3"
models_src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../models" && pwd)"
stamp="$outdir/.stamp"

hash="$( (cat "$models_src/make_zoo.py" "$models_src/zoo_models.py" \
              "$models_src/safetensors_io.py" "$models_src/make_adapters.py"; \
          echo "$python $models"; \
          "$python" -c 'import importlib.metadata as m; print(m.version("torch"), m.version("onnx"))') \
        | sha256sum | cut -d' ' -f1)"

complete=1
IFS=',' read -ra names <<< "$models"
for name in "${names[@]}"; do
  for file in model.onnx inputs.safetensors outputs.safetensors weights2.safetensors \
              outputs2.safetensors adapters.json; do
    [[ -f "$outdir/$name/$file" ]] || complete=0
  done
done
if [[ $complete -eq 1 && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
  echo "zoo in $outdir is up to date ($models)"
  exit 0
fi

rm -f "$stamp"
mkdir -p "$outdir"
"$python" "$models_src/make_zoo.py" "$outdir" --models "$models"
"$python" "$models_src/make_adapters.py" "$outdir" --models "$models"
echo "$hash" > "$stamp"
