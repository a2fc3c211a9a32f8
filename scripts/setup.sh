#!/usr/bin/env bash
# Installs every Debian 12 package refit's build and tests need. Idempotent: packages already
# installed are not fetched again, and apt-get update runs only when something is missing.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ clang-format clang-tidy pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libonnx-dev libonnx-testdata libprotobuf-dev protobuf-compiler python3-onnx
  libdnnl-dev libopenblas-dev nlohmann-json3-dev libxxhash-dev libcli11-dev
)
# PyTorch is the oracle for whole models; without recommends it stays small.
# matplotlib draws bench/results/engines.png (bench/run_engines.sh).
PACKAGES_NO_RECOMMENDS=(python3-torch python3-torchvision python3-numpy python3-matplotlib)

missing=()
for p in "${PACKAGES[@]}" "${PACKAGES_NO_RECOMMENDS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} + ${#PACKAGES_NO_RECOMMENDS[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
  SUDO=sudo
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES_NO_RECOMMENDS[@]}" >/dev/null
echo "setup: done"
