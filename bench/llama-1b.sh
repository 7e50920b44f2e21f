#!/usr/bin/env bash
# A LLaMA-shaped model of about 1.1 B parameters (dim 2048, 22 layers, FFN
# 5632, 32 query and 4 key/value heads, vocabulary 32000: the TinyLlama
# shape), random weights, as an external-data ONNX decode step with a KV
# cache of 128 positions, written by bench/llama-onnx.py into build/bench
# (about 4.4 GB; never committed). For each precision it prints:
#   - the compile's wall time and peak resident memory (/usr/bin/time), and
#     that peak as a multiple of the model's float weight bytes;
#   - the decode step's median latency (one thread, pinned), the bytes of
#     weights.bin, the bytes a step streams (weights.bin less the float
#     embedding table, of which a step reads one row), and the latency that
#     streaming them once at the DRAM bandwidth measured in the same run
#     would take, with the measured latency's ratio to it.
#
#   bench/llama-1b.sh [runs] [precision...]   (default 10 runs; w4a16-g128 w8a8)
#
# QOPT_LLAMA_ARGS passes other shapes to the generator (e.g. "--layers 2" for
# a quick look); QOPT_LLAMA_DIR puts the model elsewhere.
source "$(dirname "$0")/common.sh"
[ $# -gt 0 ] || runs=10
shift || true
precisions=("$@")
[ ${#precisions[@]} -gt 0 ] || precisions=(w4a16-g128 w8a8)
py=/usr/bin/python3
model="${QOPT_LLAMA_DIR:-$work/llama-1b}"
args=${QOPT_LLAMA_ARGS:-}
stamp="$model/args.txt"
if ! [ -f "$model/model.onnx" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$args" ]; then
  rm -rf "$model"
  mkdir -p "$model"
  # shellcheck disable=SC2086
  $py "$root/bench/llama-onnx.py" "$model" $args
  echo "$args" > "$stamp"
fi
float_bytes=$(stat -c %s "$model/model.onnx.data")

# Inputs of the decode step: token 1 at position 128 after a zero cache
# (the cache's contents do not change the work done).
$py - "$model/model.onnx" "$model/inputs.npz" <<'PY'
import sys, numpy as np
import json, os
# The shape the generator wrote the model with.
shape = json.load(open(os.path.join(os.path.dirname(sys.argv[1]), "shape.json")))
kv = [1, shape["kv_heads"], shape["past"], shape["dim"] // shape["heads"]]
arrays = {"input_ids": np.array([[1]], dtype=np.int64),
          "position": np.array([shape["past"]], dtype=np.int64)}
for i in range(shape["layers"]):
    arrays[f"past_k.{i}"] = np.zeros(kv, dtype=np.float32)
    arrays[f"past_v.{i}"] = np.zeros(kv, dtype=np.float32)
np.savez(sys.argv[2], **arrays)
PY

echo "$("$bin/qopt-bench-w4-gemv" --bandwidth)"
bw=$("$bin/qopt-bench-w4-gemv" --bandwidth | sed -n 's/.*bandwidth (one core): \([0-9.]*\) GB\/s.*/\1/p')
awk -v m="$model" -v f="$float_bytes" 'BEGIN { printf "model: %s, float weights %.2f GB\n", m, f / 1e9 }'
embedding=$($py -c 'import json, sys; s = json.load(open(sys.argv[1])); print(s["vocab"] * s["dim"] * 4)' "$model/shape.json")
printf "%-12s %10s %10s %9s %10s %11s %12s %12s %9s\n" precision "compile s" "peak GB" "peak/fp32" \
  "decode ms" "weights GB" "streamed GB" "stream/bw ms" "ms/bound"
for p in "${precisions[@]}"; do
  art="$work/llama-1b-$p"
  log="$work/llama-1b-$p.time"
  /usr/bin/time -v "$bin/qopt" "$model/model.onnx" --precision "$p" -o "$art" --force \
    > "$work/llama-1b-$p.log" 2> "$log" || { cat "$work/llama-1b-$p.log" "$log" >&2; exit 1; }
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log" |
         awk -F: '{ s = 0; for (i = 1; i <= NF; ++i) s = s * 60 + $i; print s }')
  rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
  ms=$($pin "$bin/qopt-run" "$art" --input "$model/inputs.npz" --repeat "$runs" |
       sed -n 's/latency: median \([0-9.]*\) ms.*/\1/p')
  wbytes=$(stat -c %s "$art/weights.bin")
  awk -v p="$p" -v w="$wall" -v r="$rss_kb" -v f="$float_bytes" -v ms="$ms" \
      -v wb="$wbytes" -v e="$embedding" -v bw="$bw" 'BEGIN {
    bound = (wb - e) / (bw * 1e9) * 1e3
    printf "%-12s %10.1f %10.2f %9.2f %10.2f %11.3f %12.3f %12.2f %9.2f\n",
           p, w, r * 1024 / 1e9, r * 1024 / f, ms, wb / 1e9, (wb - e) / 1e9,
           bound, ms / bound }'
done
