#!/usr/bin/env bash
# Checks formatting (clang-format, 100 columns) of every C++ source; with --tidy also runs
# clang-tidy over the library sources using build/release/compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cc' '*.h')
clang-format --dry-run --Werror $files
echo "lint: clang-format clean ($(echo "$files" | wc -w) files)"
if [ "${1:-}" = "--tidy" ]; then
  clang-tidy -p build/release --quiet $(git ls-files 'src/*.cc' | grep -v _test.cc)
fi
