"""Times a zoo model's PyTorch module (the oracle the ONNX file was exported from).

usage: /usr/bin/python3 torch_bench.py MODEL_NAME INPUTS.safetensors THREADS ITERATIONS WARMUP
       [WARMUP_MS]
Untimed warm-up: at least WARMUP runs, and runs until WARMUP_MS (default 0) have passed.
Prints one JSON line: {"median_ms":..,"p10_ms":..,"p90_ms":..}.
"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "models"))
import safetensors_io  # noqa: E402
import zoo_models  # noqa: E402


def main():
    name, inputs, threads, iterations, warmup = sys.argv[1:6]
    warmup_ms = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    torch.set_num_threads(int(threads))
    torch.manual_seed(0)
    builder, _ = zoo_models.MODELS[name]
    model, example_inputs = builder()
    model.eval()
    arrays = safetensors_io.load(inputs)
    # The module's argument order is the builder's input order, not the file's.
    args = [torch.from_numpy(np.array(arrays[n])) for n in example_inputs]
    times = []
    warmup_runs = 0
    with torch.no_grad():
        first = time.perf_counter()
        while len(times) < int(iterations):
            t0 = time.perf_counter()
            timed = warmup_runs >= int(warmup) and (t0 - first) * 1e3 >= warmup_ms
            model(*args)
            ms = (time.perf_counter() - t0) * 1e3
            if timed:
                times.append(ms)
            else:
                warmup_runs += 1
    q = np.percentile(np.array(times), [50, 10, 90])
    print(json.dumps({"median_ms": q[0], "p10_ms": q[1], "p90_ms": q[2]}))


if __name__ == "__main__":
    main()
