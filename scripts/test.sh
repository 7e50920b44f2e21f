#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# (lit + FileCheck, gtest, ONNX backend conformance, real models) with ctest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
start=$(date +%s)
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure --timeout 3000 -j2 "$@"
echo "test.sh: build and tests took $(( $(date +%s) - start )) s"
