#!/usr/bin/env bash
# Configures and builds qopt with Ninja and ccache in build/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 >/dev/null
ninja -C "$root/build" ${QOPT_NINJA_JOBS:+-j "$QOPT_NINJA_JOBS"}
