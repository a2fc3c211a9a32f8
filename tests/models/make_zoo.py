#!/usr/bin/python3
"""Builds the PyTorch oracle zoo: ONNX exports plus reference inputs and outputs.

usage: /usr/bin/python3 tests/models/make_zoo.py OUTDIR [--models a,b,...]

For each model, OUTDIR/<name>/ receives
  model.onnx            opset 17, exported so initializer names equal state_dict keys
  inputs.safetensors    keyed by the ONNX graph input names
  outputs.safetensors   PyTorch's outputs, keyed by the ONNX graph output names
  weights2.safetensors  a second perturbation of every exported float weight (by initializer name)
  outputs2.safetensors  PyTorch's outputs with weights2 loaded
  model2.onnx           the model with weights2 loaded, exported as model.onnx was (same
                        initializer names, new values)
  model2_renamed.onnx   model2.onnx with initializer k renamed "p<k>", as an exporter that
                        generates its own names would (refit must then match by graph position)
  meta.json             op types, parameter count, problems found
Needs torch 1.13 + onnx 1.12 (Debian's /usr/bin/python3). Exits 1 if an export breaks the
naming contract (an initializer that is not a state_dict key, or whose value differs), if
model2.onnx's initializers or op sequence differ from model.onnx's, if model2_renamed.onnx
shares an initializer name with model.onnx, or if an output is not finite or does not change
with weights2.
"""

import argparse
import json
import os
import sys
import zlib

import numpy as np
import onnx
from onnx import numpy_helper
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import zoo_models  # noqa: E402

_OPSET = 17
_FIRST_SCALE = 0.01
_SECOND_SCALE = 0.02


def _perturb(state, generator, scale):
    """Adds scale*randn to every float tensor in place (tied tensors once); variances stay > 0.

    The perturbation also keeps the exporter from merging initializers with equal values
    (fresh LayerNorm weights, zero biases), which would rename them.
    """
    seen = set()
    for key in sorted(state):
        tensor = state[key]
        if not tensor.is_floating_point() or tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        noise = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)
        tensor.add_(scale * noise)
        if key.endswith("running_var"):
            tensor.abs_().clamp_(min=0.05)


def to_numpy(tensor):
    return np.asarray(tensor.detach().cpu().numpy(), order="C")


def run_model(model, inputs, output_names):
    with torch.no_grad():
        result = model(*inputs.values())
    if isinstance(result, torch.Tensor):
        result = (result,)
    if len(result) != len(output_names):
        raise RuntimeError(f"model returned {len(result)} outputs, expected {len(output_names)}")
    return {name: to_numpy(t) for name, t in zip(output_names, result)}


def _check_names(name, proto, state):
    """Compares initializers with the state_dict. Returns (problems, notes) as string lists."""
    problems, notes = [], []
    initializers = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    for init_name, value in sorted(initializers.items()):
        if init_name not in state:
            # Constants the exporter created itself (shapes, scales) are not weights.
            if np.issubdtype(value.dtype, np.floating) and value.size > 1:
                problems.append(f"initializer {init_name} {list(value.shape)} is not a "
                                f"state_dict key")
            else:
                notes.append(f"exporter constant {init_name} {list(value.shape)} {value.dtype}")
            continue
        expected = to_numpy(state[init_name])
        if value.shape != expected.shape or not np.array_equal(value, expected):
            problems.append(f"initializer {init_name}: value or shape differs from state_dict "
                            f"({list(value.shape)} vs {list(expected.shape)})")
    for key, tensor in sorted(state.items()):
        if key not in initializers:
            why = "unused buffer" if not tensor.is_floating_point() else "float tensor"
            (problems if tensor.is_floating_point() else notes).append(
                f"state_dict key {key} ({why}) is not an initializer")
    return problems, notes


def _export(model, inputs, output_names, path):
    """Exports with the flags that keep initializer names equal to state_dict keys."""
    torch.onnx.export(model, tuple(inputs.values()), path, opset_version=_OPSET,
                      input_names=list(inputs), output_names=output_names,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _rewire(graph, mapping):
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]
        for attr in node.attribute:
            # Subgraphs (If, Loop) may read outer-scope initializers.
            subgraphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs
            for subgraph in subgraphs:
                _rewire(subgraph, mapping)
    for info in graph.value_info:
        if info.name in mapping:
            info.name = mapping[info.name]


def _rename_initializers(proto):
    """Returns a copy of proto whose initializer k is named "p<k>", its readers rewired.

    Node order, graph inputs and graph outputs stay as they are, so only the names tell the
    two models apart.
    """
    renamed = onnx.ModelProto()
    renamed.CopyFrom(proto)
    graph = renamed.graph
    mapping = {init.name: f"p{k}" for k, init in enumerate(graph.initializer)}
    boundary = {v.name for v in graph.input} | {v.name for v in graph.output}
    if boundary & mapping.keys():
        raise RuntimeError(f"initializers {sorted(boundary & mapping.keys())} are graph inputs "
                           f"or outputs; renaming them would change the graph's interface")
    produced = boundary | {out for node in graph.node for out in node.output}
    if produced & set(mapping.values()):
        raise RuntimeError(f"new initializer names {sorted(produced & set(mapping.values()))} "
                           f"are already value names in the graph")
    for init in graph.initializer:
        init.name = mapping[init.name]
    _rewire(graph, mapping)
    onnx.checker.check_model(renamed, full_check=True)
    return renamed


