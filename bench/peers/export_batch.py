"""Exports zoo models with every input's leading (batch) dimension set to BATCH.

usage: /usr/bin/python3 export_batch.py BATCH OUTDIR --models a,b,...

The zoo's ONNX files have fixed shapes (no dynamic axes), so another batch size needs another
export. This reuses make_zoo.build_one (same seeds, weights, naming checks, OUTDIR/<name>/ layout
with model.onnx, inputs.safetensors and meta.json); only the example inputs change: float inputs
are drawn afresh at the new shape, integer inputs (token ids, masks) are tiled along the batch.
A model whose OUTDIR/<name>/meta.json already has batch BATCH is skipped.
"""

import argparse
import json
import os
import sys

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "..", "tests", "models"))
import make_zoo  # noqa: E402
import zoo_models  # noqa: E402


def _rebatch(tensor, batch):
    shape = (batch,) + tuple(tensor.shape[1:])
    if tensor.is_floating_point():
        return torch.randn(shape, dtype=tensor.dtype)
    reps = -(-batch // tensor.shape[0])
    return tensor.repeat((reps,) + (1,) * (tensor.dim() - 1))[:batch].contiguous()


def _batched_builder(builder, batch):
    def build():
        model, inputs = builder()
        return model, type(inputs)((k, _rebatch(v, batch)) for k, v in inputs.items())
    return build


def _has_batch(model_dir, batch):
    try:
        with open(os.path.join(model_dir, "meta.json")) as f:
            shapes = json.load(f)["inputs"].values()
    except (OSError, ValueError, KeyError):
        return False
    return os.path.exists(os.path.join(model_dir, "model.onnx")) and all(
        s and s[0] == batch for s in shapes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batch", type=int)
    parser.add_argument("outdir")
    parser.add_argument("--models", default=",".join(zoo_models.MODELS))
    args = parser.parse_args()
    torch.set_num_threads(2)
    failed = False
    for name in [n for n in args.models.split(",") if n]:
        if _has_batch(os.path.join(args.outdir, name), args.batch):
            continue
        builder, outputs = zoo_models.MODELS[name]
        zoo_models.MODELS[name] = (_batched_builder(builder, args.batch), outputs)
        meta = make_zoo.build_one(name, args.outdir)
        print(f"export_batch: {name} batch {args.batch}: {meta['inputs']}", file=sys.stderr)
        for problem in meta["problems"]:
            print(f"  PROBLEM: {problem}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
