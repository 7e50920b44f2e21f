#!/usr/bin/env bash
# stories260k as quantized by ONNX Runtime 1.30's own quantizer
# (../shared/models/stories260k/peers): the pre-quantized ops import into
# qopt ops, compile, and reproduce ONNX Runtime's perplexity on dev stories
# 100-499 (reference values from ../shared/models/README.md).
source "$(dirname "$0")/common.sh"
need_shared
peers="$SHARED/models/stories260k/peers"
ids="$SHARED/data/tinystories-dev.ids.npy"
offsets="$SHARED/data/tinystories-dev.offsets.npy"
[ -d "$peers" ] || skip "$peers is absent"

check() { # model reference tolerance
  "$BIN/qopt" "$peers/$1.onnx" --input-shape batch=1 --input-shape seq=512 -o "$WORK/$1"
  result=$("$BIN/qopt" eval "$WORK/$1" --ids "$ids" --offsets "$offsets" --stories 100:500 --json)
  ppl=$(echo "$result" | sed -n 's/.*"perplexity":\([0-9.]*\).*/\1/p')
  awk -v p="$ppl" -v r="$2" -v t="$3" 'BEGIN { d = p - r; if (d < 0) d = -d; exit !(d <= t) }' ||
    { echo "FAIL: $1 perplexity $ppl, ONNX Runtime $2 (tolerance $3)"; exit 1; }
  echo "PASS: $1 perplexity $ppl (ONNX Runtime $2)"
}
check ort-w4-rtn-b32 4.4683 0.002      # MatMulNBits, 4-bit, block 32
check ort-w4-rtn-b16 4.3576 0.002      # MatMulNBits, 4-bit, block 16
check ort-w4-hqq-b32 4.4107 0.002      # MatMulNBits with float zero points (HQQ)
check ort-dyn-int8 4.0521 0.005        # DynamicQuantizeLinear + MatMulInteger
check ort-qdq-w8a8-minmax 155.1 0.5    # QuantizeLinear/DequantizeLinear (the collapse)
