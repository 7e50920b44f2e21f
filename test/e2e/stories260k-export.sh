#!/usr/bin/env bash
# ONNX export (--emit-onnx) of quantized stories260k: ONNX Runtime runs the
# exported model with the perplexity of qopt's own artifact, within 0.005,
# on TinyStories dev stories 100-499 (calibration on stories 0-99).
#   stories260k-export.sh NAME [qopt flags...]
# The exported file must also use the operators the configuration calls
# for (QuantizeLinear for static int8 activations, MatMulNBits for 4- and
# 8-bit weight-only products) and leave the float model's other nodes alone.
source "$(dirname "$0")/common.sh"
need_shared
need_ort
name="$1"; shift
model="$SHARED/models/stories260k/stories260k.onnx"
ids="$SHARED/data/tinystories-dev.ids.npy"
offsets="$SHARED/data/tinystories-dev.offsets.npy"
out="$WORK/$name"
rm -rf "$out" "$WORK/$name.onnx"

"$BIN/qopt" "$model" --input-shape batch=1 --input-shape seq=512 \
  --calib="$ids" --calib-offsets="$offsets" --calib-samples=100 \
  "$@" --emit-onnx="$WORK/$name.onnx" -o "$out" 2> "$WORK/$name.log" ||
  { cat "$WORK/$name.log"; exit 1; }
cat "$WORK/$name.log" >&2
# SmoothQuant must have smoothed something, and the export must say how it
# wrote the division by s.
case "$name" in
  *smooth*) grep -q "activation scales (SmoothQuant, GPTQ/AWQ): [0-9]* folded into the model's producer" "$WORK/$name.log" ||
    { echo "FAIL: $name: the export smoothed no product"; exit 1; } ;;
esac
qopt_ppl=$("$BIN/qopt" eval "$out" --ids "$ids" --offsets "$offsets" --stories 100:500 --json |
  sed -n 's/.*"perplexity":\([0-9.]*\).*/\1/p')
ort_ppl=$(node "$ROOT/test/ort/perplexity.js" "$WORK/$name.onnx" "$ids" "$offsets" 100 500 |
  sed -n 's/.*"perplexity":\([0-9.]*\).*/\1/p')
[ -n "$qopt_ppl" ] && [ -n "$ort_ppl" ] || { echo "FAIL: no perplexity"; exit 1; }
awk -v a="$qopt_ppl" -v b="$ort_ppl" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.005) }' ||
  { echo "FAIL: $name: ONNX Runtime perplexity $ort_ppl, qopt $qopt_ppl (tolerance 0.005)"; exit 1; }

# The operators of the export, from qopt's own operator listing: every one
# of the 35 linear layers quantized, the 10 attention score products and the
# classifier still float MatMuls.
ops=$("$BIN/qopt" --check "$WORK/$name.onnx")
nodes() { echo "$ops" | sed -n "s/.*::$1 .* \([0-9]*\) nodes\{0,1\}\$/\1/p"; }
case "$name" in
  w8a8-static*) want="QuantizeLinear=35 DequantizeLinear=70 MatMul=46" ;;
  *) want="MatMulNBits=35 MatMul=11" ;;
esac
for pair in $want; do
  got=$(nodes "${pair%=*}")
  [ "$got" = "${pair#*=}" ] ||
    { echo "FAIL: $name: ${got:-no} ${pair%=*} nodes in the export, expected ${pair#*=}"; echo "$ops"; exit 1; }
done
echo "PASS: $name: ONNX Runtime perplexity $ort_ppl, qopt $qopt_ppl ($want)"
