"""Turns run_engines.sh's results.tsv into bench/results/engines.md and engines.png.

usage: /usr/bin/python3 engines_report.py RESULTS.tsv OUT.md OUT.png [--iterations N]
       [--iterations-large N] [--warmup N] [--warmup-ms MS] [--rounds N] [--note LINE]
The PNG needs matplotlib (Debian python3-matplotlib); without it only the markdown is written.
"""

import argparse
import csv
import datetime
import math
import os
import sys


def _num(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _ratio(a, b):
    return a / b if a is not None and b is not None else None


def _fmt(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"


def _geomean(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        row["batch"], row["threads"] = int(row["batch"]), int(row["threads"])
        for key in ("refittable_ms", "static_ms", "ort_ms", "torch_ms", "build_refittable_s",
                    "build_static_s"):
            row[key] = _num(row[key])
        row["vs_ort"] = _ratio(row["refittable_ms"], row["ort_ms"])
        row["vs_torch"] = _ratio(row["refittable_ms"], row["torch_ms"])
        row["vs_static"] = _ratio(row["refittable_ms"], row["static_ms"])
        row["static_vs_ort"] = _ratio(row["static_ms"], row["ort_ms"])
    return rows


def _configs(rows):
    return sorted({(r["batch"], r["threads"]) for r in rows})


def write_markdown(rows, path, args):
    lines = [
        "# Latency: refit engines vs ONNX Runtime vs PyTorch",
        "",
        f"Written by `bench/run_engines.sh`, {datetime.date.today().isoformat()}, "
        f"{os.cpu_count()} cores (shared with other work: numbers are noisy). Median latency in "
        f"milliseconds over {args.iterations} runs at batch 1 and {args.iterations_large} at "
        f"larger batches, after at least {args.warmup} warm-up runs lasting at least "
        f"{args.warmup_ms:g} ms (every runtime alike); {args.rounds} rounds of every runtime "
        "in turn, each figure the median of its rounds, so a burst of load lands on every "
        "runtime alike. Same ONNX file, inputs and thread "
        "count for every runtime; ONNX Runtime is npm `onnxruntime-node@1.30.0`, PyTorch is "
        "Debian's torch 1.13 eager module.",
        "",
        "Ratios use the refittable engine (the default mode) and are refit / peer: below 1 means "
        "refit is faster. refittable/static is the price of keeping weights refittable. Build "
        "seconds are refit's own build time (passes, tuning, packing); the timing cache starts "
        "empty each run, so the static build usually reuses the refittable build's timings (cached "
        "layers in parentheses). Batch B = every input's leading dimension is B (the zoo's "
        "fixed-shape exports are re-exported where their batch differs, e.g. mlp_acts is 4).",
    ]
    if args.note:
        lines += ["", args.note]
    for batch, threads in _configs(rows):
        group = [r for r in rows if (r["batch"], r["threads"]) == (batch, threads)]
        lines += [
            "",
            f"## Batch {batch}, {threads} thread{'s' if threads > 1 else ''}",
            "",
            "| model | inputs | refittable ms | static ms | ORT ms | PyTorch ms | refit/ORT | "
            "refit/PyTorch | refittable/static | build s refittable | build s static |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in group:
            lines.append(
                f"| {r['model']} | {r['inputs'].replace(' ', ', ')} | "
                f"{_fmt(r['refittable_ms'], 3)} | {_fmt(r['static_ms'], 3)} | "
                f"{_fmt(r['ort_ms'], 3)} | {_fmt(r['torch_ms'], 3)} | {_fmt(r['vs_ort'], 2)} | "
                f"{_fmt(r['vs_torch'], 2)} | {_fmt(r['vs_static'], 2)} | "
                f"{_fmt(r['build_refittable_s'], 2)} ({r['cached_refittable']}) | "
                f"{_fmt(r['build_static_s'], 2)} ({r['cached_static']}) |")
        lines.append(
            f"| geomean | | | | | | {_fmt(_geomean(r['vs_ort'] for r in group), 2)} | "
            f"{_fmt(_geomean(r['vs_torch'] for r in group), 2)} | "
            f"{_fmt(_geomean(r['vs_static'] for r in group), 2)} | | |")
    lines += ["", "![refit/ORT per model](engines.png)", "",
              "engines.png: refittable-engine latency / ONNX Runtime latency per model, one bar "
              "per (batch, threads), log scale; the line at 1 is parity, below it refit is faster.",
              ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("engines_report: no matplotlib (apt-get install python3-matplotlib): no PNG",
              file=sys.stderr)
        return
    models = list(dict.fromkeys(r["model"] for r in rows))
    configs = _configs(rows)
    width = 0.8 / len(configs)
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(models)), 4.5))
    for i, (batch, threads) in enumerate(configs):
        ratio = {r["model"]: r["vs_ort"] for r in rows if (r["batch"], r["threads"]) == (batch,
                                                                                       threads)}
        xs = [j + (i - (len(configs) - 1) / 2) * width for j in range(len(models))]
        values = [ratio.get(m) or float("nan") for m in models]
        # Bars grow from parity (1) so faster and slower read as down and up.
        bars = ax.bar(xs, [v - 1 for v in values], width, bottom=1,
                      label=f"batch {batch}, {threads} thread{'s' * (threads > 1)}")
        ax.bar_label(bars, labels=[f"{v:.2g}" if v == v else "" for v in values], fontsize=6)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models, rotation=20)
    ax.set_ylabel("refit refittable / ONNX Runtime (lower is better)")
    ax.set_title("refit engine latency relative to ONNX Runtime")
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tsv")
    parser.add_argument("markdown")
    parser.add_argument("png")
    parser.add_argument("--iterations", type=int, default=0)
    parser.add_argument("--iterations-large", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--warmup-ms", type=float, default=0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--note", default="", help="a line added under the header (e.g. load)")
    args = parser.parse_args()
    rows = _load(args.tsv)
    write_markdown(rows, args.markdown, args)
    write_plot(rows, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
