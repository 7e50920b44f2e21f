#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# (lit + FileCheck, gtest, ONNX backend conformance, real models) with ctest,
# then a short run of every fuzzer (scripts/fuzz.sh: ASan + UBSan build of
# the fuzz targets in build-fuzz/, QOPT_FUZZ_RUNS executions each from the
# seeds with a fixed random seed, default 100000; 0 leaves them out).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
start=$(date +%s)
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure --timeout 3000 -j2 "$@"
echo "test.sh: build and tests took $(( $(date +%s) - start )) s"
fuzz_runs="${QOPT_FUZZ_RUNS:-100000}"
if [ "$fuzz_runs" != 0 ]; then
  fuzz_start=$(date +%s)
  "$root/scripts/fuzz.sh" --short "$fuzz_runs"
  echo "test.sh: fuzzing (build and runs) took $(( $(date +%s) - fuzz_start )) s"
fi
