#!/usr/bin/env bash
# 4-bit GEMV (the decode step of a W4A16 model) against ONNX Runtime's
# MatMulNBits and the DRAM bandwidth, one thread pinned to one core: for
# 1 x 4096 x 4096 and 1 x 11008 x 4096 (N x K) in blocks of 32 and 128,
# one ONNX model of L independent MatMulNBits products of one input (L
# chosen so the weights are over 3x the last-level cache: every run streams
# them from DRAM) is imported and compiled by qopt (its W4A16 weight-only
# kernel) and run by ONNX Runtime (npm onnxruntime-node) at accuracy level
# 0 (float) and 4 (int8 activations). Times are per product (a run's median
# over L); GB/s counts the packed codes and f32 scales. qopt's outputs are
# checked against ONNX Runtime's level-0 ones.
#
#   bench/w4-gemv-ort.sh [runs]      (default 20 runs each)
source "$(dirname "$0")/common.sh"
export OMP_NUM_THREADS=1
models="$work/w4-gemv-ort"
mkdir -p "$models"
py=/usr/bin/python3
[ -x "$py" ] || py=python3

"$bin/qopt-bench-w4-gemv" --bandwidth | tee "$models/bandwidth.txt"
dram=$(sed -n 's/.*bandwidth (one core): \([0-9.]*\) GB\/s.*/\1/p' "$models/bandwidth.txt")
l3=$(lscpu -B 2>/dev/null | sed -n 's/^L3 cache: *\([0-9]*\).*/\1/p' | head -1)
[ -n "$l3" ] || l3=$((32 << 20))
echo "L3 cache: $((l3 >> 20)) MiB"

ms_of() { sed -n 's/.*latency: median \([0-9.]*\) ms.*/\1/p'; }
printf "%-16s %5s %3s %8s %9s %7s %8s %10s %10s %10s %10s %6s\n" \
  "N x K" block L "MB each" "qopt ms" "GB/s" "of DRAM" "ORT-0 ms" "ORT-4 ms" \
  "vs ORT-0" "vs ORT-4" check
for shape in "4096 4096" "11008 4096"; do
  set -- $shape
  n=$1 k=$2
  for block in 32 128; do
    bytes=$(( n * k / 2 + n * (k / block) * 4 ))
    layers=$(( (3 * l3 + bytes - 1) / bytes ))
    [ "$layers" -ge 2 ] || layers=2
    name="$n-$k-b$block"
    for level in 0 4; do
      "$py" "$root/bench/matmulnbits-onnx.py" "$models/$name-l$level.onnx" \
        "$models/$name-x.npy" "$k" "$n" "$block" "$layers" "$level"
    done
    "$bin/qopt" "$models/$name-l0.onnx" -o "$models/$name-qopt" > /dev/null 2>&1
    q=$($pin "$bin/qopt-run" "$models/$name-qopt" --input "X=$models/$name-x.npy" \
        --repeat "$runs" | ms_of)
    o0=$($pin node "$root/test/ort/reference.js" "$models/$name-l0.onnx" \
         "$models/$name-ref0" --input "X=$models/$name-x.npy" --time "$runs" | ms_of)
    o4=$($pin node "$root/test/ort/reference.js" "$models/$name-l4.onnx" \
         "$models/$name-ref4" --input "X=$models/$name-x.npy" --time "$runs" | ms_of)
    expects=()
    for ((i = 0; i < layers; i++)); do
      expects+=(--expect "Y$i=$models/$name-ref0/Y$i.npy")
    done
    check=FAIL
    if "$bin/qopt-run" "$models/$name-qopt" --input "X=$models/$name-x.npy" \
        "${expects[@]}" --rtol 1e-3 --atol 1e-4 > "$models/$name-check.txt" 2>&1; then
      check=ok
    fi
    awk -v s="$n x $k" -v b="$block" -v l="$layers" -v by="$bytes" -v q="$q" \
        -v o0="$o0" -v o4="$o4" -v d="$dram" -v c="$check" 'BEGIN {
      qe = q / l; gbs = by / (qe * 1e6)
      printf "%-16s %5d %3d %8.1f %9.3f %7.1f %7.0f%% %10.3f %10.3f %9.2fx %9.2fx %6s\n",
        s, b, l, by / 1048576, qe, gbs, 100 * gbs / d, o0 / l, o4 / l,
        o0 / q, o4 / q, c }'
    rm -f "$models/$name"-l?.onnx
  done
done
