#!/usr/bin/env bash
# stories260k decoded token by token through its KV-cache graph: a 512-slot
# cache (past 511 + the new row), presents fed back as pasts, on TinyStories
# dev stories 100-499. The float cache must reproduce the prefill perplexity
# (4.0157, 146696 predicted tokens); the int8 cache may add at most 0.005.
source "$(dirname "$0")/common.sh"
need_shared
model="$SHARED/models/stories260k/stories260k-kv.onnx"
ids="$SHARED/data/tinystories-dev.ids.npy"
offsets="$SHARED/data/tinystories-dev.offsets.npy"

decode() { # dtype -> JSON result
  "$BIN/qopt" "$model" --input-shape batch=1 --input-shape past=511 \
    --kv-cache="$1" -o "$WORK/kv-$1" >&2
  grep -q '"capacity": 512' "$WORK/kv-$1/manifest.json" ||
    { echo "FAIL: the manifest does not record the 512-slot cache" >&2; exit 1; }
  "$BIN/qopt" eval "$WORK/kv-$1" --decode --ids "$ids" --offsets "$offsets" \
    --stories 100:500 --json
}
field() { echo "$1" | sed -n 's/.*"'"$2"'":\([0-9.]*\).*/\1/p'; }

start=$SECONDS
float=$(decode float); echo "float KV: $float ($((SECONDS - start)) s)"
start=$SECONDS
int8=$(decode int8); echo "int8 KV:  $int8 ($((SECONDS - start)) s)"
pf=$(field "$float" perplexity); pq=$(field "$int8" perplexity)
for r in "$float" "$int8"; do
  tokens=$(field "$r" predicted_tokens)
  [ "$tokens" = 146696 ] || { echo "FAIL: expected 146696 predicted tokens, got $tokens"; exit 1; }
done
awk -v p="$pf" 'BEGIN { d = p - 4.0157; if (d < 0) d = -d; exit !(d <= 0.001) }' ||
  { echo "FAIL: float-KV decode perplexity $pf is not the prefill 4.0157 +- 0.001"; exit 1; }
awk -v p="$pq" -v f="$pf" 'BEGIN { exit !(p <= f + 0.005) }' ||
  { echo "FAIL: int8-KV decode perplexity $pq is more than 0.005 above float $pf"; exit 1; }
echo "PASS: decode perplexity float KV $pf (prefill 4.0157), int8 KV $pq (bound $pf + 0.005)"
