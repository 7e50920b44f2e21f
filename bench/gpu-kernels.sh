#!/usr/bin/env bash
# GPU kernel timings on whatever Vulkan device qrt picks (QRT_VULKAN_DEVICE
# selects another): one-op models, each compiled for
# spirv64-unknown-vulkan1.3 and timed with `qopt-run --device=vulkan
# --repeat` (median of a whole run: upload of the inputs, one submit of the
# command buffer, download of the outputs). Reported, not compared: on
# lavapipe (a CPU driver) the numbers say nothing about a GPU. The same
# script runs unchanged on a real GPU.
#
#   bench/gpu-kernels.sh [runs]      (default 50 runs each)
source "$(dirname "$0")/common.sh"
gpu="$work/gpu-kernels"
mkdir -p "$gpu"
device=$("$bin/qopt-run" --list-devices | sed -n 's/^vulkan:0: //p' | head -1)
if [ -z "$device" ]; then
  echo "bench: no Vulkan device ($("$bin/qopt-run" --list-devices | grep '^#' || true)); nothing to time" >&2
  exit 0
fi
echo "device: vulkan:0: $device${QRT_VULKAN_DEVICE:+ (QRT_VULKAN_DEVICE=$QRT_VULKAN_DEVICE)}"

npy() { python3 "$root/test/Target/SPIRV/Inputs/random-npy.py" "$@"; }
# A [m, k] x [k, n] MatMul with a random weight, as ONNX text.
matmul_model() { # m k n out
  python3 - "$@" <<'PY'
import random, sys
m, k, n, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
random.seed(1)
w = ", ".join("%.4f" % random.uniform(-1, 1) for _ in range(k * n))
open(out, "w").write(
    '<\n  ir_version: 8,\n  opset_import: [ "" : 14 ]\n>\n'
    'g (float[%d, %d] X) => (float[%d, %d] Y) {\n'
    '  W = Constant <value: tensor = float[%d, %d] {%s}> ()\n'
    '  Y = MatMul(X, W)\n}\n' % (m, k, m, n, k, n, w))
PY
}
time_ms() { # artifact input-args...
  local art=$1; shift
  $pin "$bin/qopt-run" "$art" --device=vulkan "$@" --repeat "$runs" |
    sed -n 's/latency: median \([0-9.]*\) ms.*/\1/p'
}
row() { printf "%-34s %-22s %10s %8s\n" "$@"; }
row kernel precision "median ms" dispatches

for shape in 128x64x172 128x172x64 1x256x256; do
  IFS=x read -r m k n <<<"$shape"
  matmul_model "$m" "$k" "$n" "$gpu/mm-$shape.onnxtxt"
  npy "$gpu/x-$shape.npy" "${m}x${k}" 1
  for p in float w8a16 w4a16-g32 w3a16-g64 nf4-g64 w8a8 "w8a8 -mattr=-dotprod"; do
    set -- $p
    args=(--target=spirv64-unknown-vulkan1.3)
    [ "$1" != float ] && args+=(--precision="$1" --quantize-classifier)
    [ -n "${2:-}" ] && args+=("$2")
    out="$gpu/mm-$shape-${p// /}"
    "$bin/qopt" "$gpu/mm-$shape.onnxtxt" "${args[@]}" -o "$out" --force >/dev/null 2>&1
    n_d=$(grep -c '"kernel":' "$out/manifest.json")
    row "matmul $shape" "$p" "$(time_ms "$out" --input "X=$gpu/x-$shape.npy")" "$n_d"
  done
done

if [ -f "$shared/models/stories260k/stories260k.onnx" ]; then
  python3 - "$shared/data/tinystories-dev.ids.npy" "$gpu/ids128.npy" <<'PY'
import ast, struct, sys
data = open(sys.argv[1], "rb").read()
hlen = struct.unpack("<H", data[8:10])[0]
header = ast.literal_eval(data[10:10 + hlen].decode())
width = {"<i4": ("i", 4), "<i8": ("q", 8)}[header["descr"]]
ids = struct.unpack("<128" + width[0], data[10 + hlen:10 + hlen + 128 * width[1]])
out = "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 128), }"
out += " " * ((64 - (10 + len(out) + 1) % 64) % 64) + "\n"
with open(sys.argv[2], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(out)) + out.encode())
    f.write(struct.pack("<128q", *ids))
PY
  for p in float w8a16 w4a16-g32 w8a8; do
    args=(--target=spirv64-unknown-vulkan1.3 --input-shape batch=1 --input-shape seq=128)
    [ "$p" != float ] && args+=(--precision="$p")
    out="$gpu/stories260k-$p"
    "$bin/qopt" "$shared/models/stories260k/stories260k.onnx" "${args[@]}" -o "$out" --force >/dev/null 2>&1
    n_d=$(grep -c '"kernel":' "$out/manifest.json")
    row "stories260k seq 128 (whole model)" "$p" "$(time_ms "$out" --input "input_ids=$gpu/ids128.npy")" "$n_d"
  done
else
  echo "bench: ../shared is absent; skipping stories260k" >&2
fi
