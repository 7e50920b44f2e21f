#!/usr/bin/env bash
# stories260k: compiled logits vs ONNX Runtime (rtol 1e-4), and the
# perplexity of the compiled model on TinyStories dev stories 100-499.
source "$(dirname "$0")/common.sh"
need_shared; need_ort
model="$SHARED/models/stories260k/stories260k.onnx"
ids="$SHARED/data/tinystories-dev.ids.npy"
offsets="$SHARED/data/tinystories-dev.offsets.npy"

"$BIN/qopt" "$model" --input-shape batch=1 --input-shape seq=128 -o "$WORK/s128"
$REF "$model" "$WORK/ref128" --ids "$ids" --seq 128
"$BIN/qopt-run" "$WORK/s128" --input "input_ids=$WORK/ref128/input_ids.npy" \
  --expect "logits=$WORK/ref128/logits.npy" --rtol 1e-4 --atol 1e-4

"$BIN/qopt" "$model" --input-shape batch=1 --input-shape seq=512 -o "$WORK/s512"
out=$("$BIN/qopt-run" "$WORK/s512" --perplexity --ids "$ids" --offsets "$offsets" --stories 100:500)
echo "$out"
ppl=$(echo "$out" | sed -n 's/^perplexity \([0-9.]*\).*/\1/p')
tokens=$(echo "$out" | sed -n 's/.*predicted tokens \([0-9]*\).*/\1/p')
[ "$tokens" = 146696 ] || { echo "FAIL: expected 146696 predicted tokens, got $tokens"; exit 1; }
awk -v p="$ppl" 'BEGIN { d = p - 4.0157; if (d < 0) d = -d; exit !(d <= 0.001) }' ||
  { echo "FAIL: perplexity $ppl is not 4.0157 +- 0.001"; exit 1; }
echo "PASS: perplexity $ppl (reference 4.0157)"
