#!/usr/bin/python3
"""Self-test of safetensors_io.py and compare.py: the e2e verdicts are only as good as these.

Checks a byte-exact round trip for every dtype (including 0-d and empty tensors), a hand-built
file against the format spec, and that compare.py accepts a match and rejects wrong values,
shapes, dtypes, names and NaNs. Needs only numpy. Exits 1 on the first failure.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io  # noqa: E402


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}")
        sys.exit(1)


def test_round_trip(tmp):
    tensors = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5,
        "scalar": np.asarray(np.float32(3.25), order="C"),
        "f16": np.array([[1.5, -0.25]], dtype=np.float16),
        "f64": np.array([1e300, -2.0]),
        "i8": np.array([-128, 127], dtype=np.int8),
        "u8": np.array([0, 255], dtype=np.uint8),
        "i16": np.array([-30000], dtype=np.int16),
        "i32": np.array([2**31 - 1], dtype=np.int32),
        "i64": np.array([-(2**62)], dtype=np.int64),
        "bool": np.array([True, False, True]),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "bf16": safetensors_io.f32_to_bf16_bits(np.array([1.0, -2.5, 3.140625], np.float32)),
        "strided": np.arange(12, dtype=np.float32).reshape(3, 4).T,  # not C-contiguous
    }
    path = os.path.join(tmp, "all.safetensors")
    safetensors_io.save(path, tensors, bf16_names={"bf16"}, metadata={"format": "pt"})
    arrays, dtypes, metadata = safetensors_io.load_with_dtypes(path)
    check(metadata == {"format": "pt"}, f"metadata {metadata}")
    check(set(arrays) == set(tensors), f"names {sorted(arrays)}")
    for name, expected in tensors.items():
        got = arrays[name]
        check(got.shape == expected.shape and got.dtype == expected.dtype
              and np.array_equal(got, expected), f"round trip of {name}: {got!r}")
    check(dtypes["bf16"] == "BF16" and dtypes["bool"] == "BOOL" and dtypes["u8"] == "U8",
          f"dtypes {dtypes}")
    check(arrays["scalar"].shape == (), "0-d tensor became 1-d")
    bf16 = safetensors_io.bf16_bits_to_f32(arrays["bf16"])
    check(np.array_equal(bf16, np.array([1.0, -2.5, 3.140625], np.float32)), f"bf16 {bf16}")


def test_spec_layout(tmp):
    # Hand-built per the format: u64 header length, JSON header, little-endian C-order data.
    header = json.dumps({"b": {"dtype": "I16", "shape": [2], "data_offsets": [8, 12]},
                         "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    data = struct.pack("<2f", 1.0, -3.0) + struct.pack("<2h", 7, -9)
    path = os.path.join(tmp, "spec.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)
    arrays = safetensors_io.load(path)
    check(arrays["a"].tolist() == [1.0, -3.0] and arrays["b"].tolist() == [7, -9],
          f"hand-built file read as {arrays}")
    # And our writer produces exactly that data section.
    out = os.path.join(tmp, "spec_out.safetensors")
    safetensors_io.save(out, arrays)
    with open(out, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    check(raw[8 + length:] == data, "writer data section differs from the spec layout")
    check((8 + length) % 8 == 0, "data section not 8-byte aligned")
    # A lying header must be rejected, not read past the end.
    bad = os.path.join(tmp, "bad.safetensors")
    with open(bad, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data[:10])
    try:
        safetensors_io.load(bad)
        check(False, "truncated file was accepted")
    except ValueError:
        pass


def run_compare(expected, actual, *extra):
    result = subprocess.run([sys.executable, os.path.join(HERE, "compare.py"), expected, actual,
                             *extra], capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


def test_compare(tmp):
    rng = np.random.default_rng(0)
    base = {"y": rng.standard_normal((2, 8)).astype(np.float32) * 10,
            "ids": np.array([3, 1, 2], dtype=np.int64)}
    expected = os.path.join(tmp, "expected.safetensors")
    safetensors_io.save(expected, base)

    def variant(label, mutate, should_pass, *extra):
        tensors = {k: v.copy() for k, v in base.items()}
        mutate(tensors)
        path = os.path.join(tmp, f"{label}.safetensors")
        safetensors_io.save(path, tensors)
        rc, output = run_compare(expected, path, *extra)
        check((rc == 0) == should_pass, f"compare.py on '{label}' returned {rc}:\n{output}")

    scale = float(np.abs(base["y"]).max())
    variant("identical", lambda t: None, True)
    variant("tiny_error", lambda t: t["y"].__setitem__((1, 2), t["y"][1, 2] + 0.5e-4 * scale),
            True)
    variant("one_bad_element",
            lambda t: t["y"].__setitem__((1, 2), t["y"][1, 2] + 2e-4 * scale), False)
    variant("loose_rel", lambda t: t["y"].__setitem__((0, 0), t["y"][0, 0] + 1e-3 * scale),
            True, "--rel", "1e-2")
    variant("nan", lambda t: t["y"].__setitem__((0, 0), np.nan), False)
    variant("shape", lambda t: t.__setitem__("y", t["y"][:, :4]), False)
    variant("dtype", lambda t: t.__setitem__("y", t["y"].astype(np.float64)), False)
    variant("missing", lambda t: t.pop("ids"), False)
    variant("extra", lambda t: t.__setitem__("z", np.zeros(1, np.float32)), False)
    variant("int_off_by_one", lambda t: t["ids"].__setitem__(0, 4), False)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_round_trip(tmp)
        test_spec_layout(tmp)
        test_compare(tmp)
    print("PASS: safetensors_io and compare.py self-test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
