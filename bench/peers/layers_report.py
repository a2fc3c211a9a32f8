"""Per-layer times of a refit engine against ONNX Runtime's per-node times, as a markdown table.

usage: layers_report.py REFIT_BENCH.json ORT_PROFILE.json [--title LINE] [--top N]
REFIT_BENCH.json: `refit bench ENGINE --profile --json`; ORT_PROFILE.json: ort_profile.js.
An ORT node is matched to the refit layer that produces the same value (ORT names a fused node
after its output, with suffixes such as `_nchwc`), has the same node name, or fused the node whose
output it names (`X_output_0` after node X, as PyTorch names values); several ORT nodes may land
on one layer, and ORT nodes that match none (layout reorders, for one) are listed apart.
"""
import argparse
import json
import re


def normalize(name):
    name = name.lstrip("/")
    return re.sub(r"(_nchwc|_token_\d+|_kernel_time)+$", "", name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("refit")
    parser.add_argument("ort")
    parser.add_argument("--title", default="")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    refit = json.load(open(args.refit))
    ort = json.load(open(args.ort))
    layers = refit["layers"]
    by_name = {}
    for layer in layers:
        for value in layer["outputs"]:
            by_name.setdefault(normalize(value), layer["index"])
        by_name.setdefault(normalize(layer["name"]), layer["index"])
        for fused in layer.get("fused", []):
            by_name.setdefault(normalize(fused), layer["index"])
    ort_us = {}
    unmatched = []
    for node in ort["nodes"]:
        name = normalize(node["name"])
        index = by_name.get(name, by_name.get(re.sub(r"_output_\d+$", "", name)))
        if index is None:
            unmatched.append(node)
        else:
            ort_us[index] = ort_us.get(index, 0.0) + node["median_us"]
    rows = sorted(layers, key=lambda l: -(l["median_us"] - ort_us.get(l["index"], 0.0)))
    ours_total = sum(l["median_us"] for l in layers)
    ort_total = sum(n["median_us"] for n in ort["nodes"])
    out = []
    if args.title:
        out += [f"# {args.title}", ""]
    out += [
        f"Sums of per-layer medians: refit {ours_total / 1000:.3f} ms ({refit['threads']} "
        f"thread(s), {refit['iterations']} runs), ONNX Runtime {ort_total / 1000:.3f} ms "
        f"({ort['runs']} profiled runs); {len(unmatched)} ORT nodes match no refit layer "
        f"({sum(n['median_us'] for n in unmatched) / 1000:.3f} ms). Largest refit - ORT first.",
        "",
        "| layer | node | op | tactic | refit us | ORT us | refit - ORT |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    for layer in rows[:args.top]:
        theirs = ort_us.get(layer["index"])
        out.append(
            f"| {layer['index']} | {layer['name']} | {layer['op']} | {layer['tactic']} | "
            f"{layer['median_us']:.1f} | {'-' if theirs is None else f'{theirs:.1f}'} | "
            f"{layer['median_us'] - (theirs or 0.0):+.1f} |")
    if unmatched:
        out += ["", "ORT nodes matched to no layer: " + ", ".join(
            f"{n['name']} ({n['op']}, {n['median_us']:.0f} us)" for n in unmatched)]
    print("\n".join(out))


if __name__ == "__main__":
    main()
