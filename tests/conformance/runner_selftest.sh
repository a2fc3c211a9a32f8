#!/usr/bin/env bash
# The conformance runner must be able to fail: a node test whose expected output is wrong, and an
# exclusion that names no test, each make it exit non-zero; the untouched test passes.
set -euo pipefail
runner=$1
data=/usr/share/libonnx-testdata/data/node
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data" && cp -r "$data/test_abs" "$data/test_relu" "$work/data/"
: > "$work/none.txt"
"$runner" --data "$work/data" --exclusions "$work/none.txt" >/dev/null \
  || { echo "selftest: untouched tests failed"; exit 1; }
# Wrong expectation: test_relu's expected output replaced by its input (which has negatives).
cp "$work/data/test_relu/test_data_set_0/input_0.pb" "$work/data/test_relu/test_data_set_0/output_0.pb"
if "$runner" --data "$work/data" --exclusions "$work/none.txt" > "$work/out.txt"; then
  echo "selftest: a wrong expected output was not detected"; exit 1
fi
grep -q "FAIL   test_relu" "$work/out.txt" || { echo "selftest: no FAIL line"; cat "$work/out.txt"; exit 1; }
# A stale exclusion.
echo "test_does_not_exist  reason" > "$work/stale.txt"
rm -rf "$work/data/test_relu"
if "$runner" --data "$work/data" --exclusions "$work/stale.txt" > "$work/out.txt"; then
  echo "selftest: a stale exclusion was not reported"; exit 1
fi
grep -q "STALE" "$work/out.txt" || { echo "selftest: no STALE line"; exit 1; }
echo "selftest: the runner detects wrong outputs and stale exclusions"
