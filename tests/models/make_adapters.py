#!/usr/bin/python3
"""Builds LoRA adapters for the zoo, and PyTorch's outputs with them merged.

usage: /usr/bin/python3 tests/models/make_adapters.py OUTDIR [--models a,b,...] [--check]

Run after make_zoo.py on the same OUTDIR. For each model with Linear or Conv2d (groups=1)
layers, OUTDIR/<name>/ receives
  weights.safetensors      the base weights (model.onnx's float initializers), by name
  lora_peft/               PEFT adapter: adapter_config.json (r 4, lora_alpha 8, one module in
                           rank_pattern, one in alpha_pattern) + adapter_model.safetensors
  lora_rslora/             PEFT adapter with use_rslora (scaling alpha / sqrt(r))
  lora_kohya.safetensors   kohya adapter: lora_unet_ (lora_te_ for text models) keys with
                           lora_down, lora_up and a 0-d float32 alpha per module
  outputs_lora_peft_1.safetensors, outputs_lora_peft_0.5.safetensors,
  outputs_lora_rslora_1.safetensors, outputs_lora_kohya_1.safetensors
                           PyTorch's outputs with that adapter merged at that scale
  outputs_lora_both.safetensors  lora_peft at scale 1 and lora_kohya at 0.5, both merged
  adapters.json            what was written (a model without targets gets only this, "skipped")
The merge is W' = W + scale * scaling * delta on the source weight, scaling = alpha / r
(alpha / sqrt(r) with rsLoRA), delta = B @ A for Linear and sum_r B[o, r] A[r, i, h, w] for
Conv2d (lora_A / lora_down k x k, lora_B / lora_up 1 x 1), in float32.

--check writes nothing: it reads an OUTDIR back, merges in numpy from the adapter files alone
and checks PyTorch's outputs with those weights against the saved ones. It also checks that
each way of misreading an adapter (ignoring rank_pattern, alpha_pattern, use_rslora, kohya's
alpha or the scale; letting a second adapter replace the first; skipping any one target)
moves the outputs by 10x the e2e tolerance, so the e2e tests can tell. Exits 1 on any problem.
"""

import argparse
import collections
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import make_zoo  # noqa: E402
import safetensors_io  # noqa: E402
import zoo_models  # noqa: E402

# Target modules per model and adapter. Chosen to cover, where the model has them: a conv that
# the engine folds BatchNorm into, a Linear exported as Transpose + MatMul, a Linear with bias
# exported as Gemm, k x k and 1 x 1 convs. Kohya's targets partly overlap PEFT's, so that
# outputs_lora_both tells "both deltas added" from "the second replaces the first".
_BERT = {"peft": ["layers.0.query", "layers.0.ffn_in", "layers.1.attn_out", "pooler"],
         "rslora": ["layers.0.value", "lm_transform"],
         "kohya": ["layers.0.query", "layers.0.key", "layers.1.ffn_out", "lm_transform"]}
_PLANS = {
    "tiny_cnn": {"peft": ["conv1", "conv2", "fc"], "rslora": ["conv2", "fc"],
                 "kohya": ["conv1", "fc"]},
    "resnet18": {"peft": ["conv1", "layer1.0.conv1", "layer3.0.downsample.0", "fc"],
                 "rslora": ["layer2.0.conv2", "fc"],
                 "kohya": ["layer1.0.conv1", "layer4.1.conv2", "fc"]},
    # Random mobilenet_v2 all but forgets its input (BN beta and running_mean outweigh the
    # shrinking activations): a delta before features.14 moves the logits by < 1e-4, so only
    # late 1 x 1 convs (all BN-folded) and the classifier are targets.
    "mobilenet_v2": {"peft": ["features.15.conv.2", "features.18.0", "features.17.conv.0.0",
                              "classifier.1"],
                     "rslora": ["features.14.conv.2", "classifier.1"],
                     "kohya": ["features.17.conv.2", "features.18.0", "classifier.1"]},
    "bert_tiny": _BERT,
    "bert_small": _BERT,
    "tiny_unet": {"peft": ["enc1.conv", "mid.conv", "head"], "rslora": ["enc2.conv", "dec1.conv"],
                  "kohya": ["mid.conv", "dec2.conv"]},
    "tiny_vit": {"peft": ["patch", "blocks.0.qkv", "blocks.1.fc2", "head"],
                 "rslora": ["blocks.0.fc1", "blocks.1.qkv"],
                 "kohya": ["blocks.0.qkv", "blocks.0.proj", "head"]},
    "mlp_acts": {"peft": ["fcs.0", "fcs.3", "out"], "rslora": ["fcs.1", "fcs.6"],
                 "kohya": ["fcs.3", "fcs.5", "out"]},
    # Its only Linear; the convs are 1-D.
    "tiny_misc": {"peft": ["gate"], "rslora": ["gate"], "kohya": ["gate"]},
}
_TEXT_MODELS = {"bert_tiny", "bert_small"}

