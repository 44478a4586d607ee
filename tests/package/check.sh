#!/usr/bin/env bash
# Checks the three ways to use vlm: find_package after install, add_subdirectory, plain -I.
# usage: tests/package/check.sh BUILD_DIR   (BUILD_DIR: an already configured vlm build)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "$1" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$root/tests/package" -B "$work/find" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/find" >/dev/null && "$work/find/consumer" >/dev/null
echo "package: find_package(vlm) ok"

cmake -S "$root/tests/package" -B "$work/sub" -DVLM_SOURCE_DIR="$root" -DVLM_CUDA=OFF >/dev/null
cmake --build "$work/sub" --target consumer >/dev/null && "$work/sub/consumer" >/dev/null
echo "package: add_subdirectory(vlm) ok"

g++ -std=c++20 -O1 -I"$root/include" -isystem /usr/include/eigen3 "$root/tests/package/consumer.cpp" \
  -o "$work/plain" -lpthread && "$work/plain" >/dev/null
echo "package: -I include ok"
