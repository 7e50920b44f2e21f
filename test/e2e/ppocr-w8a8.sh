#!/usr/bin/env bash
# PP-OCRv4 rec at w8a8: every convolution of the model, group-1 and
# depthwise, is quantized as a convolution (qopt.conv2d, listed in the
# manifest; the x86 target computes group-1 ones as im2col products), and
# the int8 model still follows ONNX Runtime's float output on a random input
# (max abs error 0.21 on the softmax when measured).
source "$(dirname "$0")/common.sh"
need_ort; need_ocr
model="$OCR/ch_PP-OCRv4_rec_infer.onnx" shape=x=1x3x48x320
depthwise=$("$BIN/qopt-translate" --import-onnx "$model" --input-shape "$shape" |
            grep -c 'linalg.depthwise_conv_2d_nchw_chw' || true)
[ "$depthwise" -gt 0 ] || { echo "FAIL: no depthwise convolution imported" >&2; exit 1; }
"$BIN/qopt" "$model" --input-shape "$shape" --precision=w8a8 -o "$WORK/rec"
quantized=$(grep -o '"op": *"depthwise_conv"' "$WORK/rec/manifest.json" | wc -l)
echo "depthwise convolutions: $depthwise imported, $quantized quantized"
[ "$quantized" -eq "$depthwise" ] ||
  { echo "FAIL: $quantized of $depthwise depthwise convolutions quantized" >&2; exit 1; }
dense=$("$BIN/qopt-translate" --import-onnx "$model" --input-shape "$shape" |
        grep -c 'linalg.conv_2d_nchw_fchw' || true)
quantized=$(grep -o '"op": *"conv"' "$WORK/rec/manifest.json" | wc -l)
echo "group-1 convolutions: $dense imported, $quantized quantized"
[ "$dense" -gt 0 ] && [ "$quantized" -eq "$dense" ] ||
  { echo "FAIL: $quantized of $dense group-1 convolutions quantized" >&2; exit 1; }
$REF "$model" "$WORK/ref" --shape "$shape"
out=$(ls "$WORK/ref" | grep -v '^x.npy$')
"$BIN/qopt-run" "$WORK/rec" --input "x=$WORK/ref/x.npy" --expect "$WORK/ref/$out" \
  --rtol 0 --atol 0.3