def _check_model2(proto, proto2, renamed):
    """Problems that would make model2.onnx or model2_renamed.onnx a wrong refit source."""
    problems = []
    names = [init.name for init in proto.graph.initializer]
    names2 = [init.name for init in proto2.graph.initializer]
    if names2 != names:
        problems.append(f"model2.onnx initializers {names2[:8]}... differ from model.onnx's "
                        f"{names[:8]}... ({len(names2)} vs {len(names)})")
    ops = [node.op_type for node in proto.graph.node]
    ops2 = [node.op_type for node in proto2.graph.node]
    if ops2 != ops:
        problems.append(f"model2.onnx has {len(ops2)} nodes, model.onnx {len(ops)}, or their "
                        f"op types differ")
    common = set(names) & {init.name for init in renamed.graph.initializer}
    if common:
        problems.append(f"model2_renamed.onnx keeps model.onnx initializer names "
                        f"{sorted(common)}")
    return problems


def _graph_io(proto):
    initializer_names = {init.name for init in proto.graph.initializer}
    inputs = [v.name for v in proto.graph.input if v.name not in initializer_names]
    outputs = [v.name for v in proto.graph.output]
    return inputs, outputs


def model_seed(name):
    return zlib.crc32(name.encode("utf-8"))


def build_model(name):
    """Returns (model, inputs, output_names, state) with the weights model.onnx is exported with.

    Deterministic per name, so other fixture scripts (make_adapters.py) rebuild the same model,
    inputs and first weight set; state is model.state_dict() (it shares the model's storage).
    """
    builder, output_names = zoo_models.MODELS[name]
    torch.manual_seed(model_seed(name))
    model, inputs = builder()
    model.eval()
    generator = torch.Generator().manual_seed(model_seed(name) + 1)
    _perturb(model.state_dict(), generator, _FIRST_SCALE)
    return model, inputs, output_names, model.state_dict()


def build_one(name, outdir):
    seed = model_seed(name)
    model, inputs, output_names, _ = build_model(name)

    model_dir = os.path.join(outdir, name)
    os.makedirs(model_dir, exist_ok=True)
    proto = _export(model, inputs, output_names, os.path.join(model_dir, "model.onnx"))

    graph_inputs, graph_outputs = _graph_io(proto)
    if graph_inputs != list(inputs) or graph_outputs != output_names:
        raise RuntimeError(f"{name}: ONNX io {graph_inputs} -> {graph_outputs}, expected "
                           f"{list(inputs)} -> {output_names}")
    state = model.state_dict()
    problems, notes = _check_names(name, proto, state)

    safetensors_io.save(os.path.join(model_dir, "inputs.safetensors"),
                        {k: to_numpy(v) for k, v in inputs.items()})
    outputs = run_model(model, inputs, output_names)
    safetensors_io.save(os.path.join(model_dir, "outputs.safetensors"), outputs)

    # Second weight set: only tensors that are ONNX initializers, so every name refits.
    initializer_names = {init.name for init in proto.graph.initializer}
    state2 = {k: v.clone() for k, v in state.items()}
    _perturb(state2, torch.Generator().manual_seed(seed + 2), _SECOND_SCALE)
    model.load_state_dict(state2)
    weights2 = {k: to_numpy(v) for k, v in state2.items()
                if k in initializer_names and v.is_floating_point()}
    safetensors_io.save(os.path.join(model_dir, "weights2.safetensors"), weights2)
    outputs2 = run_model(model, inputs, output_names)
    safetensors_io.save(os.path.join(model_dir, "outputs2.safetensors"), outputs2)
    for out_name in output_names:
        # A refit test is only meaningful if the new weights visibly change every output.
        a, b = outputs[out_name], outputs2[out_name]
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            problems.append(f"output {out_name} is not finite")
        elif np.abs(a - b).max() <= 1e-3 * np.abs(a).max():
            problems.append(f"output {out_name} barely changes with weights2")

    # The same weights as an ONNX refit source: once by name, once renamed.
    proto2 = _export(model, inputs, output_names, os.path.join(model_dir, "model2.onnx"))
    problems2, _ = _check_names(name, proto2, model.state_dict())
    problems += [f"model2.onnx: {problem}" for problem in problems2]
    renamed = _rename_initializers(proto2)
    onnx.save(renamed, os.path.join(model_dir, "model2_renamed.onnx"))
    problems += _check_model2(proto, proto2, renamed)

    meta = {
        "name": name,
        "opset": _OPSET,
        "inputs": {k: list(v.shape) for k, v in inputs.items()},
        "outputs": graph_outputs,
        "op_types": sorted({node.op_type for node in proto.graph.node}),
        "num_nodes": len(proto.graph.node),
        "num_parameters": int(sum(v.size for v in weights2.values())),
        "num_weights2": len(weights2),
        "problems": problems,
        "name_notes": notes,
    }
    with open(os.path.join(model_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return meta


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--models", default=",".join(zoo_models.MODELS),
                        help="comma-separated subset of: " + ",".join(zoo_models.MODELS))
    parser.add_argument("--verbose", action="store_true", help="print exporter constants too")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in zoo_models.MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {list(zoo_models.MODELS)}")

    torch.set_num_threads(2)
    failed = False
    for name in names:
        meta = build_one(name, args.outdir)
        print(f"{name}: {meta['num_nodes']} nodes, {meta['num_parameters']} params, "
              f"ops {' '.join(meta['op_types'])}")
        for problem in meta["problems"]:
            print(f"  PROBLEM: {problem}")
            failed = True
        if args.verbose:
            for note in meta["name_notes"]:
                print(f"  note: {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
