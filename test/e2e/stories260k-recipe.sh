#!/usr/bin/env bash
# Per-layer precision on stories260k (issue 14 item 8): calibrate on TinyStories
# dev stories 0-99, evaluate on stories 100-499 (float 4.0157).
#   stories260k-recipe.sh balanced   --recipe=balanced: perplexity <= 4.10 and
#                                    weight bytes <= 35 % of float
#   stories260k-recipe.sh max-loss   --max-loss=ppl:0.05: the measured
#                                    perplexity is within 0.05 of float
#   stories260k-recipe.sh avg-bits   --avg-bits=4.5 (gptq): measured average
#                                    bits <= 4.5, perplexity below uniform
#                                    w4a16-g32 gptq
#   stories260k-recipe.sh file       --recipe=Inputs/layerwise.yaml, the
#                                    file ppocr-recipe.sh applies to PP-OCR:
#                                    perplexity <= 4.11 (measured 4.0981 at
#                                    6.46 bits/weight), FFN up/gate at w4
source "$(dirname "$0")/common.sh"
need_shared
mode="$1"
model="$SHARED/models/stories260k/stories260k.onnx"
ids="$SHARED/data/tinystories-dev.ids.npy"
offsets="$SHARED/data/tinystories-dev.offsets.npy"
calib=(--calib="$ids" --calib-offsets="$offsets" --calib-samples=100
       --input-shape batch=1 --input-shape seq=512)
float_ppl=4.0157

perplexity() {
  local result
  result=$("$BIN/qopt" eval "$1" --ids "$ids" --offsets "$offsets" --stories 100:500 --json)
  echo "$result" >&2
  echo "$result" | sed -n 's/.*"perplexity":\([0-9.]*\).*/\1/p'
}
# Stored bits per weight over the quantized layers, from the manifest.
avg_bits() {
  python3 -c 'import json, sys
ls = json.load(open(sys.argv[1]))["quantization"]["layers"]
print("%.4f" % (8 * sum(l["quantized_bytes"] for l in ls) / sum(l["float_bytes"] / 4 for l in ls)))' "$1/manifest.json"
}
check() { awk "BEGIN { exit !($1) }" || { echo "FAIL: $2"; exit 1; }; }

case "$mode" in
  balanced)
    out="$WORK/balanced"
    "$BIN/qopt" "$model" "${calib[@]}" --recipe=balanced -o "$out"
    ppl=$(perplexity "$out")
    share=$(python3 -c 'import json, sys
q = json.load(open(sys.argv[1]))["quantization"]
print("%.4f" % (q["weight_bytes"] / q["float_weight_bytes"]))' "$out/manifest.json")
    check "$ppl <= 4.10" "balanced perplexity $ppl is above 4.10"
    check "$share <= 0.35" "balanced weights are $share of float, above 0.35"
    echo "PASS: balanced perplexity $ppl (float $float_ppl), weights $share of float" ;;
  max-loss)
    out="$WORK/max-loss"
    "$BIN/qopt" "$model" "${calib[@]}" --max-loss=ppl:0.05 -o "$out"
    ppl=$(perplexity "$out")
    check "$ppl <= $float_ppl + 0.05" "--max-loss=ppl:0.05 measured $ppl, more than 0.05 above float $float_ppl"
    echo "PASS: --max-loss=ppl:0.05 measured perplexity $ppl (float $float_ppl), $(avg_bits "$out") bits/weight" ;;
  avg-bits)
    out="$WORK/avg-bits" uniform="$WORK/uniform-g32"
    "$BIN/qopt" "$model" "${calib[@]}" --avg-bits=4.5 --algorithm=gptq -o "$out"
    "$BIN/qopt" "$model" "${calib[@]}" --precision=w4a16-g32 --algorithm=gptq -o "$uniform"
    ppl=$(perplexity "$out") base=$(perplexity "$uniform")
    bits=$(avg_bits "$out") base_bits=$(avg_bits "$uniform")
    check "$bits <= 4.5" "--avg-bits=4.5 stores $bits bits per weight"
    check "$ppl < $base" "--avg-bits=4.5 perplexity $ppl is not below uniform w4a16-g32's $base ($base_bits bits)"
    echo "PASS: --avg-bits=4.5 perplexity $ppl at $bits bits/weight; uniform w4a16-g32 $base at $base_bits" ;;
  file)
    out="$WORK/file"
    "$BIN/qopt" "$model" "${calib[@]}" --recipe="$ROOT/test/e2e/Inputs/layerwise.yaml" -o "$out"
    ppl=$(perplexity "$out")
    w4=$(python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))["quantization"]["assignments"]
print(sum(1 for l in a if l["role"] in ("ffn_up", "ffn_gate") and l["precision"] == "w4a16-g32"))' "$out/manifest.json")
    check "$w4 == 10" "$w4 of the 10 FFN up/gate layers are at w4a16-g32"
    check "$ppl <= 4.11" "layerwise.yaml perplexity $ppl is above 4.11"
    echo "PASS: layerwise.yaml perplexity $ppl (float $float_ppl), $(avg_bits "$out") bits/weight" ;;
  *) echo "usage: $0 balanced|max-loss|avg-bits|file"; exit 2 ;;
esac
