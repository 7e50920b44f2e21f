#!/usr/bin/env bash
# stories260k with a KV cache: one decode step at past length 16 against
# ONNX Runtime, every output (logits and the 10 present tensors).
source "$(dirname "$0")/common.sh"
need_shared; need_ort
model="$SHARED/models/stories260k/stories260k-kv.onnx"
python_free_npy() { # name dtype value: a 1-element int64 array as .npy
  node -e "
    const fs=require('fs');const [f,shape,v]=process.argv.slice(1);
    const h=\"{'descr': '<i8', 'fortran_order': False, 'shape': \"+shape+\", }\";
    const hdr=h+' '.repeat((64-((h.length+11)%64))%64)+'\n';
    const pre=Buffer.alloc(10);pre.write('\x93NUMPY',0,'latin1');pre[6]=1;pre.writeUInt16LE(hdr.length,8);
    const d=Buffer.alloc(8);d.writeBigInt64LE(BigInt(v));
    fs.writeFileSync(f,Buffer.concat([pre,Buffer.from(hdr,'latin1'),d]));" "$@"
}
python_free_npy "$WORK/position.npy" "(1,)" 16
python_free_npy "$WORK/token.npy" "(1, 1)" 42
shapes=()
for i in 0 1 2 3 4; do shapes+=(--shape "past_k.$i=1x4x16x8" --shape "past_v.$i=1x4x16x8"); done
$REF "$model" "$WORK/ref" --input "position=$WORK/position.npy" --input "input_ids=$WORK/token.npy" "${shapes[@]}"
"$BIN/qopt" "$model" --input-shape batch=1 --input-shape past=16 -o "$WORK/kv"
args=()
for f in "$WORK"/ref/*.npy; do
  b=$(basename "$f" .npy)
  case "$b" in logits|present*) args+=(--expect "$b=$f") ;; *) args+=(--input "$b=$f") ;; esac
done
"$BIN/qopt-run" "$WORK/kv" "${args[@]}" --rtol 1e-4 --atol 1e-4
