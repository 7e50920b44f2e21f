#!/usr/bin/env bash
# stories260k (float) compiled for the SPIR-V target and run through Vulkan
# (lavapipe in CI): its logits on the first 128 dev tokens match the x86
# artifact's (rtol 1e-4, atol 1e-4), and its perplexity on dev stories
# 100-109 equals the x86 artifact's to the printed digits. About 30 s on
# lavapipe (2.3 s per story at seq 512), plus the x86 compiles.
source "$(dirname "$0")/common.sh"
need_shared
"$BIN/qopt-run" --list-devices | grep -q '^vulkan:' ||
  skip "no Vulkan device ($("$BIN/qopt-run" --list-devices | grep '^#' || true))"
model="$SHARED/models/stories260k/stories260k.onnx"
ids="$SHARED/data/tinystories-dev.ids.npy"
offsets="$SHARED/data/tinystories-dev.offsets.npy"
spirv=(--target=spirv64-unknown-vulkan1.3)

# The first 128 token ids as a [1, 128] int64 input.
python3 - "$ids" "$WORK/ids128.npy" <<'PY'
import ast, struct, sys
data = open(sys.argv[1], "rb").read()
hlen = struct.unpack("<H", data[8:10])[0]
header = ast.literal_eval(data[10:10 + hlen].decode())
width = {"<i4": ("i", 4), "<i8": ("q", 8)}[header["descr"]]
body = data[10 + hlen:]
ids = struct.unpack("<128" + width[0], body[:128 * width[1]])
out = "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 128), }"
out += " " * ((64 - (10 + len(out) + 1) % 64) % 64) + "\n"
with open(sys.argv[2], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(out)) + out.encode())
    f.write(struct.pack("<128q", *ids))
PY

"$BIN/qopt" "$model" --input-shape batch=1 --input-shape seq=128 -o "$WORK/x86-128" --force
"$BIN/qopt" "$model" --input-shape batch=1 --input-shape seq=128 "${spirv[@]}" -o "$WORK/spirv-128" --force
"$BIN/qopt-run" "$WORK/x86-128" --input "input_ids=$WORK/ids128.npy" --output-dir "$WORK/ref128"
"$BIN/qopt-run" "$WORK/spirv-128" --device=vulkan --input "input_ids=$WORK/ids128.npy" \
  --expect "logits=$WORK/ref128/logits.npy" --rtol 1e-4 --atol 1e-4

"$BIN/qopt" "$model" --input-shape batch=1 --input-shape seq=512 -o "$WORK/x86-512" --force
"$BIN/qopt" "$model" --input-shape batch=1 --input-shape seq=512 "${spirv[@]}" -o "$WORK/spirv-512" --force
want=$("$BIN/qopt-run" "$WORK/x86-512" --perplexity --ids "$ids" --offsets "$offsets" --stories 100:110 | grep '^perplexity')
got=$("$BIN/qopt-run" "$WORK/spirv-512" --device=vulkan --perplexity --ids "$ids" --offsets "$offsets" --stories 100:110 | grep '^perplexity')
echo "x86:    $want"
echo "vulkan: $got"
[ "$got" = "$want" ] || { echo "FAIL: the Vulkan perplexity differs from x86's"; exit 1; }
echo "PASS"
