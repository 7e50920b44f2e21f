#!/usr/bin/env bash
# Quality of every precision x weight algorithm on stories260k: perplexity on
# TinyStories dev stories 100-499 (calibrating on stories 0-99), compile time
# and quantized weight bytes, against the float model and, where it has one,
# ONNX Runtime's own quantized peer (../shared/models/stories260k/peers,
# perplexities measured by ORT 1.30 and listed in ../shared/models/README.md).
#
#   bench/quant-quality.sh [precision:algorithm ...]
#
# Without arguments it runs the table of docs/quantization.md. Compiles run
# one at a time; the times include calibration and the quality report.
source "$(dirname "$0")/common.sh"
model="$shared/models/stories260k/stories260k.onnx"
ids="$shared/data/tinystories-dev.ids.npy"
offsets="$shared/data/tinystories-dev.offsets.npy"
[ -f "$model" ] || { echo "quant-quality: needs ../shared (stories260k)"; exit 0; }

configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
  configs=(
    float:-
    w8a16:rtn w8a8:rtn w8a8-static:rtn w8a8-static:smooth
    w4a16-g32:rtn w4a16-g32:awq w4a16-g32:gptq
    w4a16-g32-asym:gptq nf4-g32:rtn
    w3a16-g32:rtn w3a16-g32:awq w3a16-g32:gptq
    w2a16-g32:rtn w2a16-g32:gptq w2a16-g16:gptq
  )
fi

eval_ppl() { # artifact
  "$bin/qopt" eval "$1" --ids "$ids" --offsets "$offsets" --stories 100:500 --json 2>/dev/null |
    sed -n 's/.*"perplexity":\([0-9.]*\).*/\1/p'
}

printf "%-16s %-8s %10s %10s %12s\n" precision algorithm perplexity "compile s" "weight KiB"
for config in "${configs[@]}"; do
  precision=${config%%:*}
  algorithm=${config#*:}
  out="$work/quality-$precision-$algorithm"
  args=(--input-shape batch=1 --input-shape seq=512)
  if [ "$precision" != float ]; then
    args+=(--precision="$precision" --calib="$ids" --calib-offsets="$offsets")
    case "$algorithm" in
      smooth) args+=(--smooth) ;;
      *) args+=(--algorithm="$algorithm") ;;
    esac
  fi
  start=$(date +%s.%N)
  if ! "$bin/qopt" "$model" "${args[@]}" -o "$out" >"$out.log" 2>&1; then
    printf "%-16s %-8s %10s\n" "$precision" "$algorithm" "FAILED (see $out.log)"
    continue
  fi
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  bytes=$(sed -n 's/.*"quantized_weight_bytes": *\([0-9]*\).*/\1/p' "$out/manifest.json" | head -1)
  [ -n "$bytes" ] || bytes=$(stat -c %s "$out/weights.bin")
  printf "%-16s %-8s %10s %10.1f %12.1f\n" "$precision" "$algorithm" "$(eval_ppl "$out")" "$secs" \
    "$(echo "$bytes / 1024" | bc -l)"
done
echo "float 4.0157 (ONNX Runtime); ORT peers: RTN 4-bit b32 4.4683, b16 4.3576, HQQ b32 4.4107, dynamic int8 4.0521, static QDQ 155.1"
