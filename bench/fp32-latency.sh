#!/usr/bin/env bash
# fp32 latency of compiled models against ONNX Runtime (npm onnxruntime-node),
# both on one thread pinned to the same core, in one run. Prints a table with
# the median latency of each and the ratio qopt/ORT (below 1 = qopt faster).
#
#   bench/fp32-latency.sh [runs]      (default 50 runs each)
source "$(dirname "$0")/common.sh"

models=()
if [ -f "$shared/models/stories260k/stories260k.onnx" ]; then
  models+=("stories260k-seq128|$shared/models/stories260k/stories260k.onnx|--input-shape batch=1 --input-shape seq=128|--ids $shared/data/tinystories-dev.ids.npy --seq 128")
else
  echo "bench: ../shared is absent; skipping stories260k" >&2
fi
models+=("ppocr-det-1x3x320x320|$ocr/ch_PP-OCRv4_det_infer.onnx|--input-shape x=1x3x320x320|--shape x=1x3x320x320")
models+=("ppocr-rec-1x3x48x320|$ocr/ch_PP-OCRv4_rec_infer.onnx|--input-shape x=1x3x48x320|--shape x=1x3x48x320")
models+=("ppocr-cls-1x3x48x192|$ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx|--input-shape x=1x3x48x192|--shape x=1x3x48x192")

printf "%-22s %12s %12s %10s\n" model "qopt ms" "ORT ms" "qopt/ORT"
for entry in "${models[@]}"; do
  IFS='|' read -r name model qargs rargs <<< "$entry"
  "$bin/qopt" "$model" $qargs -o "$work/$name" 2>/dev/null
  ort=$($pin node "$root/test/ort/reference.js" "$model" "$work/ref-$name" $rargs --time "$runs" |
        sed -n 's/ort latency: median \([0-9.]*\) ms.*/\1/p')
  inputs=()
  for f in "$work/ref-$name"/*.npy; do
    b=$(basename "$f" .npy)
    grep -q "\"name\": \"$b\"" "$work/$name/manifest.json" &&
      sed -n '/"inputs"/,/"outputs"/p' "$work/$name/manifest.json" | grep -q "\"name\": \"$b\"" &&
      inputs+=(--input "$b=$f")
  done
  q=$($pin "$bin/qopt-run" "$work/$name" "${inputs[@]}" --repeat "$runs" |
      sed -n 's/latency: median \([0-9.]*\) ms.*/\1/p')
  awk -v n="$name" -v q="$q" -v o="$ort" 'BEGIN { printf "%-22s %12.3f %12.3f %10.2f\n", n, q, o, q / o }'
done
