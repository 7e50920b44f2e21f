#!/usr/bin/env bash
# Quantized stories260k: compile at PRECISION (calibrating on TinyStories dev
# stories 0-99 where activations are static) and require the perplexity on
# stories 100-499 to stay at or below BOUND (float: 4.0157).
#   stories260k-quant.sh PRECISION BOUND [extra qopt flags...]
source "$(dirname "$0")/common.sh"
need_shared
precision="$1"; bound="$2"; shift 2
model="$SHARED/models/stories260k/stories260k.onnx"
ids="$SHARED/data/tinystories-dev.ids.npy"
offsets="$SHARED/data/tinystories-dev.offsets.npy"
out="$WORK/$precision"

"$BIN/qopt" "$model" --input-shape batch=1 --input-shape seq=512 \
  --precision="$precision" "$@" -o "$out"
# The manifest records every quantized layer's scheme; the report exists.
grep -q '"precision": "'"$precision"'"' "$out/manifest.json" ||
  { echo "FAIL: manifest does not record the precision"; exit 1; }
# 35 linear layers; with --quantize-attention, 2 score products per layer.
attention=0
for arg in "$@"; do
  case "$arg" in
    --algorithm=*)
      grep -q '"algorithm": "'"${arg#--algorithm=}"'"' "$out/manifest.json" ||
        { echo "FAIL: manifest does not record the weight algorithm"; exit 1; } ;;
    --quantize-attention) attention=10 ;;
  esac
done
# The quantization section's layers (int8_kernels names nodes too).
layers=$(python3 -c 'import json, sys
print(sum(l.get("node", "").startswith("/layers") for l in json.load(open(sys.argv[1]))["quantization"]["layers"]))' "$out/manifest.json")
[ "$layers" = $((35 + attention)) ] || { echo "FAIL: expected $((35 + attention)) quantized layers in the manifest, got $layers"; exit 1; }
products=$(grep -c '"op": "attention"' "$out/manifest.json" || true)
[ "$products" = "$attention" ] || { echo "FAIL: expected $attention attention products in the manifest, got $products"; exit 1; }
[ -s "$out/report.json" ] && [ -s "$out/report.html" ] || { echo "FAIL: no report"; exit 1; }

result=$("$BIN/qopt" eval "$out" --ids "$ids" --offsets "$offsets" --stories 100:500 --json)
echo "$result"
ppl=$(echo "$result" | sed -n 's/.*"perplexity":\([0-9.]*\).*/\1/p')
tokens=$(echo "$result" | sed -n 's/.*"predicted_tokens":\([0-9]*\).*/\1/p')
[ "$tokens" = 146696 ] || { echo "FAIL: expected 146696 predicted tokens, got $tokens"; exit 1; }
awk -v p="$ppl" -v b="$bound" 'BEGIN { exit !(p <= b) }' ||
  { echo "FAIL: $precision perplexity $ppl is above $bound"; exit 1; }
echo "PASS: $precision perplexity $ppl (bound $bound, float 4.0157) on dev stories 100-499"
