#!/usr/bin/env bash
# Builds qopt with AddressSanitizer and UndefinedBehaviorSanitizer in
# build-asan/ (-DQOPT_SANITIZE=address,undefined; LLVM and MLIR stay the
# uninstrumented Debian libraries) and runs the whole ctest suite there.
# Any sanitizer report fails the test it happens in (-fno-sanitize-recover,
# halt_on_error). Extra arguments go to ctest (e.g. -R lit).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bdir="$root/build-asan"
start=$(date +%s)
"$root/scripts/deps.sh"
cmake -S "$root" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DCMAKE_CXX_FLAGS=-gline-tables-only -DCMAKE_C_FLAGS=-gline-tables-only \
  -DQOPT_SANITIZE=address,undefined >/dev/null
ninja -C "$bdir" ${QOPT_NINJA_JOBS:+-j "$QOPT_NINJA_JOBS"}
built=$(date +%s)
echo "sanitize: build took $((built - start)) s"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$bdir"
rc=0
ctest --output-on-failure --timeout 6000 -j2 "$@" || rc=$?
echo "sanitize: tests took $(( $(date +%s) - built )) s (rc $rc)"
exit $rc