# PEFT hyperparameters: rank_pattern names the second target (or the only one), alpha_pattern
# the last, so a reader that ignores either gets another scaling.
_PEFT = {"r": 4, "lora_alpha": 8, "pattern_rank": 2, "pattern_alpha": 3}
_RSLORA = {"r": 8, "lora_alpha": 4, "pattern_rank": 2, "pattern_alpha": 6}
# Kohya: rank 6, alpha 3 (scaling 0.5), except rank 2 for the first target and alpha 12 for the
# last: the rank comes from lora_down's shape, the alpha from each module's own tensor.
_KOHYA = {"r": 6, "alpha": 3.0, "first_rank": 2, "last_alpha": 12.0}

# rms(scaling * delta) / rms(W) of every generated adapter at scale 1: a visible change.
_DELTA_RMS = 0.3
# outputs file -> the adapters merged into it, with their scales.
OUTPUTS = collections.OrderedDict([
    ("outputs_lora_peft_1.safetensors", [("lora_peft", 1.0)]),
    ("outputs_lora_peft_0.5.safetensors", [("lora_peft", 0.5)]),
    ("outputs_lora_rslora_1.safetensors", [("lora_rslora", 1.0)]),
    ("outputs_lora_kohya_1.safetensors", [("lora_kohya", 1.0)]),
    ("outputs_lora_both.safetensors", [("lora_peft", 1.0), ("lora_kohya", 0.5)]),
])
# A misreading of an adapter must move some output by 10x run_model.sh's default tolerance.
_MISREAD_REL = 10 * 1e-4
_PEFT_PREFIX = "base_model.model."
_REPLACES = "lets the second adapter's delta replace the first's"
_IGNORABLE = ("rank_pattern", "alpha_pattern", "use_rslora", "kohya_alpha", "scale")


def _eligible(model):
    """Module names whose weight a LoRA can target: Linear and ungrouped Conv2d."""
    return [name for name, module in model.named_modules()
            if isinstance(module, nn.Linear)
            or (isinstance(module, nn.Conv2d) and module.groups == 1)]


