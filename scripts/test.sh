#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# (lit + FileCheck, gtest, ONNX backend conformance, real models) with ctest,
# then a short run of every fuzzer (scripts/fuzz.sh: ASan + UBSan build of
# the fuzz targets in build-fuzz/, QOPT_FUZZ_SECONDS each, default 60;
# 0 leaves them out).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
start=$(date +%s)
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure --timeout 3000 -j2 "$@"
echo "test.sh: build and tests took $(( $(date +%s) - start )) s"
seconds="${QOPT_FUZZ_SECONDS:-60}"
if [ "$seconds" != 0 ]; then
  fuzz_start=$(date +%s)
  "$root/scripts/fuzz.sh" --short "$seconds"
  echo "test.sh: fuzzing (build and runs) took $(( $(date +%s) - fuzz_start )) s"
fi
