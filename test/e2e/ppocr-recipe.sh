#!/usr/bin/env bash
# The layer-wise recipe file that stories260k-recipe.sh applies to a language
# model (Inputs/layerwise.yaml), applied to PP-OCRv4 rec (group-1, pointwise
# and depthwise convolutions, two SVTR attention blocks): every role gets
# its rule's precision, and the quantized recognizer still reads what the
# float one reads. Eight rendered text lines (Inputs/ocr-lines.py, DejaVu
# Sans) are recognized by greedy CTC decoding of both models' outputs:
# per-step top-1 agreement >= 0.90 and character accuracy >= 0.95 against
# the rendered text (measured 0.95 and 0.977; float reads all eight lines
# exactly, the quantized model adds stray spaces in the padding).
source "$(dirname "$0")/common.sh"
need_ocr
python=/usr/bin/python3
$python -c 'import numpy, PIL' 2>/dev/null || skip "Debian's python3-numpy and python3-pil are not installed (scripts/deps.sh)"
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || skip "fonts-dejavu-core is not installed (scripts/deps.sh)"
model="$OCR/ch_PP-OCRv4_rec_infer.onnx" shape=x=1x3x48x320
recipe="$ROOT/test/e2e/Inputs/layerwise.yaml"
$python "$ROOT/test/e2e/Inputs/ocr-lines.py" render "$WORK/lines"
"$BIN/qopt" "$model" --input-shape "$shape" -o "$WORK/float"
"$BIN/qopt" "$model" --input-shape "$shape" --recipe="$recipe" -o "$WORK/recipe"

# Every layer got what its role's rule says.
$python - "$WORK/recipe/manifest.json" <<'PY'
import json, sys
want = {"attention_qkv": "w8a8", "attention_output": "w8a8", "ffn_up": "w4a16-g32",
        "ffn_down": "w8a16", "conv": "w8a8", "conv_pointwise": "w8a8",
        "conv_depthwise": "w8a8"}
seen = {}
for a in json.load(open(sys.argv[1]))["quantization"]["assignments"]:
    role = a["role"]
    expected = want.get(role, "float" if role in ("classifier", "attention_scores", "embedding") else "w8a16")
    if a["precision"] != expected:
        sys.exit("FAIL: %s (%s) got %s, the recipe says %s" % (a["node"], role, a["precision"], expected))
    seen[role] = seen.get(role, 0) + 1
print("roles:", " ".join("%s=%d" % kv for kv in sorted(seen.items())))
for role in ("conv", "conv_pointwise", "conv_depthwise", "attention_qkv", "ffn_up"):
    if role not in seen:
        sys.exit("FAIL: no %s layer in the recipe's assignments" % role)
PY

for f in "$WORK"/lines/line-*.npy; do
  line=$(basename "$f" .npy)
  for art in float recipe; do
    "$BIN/qopt-run" "$WORK/$art" --input "x=$f" --output-dir "$WORK/out-$art/$line" >/dev/null
  done
done
summary=$($python "$ROOT/test/e2e/Inputs/ocr-lines.py" compare "$OCR/ppocr_keys_v1.txt" \
  "$WORK/out-float" "$WORK/out-recipe" "$WORK/lines" | tee /dev/stderr | tail -1)
$python - "$summary" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
if s["float_char_accuracy"] < 0.99:
    sys.exit("FAIL: the float recognizer misreads the rendered lines (%.3f)" % s["float_char_accuracy"])
if s["top1_agreement"] < 0.90:
    sys.exit("FAIL: top-1 agreement with float %.3f is below 0.90" % s["top1_agreement"])
if s["quantized_char_accuracy"] < 0.95:
    sys.exit("FAIL: quantized character accuracy %.3f is below 0.95" % s["quantized_char_accuracy"])
print("PASS: recipe on PP-OCR rec: top-1 agreement %.3f, character accuracy %.3f (float %.3f)"
      % (s["top1_agreement"], s["quantized_char_accuracy"], s["float_char_accuracy"]))
PY