def _plan(name, eligible):
    plan = _PLANS.get(name)
    if plan is None:
        # A model added to the zoo later: first, middle and last eligible module.
        picks = list(dict.fromkeys([eligible[0], eligible[len(eligible) // 2], eligible[-1]]))
        plan = {"peft": picks, "rslora": picks[-2:],
                "kohya": list(dict.fromkeys([picks[0], picks[-1]]))}
    for adapter, targets in plan.items():
        missing = [t for t in targets if t not in eligible]
        if missing:
            raise RuntimeError(f"{name}: {adapter} targets {missing} are not Linear or "
                               f"Conv2d (groups=1) modules")
    return plan


def _consumers(proto):
    """{initializer: how the graph reads it}, e.g. "Conv->BatchNormalization"."""
    readers = collections.defaultdict(list)
    for node in proto.graph.node:
        for value in node.input:
            readers[value].append(node)
    result = {}
    for init in proto.graph.initializer:
        parts = []
        for node in readers[init.name]:
            part = node.op_type
            if node.op_type in ("Transpose", "Conv"):
                following = [n.op_type for n in readers[node.output[0]]]
                if node.op_type == "Transpose" or following == ["BatchNormalization"]:
                    part += "->" + ",".join(following)
            parts.append(part)
        result[init.name] = " ".join(parts)
    return result


def _rms(tensor):
    return float(tensor.double().pow(2).mean().sqrt())


def _delta(a, b):
    """B @ A for Linear; sum_r B[o, r] A[r, i, h, w] for Conv2d (B is [out, r, 1, 1])."""
    return (b.flatten(1) @ a.flatten(1)).reshape((b.shape[0],) + tuple(a.shape[1:]))


def _factors(weight, rank, scaling, generator):
    """Random A and B (B nonzero, unlike PEFT's init): rms(scaling * B @ A) = _DELTA_RMS rms(W)."""
    fan_in = weight[0].numel()
    a = torch.randn((rank,) + tuple(weight.shape[1:]), generator=generator) / math.sqrt(fan_in)
    b = torch.randn((weight.shape[0], rank) + (1,) * (weight.dim() - 2), generator=generator)
    b *= _DELTA_RMS * _rms(weight) / (scaling * _rms(_delta(a, b)))
    return a.contiguous(), b.contiguous()


def _make_adapter(targets, state, generator, rank_of, alpha_of, rslora=False):
    """{module: {"rank", "alpha", "scaling", "A", "B"}} with random factors."""
    adapter = collections.OrderedDict()
    for module in targets:
        rank, alpha = rank_of(module), alpha_of(module)
        scaling = alpha / (math.sqrt(rank) if rslora else rank)
        a, b = _factors(state[module + ".weight"], rank, scaling, generator)
        adapter[module] = {"rank": rank, "alpha": alpha, "scaling": scaling, "A": a, "B": b}
    return adapter


def _write_peft(path, model_name, adapter, hyper, rslora):
    targets = list(adapter)
    rank_pattern = {m: e["rank"] for m, e in adapter.items() if e["rank"] != hyper["r"]}
    alpha_pattern = {m: e["alpha"] for m, e in adapter.items() if e["alpha"] != hyper["lora_alpha"]}
    # The fields PEFT itself writes; a reader must ignore the ones it does not need.
    config = {"peft_type": "LORA", "r": hyper["r"], "lora_alpha": hyper["lora_alpha"],
              "use_rslora": rslora, "target_modules": targets, "rank_pattern": rank_pattern,
              "alpha_pattern": alpha_pattern, "base_model_name_or_path": model_name,
              "bias": "none", "fan_in_fan_out": False, "lora_dropout": 0.0,
              "inference_mode": True, "init_lora_weights": True, "modules_to_save": None,
              "layers_to_transform": None, "task_type": None, "use_dora": False,
              "revision": None}
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    tensors = {}
    for module, entry in adapter.items():
        tensors[f"{_PEFT_PREFIX}{module}.lora_A.weight"] = make_zoo.to_numpy(entry["A"])
        tensors[f"{_PEFT_PREFIX}{module}.lora_B.weight"] = make_zoo.to_numpy(entry["B"])
    safetensors_io.save(os.path.join(path, "adapter_model.safetensors"), tensors,
                        metadata={"format": "pt"})


def _kohya_prefix(model_name):
    return "lora_te_" if model_name in _TEXT_MODELS else "lora_unet_"


def _write_kohya(path, model_name, adapter):
    tensors = {}
    for module, entry in adapter.items():
        key = _kohya_prefix(model_name) + module.replace(".", "_")
        tensors[key + ".lora_down.weight"] = make_zoo.to_numpy(entry["A"])
        tensors[key + ".lora_up.weight"] = make_zoo.to_numpy(entry["B"])
        tensors[key + ".alpha"] = np.asarray(np.float32(entry["alpha"]), order="C")
    safetensors_io.save(path, tensors, metadata={
        "ss_network_module": "networks.lora", "ss_network_dim": str(_KOHYA["r"]),
        "ss_network_alpha": str(_KOHYA["alpha"])})


def _merge(base, adapters_and_scales):
    """A copy of base with every adapter's delta added (float32)."""
    merged = {k: v.clone() for k, v in base.items()}
    for adapter, scale in adapters_and_scales:
        for module, entry in adapter.items():
            weight = merged[module + ".weight"]
            weight += (scale * entry["scaling"]) * _delta(entry["A"], entry["B"])
    return merged


def _describe(adapter, consumers):
    """adapters.json's entry for one adapter: per module what a reader must reproduce."""
    return {module: {"rank": e["rank"], "alpha": e["alpha"], "scaling": e["scaling"],
                     "weight_shape": [e["B"].shape[0]] + list(e["A"].shape[1:]),
                     "onnx": consumers[module + ".weight"]}
            for module, e in adapter.items()}


def _write_adapters(name, model_dir, plan, base):
    """Writes lora_peft/, lora_rslora/ and lora_kohya.safetensors; returns them by name."""
    generator = torch.Generator().manual_seed(make_zoo.model_seed(name) + 10)
    adapters = {}
    for key, hyper, rslora in (("peft", _PEFT, False), ("rslora", _RSLORA, True)):
        targets = plan[key]
        rank_module, alpha_module = targets[min(1, len(targets) - 1)], targets[-1]
        adapters["lora_" + key] = _make_adapter(
            targets, base, generator,
            lambda m, h=hyper, t=rank_module: h["pattern_rank"] if m == t else h["r"],
            lambda m, h=hyper, t=alpha_module: h["pattern_alpha"] if m == t else h["lora_alpha"],
            rslora)
        _write_peft(os.path.join(model_dir, "lora_" + key), name, adapters["lora_" + key],
                    hyper, rslora)
    kohya = plan["kohya"]
    adapters["lora_kohya"] = _make_adapter(
        kohya, base, generator,
        lambda m: _KOHYA["first_rank"] if m == kohya[0] else _KOHYA["r"],
        lambda m: _KOHYA["last_alpha"] if m == kohya[-1] else _KOHYA["alpha"])
    _write_kohya(os.path.join(model_dir, "lora_kohya.safetensors"), name, adapters["lora_kohya"])
    return adapters


def build_one(name, outdir):
    """Writes one model's adapters and merged outputs. Returns a list of problems."""
    model_dir = os.path.join(outdir, name)
    model, inputs, output_names, state = make_zoo.build_model(name)
    eligible = _eligible(model)
    marker = os.path.join(model_dir, "adapters.json")
    if not eligible:
        with open(marker, "w") as f:
            json.dump({"model": name, "skipped": "no Linear or Conv2d (groups=1) layer"}, f)
        print(f"{name}: skipped, no Linear or Conv2d (groups=1) layer")
        return []
    plan = _plan(name, eligible)
    proto = onnx.load(os.path.join(model_dir, "model.onnx"))
    problems = []

    # The base must be exactly model.onnx's weights, or every merged output is off.
    initializers = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    base = {k: v.detach().clone() for k, v in state.items()
            if k in initializers and v.is_floating_point()}
    for key, value in base.items():
        if not np.array_equal(make_zoo.to_numpy(value), initializers[key]):
            problems.append(f"rebuilt weight {key} differs from model.onnx's")
    safetensors_io.save(os.path.join(model_dir, "weights.safetensors"),
                        {k: make_zoo.to_numpy(v) for k, v in base.items()})
    reference = make_zoo.run_model(model, inputs, output_names)
    saved = safetensors_io.load(os.path.join(model_dir, "outputs.safetensors"))
    for out_name in output_names:
        if not np.allclose(reference[out_name], saved[out_name], rtol=1e-5, atol=1e-6):
            problems.append(f"rebuilt model's {out_name} differs from outputs.safetensors")

    adapters = _write_adapters(name, model_dir, plan, base)
    for file_name, recipe in OUTPUTS.items():
        merged = _merge(base, [(adapters[a], s) for a, s in recipe])
        model.load_state_dict(merged, strict=False)
        outputs = make_zoo.run_model(model, inputs, output_names)
        safetensors_io.save(os.path.join(model_dir, file_name), outputs)
        for out_name in output_names:
            a, b = reference[out_name], outputs[out_name]
            if not np.isfinite(b).all():
                problems.append(f"{file_name}: output {out_name} is not finite")
            elif np.abs(a - b).max() <= 1e-3 * np.abs(a).max():
                problems.append(f"{file_name}: output {out_name} barely changes")
            elif np.abs(b).max() > 20 * np.abs(a).max():
                problems.append(f"{file_name}: output {out_name} grows from max "
                                f"{np.abs(a).max():.3g} to {np.abs(b).max():.3g}")

    consumers = _consumers(proto)
    summary = {"model": name, "base": "weights.safetensors",
               "kohya_prefix": _kohya_prefix(name),
               "adapters": {a: _describe(adapter, consumers) for a, adapter in adapters.items()},
               "outputs": {f: [[a, s] for a, s in recipe] for f, recipe in OUTPUTS.items()}}
    with open(marker, "w") as f:
        json.dump(summary, f, indent=1)
    targets = ", ".join(f"{a[5:]}: {' '.join(adapter)}" for a, adapter in adapters.items())
    print(f"{name}: {targets}")
    return problems


# --- --check: the written files read back independently ----------------------------------------


def _read_peft(path, base, mutant):
    """{weight name: (A, B, scaling)} from a PEFT directory, misread as `mutant` says."""
    with open(os.path.join(path, "adapter_config.json")) as f:
        config = json.load(f)
    if config["peft_type"] != "LORA":
        raise ValueError(f"{path}: peft_type {config['peft_type']}")
    tensors, dtypes, _ = safetensors_io.load_with_dtypes(
        os.path.join(path, "adapter_model.safetensors"))
    factors = {}
    for key in sorted(k for k in tensors if k.endswith(".lora_A.weight")):
        module = key[len(_PEFT_PREFIX):-len(".lora_A.weight")]
        b_key = key[:-len(".lora_A.weight")] + ".lora_B.weight"
        if not key.startswith(_PEFT_PREFIX) or module not in config["target_modules"]:
            raise ValueError(f"{path}: {key} names no target module")
        rank = config["rank_pattern"].get(module, config["r"])
        alpha = config["alpha_pattern"].get(module, config["lora_alpha"])
        a, b = tensors[key], tensors[b_key]
        _check_factors(path, module + ".weight", a, b, rank, base, {dtypes[key], dtypes[b_key]})
        if "ignores rank_pattern" in mutant:
            rank = config["r"]
        if "ignores alpha_pattern" in mutant:
            alpha = config["lora_alpha"]
        rslora = config["use_rslora"] and "ignores use_rslora" not in mutant
        factors[module + ".weight"] = (a, b, alpha / (math.sqrt(rank) if rslora else rank))
    if 2 * len(factors) != len(tensors) or len(factors) != len(config["target_modules"]):
        raise ValueError(f"{path}: {len(tensors)} tensors for {len(factors)} lora_A and "
                         f"{len(config['target_modules'])} target modules")
    return factors


def _read_kohya(path, base, mutant):
    """{weight name: (A, B, scaling)} from a kohya file; module paths matched by underscores."""
    tensors, dtypes, _ = safetensors_io.load_with_dtypes(path)
    by_underscores = collections.defaultdict(list)
    for weight in base:
        if weight.endswith(".weight"):
            by_underscores[weight[:-len(".weight")].replace(".", "_")].append(weight)
    factors = {}
    for key in sorted(k for k in tensors if k.endswith(".lora_down.weight")):
        stem = key[:-len(".lora_down.weight")]
        prefix = next((p for p in ("lora_unet_", "lora_te_") if stem.startswith(p)), None)
        candidates = by_underscores.get(stem[len(prefix):], []) if prefix else []
        if len(candidates) != 1:
            raise ValueError(f"{path}: {key} matches weights {candidates}")
        up_key = stem + ".lora_up.weight"
        a, b, rank = tensors[key], tensors[up_key], tensors[key].shape[0]
        _check_factors(path, candidates[0], a, b, rank, base, {dtypes[key], dtypes[up_key]})
        alpha = tensors[stem + ".alpha"]
        if alpha.shape != () or dtypes[stem + ".alpha"] != "F32":
            raise ValueError(f"{path}: {stem}.alpha is {dtypes[stem + '.alpha']} "
                             f"{list(alpha.shape)}, expected a 0-d F32")
        alpha = rank if "ignores kohya_alpha" in mutant else float(alpha)
        factors[candidates[0]] = (a, b, alpha / rank)
    if 3 * len(factors) != len(tensors):
        raise ValueError(f"{path}: {len(tensors)} tensors for {len(factors)} modules")
    return factors


def _check_factors(path, weight, a, b, rank, base, dtypes):
    """A [r, in(, kh, kw)] and B [out, r(, 1, 1)], F32, must fit the base weight."""
    if weight not in base:
        raise ValueError(f"{path}: no base weight {weight}")
    shape = base[weight].shape
    if (a.shape != (rank,) + shape[1:] or b.shape != (shape[0], rank) + (1,) * (len(shape) - 2)
            or dtypes != {"F32"}):
        raise ValueError(f"{path}: {weight}: A {list(a.shape)} B {list(b.shape)} {dtypes} do "
                         f"not fit rank {rank} and weight {list(shape)}")


def _merge_np(base, parts, replace=False):
    """base plus scale * scaling * B @ A per part, in float64; `replace`: the last part wins."""
    merged = {k: v.astype(np.float64) for k, v in base.items()}
    for factors, scale in parts:
        for weight, (a, b, scaling) in factors.items():
            delta = np.einsum("or,r...->o...", b.reshape(b.shape[:2]).astype(np.float64),
                              a.astype(np.float64))
            start = base[weight].astype(np.float64) if replace else merged[weight]
            merged[weight] = start + scale * scaling * delta
    return {k: v.astype(np.float32) for k, v in merged.items()}


def check_one(name, outdir):
    """Checks one model's written adapters against its written outputs. Returns problems."""
    model_dir = os.path.join(outdir, name)
    with open(os.path.join(model_dir, "adapters.json")) as f:
        summary = json.load(f)
    if "skipped" in summary:
        print(f"{name}: skipped ({summary['skipped']})")
        return []
    base = safetensors_io.load(os.path.join(model_dir, "weights.safetensors"))
    proto = onnx.load(os.path.join(model_dir, "model.onnx"))
    problems = [f"weights.safetensors: {init.name} differs from model.onnx's"
                for init in proto.graph.initializer if init.name in base and
                not np.array_equal(base[init.name], numpy_helper.to_array(init))]
    model, inputs, output_names, _ = make_zoo.build_model(name)
    saved_inputs = safetensors_io.load(os.path.join(model_dir, "inputs.safetensors"))
    inputs = collections.OrderedDict((k, torch.from_numpy(saved_inputs[k])) for k in inputs)

    def run(weights):
        missing, unexpected = model.load_state_dict(
            {k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
        floats = [k for k in missing if model.state_dict()[k].is_floating_point()]
        if floats or unexpected:
            raise ValueError(f"weights.safetensors lacks {floats} or has extra {unexpected}")
        return make_zoo.run_model(model, inputs, output_names)

    def read(adapter, mutant=()):
        if adapter == "lora_kohya":
            return _read_kohya(os.path.join(model_dir, "lora_kohya.safetensors"), base, mutant)
        return _read_peft(os.path.join(model_dir, adapter), base, mutant)

    def matches(file_name, outputs, rel):
        expected, dtypes, _ = safetensors_io.load_with_dtypes(os.path.join(model_dir, file_name))
        results = [compare.compare_one(o, expected[o], dtypes[o], outputs[o], "F32", rel)
                   for o in output_names]
        return all(ok for ok, _ in results), [message for ok, message in results if not ok]

    for file_name, recipe in summary["outputs"].items():
        _, messages = matches(file_name, run(_merge_np(base, [(read(a), s) for a, s in recipe])),
                              1e-5)
        problems += [f"{file_name}: numpy merge disagrees: {m}" for m in messages]
        mutants = _misreadings(recipe, read(recipe[0][0]))
        for mutant in mutants:
            parts = [(read(a, {mutant}), 1.0 if mutant == "ignores scale" else s)
                     for a, s in recipe]
            if mutant.startswith("skips "):
                parts = [({k: v for k, v in p.items() if k != mutant[6:]}, s) for p, s in parts]
            outputs = run(_merge_np(base, parts, replace=mutant == _REPLACES))
            if matches(file_name, outputs, _MISREAD_REL)[0]:
                problems.append(f"{file_name}: a reader that {mutant} would pass")
        print(f"{name}: {file_name} {'FAILED' if messages else 'ok'}; misreadings tried: "
              f"{len(mutants)}")
    return problems


def _misreadings(recipe, first_factors):
    """The ways of misreading the adapters of one outputs file that its test must catch."""
    used = {adapter for adapter, _ in recipe}
    mutants = []
    if used & {"lora_peft", "lora_rslora"}:
        mutants += ["rank_pattern", "alpha_pattern"]
    mutants += ["use_rslora"] if "lora_rslora" in used else []
    mutants += ["kohya_alpha"] if "lora_kohya" in used else []
    mutants += ["scale"] if any(scale != 1 for _, scale in recipe) else []
    # Overlapping targets: the second adapter's delta must add to the first, not replace it.
    mutants += [_REPLACES] if len(recipe) > 1 else []
    if len(recipe) == 1:
        # Every target must matter, or an engine that skips, say, BN-folded convs passes.
        mutants += ["skips " + weight for weight in first_factors]
    return ["ignores " + m if m in _IGNORABLE else m for m in mutants]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--models", default=",".join(zoo_models.MODELS),
                        help="comma-separated subset of: " + ",".join(zoo_models.MODELS))
    parser.add_argument("--check", action="store_true",
                        help="verify the files in OUTDIR instead of writing them")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in zoo_models.MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {list(zoo_models.MODELS)}")

    torch.set_num_threads(2)
    failed = False
    for name in names:
        try:
            problems = (check_one if args.check else build_one)(name, args.outdir)
        except (OSError, ValueError, KeyError) as error:
            problems = [f"{type(error).__name__}: {error}"]
        for problem in problems:
            print(f"  PROBLEM: {name}: {problem}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
