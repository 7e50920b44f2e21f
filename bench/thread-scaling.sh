#!/usr/bin/env bash
# Thread scaling of compiled models: the same artifact run on 1 and 2
# threads (qopt-run --threads; the outputs are byte-identical, which the
# script checks too), 1 thread pinned to core 0, 2 threads to cores 0-1.
# On a 2-vCPU machine whose cores are throttled when both are busy, the
# 2-thread figure is what a user gets there, not the ideal 2x.
#
#   bench/thread-scaling.sh [runs]      (default 50 runs each)
source "$(dirname "$0")/common.sh"
pin2="taskset -c 0,1"
command -v taskset >/dev/null || pin2=""

ms() { sed -n 's/latency: median \([0-9.]*\) ms.*/\1/p'; }
printf "%-14s %-10s %10s %10s %8s\n" model precision "1 thr ms" "2 thr ms" speedup
row() { # name precision artifact input
  local name=$1 p=$2 art=$3 input=$4
  local t1 t2
  t1=$($pin "$bin/qopt-run" "$art" --input "$input" --threads 1 --repeat "$runs" --output-dir "$art/o1" | ms)
  t2=$($pin2 "$bin/qopt-run" "$art" --input "$input" --threads 2 --repeat "$runs" --output-dir "$art/o2" | ms)
  for f in "$art"/o1/*.npy; do
    cmp -s "$f" "$art/o2/$(basename "$f")" || { echo "outputs differ on 2 threads: $art" >&2; exit 1; }
  done
  awk -v n="$name" -v p="$p" -v a="$t1" -v b="$t2" \
    'BEGIN { printf "%-14s %-10s %10.3f %10.3f %8.2f\n", n, p, a, b, a / b }'
}
compile() { # model out precision shape-args...
  local model=$1 out=$2 p=$3; shift 3
  local flag=(); [ "$p" = float ] || flag=(--precision="$p")
  "$bin/qopt" "$model" "$@" "${flag[@]}" -o "$out" >/dev/null 2>&1
}

if [ -f "$shared/models/stories260k/stories260k.onnx" ]; then
  /usr/bin/python3 - "$shared/data/tinystories-dev.ids.npy" "$work/ts-ids.npy" <<'PY'
import sys, numpy as np
np.save(sys.argv[2], np.load(sys.argv[1])[:512].reshape(1, 512).astype(np.int64))
PY
  for p in float w8a8 w4a16-g32; do
    compile "$shared/models/stories260k/stories260k.onnx" "$work/ts-$p" "$p" \
      --input-shape batch=1 --input-shape seq=512
    row stories260k "$p" "$work/ts-$p" "input_ids=$work/ts-ids.npy"
  done
fi
if [ -d "$ocr" ]; then
  /usr/bin/python3 - "$work/ts-x.npy" <<'PY'
import sys, numpy as np
np.save(sys.argv[1], np.random.default_rng(7).random((1, 3, 48, 320), dtype=np.float32))
PY
  for p in float w8a8; do
    compile "$ocr/ch_PP-OCRv4_rec_infer.onnx" "$work/tr-$p" "$p" --input-shape x=1x3x48x320
    row ppocr-rec "$p" "$work/tr-$p" "x=$work/ts-x.npy"
  done
fi
