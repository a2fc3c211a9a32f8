#!/usr/bin/python3
"""Compares two safetensors files output by output.

usage: compare.py EXPECTED.safetensors ACTUAL.safetensors [--rel 1e-4]

Both files must hold the same tensor names, shapes and dtypes. For every float output the
largest absolute error must be <= rel * max|expected| (a scale-aware bound: a tolerance
relative to each element would reject harmless error on values near zero). Integer and bool
outputs must match exactly. Prints one line per output; exits 1 on any failure.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

_FLOAT_DTYPES = {"F32", "F16", "BF16", "F64"}


def _as_float64(array, st_dtype):
    if st_dtype == "BF16":
        return safetensors_io.bf16_bits_to_f32(array).astype(np.float64)
    return array.astype(np.float64)


def compare_one(name, expected, expected_dtype, actual, actual_dtype, rel):
    """Returns (ok, message) for one output."""
    if expected_dtype != actual_dtype:
        return False, f"{name}: dtype {actual_dtype}, expected {expected_dtype}"
    if expected.shape != actual.shape:
        return False, f"{name}: shape {list(actual.shape)}, expected {list(expected.shape)}"
    if expected.size == 0:
        return True, f"{name}: empty {list(expected.shape)}"
    if expected_dtype not in _FLOAT_DTYPES:
        mismatches = int(np.count_nonzero(expected != actual))
        if mismatches:
            first = tuple(int(i) for i in np.argwhere(expected != actual)[0])
            return False, (f"{name}: {mismatches} of {expected.size} elements differ; first at "
                           f"{first}: {actual[first]} vs expected {expected[first]}")
        return True, f"{name}: {expected_dtype} {list(expected.shape)} exact match"

    e = _as_float64(expected, expected_dtype)
    a = _as_float64(actual, actual_dtype)
    if not np.isfinite(e).all():
        return False, f"{name}: the expected tensor itself holds non-finite values"
    if not np.isfinite(a).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        count = int(np.count_nonzero(~np.isfinite(a)))
        return False, f"{name}: {count} non-finite values, first at {bad}: {a[bad]}"
    scale = float(np.abs(e).max())
    error = np.abs(a - e)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), error.shape))
    max_error = float(error[worst])
    bound = rel * scale if scale > 0 else rel
    message = (f"{name}: {expected_dtype} {list(e.shape)} max abs err {max_error:.3e} "
               f"(bound {bound:.3e} = {rel:g} * max|expected| {scale:.3e}; rel err "
               f"{max_error / scale if scale else max_error:.3e}) worst at {worst}: "
               f"{a[worst]:.7g} vs {e[worst]:.7g}")
    return max_error <= bound, message


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("expected")
    parser.add_argument("actual")
    parser.add_argument("--rel", type=float, default=1e-4,
                        help="max abs error allowed, as a fraction of max|expected| (1e-4)")
    args = parser.parse_args()

    try:
        expected, expected_dtypes, _ = safetensors_io.load_with_dtypes(args.expected)
        actual, actual_dtypes, _ = safetensors_io.load_with_dtypes(args.actual)
    except (OSError, ValueError) as error:
        print(f"compare.py: cannot read outputs: {error}", file=sys.stderr)
        return 1

    ok = True
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing:
        print(f"FAIL: {args.actual} lacks outputs {missing}")
        ok = False
    if extra:
        print(f"FAIL: {args.actual} has unexpected outputs {extra}")
        ok = False
    for name in sorted(set(expected) & set(actual)):
        passed, message = compare_one(name, expected[name], expected_dtypes[name], actual[name],
                                      actual_dtypes[name], args.rel)
        print(f"{message}: {'ok' if passed else 'FAIL'}")
        ok = ok and passed
    if not ok:
        print(f"FAIL: {args.actual} does not match {args.expected} (rel {args.rel:g})")
        return 1
    print(f"PASS: {len(expected)} output(s) within rel {args.rel:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
