#!/usr/bin/env bash
# One command for a lent NVIDIA machine: builds nothing, uses the build/
# tree already built (QOPT_BENCH_BIN names another bin/), and
#   1. runs the GPU tests (lit test/Target/NVPTX, including the CUDA
#      execution test against the x86 artifacts) and checks stories260k's
#      perplexity through CUDA against x86 (within 0.001; needs ../shared);
#   2. times qopt's kernels through `qopt-run --device=cuda --repeat`
#      (median of whole runs: input upload, every launch, output download)
#      for W4A16 GEMV 1x4096x4096 and 1x8192x28672 (group 128) and W8A8
#      GEMM 16x4096x4096 and 4096x4096x4096 and f16-weight GEMM 4096^3
#      (float activations), and the vendor baselines with
#      qopt-bench-cublas (cuBLAS FP16 GEMM, cuBLAS int8 GEMM, the device
#      copy bandwidth), in the same run;
#   3. writes a table to build/bench/gpu/results.md and stdout.
# Without a CUDA device it says why and exits 1.
#
#   bench/gpu/run-on-device.sh [runs]     (default 20 runs each)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-20}"
bin="${QOPT_BENCH_BIN:-$root/build/bin}"
out="$root/build/bench/gpu"

for tool in qopt qopt-run qopt-bench-cublas; do
  if [ ! -x "$bin/$tool" ]; then
    echo "run-on-device: $bin/$tool is missing: build the tree first (scripts/build.sh)" >&2
    exit 1
  fi
done
devices=$("$bin/qopt-run" --list-devices)
device=$(sed -n 's/^cuda:0: //p' <<<"$devices")
if [ -z "$device" ]; then
  echo "run-on-device: no CUDA device: $(grep '^# cuda' <<<"$devices" || echo 'qrt lists none')" >&2
  exit 1
fi
sm=$(sed -n 's/.*(sm_\([0-9]*\))$/\1/p' <<<"$device")
case "$sm" in
  80|86|89|90) cpu="sm_$sm" ;;
  *) cpu=sm_80 ;; # Newer parts run sm_80 PTX through the driver's JIT.
esac
mkdir -p "$out"
echo "device: cuda:0: $device (compiling for -mcpu=$cpu)"

# 1. The GPU tests.
lit="${LIT:-$(command -v lit || echo /usr/lib/llvm-22/bin/lit)}"
tests=ok
if [ -x "$lit" ] && [ -f "$root/build/test/lit.site.cfg.py" ]; then
  (cd "$root/build" && "$lit" -v test --filter 'Target/NVPTX') || tests=FAILED
else
  echo "run-on-device: no lit ($lit) or build/test/lit.site.cfg.py: GPU tests not run" >&2
  tests="not run"
fi

# 1b. stories260k (float, seq 512) through CUDA: perplexity on dev stories
# 100-109 within 0.001 of the x86 artifact's (needs ../shared).
stories="not run (no ../shared)"
model="$root/../shared/models/stories260k/stories260k.onnx"
ids="$root/../shared/data/tinystories-dev.ids.npy"
offsets="$root/../shared/data/tinystories-dev.offsets.npy"
if [ -f "$model" ]; then
  for t in x86 cuda; do
    args=(--input-shape batch=1 --input-shape seq=512 -o "$out/stories-$t" --force)
    [ "$t" = cuda ] && args+=(--target=nvptx64-nvidia-cuda -mcpu="$cpu")
    "$bin/qopt" "$model" "${args[@]}" > /dev/null
  done
  want=$("$bin/qopt-run" "$out/stories-x86" --perplexity --ids "$ids" --offsets "$offsets" --stories 100:110 | sed -n 's/^perplexity[^0-9]*\([0-9.]*\).*/\1/p')
  got=$("$bin/qopt-run" "$out/stories-cuda" --device=cuda --perplexity --ids "$ids" --offsets "$offsets" --stories 100:110 | sed -n 's/^perplexity[^0-9]*\([0-9.]*\).*/\1/p' || true)
  if python3 -c "import sys; sys.exit(0 if abs(float('$got') - float('$want')) <= 0.001 else 1)" 2>/dev/null; then
    stories="ok (cuda $got, x86 $want)"
  else
    stories="FAILED (cuda '${got}', x86 $want)"
    tests=FAILED
  fi
fi
echo "stories260k perplexity: $stories"

# 2. Timings.
npy() { python3 "$root/test/Target/SPIRV/Inputs/random-npy.py" "$@"; }
time_ms() { # artifact input-args...
  local art=$1; shift
  "$bin/qopt-run" "$art" --device=cuda "$@" --repeat "$runs" |
    sed -n 's/latency: median \([0-9.]*\) ms.*/\1/p'
}
copy_gbs=$("$bin/qopt-bench-cublas" copy "$runs" | sed -n 's/.* \([0-9.]*\) GB\/s$/\1/p')
{
  echo "# GPU kernels on $device"
  echo
  echo "GPU tests: $tests. stories260k: $stories."
  echo "Device copy bandwidth (read + write): $copy_gbs GB/s."
  echo "qopt: median of $runs whole runs (qopt-run, upload and download included);"
  echo "cuBLAS: median of $runs launches (CUDA events)."
  echo
  echo "| case | qopt ms | qopt GB/s | % of copy | cuBLAS | cuBLAS ms |"
  echo "|---|---|---|---|---|---|"
} > "$out/results.md"

bench_case() { # label precision m k n baseline
  local label=$1 precision=$2 m=$3 k=$4 n=$5 baseline=$6
  local model="$out/mm-${m}x${k}x${n}.onnx" art="$out/$label-${m}x${k}x${n}"
  [ -f "$model" ] || python3 "$root/bench/gpu/matmul-onnx.py" "$model" "$m" "$k" "$n"
  "$bin/qopt" "$model" --target=nvptx64-nvidia-cuda -mcpu="$cpu" \
    --precision="$precision" --quantize-classifier -o "$art" --force > /dev/null
  npy "$out/x-$m-$k.npy" "${m}x${k}" 1
  local ms gbs pct base
  ms=$(time_ms "$art" --input "X=$out/x-$m-$k.npy")
  # Bytes a run must move: the packed weights and scales, the activations in
  # and the output out.
  gbs=$(python3 -c "import json,sys; m=json.load(open('$art/manifest.json')); \
b=m['weights']['bytes']+4*$m*$k+4*$m*$n; print('%.1f' % (b/($ms*1e6)))")
  pct=$(python3 -c "print('%.0f' % (100*$gbs/$copy_gbs))" 2>/dev/null || echo "?")
  base=$("$bin/qopt-bench-cublas" "$baseline" "$m" "$k" "$n" "$runs" | sed -n 's/.*: \([0-9.]*\) ms.*/\1/p')
  echo "| $label ${m}x${k}x${n} | $ms | $gbs | $pct | $baseline | $base |" | tee -a "$out/results.md"
}
bench_case w4a16-gemv w4a16-g128 1 4096 4096 hgemv
bench_case w4a16-gemv w4a16-g128 1 8192 28672 hgemv
bench_case w8a8-gemm w8a8 16 4096 4096 igemm
bench_case w8a8-gemm w8a8 4096 4096 4096 igemm
bench_case f16-weights-gemm f16 4096 4096 4096 hgemv
echo
cat "$out/results.md"
[ "$tests" != FAILED ]
